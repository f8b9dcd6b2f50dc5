#!/usr/bin/env bash
# Times `gatehouse check` over 1,000 Kubernetes manifests with 20 rules (whole process, median
# of five runs, on all cores and pinned to one) against the same evaluations by OPA v1.20
# through its Python bindings (tests/bench/opa_check.py: one evaluation of the `main` package
# per document, whole process and evaluation loop alone). Both must find the same failures.
#
# usage: tests/bench/check_compare.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
py=$(../shared/reference/setup.sh)
cargo build --release --quiet -p gatehouse
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
python3 tests/bench/make_check_corpus.py "$corpus" "$n"
python3 - "$py" "$corpus" <<'PY'
import statistics, subprocess, sys, time
py, corpus = sys.argv[1], sys.argv[2]
def wall(cmd, runs=5):
    times, last = [], None
    for _ in range(runs):
        t = time.perf_counter(); last = subprocess.run(cmd, capture_output=True, text=True); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, last
check = ["target/release/gatehouse", "check", "-p", f"{corpus}/policy", f"{corpus}/manifests"]
g, out = wall(check)
g1, _ = wall(["taskset", "-c", "0"] + check)
o, oout = wall([py, "tests/bench/opa_check.py", f"{corpus}/policy", f"{corpus}/manifests"], 3)
print(f"gatehouse check, whole process, all cores   {g:8.0f} ms   {out.stdout.strip().splitlines()[-1]}")
print(f"gatehouse check, whole process, one core    {g1:8.0f} ms")
print(f"opa (bindings), whole process               {o:8.0f} ms   {oout.stdout.strip()}")
print(f"ratio opa / gatehouse (whole process)       {o / g:.2f}x all cores, {o / g1:.2f}x one core")
PY
