#!/usr/bin/env bash
# layers-ab.sh measures the cost of the limit layers of issue 16 on the pull
# path (BENCHMARKS.md, "Limit layers (issue 16)"). Run from anywhere in the
# repository:
#
#   bench/layers-ab.sh [base commit (8245cf6)] [rounds (5)]
#
# It builds the broker's test binary at the base commit (in a temporary git
# worktree) and at the working tree, then, round after round, runs each
# benchmark that both have of one binary and then of the other, the order
# swapped every round, so that a change in the machine's load falls on both
# alike; then BenchmarkPullLayers's settings one at a time, in an order
# rotated every round, of the working tree's binary only (the base has no
# layers); and bench-compare's fairness scenario for Fairway alone (limits
# off), of both, alternately too. Each run is a process of its own with its
# own redis-server. The raw lines go to $OUT (default
# bench/results/layers-ab.txt), then the medians over the rounds and their
# ratios: the working tree over the base, and each layer over "off".
set -euo pipefail

base=${1:-8245cf6}
rounds=${2:-5}
root=$(git rev-parse --show-toplevel)
out=${OUT:-$root/bench/results/layers-ab.txt}
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./broker)
(cd "$root" && go test -c -o "$tmp/head.test" ./broker)
(cd "$tmp/base/bench" && go build -o "$tmp/base.bench" .)
(cd "$root/bench" && go build -o "$tmp/head.bench" .)

# name, -test.bench pattern, -test.benchtime
ab=(
  "PullNAckMany ^BenchmarkPullNAckMany$ 1000x"
  "PullNFacets/facets=10000 ^BenchmarkPullNFacets$/^facets=10000$ 5000x"
  "PullAck ^BenchmarkPullAck$ 20000x"
  "Deliver ^BenchmarkDeliver$ 50000x"
)
layers=(off facet-limit own-limits strict-order global-cap queue-rate facet-rate all)

# bench binary label name pattern benchtime: one run, one line to $out.
bench() {
  local line
  line=$("$1" -test.run '^$' -test.bench "$4" -test.benchtime "$5" -test.count 1 | grep '^Benchmark' | tail -1)
  printf '%s\t%s\t%s\t%s\n' "$round" "$2" "$3" "$line" | tee -a "$out"
}

# fairness binary label: bench-compare's fairness scenario for Fairway
# alone, one round, as a line of value and unit pairs.
fairness() {
  local note
  note=$("$1" -compare -systems fairway -scenarios fairness -rounds 1 2>&1 | grep 'small tenants. messages finished')
  # "... positions 1 to 1,010 of 21,000 (p50 505, p99 1,000)"
  printf '%s\t%s\tfairness\t%s\n' "$round" "$2" \
    "$(sed -E 's/.* to ([0-9,]+) of .*p50 ([0-9,.]+), p99 ([0-9,.]+)\).*/Fairness 1 \2 p50 \3 p99 \1 max/; s/,//g' <<<"$note")" | tee -a "$out"
}

: >"$out"
{
  echo "# $(date -u +%FT%TZ) base $(git -C "$root" rev-parse --short "$base") head $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo '+changes')"
  echo "# $(uptime)"
} >>"$out"
for round in $(seq 1 "$rounds"); do
  for spec in "${ab[@]}"; do
    read -r name pattern benchtime <<<"$spec"
    if ((round % 2)); then order=(base head); else order=(head base); fi
    for who in "${order[@]}"; do
      bench "$tmp/$who.test" "$who" "$name" "$pattern" "$benchtime"
    done
  done
  if ((round % 2)); then order=(base head); else order=(head base); fi
  for who in "${order[@]}"; do
    fairness "$tmp/$who.bench" "$who"
  done
  n=${#layers[@]}
  for i in $(seq 0 $((n - 1))); do
    l=${layers[$(((i + round) % n))]}
    bench "$tmp/head.test" head "PullLayers/$l" "^BenchmarkPullLayers$/^$l$" 3000x
  done
  echo "# after round $round: $(uptime)" >>"$out"
done

# Medians per binary, benchmark and metric, then the ratios: the working
# tree over the base, and each layer over "off" of the same binary.
echo
echo "medians over $rounds rounds"
# A line is: round, binary, name, then the benchmark's own line (name,
# iterations, then value and unit pairs), all split on blanks.
awk -v layers="${layers[*]}" '
function median(s,   a, m, i, j, x) {
  m = split(substr(s, 2), a, " ")
  for (i = 2; i <= m; i++) { x = a[i] + 0; j = i - 1; while (j > 0 && a[j] + 0 > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
  return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
!/^#/ {
  n = split($0, f, /[ \t]+/)
  if (!(f[3] in seen)) { seen[f[3]] = 1; names[++count] = f[3] }
  for (i = 6; i < n; i += 2) v[f[3], f[2], f[i + 1]] = v[f[3], f[2], f[i + 1]] " " f[i]
}
END {
  split("ns/op redis-us/msg redis-cpu-us/msg p50 p99 max", units, " ")
  printf "%-26s %-17s %12s %12s %8s\n", "benchmark", "metric", "base", "head", "head/base"
  for (k = 1; k <= count; k++) {
    name = names[k]
    if (name ~ /^PullLayers/) continue
    for (u = 1; u <= 6; u++) {
      if (!((name, "base", units[u]) in v)) continue
      b = median(v[name, "base", units[u]]); h = median(v[name, "head", units[u]])
      printf "%-26s %-17s %12.2f %12.2f %8.3f\n", name, units[u], b, h, h / b
    }
  }
  printf "\n%-26s %-17s %12s %8s\n", "benchmark (head)", "metric", "median", "/off"
  nl = split(layers, ls, " ")
  for (l = 1; l <= nl; l++) {
    name = "PullLayers/" ls[l]
    for (u = 1; u <= 3; u++) {
      if (!((name, "head", units[u]) in v)) continue
      x = median(v[name, "head", units[u]]); off = median(v["PullLayers/off", "head", units[u]])
      printf "%-26s %-17s %12.2f %8.3f\n", name, units[u], x, x / off
    }
  }
}' "$out"
