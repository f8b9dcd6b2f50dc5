#!/usr/bin/env bash
# Load benchmark of the hub on loopback with wrk: a read route and the governed write route
# (PUT values: a values.update decision by the engine, then a SQLite write with its audit
# entry). Prints wrk's latency distribution (p50/p99) and throughput for each.
#
#   tests/bench/hub_load.sh [DURATION=15s] [CONNECTIONS=16]
#
# Needs wrk (Debian: apt-get install wrk). Builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-15s}
CONNS=${2:-16}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet -p gatehouse
BIN=target/release/gatehouse
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18${RANDOM:0:3}
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(grep -o 'ghqu_[0-9a-f]*' "$WORK/out")
BASE=http://127.0.0.1:$PORT/api/v2
api() { curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" "$BASE$2" ${3:+-d "$3"} >/dev/null; }

mkdir -p "$WORK/chart/web/templates"
printf 'apiVersion: v2\nname: web\nversion: 1.0.0\n' >"$WORK/chart/web/Chart.yaml"
printf 'replicaCount: 1\n' >"$WORK/chart/web/values.yaml"
tar -C "$WORK/chart" -czf "$WORK/web-1.0.0.tgz" web
api POST /environments '{"name":"production","rank":30}'
api POST /clusters '{"name":"prod-eu","labels":{"tier":"production"}}'
api POST /charts '{"name":"web"}'
curl -sf -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$WORK/web-1.0.0.tgz" "$BASE/charts/web/versions" >/dev/null
api POST /projects '{"name":"shop"}'
api POST /projects/shop/environments '{"name":"production","cluster":"prod-eu"}'
api POST /projects/shop/workloads '{"name":"api","chart":"web","chartVersion":"1.0.0","values":{"replicaCount":1}}'

cat >"$WORK/put.lua" <<LUA
-- Every request changes the values (distinct per wrk thread), so each one is a real decision.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"replicaCount": %d, "image": {"tag": "%d.%d"}}', n % 5 + 1, id, n)
  return wrk.format("PUT", "/api/v2/projects/shop/workloads/api/values?environment=production",
    {["Authorization"] = "Bearer $TOKEN", ["Content-Type"] = "application/json"}, body)
end
LUA

echo "== read: GET /api/v2/projects/shop/workloads/api ($DURATION, $CONNS connections, 2 threads)"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$BASE/projects/shop/workloads/api"
echo
echo "== gated write: PUT .../workloads/api/values (values.update decision + write + audit entry;"
echo "   every connection changes the same workload level, so changes queue on its lock)"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/put.lua" "http://127.0.0.1:$PORT"
echo
echo "== the audit log after the run"
$BIN audit verify --data-dir "$WORK/data"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^gatehouse_decisions_total' || true
