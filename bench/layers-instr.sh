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
# a time. Counts repeat within about 0.1% from one run to the next.
set -euo pipefail

base=${1:-8245cf6}
ops=${2:-1000}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
server=${FAIRWAY_REDIS_SERVER:-$(command -v redis-server)}

git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
for who in base head; do
  dir=$tmp/base
  [ "$who" = head ] && dir=$root
  cp "$root/bench/instr/probe_test.go.in" "$dir/broker/zz_instr_probe_test.go"
  (cd "$dir" && go test -c -o "$tmp/$who.test" ./broker) || { rm -f "$dir/broker/zz_instr_probe_test.go"; exit 1; }
  rm -f "$dir/broker/zz_instr_probe_test.go"
done
cat >"$tmp/redis.sh" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$tmp/cg.out.%p "$server" "\$@"
WRAP
chmod +x "$tmp/redis.sh"

printf '%-20s %16s %16s %9s\n' probe "base instr/op" "head instr/op" head/base
for probe in 'InstrPull$/^n=1$' 'InstrPull$/^n=10$' 'InstrPull$/^n=100$' 'InstrDeliver$'; do
  declare -A per
  for who in base head; do
    rm -f "$tmp"/cg.out.*
    FAIRWAY_REDIS_SERVER=$tmp/redis.sh "$tmp/$who.test" -test.run '^$' -test.bench "^Benchmark$probe" \
      -test.benchtime "${ops}x" -test.count 1 >"$tmp/$who.log" 2>&1 || { cat "$tmp/$who.log"; exit 1; }
    total=$(callgrind_annotate "$tmp"/cg.out.* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    per[$who]=$((total / (ops + 1)))
  done
  name=$(sed -E 's/\$//g; s/\^//g; s/Instr//' <<<"$probe")
  awk -v n="$name" -v b="${per[base]}" -v h="${per[head]}" 'BEGIN { printf "%-20s %16d %16d %9.3f\n", n, b, h, h / b }'
done
