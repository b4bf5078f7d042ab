package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// maxInput bounds a message read from stdin.
const maxInput = 16 << 20

var deliverCmd = &command{
	name: "deliver", args: "[JSON|-] [--topic T] [--facet F] [--max-attempts N] [--ttl D]", summary: "deliver a JSON message (from the argument or stdin)",
	help: `The message is a JSON object. Its topic is --topic, else its "topic" field, else its
"type" field, else "default"; its facet is --facet, else its "facet" field, else
"default". The body is delivered exactly as given. Example:
  fairway deliver '{"topic":"email.welcome","facet":"acme","to":"a@acme.test"}'
  echo '{"to":"a@acme.test"}' | fairway deliver --topic email.welcome --facet acme`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		topic := fs.String("topic", "", "topic of the message (default: its \"topic\" or \"type\" field)")
		facet := fs.String("facet", "", "facet of the message (default: its \"facet\" field)")
		delay := fs.Duration("delay", 0, "keep the message from being pulled until this has passed")
		key := fs.String("key", "", "idempotency key: queue nothing if a delivery with this key came within 24h")
		maxAttempts := fs.Int("max-attempts", 0, "deliveries the message gets before it becomes a dead letter (default: the queue's default, else the broker's)")
		ttl := fs.Duration("ttl", 0, "expire the message if it has not started this long after the delivery, on Redis's clock (default: the queue's default, else never)")
		requireQueue := fs.Bool("require-queue", false, "fail (exit 1, nothing written) when no queue's pattern matches the topic, instead of only publishing")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 0, 1, "one JSON message, or none to read stdin"); err != nil {
				return err
			}
			if *delay < 0 {
				return usageError{fmt.Sprintf("--delay %v: want 0 or a positive duration", *delay)}
			}
			if *maxAttempts < 0 || *maxAttempts > broker.MaxAttemptsLimit {
				return usageError{fmt.Sprintf("--max-attempts %d: want 1 to %d", *maxAttempts, broker.MaxAttemptsLimit)}
			}
			if *ttl < 0 || *ttl > 0 && *ttl < time.Millisecond {
				return usageError{fmt.Sprintf("--ttl %v: want at least 1ms", *ttl)}
			}
			if *ttl > 0 && *ttl <= *delay {
				return usageError{fmt.Sprintf("--ttl %v: want more than --delay %v, or the message expires before it is due", *ttl, *delay)}
			}
			body, err := readMessage(a.env.Stdin, args)
			if err != nil {
				return err
			}
			var msg map[string]any
			if err := json.Unmarshal(body, &msg); err != nil || msg == nil {
				return usageError{fmt.Sprintf("the message is not a JSON object: %v", cmp.Or[any](err, "null"))}
			}
			d := broker.Delivery{
				Topic: cmp.Or(*topic, str(msg, "topic"), str(msg, "type"), "default"),
				Facet: cmp.Or(*facet, str(msg, "facet"), "default"),
				Body:  bytes.TrimSpace(body), Delay: *delay, IdempotencyKey: *key, MaxAttempts: *maxAttempts, TTL: *ttl,
				// Publish-only is said below, in the command's own words,
				// not by the broker's warning.
				Unrouted: broker.UnroutedPublish,
				Receipt:  new(broker.Receipt),
			}
			if *requireQueue {
				d.Unrouted = broker.UnroutedReject
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if err := b.DeliverBatch(ctx, []broker.Delivery{d}); err != nil {
				return err
			}
			out := deliverJSON{ID: d.Receipt.ID, Topic: d.Topic, Facet: d.Facet, Queues: append([]string{}, d.Receipt.Queues...)}
			if len(out.Queues) == 0 {
				return a.say(out, "delivered %s, topic %q, facet %q: published only, no queue's pattern matches the topic", out.ID, d.Topic, d.Facet)
			}
			return a.say(out, "delivered %s, topic %q, facet %q to %v", out.ID, d.Topic, d.Facet, out.Queues)
		}
	},
}

func readMessage(stdin io.Reader, args []string) ([]byte, error) {
	if len(args) == 1 && args[0] != "-" {
		return []byte(args[0]), nil
	}
	if stdin == nil {
		return nil, usageError{"no message: give it as an argument or on stdin"}
	}
	body, err := io.ReadAll(io.LimitReader(stdin, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(body) > maxInput {
		return nil, usageError{"the message on stdin is larger than 16 MiB"}
	}
	return body, nil
}

func str(msg map[string]any, k string) string {
	s, _ := msg[k].(string)
	return s
}

var peekCmd = &command{
	name: "peek", args: "QUEUE [-n N]", summary: "show the next messages a pull would take, without leasing them",
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		n := fs.Int("n", 10, "how many messages to show")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			if err := flagInRange("n", *n, 1, broker.MaxPeek); err != nil {
				return err
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			ms, err := b.Peek(ctx, args[0], *n)
			if err != nil {
				return err
			}
			rows := []messageJSON{}
			var out [][]string
			for _, m := range ms {
				rows = append(rows, toMessageJSON(m))
				out = append(out, []string{m.ID, quoteIfNeeded(m.Facet), quoteIfNeeded(m.Topic),
					attemptText(m), age(m.EnqueuedAt), clip(m.Body, 60)})
			}
			if a.json {
				return a.printJSON(rows)
			}
			if len(out) == 0 {
				return a.say(nil, "no ready messages in queue %q", args[0])
			}
			return a.table("ID FACET TOPIC ATTEMPT AGE BODY", out)
		}
	},
}

// clip renders a body on one line, quoted, cut at n bytes.
func clip(body []byte, n int) string {
	s := string(body)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func age(t time.Time) string {
	return time.Since(t).Round(time.Second).String()
}

var tailCmd = &command{
	name: "tail", args: "PATTERN", summary: "print deliveries as they are published, until Ctrl-C",
	help: `PATTERN is a Redis glob on topics ("email.*", "*" for all; ? is one character,
[abc] one of a set, \\ escapes); an unclosed [ is refused. Pub/sub is at most once:
only deliveries published while tail is connected are shown.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "PATTERN"); err != nil {
				return err
			}
			if err := broker.ValidateSubscribePattern(args[0]); err != nil {
				return err
			}
			b, err := a.broker(ctx)
			if err != nil {
				return err
			}
			sub, err := b.Subscribe(ctx, args[0])
			if err != nil {
				return err
			}
			defer func() { _ = sub.Close() }()
			if !a.json {
				printf(a.env.Stderr, "following topics matching %q in namespace %q; Ctrl-C to stop\n", args[0], a.namespace)
			}
			for ev := range sub.Channel() {
				if err := a.printEvent(ev); err != nil {
					return err
				}
			}
			return nil
		}
	},
}

func (a *app) printEvent(ev *broker.Event) error {
	if a.json {
		r := eventJSON{Time: utcText(time.Now()), Topic: ev.Topic}
		r.Body, r.BodyText = bodyJSON(ev.Body)
		return json.NewEncoder(a.env.Stdout).Encode(r)
	}
	_, err := fmt.Fprintf(a.env.Stdout, "%s %s %s\n", time.Now().Format("15:04:05.000"), quoteIfNeeded(ev.Topic), clip(ev.Body, 200))
	return err
}

// attemptText is a message's attempt out of its budget, as "2/25".
func attemptText(m *broker.Message) string {
	return fmt.Sprintf("%d/%d", m.Attempt, m.MaxAttempts)
}
