#!/usr/bin/env bash
# layers-instr.sh counts the instructions redis-server executes per
# operation of the pull path, at a base commit and at the working tree: a
# measure that the machine's load does not move (BENCHMARKS.md, "Limit
# layers (issue 16)"). It needs valgrind (callgrind) and redis-server.
#
#   bench/layers-instr.sh [base commit (8245cf6)] [ops (1000)]
#
# Each tree's broker test binary is built with bench/instr/probe_test.go.in
# added, and each probe runs once per tree with redis-server under
# callgrind, counting only the probe's timed loop (b.N = ops, after Go's
# first run of 1, so ops+1 in all). A probe is PullN(n)+AckMany, n = 1, 10,
# 100, on 1,000 facets with the layers off, and DeliverBytes one message at
# a time; then DeliverBytes under each setting of admission control.
# Counts repeat within about 0.5% from one run to the next.
set -euo pipefail

base=${1:-8245cf6}
ops=${2:-1000}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
server=${FAIRWAY_REDIS_SERVER:-$(command -v redis-server)}

git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
probes=(probe_test.go.in)
for who in base head; do
  dir=$tmp/base
  if [ "$who" = head ]; then dir=$root; probes+=(layers_probe_test.go.in); fi
  for f in "${probes[@]}"; do cp "$root/bench/instr/$f" "$dir/broker/zz_instr_${f%.in}"; done
  built=0
  (cd "$dir" && go test -c -o "$tmp/$who.test" ./broker) && built=1
  rm -f "$dir"/broker/zz_instr_*
  [ "$built" = 1 ] || exit 1
done
cat >"$tmp/redis.sh" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$tmp/cg.out.%p "$server" "\$@"
WRAP
chmod +x "$tmp/redis.sh"

# probe binary pattern ops: sets instr (per op, ops+1 of them) and cmds (per
# message, as the benchmark reported it).
probe() {
  rm -f "$tmp"/cg.out.*
  FAIRWAY_REDIS_SERVER=$tmp/redis.sh "$1" -test.run '^$' -test.bench "$2" \
    -test.benchtime "${3}x" -test.count 1 >"$tmp/probe.log" 2>&1 || { cat "$tmp/probe.log"; exit 1; }
  local total
  total=$(callgrind_annotate "$tmp"/cg.out.* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  instr=$((total / ($3 + 1)))
  cmds=$(awk '/^Benchmark/ {for (i = 1; i < NF; i++) if ($(i + 1) == "cmds/msg") v = $i} END {print v}' "$tmp/probe.log")
}

echo "layers off, base $(git -C "$root" rev-parse --short "$base") and head $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo '+changes'), $ops ops each:"
printf '%-12s %14s %14s %9s %10s %10s\n' probe "base instr/op" "head instr/op" head/base "base cmds" "head cmds"
for spec in "Pull/n=1 ^BenchmarkInstrPull\$/^n=1\$" "Pull/n=10 ^BenchmarkInstrPull\$/^n=10\$" \
  "Pull/n=100 ^BenchmarkInstrPull\$/^n=100\$" "Deliver ^BenchmarkInstrDeliver\$"; do
  read -r name pattern <<<"$spec"
  probe "$tmp/base.test" "$pattern" "$ops"
  bi=$instr bc=$cmds
  probe "$tmp/head.test" "$pattern" "$ops"
  awk -v n="$name" -v b="$bi" -v h="$instr" -v bc="$bc" -v hc="$cmds" \
    'BEGIN { printf "%-12s %14d %14d %9.3f %10s %10s\n", n, b, h, h / b, bc, hc }'
done

echo
echo "BenchmarkPullLayers's settings, head, PullN(10)+AckMany on 1,000 facets, $((ops / 4)) ops each:"
printf '%-14s %14s %8s %10s\n' layer "instr/msg" /off cmds/msg
off=0
for l in off facet-limit own-limits strict-order global-cap queue-rate facet-rate all; do
  probe "$tmp/head.test" "^BenchmarkInstrLayers\$/^$l\$" $((ops / 4))
  per=$((instr / 10))
  [ "$l" = off ] && off=$per
  awk -v n="$l" -v p="$per" -v o="$off" -v c="$cmds" 'BEGIN { printf "%-14s %14d %8.3f %10s\n", n, p, p / o, c }'
done

echo
echo "Admission control, head, DeliverBytes one message at a time on 100 facets, $ops ops each (no message refused):"
printf '%-14s %14s %8s %10s\n' setting "instr/msg" /off cmds/msg
off=0
for s in off facet-cap queue-cap both-drop; do
  probe "$tmp/head.test" "^BenchmarkInstrDeliverAdmission\$/^$s\$" "$ops"
  [ "$s" = off ] && off=$instr
  awk -v n="$s" -v p="$instr" -v o="$off" -v c="$cmds" 'BEGIN { printf "%-14s %14d %8.3f %10s\n", n, p, p / o, c }'
done
