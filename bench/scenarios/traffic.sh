# SPDX-License-Identifier: Apache-2.0
#
# Scenarios "datapath" and "policy": every traffic topology is built first,
# all present at once; then K repetitions, each running every topology once
# (round-robin, a different starting point each repetition), so drift hits
# every topology alike. Ratios are taken per repetition against the floor
# of the same repetition.
#
#   datapath-same-node    floor, kernel-routing, bridge, bridge-conntrack, sluice, sluice-policy
#   datapath-cross-node   floor, kernel-routing, sluice, sluice-policy
#   datapath-vpc-host     floor, kernel-routing, sluice, sluice-policy
#     metrics rr, crr (client and server on CPU 0), throughput-1, throughput-4 (iperf3,
#     in the first TPUT_REPS repetitions only)
#   policy-scaling        iptables-N, sluice-policy-N: rr, crr; pkt-ns from sl-pktcost
#   policy-update         iptables-N, sluice-policy-N: policy-update-p99 (and p50)
#
# An item is "scenario|topology|client netns|server IP|metrics|denials", where
# denials are "netns,ip,port" triples (;-separated) that must be dropped.

ITEMS=()

item() { ITEMS+=("$1|$2|$3|$4|$5|${6:-}"); }
shape() { [[ " $DP_SHAPES " == *" $1 "* ]]; }

PS_METRICS="rr crr"

traffic_setup() {
	local want_dp=$1 want_pol=$2 n idx
	build_floor
	item floor floor "$FLOOR_CLI" "$FLOOR_IP" "$DP_METRICS"
	if [[ $want_dp == yes ]]; then
		log "datapath: building kernel-routing ($DP_SHAPES), bridge, bridge-conntrack"
		build_kr_same
		build_bridge br 10.77.8.0/24 plain
		build_bridge bk 10.77.9.0/24 conntrack
		item datapath-same-node kernel-routing "$P-kc" 10.77.1.2 "$DP_METRICS"
		item datapath-same-node bridge "$P-brc" "$BRIDGE_IP_br" "$DP_METRICS"
		item datapath-same-node bridge-conntrack "$P-bkc" "$BRIDGE_IP_bk" "$DP_METRICS"
		if shape cross-node; then
			build_kr_cross
			item datapath-cross-node kernel-routing "$P-xc" 10.77.2.2 "$DP_METRICS"
		fi
		if shape vpc-host; then
			build_kr_vpc
			item datapath-vpc-host kernel-routing "$P-vc" 10.77.5.2 "$DP_METRICS"
		fi
	fi
	if [[ $want_pol == yes ]]; then
		log "policy: building iptables-N for N in $POLICY_COUNTS (iptables-nft)"
		idx=0
		for n in $POLICY_COUNTS; do
			build_ipt "$n" "$idx"
			item policy-scaling "iptables-$n" "$P-i${n}c" "10.77.$((20 + idx)).2" "$PS_METRICS" \
				"$P-i${n}c,10.77.$((20 + idx)).2,7001"
			idx=$((idx + 1))
		done
	fi
	SL_POLICY_COUNTS=
	[[ $want_pol == yes ]] && SL_POLICY_COUNTS=$POLICY_COUNTS
	sl_setup
	local cli=${SL_NETNS[bench/cli]} pcli=${SL_NETNS[benchpol/cli]}
	if [[ $want_dp == yes ]]; then
		item datapath-same-node sluice "$cli" "${SL_IP[bench/srv]}" "$DP_METRICS"
		shape cross-node && item datapath-cross-node sluice "$cli" "${SL_IP[bench/xsrv]}" "$DP_METRICS"
		shape vpc-host && item datapath-vpc-host sluice "$cli" "${SL_IP[host]}" "$DP_METRICS"
	fi
	sl_policy_setup
	if [[ $SL_POLICY != yes ]]; then
		local s
		if [[ $want_dp == yes ]]; then
			for s in $DP_SHAPES; do
				for m in $DP_METRICS; do unavailable "datapath-$s" sluice-policy "$m" "$SL_POLICY_WHY"; done
			done
		fi
		if [[ $want_pol == yes ]]; then
			for n in $POLICY_COUNTS; do
				for m in $PS_METRICS; do unavailable policy-scaling "sluice-policy-$n" "$m" "$SL_POLICY_WHY"; done
			done
		fi
	else
		if [[ $want_dp == yes ]]; then
			item datapath-same-node sluice-policy "$pcli" "${SL_IP[benchpol/srv]}" "$DP_METRICS" \
				"$cli,${SL_IP[benchpol/srv]},7000;$pcli,${SL_IP[benchpol/srv]},7001"
			shape cross-node && item datapath-cross-node sluice-policy "$pcli" "${SL_IP[benchpol/xsrv]}" "$DP_METRICS" \
				"$cli,${SL_IP[benchpol/xsrv]},7000;$pcli,${SL_IP[benchpol/xsrv]},7001"
			shape vpc-host && item datapath-vpc-host sluice-policy "$pcli" "${SL_IP[host]}" "$DP_METRICS" \
				"$pcli,${SL_IP[host]},7001"
		fi
		if [[ $want_pol == yes ]]; then
			for n in $POLICY_COUNTS; do
				item policy-scaling "sluice-policy-$n" "$pcli" "${SL_IP[benchpol/srv-$n]}" "$PS_METRICS" \
					"$cli,${SL_IP[benchpol/srv-$n]},7000;$pcli,${SL_IP[benchpol/srv-$n]},7001"
			done
		fi
	fi
	traffic_validate
}

