#!/usr/bin/env bash
# Dispatch overhead: 4 KiB files through Vigil's dispatcher against the same real clamd
# driven directly (FILDES over its unix socket) in one run, then over two clamd.
# Usage: [DISPATCH_BENCH=BINARY] bench/dispatch/run.sh [FILES=4000] [CONCURRENCY=16]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# DISPATCH_BENCH=path/to/dispatch_bench compares another build on the same machine.
if [ -z "${DISPATCH_BENCH:-}" ]; then
  cargo build --release -p scan --example dispatch_bench
  DISPATCH_BENCH=$CARGO_TARGET_DIR/release/examples/dispatch_bench
fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DISPATCH_BENCH" "$PWD/bench/out/dispatch" "${1:-4000}" "${2:-16}"
