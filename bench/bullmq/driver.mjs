// driver.mjs runs one scenario of Fairway's comparison (bench/, make
// bench-compare) with BullMQ, and prints its results as JSON lines on
// stdout. The Go benchmark installs bullmq and ioredis beside this file in
// a temporary directory and runs it once per scenario:
//
//   node driver.mjs <redis url> <scenario> <n> [key=value ...]
//
// A line with "phase" tells the benchmark where the run is; after a
// "ready" or "filled" line the driver waits for a line on stdin before it
// goes on, so that the benchmark measures Redis around the part that
// counts and not node's start-up. The last line is the result.
//
// BullMQ is used as its documentation shows, with its defaults, except:
// completed jobs are removed (removeOnComplete: true), as asynq, River and
// Fairway delete a message once done; the workers' concurrency; and
// maxRetriesPerRequest: null, which BullMQ requires for workers.
import { Queue, Worker } from 'bullmq';
import { createInterface } from 'node:readline';

const [url, scenario, nArg, ...rest] = process.argv.slice(2);
const n = Number(nArg);
const opts = Object.fromEntries(rest.map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
const u = new URL(url);
const connection = { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
const body = 'x'.repeat(100);
const jobOpts = { removeOnComplete: true };

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
// pause reports a phase and waits for the benchmark's go-ahead.
async function pause(phase, extra = {}) {
  emit({ phase, ...extra });
  await lines.next();
}
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const now = () => process.hrtime.bigint();

// loops runs fn(i) for i in [0, count) from g concurrent loops.
async function loops(count, g, fn) {
  let next = 0;
  const one = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(g, count) }, one));
}

// addAll queues count jobs with addBulk, batch at a time.
async function addAll(queue, count, batch, data = () => body) {
  for (let i = 0; i < count; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(i + batch, count); j++) jobs.push({ name: 'bench', data: data(j), opts: jobOpts });
    await queue.addBulk(jobs);
  }
}

// untilProcessed starts a worker of the given concurrency and resolves
// when count jobs have completed, with the worker.
function untilProcessed(name, count, concurrency, onJob = () => {}) {
  return new Promise((resolve, reject) => {
    let done = 0;
    const worker = new Worker(name, async (job) => { onJob(job); }, { connection, concurrency });
    worker.on('error', reject);
    worker.on('completed', () => {
      if (++done === count) resolve(worker);
    });
  });
}

const queue = new Queue(scenario, { connection });
await queue.waitUntilReady();
switch (scenario) {
  case 'enqueue': { // opts.g loops, one add() per call
    await pause('ready');
    const t0 = now();
    await loops(n, opts.g, () => queue.add('bench', body, jobOpts));
    emit({ seconds: seconds(t0) });
    break;
  }
  case 'batch': { // opts.g loops of addBulk(opts.batch)
    await pause('ready');
    const calls = Math.floor(n / opts.batch);
    const jobs = Array.from({ length: opts.batch }, () => ({ name: 'bench', data: body, opts: jobOpts }));
    const t0 = now();
    await loops(calls, opts.g, () => queue.addBulk(jobs));
    emit({ seconds: seconds(t0) });
    break;
  }
  case 'fill': { // addBulk(opts.batch) until n are queued, then exit
    await addAll(queue, n, opts.batch);
    emit({ queued: await queue.getWaitingCount() });
    break;
  }
  case 'e2e': { // addBulk(opts.batch), then a worker of opts.concurrency
    let t0 = now();
    await addAll(queue, n, opts.batch);
    await pause('filled', { enqueueSeconds: seconds(t0) });
    t0 = now();
    const worker = await untilProcessed(scenario, n, opts.concurrency);
    const processSeconds = seconds(t0);
    await worker.close();
    emit({ processSeconds, left: await queue.count() });
    break;
  }
  case 'pickup': { // a worker idles opts.idle ms, then n jobs one at a time
    const lat = [];
    let waiting = null;
    const worker = new Worker(scenario, async (job) => { waiting(job.data); }, { connection, concurrency: opts.concurrency });
    await worker.waitUntilReady();
    await new Promise((r) => setTimeout(r, opts.idle));
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 4));
      const started = new Promise((r) => { waiting = r; });
      const t0 = now();
      await queue.add('bench', i, jobOpts);
      const got = await started;
      lat.push(seconds(t0) * 1000);
      if (got !== i) throw new Error(`job ${got} started while waiting for ${i}`);
    }
    await worker.close();
    emit({ lat });
    break;
  }
  case 'fairness': { // n jobs of "big", then opts.tenants × opts.each
    await addAll(queue, n, 1000, () => 'big');
    for (let t = 0; t < opts.tenants; t++) {
      await addAll(queue, opts.each, opts.each, () => `small-${t}`);
    }
    const total = n + opts.tenants * opts.each;
    let pos = 0;
    const small = [];
    const worker = await untilProcessed(scenario, total, opts.concurrency, (job) => {
      pos++;
      if (job.data !== 'big') small.push(pos);
    });
    await worker.close();
    emit({ small });
    break;
  }
  case 'idle': { // a worker of opts.concurrency idles until stdin says stop
    const worker = new Worker(scenario, async () => {}, { connection, concurrency: opts.concurrency });
    await worker.waitUntilReady();
    await pause('ready');
    await worker.close();
    emit({});
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
await queue.close();
stdin.close();