# Each path must work before it is timed, and where a policy applies, what
# it denies must be dropped. An item that fails is reported, not timed.
traffic_validate() {
	local it scen topo cli ip metrics denials d dns dip dport ok kept=() m
	for it in "${ITEMS[@]}"; do
		IFS='|' read -r scen topo cli ip metrics denials <<<"$it"
		ok=yes
		if ! probe_until "$cli" "$ip" 7000 0 5; then
			ok="the path does not work: $cli -> $ip:7000 gets no answer"
		else
			IFS=';' read -ra d <<<"$denials"
			for x in "${d[@]}"; do
				IFS=',' read -r dns dip dport <<<"$x"
				if ! probe_until "$dns" "$dip" "$dport" 1 3; then
					ok="a connection the policy denies ($dns -> $dip:$dport) is not dropped"
					break
				fi
			done
		fi
		if [[ $ok == yes ]]; then
			kept+=("$it")
		else
			for m in $metrics; do unavailable "$scen" "$topo" "$m" "$ok"; done
		fi
	done
	ITEMS=("${kept[@]}")
	log "traffic: ${#ITEMS[@]} topologies validated (allowed probe passes, denied probes dropped)"
}

# measure_item REP ITEM
measure_item() {
	local rep=$1 scen topo cli ip metrics denials m out rate line=""
	IFS='|' read -r scen topo cli ip metrics denials <<<"$2"
	for m in $metrics; do
		case $m in
		rr | crr)
			if out=$(in_ns "$cli" "${PIN[@]}" "$TOOLS/sl-rr" client -H "$ip" -p 7000 -m "$m" -t "$DUR" 2>&1); then
				rate=$(kv rate "$out")
				record "$scen" "$topo" "$m" "$([[ $m == rr ]] && echo trans/s || echo conn/s)" "$rep" "$rate"
				record "$scen" "$topo" "$m-lat-p50" us "$rep" "$(kv p50_us "$out")"
				record "$scen" "$topo" "$m-lat-p99" us "$rep" "$(kv p99_us "$out")"
				line+=" $m=${rate%.*}"
			else
				warn "$scen/$topo $m rep $rep: $out"
				printf '%s\t%s\t%s\t%s\t%s\n' "$scen" "$topo" "$m" "$rep" "$out" >>"$OUT/failures.tsv"
			fi
			;;
		throughput-*)
			# Throughput is reported, not gated, and costs the most time:
			# only the first TPUT_REPS repetitions run it.
			((rep <= TPUT_REPS)) || continue
			if out=$(in_ns "$cli" taskset -c 0 iperf3 -c "$ip" -p 5201 -t "$TDUR" -O 1 -P "${m#throughput-}" -J 2>&1) &&
				rate=$(python3 -c 'import json,sys; print("%.4f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' <<<"$out" 2>/dev/null); then
				record "$scen" "$topo" "$m" Gbit/s "$rep" "$rate"
				line+=" $m=${rate}G"
			else
				warn "$scen/$topo $m rep $rep: iperf3 failed: $(tail -c 300 <<<"$out")"
				printf '%s\t%s\t%s\t%s\t%s\n' "$scen" "$topo" "$m" "$rep" "iperf3 failed" >>"$OUT/failures.tsv"
			fi
			;;
		esac
	done
	log "  rep $rep $scen/$topo:$line"
}

