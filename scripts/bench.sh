#!/usr/bin/env bash
# Runs the load-tool matrix recorded in docs/benchmarks.md: builds mrci and
# mrcibench, then lets mrcibench start a fresh host (--spawn) for each run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
go build -o "$out/mrci" ./cmd/mrci
go build -o "$out/mrcibench" ./cmd/mrcibench
b() { "$out/mrcibench" --spawn "$out/mrci" "$@"; }
for tls in "" "--tls"; do
  b $tls cast -n 10   -m 300000 -s 64
  b $tls cast -n 100  -m 30000  -s 64
  b $tls cast -n 1000 -m 3000   -s 64
  b $tls cast -n 10   -m 50000  -s 4096
  b $tls cast -n 100  -m 5000   -s 4096
  b $tls cast -n 1000 -m 500    -s 4096
  b $tls rtt -m 20000
  b $tls conn -m 3000 -c 8
  b $tls idle -n 2000
  b $tls idle -n 5000 --anonymous
done
rm -rf "$out"
