#!/usr/bin/env bash
# Dispatch overhead: 4 KiB files through Vigil's dispatcher against the same real clamd
# driven directly (FILDES over its unix socket) in one run, then over two clamd.
# Usage: bench/dispatch/run.sh [FILES=4000] [CONCURRENCY=16]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p scan --example dispatch_bench
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$CARGO_TARGET_DIR/release/examples/dispatch_bench" "$PWD/bench/out/dispatch" "${1:-4000}" "${2:-16}"
