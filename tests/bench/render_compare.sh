#!/usr/bin/env bash
# Times rendering the `helm create` default chart (tests/fixtures/helm/charts/mychart) with the
# values of its parity case (tests/fixtures/helm/values/mychart-everything.yaml) in Gatehouse
# and in Helm v4, in one run, and prints the ratios; then the delivery of 1,000 targets
# (100 tenants × 2 environments × 5 workloads of that chart) with the render gate and one commit.
#
# How the comparison is made:
# - Helm renders in-process through its Python bindings (`helm.py bench`): the chart is loaded
#   once, and each render parses every template again (Helm's engine keeps no parsed
#   templates), so its figure compares with Gatehouse's parse+render figure (chart files in
#   memory, templates parsed and rendered per iteration). The hub keeps a workload's parsed
#   chart, so Gatehouse's parsed-once figure is what a render costs there.
# - Helm's figure also carries the bindings' bridge: the values go to Go as JSON text and the
#   rendered templates come back as JSON text. The Python side of it (dumping the values,
#   loading the output) is timed here and subtracted for the "minus bridge" ratio; the Go side
#   (decoding the values, encoding the output) is left in.
# - Gatehouse's render also splits the output into documents and sorts them in install order
#   (`helm template`'s order), which Helm's render leaves to its install path; the template
#   path (install --dry-run=client, as `helm.py template` runs it) is timed too.
# - Gatehouse's figures are criterion medians from `cargo bench -p gatehouse --bench delivery`.
#
# usage: tests/bench/render_compare.sh [N]   (N Helm renders, default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-300}
chart=tests/fixtures/helm/charts/mychart
values=tests/fixtures/helm/values/mychart-everything.yaml
py=$(../shared/reference/setup.sh 2>/dev/null || "${GATEHOUSE_REF_SETUP:-false}")
criterion=${CARGO_TARGET_DIR:-target}/criterion

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# The delivery writes its repositories (about 5,000 files each) under TMPDIR: tmpfs by default,
# because on a shared ext4 disk the time to create that many files swings with other processes'
# deletions. TMPDIR=/tmp (or any disk directory) measures the disk instead.
bench_tmp=${TMPDIR:-/dev/shm}
[[ -d $bench_tmp ]] || bench_tmp=/tmp
if ! TMPDIR=$bench_tmp cargo bench --quiet -p gatehouse --bench delivery >"$out" 2>"$err"; then
  cat "$out" "$err" >&2
  exit 1
fi
split=$(grep -m1 '^delivery/1000 split:' "$out")

helm=$("$py" ../shared/reference/helm.py bench "$chart" -f "$values" -n "$n")
helm_more=$("$py" - "$chart" "$values" "$n" <<'PY'
# Two more Helm figures on the same chart and values: the Python side of the bridge for one
# render (dumping the values to JSON text, loading the rendered templates from it), and the
# `helm template` path.
import json, statistics, sys, time
import yaml
sys.path.insert(0, "../shared/reference")
import helm_python as helm
from helm import KUBECONFIG
chart, values, n = helm.Chart.load(sys.argv[1]), yaml.safe_load(open(sys.argv[2])), int(sys.argv[3])
text = json.dumps(chart.render(values, name="release-name", namespace="default"))
cfg = helm.Config(kubeconfig_content=KUBECONFIG, storage_driver="memory", namespace="default")
def median_ms(f):
    for _ in range(min(20, n)):
        f()
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        f()
        samples.append(time.perf_counter_ns() - t)
    return statistics.median(samples) / 1e6
print(json.dumps({
    "bridge_ms": median_ms(lambda: (json.dumps(values), json.loads(text))),
    "template_ms": median_ms(lambda: cfg.install(chart, "release-name", values,
                                                 namespace="default", dry_run="client")),
}))
PY
)

python3 - "$criterion" "$helm" "$helm_more" "$split" <<'PY'
import json, re, sys
criterion, helm, more, split = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
def median_ms(bench):
    with open(f"{criterion}/{bench}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e6
once = median_ms("render/default-chart")
parse = median_ms("render/parse+render")
load = median_ms("render/load+parse+render")
total = median_ms("delivery/1000")
h, b, t = helm["median_ms"], more["bridge_ms"], more["template_ms"]
rows = [
    ("gatehouse render, chart parsed once", f"{once * 1e3:9.1f} µs"),
    ("gatehouse parse + render", f"{parse * 1e3:9.1f} µs"),
    ("gatehouse load + parse + render", f"{load * 1e3:9.1f} µs"),
    (f"helm {helm['version']} render", f"{h * 1e3:9.1f} µs  (bridge {b * 1e3:.1f} µs)"),
    (f"helm {helm['version']} template path", f"{t * 1e3:9.1f} µs"),
    ("ratio helm render / gatehouse parse+render", f"{h / parse:9.2f}x  ({(h - b) / parse:.2f}x minus bridge)"),
    ("ratio helm render / gatehouse parsed once", f"{h / once:9.2f}x  ({(h - b) / once:.2f}x minus bridge)"),
    ("ratio helm template / gatehouse parse+render", f"{t / parse:9.2f}x"),
    ("1,000 targets: render, gate, one commit", f"{total / 1e3:9.2f} s   ({total / 1000:.2f} ms per target)"),
]
for label, value in rows:
    print(f"{label:<46}{value}")
print(re.sub(r"^delivery/1000 split:", "  one run:", split))
PY
