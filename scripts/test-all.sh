#!/usr/bin/env bash
# The one command that installs every test dependency and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --bin vigil
cargo test --release --workspace
VIGIL_BIN="$CARGO_TARGET_DIR/release/vigil" .venv/bin/python -m pytest -q tests/conformance
