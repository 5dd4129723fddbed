# SPDX-License-Identifier: Apache-2.0
#
# Scenario "footprint": the agent's memory (VmRSS, VmHWM) and CPU at 0, 100
# and 1,000 endpoints on one node, pods created through the real plugin
# (4 ADDs at a time). The sim's limits are raised so 1,000 pods fit on one
# node: 17 interfaces of 64 addresses (the primary interface and each
# interface's own address count against them). CPU is the agent's
# utime+stime over an idle window at each level, and its CPU time per ADD.
# Also: BPF map memory (memlock) of the node's pinned maps.
#
#   footprint-<N>-endpoints   sluice   rss (MiB)
#   conntrack-gc-<N>          sluice   gc-ms (report.md only): one pass of the agent's
#                                      conntrack GC over N entries (sl-ctgc)

FP_LAB=

# proc_sample PID -> "rss_kib hwm_kib cpu_ticks"
proc_sample() {
	local rss hwm cpu
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status")
	cpu=$(awk '{print $14 + $15}' "/proc/$1/stat")
	echo "$rss $hwm $cpu"
}

# The node's pinned maps: their memlock in KiB, summed (bpftool map show).
maps_memlock_kib() {
	local dir=/sys/fs/bpf/sluice-lab-$1/node-1 f id total=0 ml
	for f in "$dir"/sluice_*; do
		[[ -e $f ]] || continue
		ml=$(bpftool map show pinned "$f" 2>/dev/null | sed -n 's/.*memlock \([0-9]*\)B.*/\1/p')
		total=$((total + ${ml:-0}))
	done
	echo $((total / 1024))
}

# fp_level N PID: samples the agent at N endpoints over an idle window.
fp_level() {
	local n=$1 pid=$2 a b rss hwm cpu0 cpu1 hz idle
	hz=$(getconf CLK_TCK)
	read -r _ _ cpu0 < <(proc_sample "$pid")
	sleep "$FP_IDLE"
	read -r rss hwm cpu1 < <(proc_sample "$pid")
	idle=$(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" -v s="$FP_IDLE" 'BEGIN { printf "%.2f", c / hz / s * 100 }')
	record "footprint-$n-endpoints" sluice rss MiB 1 "$(awk -v k="$rss" 'BEGIN { printf "%.2f", k / 1024 }')"
	record "footprint-$n-endpoints" sluice rss-hwm MiB 1 "$(awk -v k="$hwm" 'BEGIN { printf "%.2f", k / 1024 }')"
	record "footprint-$n-endpoints" sluice cpu-idle-pct % 1 "$idle"
	record "footprint-$n-endpoints" sluice bpf-memlock MiB 1 "$(awk -v k="$(maps_memlock_kib "$FP_LAB")" 'BEGIN { printf "%.2f", k / 1024 }')"
	log "  footprint at $n endpoints: RSS $((rss / 1024)) MiB (HWM $((hwm / 1024)) MiB), idle CPU $idle% of one core"
}

# fp_add FIRST LAST PID: ADDs pods FIRST..LAST, 4 at a time; records agent CPU per ADD.
fp_add() {
	local first=$1 last=$2 pid=$3 c0 c1 hz out t0 t1
	hz=$(getconf CLK_TCK)
	read -r _ _ c0 < <(proc_sample "$pid")
	t0=$(date +%s%N)
	out=$(in_ns "$FP_LAB-node-1" "$TOOLS/sl-cnibench" -n $((last - first + 1)) -f "$first" -P 4 -c "$STATE/fp-sluice.json" \
		-e CNI_COMMAND=ADD -e CNI_IFNAME=eth0 -e "CNI_CONTAINERID=fp$RUN_ID%d" -e "CNI_NETNS=/var/run/netns/$P-f%d" \
		-e "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=benchfp;K8S_POD_NAME=p%d" -e "CNI_PATH=$BIN" \
		"$BIN/sluice" 2>"$STATE/fp.err") || {
		FP_ERR="ADD of pods $first..$last failed: $(grep -c ' [1-9][0-9]*$' <<<"$out") calls failed; first error: $(head -c 300 "$STATE/fp.err")"
		return 1
	}
	t1=$(date +%s%N)
	read -r _ _ c1 < <(proc_sample "$pid")
	record "footprint-$last-endpoints" sluice agent-cpu-ms-per-add ms 1 \
		"$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n=$((last - first + 1)) 'BEGIN { printf "%.3f", c / hz * 1000 / n }')"
	log "  ADD pods $first..$last: $(((t1 - t0) / 1000000)) ms wall, 4 at a time"
}

footprint_setup_and_run() {
	local pid i levels=(0 $FP_LEVELS) prev=0 n
	FP_LAB=sbf$RUN_ID
	log "footprint: lab $FP_LAB (1 node, 17 interfaces x 64 addresses)"
	sl_lab_up "$FP_LAB" --nodes 1 --max-interfaces 17 --max-ips-per-interface 64
	pid=$(agent_pid "$FP_LAB")
	printf '{"cniVersion":"1.1.0","name":"sluice","type":"sluice","agentSocket":"%s"}' \
		"$("$CTL" lab --name "$FP_LAB" status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["socket"])')" \
		>"$STATE/fp-sluice.json"
	local max=${levels[-1]}
	python3 "$MANIFESTS" pods benchfp p 1 "$max" node-1 app=bench-fp >"$STATE/fp-pods.json"
	"$CTL" lab --name "$FP_LAB" apply -f "$STATE/fp-pods.json" >/dev/null
	for ((i = 1; i <= max; i++)); do ns_add "$P-f$i"; done
	sleep 1
	fp_level 0 "$pid"
	for n in $FP_LEVELS; do
		if ! fp_add $((prev + 1)) "$n" "$pid"; then
			unavailable "footprint-$n-endpoints" sluice rss "$FP_ERR"
			break
		fi
		# Check the pods work: the first and the newest reach each other.
		local ip
		ip=$(in_ns "$P-f$n" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
		bg "fp-check-$n" "$P-f$n" "$TOOLS/sl-rr" server -p 7000
		probe_until "$P-f1" "$ip" 7000 0 5 || warn "footprint: pod 1 cannot reach pod $n ($ip)"
		stop_pid "$BG_PID"
		fp_level "$n" "$pid"
		prev=$n
	done
	ctgc_run
	"$CTL" lab --name "$FP_LAB" down >/dev/null 2>&1 || warn "lab down $FP_LAB failed"
	sed -i "/^$FP_LAB\$/d" "$STATE/labs"
	for ((i = 1; i <= max; i++)); do ip netns del "$P-f$i" 2>/dev/null; done
}

# The agent's conntrack GC pass (ct_gc_pass, run every 10 s) at CT_GC_SIZES
# entries, half of them idle past their timeout: sl-ctgc runs the same code on
# a private map of the same layout (the agent does not expose the duration).
ctgc_run() {
	local n out
	for n in $CT_GC_SIZES; do
		if out=$("$TOOLS/sl-ctgc" -n "$n" -r 3 2>&1); then
			record "conntrack-gc-$n" sluice gc-ms ms 1 "$(kv ms "$out")"
			log "  conntrack GC pass over $n entries: $(kv ms "$out") ms ($(kv removed "$out") removed)"
		else
			unavailable "conntrack-gc-$n" sluice gc-ms "sl-ctgc failed: $out"
		fi
	done
}
