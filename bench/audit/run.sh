#!/usr/bin/env bash
# Audit records/s through the real pipeline (AuditHub::record: JSON record, group-committed
# write + fdatasync, acknowledgement) at several concurrency levels, against a plain
# buffered append of the same bytes in the same run. The log lives under bench/out/audit,
# i.e. on the file system of the checkout: put the checkout where audit logs would go.
# Usage: bench/audit/run.sh [WRITER_LEVELS=1,8,64,256] [RECORDS_PER_LEVEL=64000] [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
LEVELS=${1:-1,8,64,256}
RECORDS=${2:-64000}
DIR=${3:-$PWD/bench/out/audit}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p audit --example audit_bench
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r) $(nproc) CPUs; dir $DIR ($(df -T "$PWD" | awk 'NR==2{print $2" on "$1}'))"
"$CARGO_TARGET_DIR/release/examples/audit_bench" "$DIR" "$LEVELS" "$RECORDS"
rm -rf "$DIR"