traffic_run() {
	local rep i n=${#ITEMS[@]} start
	for ((rep = 1; rep <= K; rep++)); do
		start=$(((rep - 1) % n))
		log "traffic: repetition $rep of $K ($n topologies, starting with #$((start + 1)))"
		for ((i = 0; i < n; i++)); do
			measure_item "$rep" "${ITEMS[$(((start + i) % n))]}"
		done
	done
}

# --- policy-update latency ----------------------------------------------------------

# One change: a prober opens a connection every millisecond; at T0 the change
# is handed over (iptables-nft exec / lab apply); the latency is the start of
# the first probe that is dropped, minus T0. Then the change is undone and we
# wait until the path passes again.
# update_once CLI_NS IP APPLY_CMD UNDO_CMD [AFTER_CMD] -> prints ms (or nothing);
# AFTER_CMD runs once the change is seen, before it is undone.
update_once() {
	local cli=$1 ip=$2 apply=$3 undo=$4 after=${5:-} wpid t0 out at
	in_ns "$cli" "$TOOLS/sl-rr" watch -H "$ip" -p 7000 -x fail -i 1000 -W 20 -d 15000 >"$STATE/watch.out" 2>&1 &
	wpid=$!
	sleep 0.2
	t0=$(date +%s%N)
	eval "$apply" >/dev/null 2>&1 || warn "policy update: '$apply' failed"
	wait "$wpid" || true
	out=$(cat "$STATE/watch.out")
	at=$(kv at_ns "$out")
	[[ -n $after ]] && eval "$after"
	eval "$undo" >/dev/null 2>&1 || warn "policy update: '$undo' failed"
	in_ns "$cli" "$TOOLS/sl-rr" watch -H "$ip" -p 7000 -x pass -i 1000 -W 20 -d 15000 >/dev/null 2>&1 ||
		warn "policy update: the path did not come back after '$undo'"
	[[ -n $at ]] && awk -v a="$at" -v b="$t0" 'BEGIN { printf "%.3f\n", (a - b) / 1e6 }'
}

policy_update_run() {
	local n idx=0 cli srv i ms f
	for n in $POLICY_COUNTS; do
		if [[ " $UPDATE_COUNTS " == *" $n "* ]]; then
			cli=10.77.$((20 + idx)).1
			srv=10.77.$((20 + idx)).2
			f=$OUT/data/policy-update-iptables-$n.txt
			: >"$f"
			log "policy-update: iptables-$n, $UPDATES changes (iptables-nft -I of a DROP at $n rules)"
			for ((i = 1; i <= UPDATES; i++)); do
				ms=$(update_once "$P-i${n}c" "$srv" \
					"in_ns $P-i${n}n iptables-nft -I FORWARD 2 -s $cli/32 -d $srv/32 -p tcp --dport 7000 -j DROP" \
					"in_ns $P-i${n}n iptables-nft -D FORWARD -s $cli/32 -d $srv/32 -p tcp --dport 7000 -j DROP")
				[[ -n $ms ]] && echo "$i $ms" >>"$f"
			done
			update_record policy-update "iptables-$n" "$f"
		fi
		idx=$((idx + 1))
	done
	# Sluice: the same change as a NetworkPolicy object handed to the agents
	# through the lab's manifest directory.
	for n in $UPDATE_COUNTS; do
		if [[ $SL_POLICY != yes ]]; then
			unavailable policy-update "sluice-policy-$n" policy-update-p99 "$SL_POLICY_WHY"
			continue
		fi
		f=$OUT/data/policy-update-sluice-policy-$n.txt
		: >"$f"
		# What allows the client to srv-N is one small policy beside the N
		# rules (manifests.py allow): deleting it is a one-policy change at
		# N rules in force, as the iptables side is one rule at N rules.
		log "policy-update: sluice-policy-$n, $UPDATES changes (lab delete/apply of the policy allowing the client)"
		: >"$STATE/agent-$n.txt"
		for ((i = 1; i <= UPDATES; i++)); do
			ms=$(update_once "${SL_NETNS[benchpol/cli]}" "${SL_IP[benchpol/srv-$n]}" \
				"sl delete -f $STATE/allow-$n.json" "sl apply -f $STATE/allow-$n.json" \
				"agent_policy_stats >>$STATE/agent-$n.txt")
			[[ -n $ms ]] && echo "$i $ms" >>"$f"
		done
		# The agent's own account of the same changes (sluicectl status):
		# compile, map writes, and its event -> enforced time.
		local col name
		for col in 2:agent-compile 3:agent-apply 4:agent-enforce; do
			name=${col#*:}
			awk -v c="${col%%:*}" '{ print NR, $c }' "$STATE/agent-$n.txt" >"$STATE/agent-col.txt"
			[[ -s $STATE/agent-col.txt ]] || continue
			read -r p50 _ max _ < <(lat_stats "$STATE/agent-col.txt")
			record policy-update "sluice-policy-$n" "policy-update-$name-p50" ms 1 "$p50"
		done
		update_record policy-update "sluice-policy-$n" "$f"
	done
}

# One line per change: rev compile_ms apply_ms change_to_enforced_ms map_ops
agent_policy_stats() {
	"$CTL" --lab "$SL_LAB" --node node-1 status -j 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin).get("policy") or {}
print(p.get("rev", 0), p.get("lastCompileMs", 0), p.get("lastApplyMs", 0), p.get("lastChangeToEnforcedMs", 0),
      p.get("lastMapOperations", 0))' 2>/dev/null || true
}

update_record() { # update_record SCEN TOPO FILE
	local st
	if [[ ! -s $3 ]]; then
		unavailable "$1" "$2" policy-update-p99 "no policy change was seen to take effect within 15 s"
		return
	fi
	read -r p50 p99 max cnt < <(lat_stats "$3")
	record "$1" "$2" policy-update-p50 ms 1 "$p50"
	record "$1" "$2" policy-update-p99 ms 1 "$p99"
	log "  $2: policy change -> enforced p50 $p50 ms, p99 $p99 ms ($cnt changes)"
}

# --- per-packet cost of the policy path (BPF_PROG_TEST_RUN) -----------------------------

# selftests/tools/sl-pktcost (another engineer's tool) prints ns/packet of the
# policy path at rule counts; used if it exists and builds.
pktcost_run() {
	local src=$TOP/selftests/tools/sl-pktcost.c bin=$BIN/selftests/tools/sl-pktcost out n why=
	if [[ ! -f $src ]]; then
		why="selftests/tools/sl-pktcost does not exist yet"
	elif [[ ! -x $bin || $bin -ot $src ]] &&
		! out=$(make -C "$TOP" --no-print-directory BUILD="$BUILD" "$BUILD/selftests/tools/sl-pktcost" 2>&1); then
		why="sl-pktcost does not build: $(tail -1 <<<"$out")"
	elif ! out=$("$bin" -j -r "${POLICY_COUNTS// /,}" -n "$PKTCOST_RUNS" -R "$PKTCOST_ROUNDS" 2>"$OUT/logs/sl-pktcost.err"); then
		why="sl-pktcost -j failed: $(tail -1 "$OUT/logs/sl-pktcost.err")"
	fi
	if [[ -n $why ]]; then
		for n in $POLICY_COUNTS; do unavailable policy-scaling "sluice-policy-$n" pkt-ns "$why"; done
		return
	fi
	echo "$out" >"$OUT/data/sl-pktcost.json"
	python3 "$TOP/bench/lib/pktcost.py" "$OUT/data/sl-pktcost.json" "$POLICY_COUNTS" >>"$OUT/raw.tsv" 2>>"$OUT/na.tsv" ||
		warn "sl-pktcost: output not understood (kept in data/sl-pktcost.json)"
	log "  sl-pktcost: $(grep -c pkt-ns "$OUT/raw.tsv") figures"
}
