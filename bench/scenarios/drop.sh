# SPDX-License-Identifier: Apache-2.0
#
# Scenario "drop": how many 64-byte frames a second each way of dropping
# costs on one core. The kernel generates them (sl-dropgen: BPF_PROG_TEST_RUN
# with live frames, an XDP program redirecting out of a veth), pinned to
# CPU 0 with the receiving side, so the rate is the whole pipeline's.
#
#   drop-xdp   floor           sl-dropgen's own XDP_DROP on the receiving veth (native XDP)
#              sluice-policy   Sluice's XDP prefilter on the ENI (sluice_xdp_eni), POLICY_DENIED
#   drop-tc    floor           sl-dropgen's own tc ingress TC_ACT_SHOT
#              iptables-1      one iptables-nft rule, raw PREROUTING DROP
#              sluice          Sluice's tc program on a pod's host veth dropping what a
#                              pod sends from an address it does not own (UNKNOWN_SOURCE):
#                              the drop path policy uses (verdict, counters, event)
#              sluice-policy   Sluice's policy drop at tc, POLICY_DENIED (when enforced)
#
# The skb-path cases need NAPI on the receiving veth: GRO is turned on there
# (ethtool -K), on this run's own devices only. Every rate is checked: the
# drops counted at the receiver must account for what was sent.

DROP_ITEMS=()

drop_setup() {
	local m
	ns_add "$P-dt"
	ns_add "$P-dr"
	veth "$P-dt" eth0 "$P-dr" eth0
	ip -n "$P-dt" addr add 10.77.30.1/24 dev eth0
	ip -n "$P-dr" addr add 10.77.30.2/24 dev eth0
	in_ns "$P-dr" ethtool -K eth0 gro on >/dev/null
	m=$VETH_MAC2
	DROP_ITEMS+=("drop-xdp|floor|$P-dt|eth0|$m|10.77.30.1|10.77.30.2|attach xdp $P-dr")
	DROP_ITEMS+=("drop-tc|floor|$P-dt|eth0|$m|10.77.30.1|10.77.30.2|attach tc $P-dr")

	ns_add "$P-it"
	ns_add "$P-ir"
	veth "$P-it" eth0 "$P-ir" eth0
	ip -n "$P-it" addr add 10.77.31.1/24 dev eth0
	ip -n "$P-ir" addr add 10.77.31.2/24 dev eth0
	in_ns "$P-ir" ethtool -K eth0 gro on >/dev/null
	in_ns "$P-ir" iptables-nft -t raw -A PREROUTING -p udp --dport 9 -j DROP
	DROP_ITEMS+=("drop-tc|iptables-1|$P-it|eth0|$VETH_MAC2|10.77.31.1|10.77.31.2|iptables $P-ir")

	# Sluice: a pod sending from an address nobody owns, into its host veth.
	sl_setup
	[[ -n $SL_POLICY || -n $SL_POLICY_WHY ]] || sl_policy_setup
	local hv hm node
	read -r hv hm < <("$CTL" --lab "$SL_LAB" --node node-1 endpoint list -j | python3 -c '
import json, sys
for e in json.load(sys.stdin)["endpoints"]:
    if e["namespace"] == "bench" and e["pod"] == "cli":
        print(e["hostVeth"], e["hostMac"])')
	node=$SL_LAB-node-1
	in_ns "$node" ethtool -K "$hv" gro on >/dev/null
	DROP_ITEMS+=("drop-tc|sluice|${SL_NETNS[bench/cli]}|eth0|$hm|198.18.250.1|${SL_IP[bench/srv]}|sluice UNKNOWN_SOURCE from-pod")
	if [[ $SL_POLICY != yes ]]; then
		local why="Sluice's policy drop needs NetworkPolicy enforcement: $SL_POLICY_WHY"
		unavailable drop-tc sluice-policy drop-mpps "$why"
		unavailable drop-xdp sluice-policy drop-mpps "$why"
	else
		drop_sluice_policy_items "$node"
	fi
	drop_validate
}

# Sluice's policy drops:
#   tc   benchpol/cli sends UDP to bench/srv, which its egress policy denies:
#        sluice_from_pod drops it (POLICY_DENIED, from-pod)
#   XDP  the VPC router sends UDP from the VPC host to benchpol/srv, which its
#        ingress policy denies, into the node's ENI: the sluice_xdp_eni
#        prefilter drops it (POLICY_DENIED, xdp-eni). If the agent has not
#        attached the prefilter, the harness attaches the agent's pinned program
#        to that ENI for the measurement (and detaches it after).
XDP_BY_HARNESS=
drop_sluice_policy_items() {
	local node=$1 hv hm eni emac peer pin
	read -r hv hm eni < <("$CTL" --lab "$SL_LAB" --node node-1 endpoint list -j | python3 -c '
import json, sys
eps = {(e["namespace"], e["pod"]): e for e in json.load(sys.stdin)["endpoints"]}
c, s = eps[("benchpol", "cli")], eps[("benchpol", "srv")]
print(c["hostVeth"], c["hostMac"], s["eniName"])')
	in_ns "$node" ethtool -K "$hv" gro on >/dev/null
	DROP_ITEMS+=("drop-tc|sluice-policy|${SL_NETNS[benchpol/cli]}|eth0|$hm|${SL_IP[benchpol/cli]}|${SL_IP[bench/srv]}|sluice POLICY_DENIED from-pod")

	emac=$(ip -n "$node" -o link show dev "$eni" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	# The router's end of that ENI: the peer's ifindex, in the VPC namespace.
	peer=$(in_ns "$node" ip -o link show dev "$eni" | sed -n 's/^[0-9]*: [^@]*@if\([0-9]*\):.*/\1/p')
	peer=$(in_ns "$SL_LAB-vpc" ip -o link show | awk -F': ' -v i="$peer" '$1 == i { sub(/@.*/, "", $2); print $2 }')
	if [[ -z $peer ]]; then
		unavailable drop-xdp sluice-policy drop-mpps "cannot find the VPC router's end of $eni"
		return
	fi
	if ! in_ns "$node" ip -o link show dev "$eni" | grep -q 'prog/xdp'; then
		pin=$LAB_PIN_ROOT/sluice-lab-$SL_LAB/node-1/progs/sluice_xdp_eni
		if [[ ! -e $pin ]] || ! in_ns "$node" bpftool net attach xdpdrv pinned "$pin" dev "$eni" 2>>"$OUT/logs/xdp-attach.log"; then
			unavailable drop-xdp sluice-policy drop-mpps "the agent does not attach the XDP prefilter to ENIs and $pin could not be attached"
			return
		fi
		XDP_BY_HARNESS="$node $eni"
		log "drop: the agent does not attach sluice_xdp_eni; the harness attached its pinned program to $eni for drop-xdp/sluice-policy"
	fi
	DROP_ITEMS+=("drop-xdp|sluice-policy|$SL_LAB-vpc|$peer|$emac|${SL_IP[host]}|${SL_IP[benchpol/srv]}|sluice POLICY_DENIED xdp-eni")
}

drop_teardown() {
	[[ -n $XDP_BY_HARNESS ]] || return 0
	in_ns ${XDP_BY_HARNESS% *} bpftool net detach xdpdrv dev ${XDP_BY_HARNESS#* } 2>/dev/null ||
		warn "drop: could not detach the XDP prefilter from ${XDP_BY_HARNESS#* }"
	XDP_BY_HARNESS=
}

# The receiver's count of drops for an item ("attach" items count themselves).
drop_counter() { # drop_counter HOW...
	case $1 in
	iptables) in_ns "$2" iptables-nft -t raw -nvxL PREROUTING | awk '$3 == "DROP" { print $1; exit }' ;;
	sluice)
		"$CTL" --lab "$SL_LAB" --node node-1 map dump metrics -j | python3 -c '
import json, sys
print(sum(m["packets"] for m in json.load(sys.stdin) if m["reason"] == sys.argv[1] and m["direction"] == sys.argv[2]))' "$2" "$3"
		;;
	esac
}

# drop_once ITEM FRAMES -> prints "mpps sent dropped"
drop_once() {
	local scen topo tx dev mac src dst how out before after secs
	IFS='|' read -r scen topo tx dev mac src dst how <<<"$1"
	local gen=("${PIN[@]}" "$TOOLS/sl-dropgen" --tx-netns "$tx" --tx-dev "$dev" --dst-mac "$mac"
		--src-ip "$src" --dst-ip "$dst" --frames "$2")
	case $how in
	attach*)
		read -r _ mode rx <<<"$how"
		out=$("${gen[@]}" --rx-netns "$rx" --rx-dev eth0 --attach "$mode" 2>&1) || {
			echo "sl-dropgen: $out" >&2
			return 1
		}
		echo "$(kv drop_mpps "$out") $2 $(kv dropped "$out")"
		;;
	*)
		before=$(drop_counter $how)
		out=$("${gen[@]}" 2>&1) || {
			echo "sl-dropgen: $out" >&2
			return 1
		}
		after=$(drop_counter $how)
		secs=$(kv seconds "$out")
		# The generator's warm-up (1/20 of the frames) is counted too.
		awk -v d=$((after - before)) -v n="$2" -v s="$secs" \
			'BEGIN { w = int(n / 20) + 1; printf "%.4f %d %d\n", (d - w) / s / 1e6, n, d - w }'
		;;
	esac
}

