#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Where the time goes, for a goal the bench says is missed.
#
#   bench/profile.sh rr [SECONDS]    RR between two Sluice pods on one node (with a
#                                    NetworkPolicy selecting the server): per-program
#                                    BPF run time (kernel.bpf_stats_enabled, on only
#                                    for the measurement), their share of a
#                                    transaction, and a perf cpu-clock profile of CPU 0
#   bench/profile.sh add [N]         N sequential CNI ADDs: the agent's perf profile
#
# `bpftool prog profile` needs hardware counters; it is tried and reported
# when the machine (a VM) has none. Needs the build (BUILD, default build/)
# and the bench tools (make bench-build). Output: bench/results/profile-<what>-<UTC>/.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$(cd "$TOP/$BUILD" && pwd)
CTL=$BIN/sluicectl
TOOLS=$BIN/bench
what=${1:-rr}
arg=${2:-}
id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
LAB=sbp$id
OUT=$TOP/bench/results/profile-$what-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
pids=()
stats_was=

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -n $stats_was ]] && sysctl -qw kernel.bpf_stats_enabled="$stats_was"
	"$CTL" lab --name "$LAB" down >/dev/null 2>&1 || true
	for p in $(ip netns list | awk -v p="$LAB-x" 'index($1, p) == 1 {print $1}'); do ip netns del "$p"; done
}
trap cleanup EXIT INT TERM

in_ns() {
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@"
}

"$CTL" lab --name "$LAB" up --nodes 1 --max-ips-per-interface 64 >/dev/null
pod_ip() { "$CTL" lab --name "$LAB" status -j | python3 -c 'import json,sys; print([p["ip"] for p in json.load(sys.stdin)["pods"] if p["name"] == sys.argv[1]][0])' "$1"; }

