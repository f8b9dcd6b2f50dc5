#!/usr/bin/env bash
# Times a production release.deploy decision (50 rendered manifests plus their deployed state,
# through the whole built-in library) in Gatehouse and the same Rego and input in OPA v1.20,
# in one run, and prints the ratios.
#
# How the comparison is made:
# - OPA evaluates tests/bench/opa_collect.rego: every rule of every policy the decision runs,
#   collected in one document, over the identical policies/ and input file. OPA is driven
#   in-process through its Python bindings; its figure minus the bridge cost (the same call with
#   a trivial query and the same input) is evaluation alone, so it compares with Gatehouse's
#   --prepared figure (input converted once, outside the measurement).
# - Gatehouse's full figure also converts the action to Rego input, selects policies by binding
#   and builds the decision; --parse-input adds parsing and validating the JSON text.
#
# usage: tests/bench/compare.sh [N]   (N evaluations per measurement, default 500)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-500}
action=tests/fixtures/actions/bench-release-deploy-50.json
py=$(../shared/reference/setup.sh 2>/dev/null || "${GATEHOUSE_REF_SETUP:-false}")
cargo build --release --quiet -p gatehouse
g=target/release/gatehouse

opa_dir=$(mktemp -d)
trap 'rm -rf "$opa_dir"' EXIT
cp -r policies/. "$opa_dir/"
rm -rf "$opa_dir/src" "$opa_dir/Cargo.toml" "$opa_dir/build.rs"
cp tests/bench/opa_collect.rego "$opa_dir/"

full=$($g bench -a "$action" -n "$n" -f json --threads 2)
prepared=$($g bench -a "$action" -n "$n" -f json --prepared)
parsed=$($g bench -a "$action" -n "$n" -f json --parse-input)
opa=$("$py" ../shared/reference/opa.py bench -d "$opa_dir" -i "$action" -n "$n" data.gatehouse_bench.all)

python3 - "$full" "$prepared" "$parsed" "$opa" <<'PY'
import json, sys
full, prepared, parsed, opa = (json.loads(a) for a in sys.argv[1:])
print(f"gatehouse decision (typed action)     median {full['median_us']:>9.1f} µs  p90 {full['p90_us']:.1f}")
print(f"gatehouse decision (prepared input)   median {prepared['median_us']:>9.1f} µs")
print(f"gatehouse decision (JSON text)        median {parsed['median_us']:>9.1f} µs")
print(f"opa eval minus bridge                 median {opa['median_us_minus_bridge']:>9.1f} µs  (raw {opa['median_us']:.1f}, bridge {opa['bridge_us']:.1f})")
print(f"ratio opa / gatehouse (evaluation)    {opa['median_us_minus_bridge'] / prepared['median_us']:.2f}x")
print(f"ratio opa / gatehouse (full decision) {opa['median_us_minus_bridge'] / full['median_us']:.2f}x")
print(f"engine start with the library        {full['engine_start_ms']} ms")
t = full["threads"]
print(f"throughput                            {t['single_thread_ops_per_sec']:.0f}/s on 1 thread, {t['ops_per_sec']:.0f}/s on {t['threads']} ({t['speedup']}x)")
PY
