#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration and doc tests, which
# include the drift checks of generated documents) and the built-in policy library's Rego tests
# through the `gatehouse test` runner. Installs nothing beyond what cargo fetches itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace"
cargo test --workspace --locked

echo "==> gatehouse test --builtin --coverage --threshold 95 (the policy library's own tests)"
cargo run --quiet --locked -p gatehouse -- test --builtin --coverage --threshold 95

echo "all tests passed"