case $what in
rr | crr)
	secs=${arg:-5}
	"$CTL" lab --name "$LAB" pod add node-1 prof/a --labels app=a >/dev/null
	"$CTL" lab --name "$LAB" pod add node-1 prof/b --labels app=b >/dev/null
	python3 "$TOP/bench/lib/manifests.py" allow prof b a >"$OUT/policy.json"
	"$CTL" lab --name "$LAB" apply -f "$OUT/policy.json" >/dev/null
	ip=$(pod_ip b)
	in_ns "$LAB-prof-a" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
	# nsenter itself, not the in_ns function: a function run with & is a
	# subshell, and its PID is not the server's.
	nsenter --net="/var/run/netns/$LAB-prof-b" chrt -f 20 taskset -c 0 "$TOOLS/sl-rr" server -p 7000 &
	pids+=($!)
	sleep 1
	client() { in_ns "$LAB-prof-a" chrt -f 20 taskset -c 0 "$TOOLS/sl-rr" client -H "$ip" -m "$what" -t "$secs"; }
	client >/dev/null # warm up

	# 1. BPF run time per program, from the kernel's own accounting.
	stats_was=$(sysctl -n kernel.bpf_stats_enabled)
	progs() { bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("sluice_"):
        print(p["id"], p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'; }
	sysctl -qw kernel.bpf_stats_enabled=1
	progs >"$OUT/before.txt"
	res=$(client)
	progs >"$OUT/after.txt"
	sysctl -qw kernel.bpf_stats_enabled="$stats_was"
	stats_was=
	echo "$what with BPF stats on: $res" | tee "$OUT/summary.txt"
	python3 - "$OUT/before.txt" "$OUT/after.txt" "$res" "$secs" <<'EOF' | tee -a "$OUT/summary.txt"
import sys
b = {l.split()[0]: l.split() for l in open(sys.argv[1])}
count = float(sys.argv[3].split("count=")[1].split()[0])
total = 0
for l in open(sys.argv[2]):
    i, name, cnt, ns = l.split()
    if i not in b:
        continue
    dc, dn = int(cnt) - int(b[i][2]), int(ns) - int(b[i][3])
    if dc:
        total += dn
        print("  %-16s id %-6s %9d runs  %7.1f ns/run  %5.2f runs/transaction" % (name, i, dc, dn / dc, dc / count))
per_tx_ns = float(sys.argv[4]) * 1e9 / count
print("  BPF time per transaction: %.0f ns of %.0f ns (%.1f%%)" % (total / count, per_tx_ns, 100 * total / count / per_tx_ns))
EOF

	# 2. bpftool prog profile (needs hardware counters).
	id1=$(awk '$2 == "sluice_from_pod" {print $1; exit}' "$OUT/after.txt")
	if out=$(timeout 3 bpftool prog profile id "$id1" duration 1 cycles instructions 2>&1); then
		echo "bpftool prog profile sluice_from_pod: $out" | tee -a "$OUT/summary.txt"
	else
		echo "bpftool prog profile: not supported here ($(tail -1 <<<"$out"))" | tee -a "$OUT/summary.txt"
	fi

	# 3. perf, software clock (this VM has no PMU), CPU 0 only.
	if command -v perf >/dev/null; then
		perf record -q -e cpu-clock -F 4000 -C 0 -o "$OUT/perf.data" -- sleep "$secs" >/dev/null 2>&1 &
		p=$!
		client >/dev/null
		wait "$p" || true
		perf report -i "$OUT/perf.data" --no-children --sort sym -q --stdio 2>/dev/null | grep '%' | head -40 >"$OUT/perf-top.txt"
		echo "perf cpu-clock, CPU 0, top symbols: $OUT/perf-top.txt" | tee -a "$OUT/summary.txt"
		head -25 "$OUT/perf-top.txt"
	fi
	;;
add)
	n=${arg:-50}
	sock=$("$CTL" lab --name "$LAB" status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["socket"])')
	agent=$("$CTL" lab --name "$LAB" status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["pid"])')
	python3 "$TOP/bench/lib/manifests.py" pods prof p 1 "$n" node-1 app=p >"$OUT/pods.json"
	"$CTL" lab --name "$LAB" apply -f "$OUT/pods.json" >/dev/null
	for i in $(seq 1 "$n"); do ip netns add "$LAB-x$i"; done
	printf '{"cniVersion":"1.1.0","name":"sluice","type":"sluice","agentSocket":"%s"}' "$sock" >"$OUT/conf.json"
	sleep 2
	perf record -q -e cpu-clock -F 4000 -g -p "$agent" -o "$OUT/perf.data" >/dev/null 2>&1 &
	p=$!
	sleep 0.5
	in_ns "$LAB-node-1" "$TOOLS/sl-cnibench" -n "$n" -c "$OUT/conf.json" -e CNI_COMMAND=ADD -e CNI_IFNAME=eth0 \
		-e "CNI_CONTAINERID=prof$id%d" -e "CNI_NETNS=/var/run/netns/$LAB-x%d" \
		-e "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prof;K8S_POD_NAME=p%d" -e "CNI_PATH=$BIN" "$BIN/sluice" >"$OUT/add.txt"
	kill -INT "$p"
	wait "$p" || true
	sort -g -k2,2 "$OUT/add.txt" | awk '{v[NR]=$2} END {printf "ADD: n=%d p50=%.2f ms p99=%.2f ms\n", NR, v[int(NR/2)+1], v[int(0.99*(NR-1))+1]}' | tee "$OUT/summary.txt"
	perf report -i "$OUT/perf.data" --no-children --sort sym -q --stdio -g none 2>/dev/null | grep '%' | head -40 >"$OUT/perf-top.txt"
	perf report -i "$OUT/perf.data" --children --sort sym -q --stdio -g none 2>/dev/null | grep '%' | head -60 >"$OUT/perf-children.txt"
	echo "agent perf profile: $OUT/perf-top.txt (self), $OUT/perf-children.txt (inclusive)" | tee -a "$OUT/summary.txt"
	head -25 "$OUT/perf-children.txt"
	;;
*)
	echo "usage: bench/profile.sh rr|crr [SECONDS] | add [N]" >&2
	exit 2
	;;
esac
