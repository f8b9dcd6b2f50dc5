#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration and doc tests, which
# include the drift checks of generated documents), the built-in policy library's Rego tests
# through the `gatehouse test` runner, and the playground's browser tests. Besides what cargo
# fetches, it installs Debian's chromium when /usr/bin/chromium is missing and the browser
# tests' npm package (playwright-core, which downloads no browser); building the playground
# runs `npm ci` for its page (Node.js and npm must be on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace"
cargo test --workspace --locked

echo "==> gatehouse test --builtin --coverage --threshold 95 (the policy library's own tests)"
cargo run --quiet --locked -p gatehouse -- test --builtin --coverage --threshold 95

echo "==> playground browser tests (Debian's headless Chromium driven by playwright-core)"
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo build --quiet --locked -p gatehouse
(cd playground/e2e && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
(cd playground/e2e && GATEHOUSE_BIN="$PWD/../../target/debug/gatehouse" node --test --test-concurrency=1 playground.test.mjs)

echo "all tests passed"