drop_validate() {
	local it kept=() r scen topo
	for it in "${DROP_ITEMS[@]}"; do
		IFS='|' read -r scen topo _ <<<"$it"
		if r=$(drop_once "$it" 100000 2>&1) && awk -v s="$(cut -d' ' -f2 <<<"$r")" -v d="$(cut -d' ' -f3 <<<"$r")" \
			'BEGIN { exit !(d >= 0.99 * s && d <= 1.01 * s) }'; then
			kept+=("$it")
		else
			unavailable "$scen" "$topo" drop-mpps "validation burst of 100000 frames: the receiver did not count them as dropped ($r)"
		fi
	done
	DROP_ITEMS=("${kept[@]}")
}

drop_run() {
	local rep i n=${#DROP_ITEMS[@]} it r scen topo
	((n)) || return 0
	for ((rep = 1; rep <= K; rep++)); do
		for ((i = 0; i < n; i++)); do
			it=${DROP_ITEMS[$(((rep - 1 + i) % n))]}
			IFS='|' read -r scen topo _ <<<"$it"
			if r=$(drop_once "$it" "$DROP_FRAMES" 2>&1); then
				record "$scen" "$topo" drop-mpps Mpps "$rep" "${r%% *}"
				log "  rep $rep $scen/$topo: ${r%% *} Mpps"
			else
				warn "$scen/$topo rep $rep: $r"
			fi
		done
	done
}
