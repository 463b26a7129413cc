#!/usr/bin/env bash
# S3 PUT throughput with auditing off vs on, as a ratio measured in the same run
# (bench/s3/README.md). On demand, not in CI.
#
# Knobs (environment): ROUNDS=5 OBJECTS=400 CLIENTS=16 SIZE=1048576 BUILD=1
#                      CARGO_TARGET_DIR (default <repo>/target) DIR (work dir, removed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [ "${BUILD:-1}" = 1 ]; then
    (cd "$root" && cargo build --release --bin vigil)
fi
python=$root/.venv/bin/python
[ -x "$python" ] || python=python3
work=${DIR:-$(mktemp -d "$root/bench/out-s3.XXXXXX")}
trap 'rm -rf "$work"' EXIT
"$python" "$here/put_bench.py" "$target/release/vigil" "$work" \
    "${ROUNDS:-5}" "${OBJECTS:-400}" "${CLIENTS:-16}" "${SIZE:-1048576}"
