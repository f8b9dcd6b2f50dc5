#!/usr/bin/env bash
# Times a production release.deploy decision (50 rendered manifests plus their deployed state)
# in Gatehouse, and the same Rego and input in OPA v1.20, in one run, and prints the ratios.
#
# How the comparison is made:
# - Like with like: OPA evaluates tests/bench/opa_collect.rego, every rule of the six built-in
#   policies that need no plugin, collected in one document, over the identical policies/ and
#   input file; Gatehouse decides with exactly those six bound (tests/bench/rego_only.yaml).
#   OPA is driven in-process through its Python bindings; its figure minus the bridge cost (the
#   same call with a trivial query and the same input) is evaluation alone, so it compares with
#   Gatehouse's --prepared figure (input converted once, outside the measurement).
# - The whole library (nine policies, three of them calling WebAssembly plugins) runs in
#   Gatehouse only: OPA has no gatehouse.plugin built-in.
# - Gatehouse's full figures also convert the action to Rego input, select policies by binding
#   and build the decision; --parse-input adds parsing and validating the JSON text.
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
# Only the policies OPA can run: no plugin calls, no tests.
rm -f "$opa_dir/governance/approvals.rego" "$opa_dir/governance/freeze.rego" "$opa_dir/release/values.rego"
find "$opa_dir" -name '*_test.rego' -delete
cp tests/bench/opa_collect.rego "$opa_dir/"

rego=tests/bench/rego_only.yaml
# Both sides must reach the same findings before their times mean anything.
findings() {
  local ours theirs
  ours=$($g decide -a "$1" --bindings "$rego" -f json) || [ $? -eq 2 ] # 2: denied
  theirs=$("$py" ../shared/reference/opa.py eval -d "$opa_dir" -i "$1" data.gatehouse_bench.all)
  python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = (json.loads(a) for a in sys.argv[1:])
a = sorted(f["message"] for f in ours["violations"])
b = sorted(v["msg"] if isinstance(v, dict) else v for rule in theirs["value"] for found in rule for v in found)
if a != b:
    sys.exit("the engines disagree:\n  gatehouse: %s\n  opa:       %s" % (a, b))
print(f"same findings on both sides ({len(a)} violations)")
PY
}
findings "$action"
findings tests/fixtures/actions/release-deploy-violations.json # one that denies
same=$($g bench -a "$action" -n "$n" -f json --prepared --bindings "$rego")
same_full=$($g bench -a "$action" -n "$n" -f json --bindings "$rego")
opa=$("$py" ../shared/reference/opa.py bench -d "$opa_dir" -i "$action" -n "$n" data.gatehouse_bench.all)
full=$($g bench -a "$action" -n "$n" -f json --threads 2)
prepared=$($g bench -a "$action" -n "$n" -f json --prepared)
parsed=$($g bench -a "$action" -n "$n" -f json --parse-input)

python3 - "$same" "$same_full" "$opa" "$full" "$prepared" "$parsed" <<'PY'
import json, sys
same, same_full, opa, full, prepared, parsed = (json.loads(a) for a in sys.argv[1:])
o = opa["median_us_minus_bridge"]
print("six plugin-free policies, identical Rego and input:")
print(f"  gatehouse (prepared input)          median {same['median_us']:>9.1f} µs  p10 {same['p10_us']:.1f}")
print(f"  gatehouse (typed action)            median {same_full['median_us']:>9.1f} µs")
print(f"  opa eval minus bridge               median {o:>9.1f} µs  (raw {opa['median_us']:.1f}, bridge {opa['bridge_us']:.1f})")
print(f"  ratio opa / gatehouse (evaluation)  {o / same['median_us']:.2f}x")
print(f"  ratio opa / gatehouse (decision)    {o / same_full['median_us']:.2f}x")
print("whole built-in library (nine policies, three calling plugins), Gatehouse only:")
print(f"  decision (prepared input)           median {prepared['median_us']:>9.1f} µs  p10 {prepared['p10_us']:.1f}")
print(f"  decision (typed action)             median {full['median_us']:>9.1f} µs  p90 {full['p90_us']:.1f}")
print(f"  decision (JSON text)                median {parsed['median_us']:>9.1f} µs")
print(f"  engine start with the library       {full['engine_start_ms']} ms")
t = full["threads"]
print(f"  throughput                          {t['single_thread_ops_per_sec']:.0f}/s on 1 thread, {t['ops_per_sec']:.0f}/s on {t['threads']} ({t['speedup']}x)")
PY
