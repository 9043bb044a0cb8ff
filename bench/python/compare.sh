#!/usr/bin/env bash
# Runs cmd/cassload (this library) and pyload (the Python original,
# async-cassandra) in turn against the same node, with the same workloads,
# levels and operation counts, and prints the two side by side.
#
#   bench/python/compare.sh [rounds]          # default 4 rounds
#   N=10000 LEVELS=1,64 bench/python/compare.sh 2
#
# Settings from the environment: N (operations per workload and level,
# default 30000), LEVELS (default 1,64,512), WORKLOADS (default
# insert,select), OUT (where the JSON reports go, default
# bench/python/results/<UTC time>), CASSANDRA_HOSTS as for both tools.
# The order alternates (Go first in odd rounds, Python first in even ones),
# so that a machine whose load drifts weighs on both; the load average
# before and after each run is written to OUT/log.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rounds="${1:-4}"
n="${N:-30000}"
levels="${LEVELS:-1,64,512}"
workloads="${WORKLOADS:-insert,select}"
out="${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

(cd "$repo" && go build -o "$out/cassload" ./cmd/cassload)
"$here/run.sh" --setup

common=(-w "$workloads" -c "$levels" -n "$n" -json)
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime; }
for r in $(seq 1 "$rounds"); do
	order=(go py)
	if ((r % 2 == 0)); then
		order=(py go)
	fi
	for who in "${order[@]}"; do
		before="$(loadavg)"
		case "$who" in
		go) "$out/cassload" "${common[@]}" >"$out/round$r-go.json" ;;
		py) "$here/run.sh" "${common[@]}" >"$out/round$r-py.json" ;;
		esac
		echo "round $r $who: load average $before before, $(loadavg) after" | tee -a "$out/log.txt" >&2
	done
done
venv="$here/.venv"
if [[ "${PYLOAD_PURE:-}" == 1 ]]; then
	venv="$here/.venv-pure"
fi
"$venv/bin/python" "$here/summarize.py" "$out"
