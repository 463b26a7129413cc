#!/usr/bin/env bash
# The one command that installs every test dependency and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --bin vigil
cargo test --release --workspace
export VIGIL_BIN="$CARGO_TARGET_DIR/release/vigil"
.venv/bin/python -m pytest -q tests/conformance
# The calendar guard: the same suite with the wall clock of every process it starts (the
# test runner, Vigil, clamd, smbd) 400 days ahead. Monotonic clocks move by the same
# constant offset (leaving them alone breaks libfaketime's absolute-deadline sleeps with
# EINVAL), so durations keep their length. A test that plants or expects a fixed date
# fails here today rather than on the day that date goes stale. Tests marked real_clock
# compare Vigil's clock with file times, which the kernel stamps with the real clock.
# Tests marked no_dates (Ansible playbooks: no date in what they send or check) run once.
echo "== conformance suite with the clock moved 400 days ahead =="
faketime -f '+400d' .venv/bin/python -m pytest -q -m 'not real_clock and not no_dates' tests/conformance
