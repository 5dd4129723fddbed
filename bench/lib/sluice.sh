# SPDX-License-Identifier: Apache-2.0
#
# Sluice in the lab: the real agents, pods created through the real CNI
# plugin (`sluicectl lab pod add`), NetworkPolicies through `lab apply -f`.
#
# One lab ($SL_LAB, 2 nodes) serves the datapath, policy and drop scenarios:
#   node-1  bench/cli, bench/srv           sluice (no policy selects namespace bench)
#           benchpol/cli, benchpol/srv     sluice-policy (the realistic set, manifests.py)
#           benchpol/srv-N                 sluice-policy-N (N rules for that server)
#   node-2  bench/xsrv, benchpol/xsrv      the cross-node servers
#   host    the VPC host                   the pod→VPC-host server

MANIFESTS=$TOP/bench/lib/manifests.py
LAB_PIN_ROOT=/sys/fs/bpf
SL_LAB=
declare -A SL_NETNS SL_IP

# sl_lab_up LAB [lab up options]: registered before `up`, so an interrupted
# `up` is taken down too.
sl_lab_up() {
	local lab=$1
	shift
	lab_register "$lab"
	"$CTL" lab --name "$lab" up "$@" >>"$OUT/logs/lab-$lab.log" 2>&1 ||
		die "sluicectl lab up $lab failed (see $OUT/logs/lab-$lab.log)"
}

sl() { "$CTL" lab --name "$SL_LAB" "$@"; }

agent_pid() { # agent_pid LAB -> the PID of node-1's sluiced
	"$CTL" lab --name "$1" status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["pid"])'
}

# sl_pod NODE NS/POD APP: a pod through the real CNI ADD, labelled app=APP.
sl_pod() {
	local out
	out=$("$CTL" lab --name "$SL_LAB" pod add "$1" "$2" --labels "app=$3" 2>&1) ||
		die "lab pod add $2 on $1: $out"
}

# Reads every pod's netns and IP, and the VPC host's, from `lab status`.
sl_refresh() {
	local key ns ip
	while read -r key ns ip; do
		SL_NETNS[$key]=$ns
		SL_IP[$key]=$ip
	done < <(sl status -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["pods"]:
    print(p["namespace"] + "/" + p["name"], p["netns"], p["ip"])
print("host", d["host"]["netns"], d["host"]["ip"])')
}

# sl_apply FILE: NetworkPolicies (or other objects) into the lab's manifests.
sl_apply() {
	local out
	out=$(sl apply -f "$1" 2>&1) || {
		echo "$out"
		return 1
	}
}

# The lab for the traffic and drop scenarios; policy servers srv-N for each
# count in SL_POLICY_COUNTS.
sl_setup() {
	[[ -z $SL_LAB ]] || return 0
	SL_LAB=sbd$RUN_ID
	log "sluice: lab $SL_LAB up (2 nodes) and pods through the CNI plugin"
	sl_lab_up "$SL_LAB" --nodes 2 --max-ips-per-interface 16
	sl_pod node-1 bench/cli bench-cli
	sl_pod node-1 bench/srv bench-srv
	sl_pod node-2 bench/xsrv bench-xsrv
	sl_pod node-1 benchpol/cli bench-pcli
	sl_pod node-1 benchpol/srv bench-psrv
	sl_pod node-2 benchpol/xsrv bench-pxsrv
	local n
	for n in ${SL_POLICY_COUNTS:-}; do sl_pod node-1 "benchpol/srv-$n" "bench-srv-$n"; done
	sl_refresh
	client_sysctls "${SL_NETNS[bench/cli]}"
	client_sysctls "${SL_NETNS[benchpol/cli]}"
	servers_start "${SL_NETNS[bench/srv]}"
	servers_start "${SL_NETNS[bench/xsrv]}"
	servers_start "${SL_NETNS[benchpol/srv]}"
	servers_start "${SL_NETNS[benchpol/xsrv]}"
	servers_start "${SL_NETNS[host]}"
	for n in ${SL_POLICY_COUNTS:-}; do servers_start "${SL_NETNS[benchpol/srv-$n]}" noiperf; done
}

# sl_policy_setup: applies the realistic set and the rule sets, then decides
# whether this build enforces them. Sets SL_POLICY ("yes") or SL_POLICY_WHY.
SL_POLICY= SL_POLICY_WHY=
sl_policy_setup() {
	local f=$STATE/policies.json n out t0
	SL_POLICY=
	python3 "$MANIFESTS" realistic "${SL_IP[host]}" ${SL_POLICY_COUNTS:-} >"$f"
	t0=$SECONDS
	if ! out=$(sl_apply "$f"); then
		SL_POLICY_WHY="lab apply of the NetworkPolicy set failed: $out"
		return
	fi
	for n in ${SL_POLICY_COUNTS:-}; do
		python3 "$MANIFESTS" rules "$n" >"$STATE/rules-$n.json"
		python3 "$MANIFESTS" allow benchpol "bench-srv-$n" bench-pcli >"$STATE/allow-$n.json"
		if ! out=$(sl_apply "$STATE/rules-$n.json") || ! out=$(sl_apply "$STATE/allow-$n.json"); then
			SL_POLICY_WHY="lab apply of $n rules failed: $out"
			return
		fi
	done
	# Enforced means: a connection the policy denies is dropped and one it
	# allows passes. Ten seconds is generous for a 10k-rule compile.
	if ! probe_until "${SL_NETNS[bench/cli]}" "${SL_IP[benchpol/srv]}" 7000 1 "$POLICY_WAIT"; then
		SL_POLICY_WHY="this build does not enforce NetworkPolicy: bench/cli -> benchpol/srv:7000, which the applied policy denies, still connects ${POLICY_WAIT}s after lab apply"
		return
	fi
	if ! probe_until "${SL_NETNS[benchpol/cli]}" "${SL_IP[benchpol/srv]}" 7000 0 5; then
		SL_POLICY_WHY="NetworkPolicy is enforced, but benchpol/cli -> benchpol/srv:7000, which it allows, fails"
		return
	fi
	log "sluice: NetworkPolicy enforced $((SECONDS - t0))s after apply"
	SL_POLICY=yes
}
