#!/usr/bin/env bash
# Interleaved A/B of 64-byte cast fan-out between two mrci binaries, as
# recorded in docs/benchmarks.md: each round starts a fresh host from each
# binary (old, new, old, new, ...) and drives it with this tree's
# mrcibench. Per run it prints the delivered rate, the host's CPU per
# delivery (from /proc), the casts lost by connected receivers and the
# host's write syscalls per delivery (/proc/PID/io syscw).
#
#   scripts/bench-cast-ab.sh OLD_MRCI NEW_MRCI [N] [M] [extra serve flags...]
#
# e.g. build the old binary in a worktree:
#   git worktree add /tmp/oldtree c79ee0f && (cd /tmp/oldtree && go build -o /tmp/old/mrci ./cmd/mrci)
#   go build -o /tmp/new/mrci ./cmd/mrci
#   ROUNDS=6 scripts/bench-cast-ab.sh /tmp/old/mrci /tmp/new/mrci 10 1500000
#   ROUNDS=3 scripts/bench-cast-ab.sh /tmp/old/mrci /tmp/new/mrci 10 1500000 --force-tls
# Run it on a quiet machine: on two shared cores the rates move by ±20 %
# with other load.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 n=${3:-10} m=${4:-1500000}
shift $(( $# < 4 ? $# : 4 ))
rounds=${ROUNDS:-3}
port=${PORT:-21121}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mrcibench" ./cmd/mrcibench
run() {
  local bin=$1 label=$2 dir="$work/data-$2-$RANDOM"
  shift 2
  mkdir -p "$dir"
  MRCI_ROOT_PASSWORD=Bench-Pass-123 "$bin" serve --data-dir "$dir" --addr "127.0.0.1:$port" \
    --max-sessions 200000 --log-level warn "$@" 2>"$dir/log" &
  local host=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local w0 w1 out
  w0=$(awk '/^syscw/ {print $2}' "/proc/$host/io")
  out=$("$work/mrcibench" --addr "127.0.0.1:$port" --password Bench-Pass-123 --host-pid "$host" \
    cast -n "$n" -m "$m" -s 64 ${RATE:+--rate "$RATE"} 2>&1) || true
  w1=$(awk '/^syscw/ {print $2}' "/proc/$host/io")
  kill "$host"; wait "$host" 2>/dev/null || true
  local rate cpu lost
  rate=$(grep -o '[0-9]* msgs/s (' <<<"$out" | head -1 | cut -d' ' -f1)
  cpu=$(grep -o 'host CPU [0-9]* ns' <<<"$out" | cut -d' ' -f3)
  lost=$(grep -o 'still connected [0-9]*' <<<"$out" | head -1 | cut -d' ' -f3)
  if [ -z "$rate" ]; then echo "$label: run failed: $out" >&2; return 1; fi
  printf '%s n=%s rate=%s msgs/s cpu=%s ns/delivery lost=%s writes/delivery=%s\n' \
    "$label" "$n" "$rate" "$cpu" "$lost" "$(awk -v w=$((w1 - w0)) -v d=$((n * m)) 'BEGIN {printf "%.4f", w/d}')"
}
for _ in $(seq "$rounds"); do
  run "$old" old "$@"
  run "$new" new "$@"
done | tee "$work/runs"
# Medians per binary: on shared cores single runs move by ±15 %.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for label in old new; do
  rate=$(awk -v l="$label" '$1 == l {sub("rate=", "", $3); print $3}' "$work/runs" | median)
  cpu=$(awk -v l="$label" '$1 == l {sub("cpu=", "", $5); print $5}' "$work/runs" | median)
  printf '%s median of %s rounds: rate=%s msgs/s cpu=%s ns/delivery\n' "$label" "$rounds" "$rate" "$cpu"
done
