# SPDX-License-Identifier: Apache-2.0
#
# Scenario "cni": CNI ADD and DEL latency at the plugin, invoked the way a
# runtime invokes it (sl-cnibench in the node's namespace: fork + exec, CNI_*
# environment, configuration on stdin), CNI_N pods in a row and CNI_N pods 8
# at a time, K repetitions interleaved:
#
#   floor          /bin/true through the same harness: the exec floor
#   bridge         containernetworking-plugins bridge + host-local (Debian)
#   sluice         the sluice plugin against a lab agent with a warm pool
#   sluice-policy  the same with a NetworkPolicy selecting the pods (when enforced)
#
# The calls run as normal tasks: SCHED_FIFO for fork/exec-heavy work on both
# CPUs can starve the kernel work that process exit waits for.
#
# Sluice's pods are Kubernetes pods (CNI_ARGS names them; their Pod objects are
# in the lab's manifest directory before ADD, as the API server has them
# before the kubelet calls CNI), so ADD includes the identity lookup.

CNI_LAB=
CNI_TOPOS=()

cni_setup() {
	local node n i conf
	CNI_LAB=sbc$RUN_ID
	n=$CNI_N
	log "cni: lab $CNI_LAB (1 node, warm pool of $n) and $((2 * n)) pod namespaces"
	# Room for 2n pods: 8 interfaces of 64 addresses; a warm pool of n.
	sl_lab_up "$CNI_LAB" --nodes 1 --max-interfaces 8 --max-ips-per-interface 64 --warm-ip-target "$n"
	CNI_SOCK=$("$CTL" lab --name "$CNI_LAB" status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["socket"])')
	CNI_NODE=$CNI_LAB-node-1
	# Pod objects first (benchcni/p1..pN), as the API server would hold them.
	python3 "$MANIFESTS" pods benchcni p 1 "$n" node-1 app=bench-cni >"$STATE/cni-pods.json"
	"$CTL" lab --name "$CNI_LAB" apply -f "$STATE/cni-pods.json" >/dev/null
	for ((i = 1; i <= n; i++)); do
		ns_add "$P-ca$i"
		ns_add "$P-cb$i"
	done
	printf '{"cniVersion":"1.1.0","name":"sluice","type":"sluice","agentSocket":"%s"}' "$CNI_SOCK" >"$STATE/cni-sluice.json"
	# The bridge runs in its own node namespace.
	ns_add "$P-cbn"
	bridge_conf "$P-cni" 10.78.0.0/16 >"$STATE/cni-bridge.json"
	# Wait for the warm pool to hold n free addresses: ADDs are pool hits.
	for ((i = 0; i < 300; i++)); do
		free=$("$CTL" --lab "$CNI_LAB" --node node-1 ipam show -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["free"])')
		((free >= n)) && break
		sleep 0.1
	done
	((free >= n)) || warn "cni: the warm pool holds only $free free addresses (wanted $n): some ADDs will wait for the cloud"
	CNI_TOPOS=(floor bridge sluice)
	cni_validate sluice || die "cni: sluice pods do not work (see above)"
	cni_validate bridge || die "cni: bridge pods do not work (see above)"
	cni_policy_setup
}

# cni_bench TOPO VERB N PARALLEL -> one "index ms status" line per call
cni_bench() {
	local topo=$1 verb=$2 n=$3 par=$4
	local env=(-e "CNI_COMMAND=$verb" -e "CNI_IFNAME=eth0"
		-e "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=benchcni;K8S_POD_NAME=p%d;K8S_POD_INFRA_CONTAINER_ID=$RUN_ID%d")
	case $topo in
	floor)
		in_ns "$CNI_NODE" "$TOOLS/sl-cnibench" -n "$n" -P "$par" -c "$STATE/cni-sluice.json" "${env[@]}" \
			-e "CNI_CONTAINERID=$RUN_ID%d" -e "CNI_NETNS=/var/run/netns/$P-ca%d" -e "CNI_PATH=$BIN" /bin/true
		;;
	sluice | sluice-policy)
		in_ns "$CNI_NODE" "$TOOLS/sl-cnibench" -n "$n" -P "$par" -c "$STATE/cni-sluice.json" "${env[@]}" \
			-e "CNI_CONTAINERID=$RUN_ID%d" -e "CNI_NETNS=/var/run/netns/$P-ca%d" -e "CNI_PATH=$BIN" "$BIN/sluice"
		;;
	bridge)
		in_ns "$P-cbn" "$TOOLS/sl-cnibench" -n "$n" -P "$par" -c "$STATE/cni-bridge.json" "${env[@]}" \
			-e "CNI_CONTAINERID=$RUN_ID%d" -e "CNI_NETNS=/var/run/netns/$P-cb%d" -e "CNI_PATH=$CNI_PLUGIN_DIR" \
			"$CNI_PLUGIN_DIR/bridge"
		;;
	esac
}

cni_pod_ns() { [[ $1 == bridge ]] && echo "$P-cb$2" || echo "$P-ca$2"; }

# Two pods by ADD, a connection between them, both DELeted again.
cni_validate() {
	local topo=$1 ip
	cni_bench "$topo" ADD 2 1 >/dev/null || return 1
	ip=$(in_ns "$(cni_pod_ns "$topo" 2)" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
	bg "cni-check-$topo" "$(cni_pod_ns "$topo" 2)" "$TOOLS/sl-rr" server -p 7000 -p 7001
	local srv=$BG_PID rc=0
	probe_until "$(cni_pod_ns "$topo" 1)" "$ip" 7000 0 5 || {
		warn "cni: $topo pod 1 cannot reach pod 2 ($ip)"
		rc=1
	}
	if [[ $topo == sluice-policy && $rc == 0 ]]; then
		probe_until "$(cni_pod_ns "$topo" 1)" "$ip" 7001 1 3 || {
			warn "cni: $topo: pod 1 -> pod 2:7001, which the policy denies, is not dropped"
			rc=1
		}
	fi
	stop_pid "$srv"
	cni_bench "$topo" DEL 2 1 >/dev/null || rc=1
	return $rc
}

# With enforcement: the pods are selected by a policy (allow from each other
# on 7000/5201, nothing else), so ADD includes computing and writing it.
cni_policy_setup() {
	local why
	python3 "$MANIFESTS" allow benchcni bench-cni bench-cni >"$STATE/cni-policy.json"
	"$CTL" lab --name "$CNI_LAB" apply -f "$STATE/cni-policy.json" >/dev/null 2>&1
	if cni_validate sluice-policy; then
		CNI_TOPOS+=(sluice-policy)
		return
	fi
	why="NetworkPolicy is not enforced by this build (a pod selected by a policy denying port 7001 is reachable on it right after ADD)"
	for s in cni-sequential cni-parallel-8; do
		for m in add-p50 add-p99 del-p50 del-p99; do unavailable "$s" sluice-policy "$m" "$why"; done
	done
	"$CTL" lab --name "$CNI_LAB" delete -f "$STATE/cni-policy.json" >/dev/null 2>&1 || true
}

# cni_measure REP SCEN TOPO PARALLEL
cni_measure() {
	local rep=$1 scen=$2 topo=$3 par=$4 verb f p50 p99 max cnt line=""
	if [[ $topo == sluice && " ${CNI_TOPOS[*]} " == *" sluice-policy "* ]]; then
		"$CTL" lab --name "$CNI_LAB" delete -f "$STATE/cni-policy.json" >/dev/null 2>&1 || true
	elif [[ $topo == sluice-policy ]]; then
		"$CTL" lab --name "$CNI_LAB" apply -f "$STATE/cni-policy.json" >/dev/null
	fi
	for verb in ADD DEL; do
		f=$OUT/data/cni-$scen-$topo-$verb.txt
		if ! cni_bench "$topo" "$verb" "$CNI_N" "$par" >"$STATE/cni.out" 2>"$STATE/cni.err"; then
			warn "cni: $scen $topo $verb rep $rep: $(head -c 400 "$STATE/cni.err")"
			printf '%s\t%s\t%s\t%s\t%s\n' "$scen" "$topo" "${verb,,}" "$rep" "calls failed" >>"$OUT/failures.tsv"
			# Leave nothing added behind for the next round.
			[[ $verb == ADD ]] && cni_bench "$topo" DEL "$CNI_N" "$par" >/dev/null 2>&1
			return
		fi
		awk -v r="$rep" '{ print r, $2 }' "$STATE/cni.out" >>"$f"
		read -r p50 p99 max cnt < <(lat_stats "$STATE/cni.out")
		record "$scen" "$topo" "${verb,,}-p50" ms "$rep" "$p50"
		record "$scen" "$topo" "${verb,,}-p99" ms "$rep" "$p99"
		line+=" ${verb} p50=$p50 p99=$p99"
	done
	log "  rep $rep $scen/$topo:$line ms"
}

cni_run() {
	local rep i n=${#CNI_TOPOS[@]} t
	for ((rep = 1; rep <= K; rep++)); do
		for ((i = 0; i < n; i++)); do
			t=${CNI_TOPOS[$(((rep - 1 + i) % n))]}
			cni_measure "$rep" cni-sequential "$t" 1
			cni_measure "$rep" cni-parallel-8 "$t" 8
		done
	done
}

cni_teardown() {
	[[ -n $CNI_LAB ]] || return 0
	"$CTL" lab --name "$CNI_LAB" down >/dev/null 2>&1 || warn "lab down $CNI_LAB failed"
	sed -i "/^$CNI_LAB\$/d" "$STATE/labs"
	local i
	for ((i = 1; i <= CNI_N; i++)); do ip netns del "$P-ca$i" 2>/dev/null; ip netns del "$P-cb$i" 2>/dev/null; done
	ip netns del "$P-cbn" 2>/dev/null
	CNI_LAB=
}
