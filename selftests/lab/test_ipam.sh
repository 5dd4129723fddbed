#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# IP pool and cloud interfaces in the lab: concurrent CNI ADDs get distinct,
# working IPs; DELs return them without leaking in the agent or the cloud;
# the node's limits end in a clean CNI error, not a half-made pod.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

# Every IP the cloud assigned to a node's interfaces is in the agent's pool
# (free or used), and the pool holds nothing the cloud did not assign.
assert_pool_matches_cloud() { # NODE
	local cloud pool
	cloud=$(lab status -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sorted(ip for i in d["interfaces"] if i["instance"] == sys.argv[1] and not i["primary"] for ip in i["ips"]))' "$1")
	pool=$(node_ctl "$1" ipam show -j | python3 -c '
import json, sys
print(sorted(s["ip"] for i in json.load(sys.stdin)["interfaces"] for s in i["ips"]))')
	assert_eq "$pool" "$cloud" "agent pool vs cloud assignment on $1"
}

test_fifty_concurrent_adds_and_dels() {
	local name=${RUN_ID}ip50 ips n i
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 --max-ips-per-interface 20 >/dev/null

	for i in $(seq 1 50); do
		"$SLUICECTL" lab --name "$name" pod add node-1 load/pod-$i >"$BATS_TMP.$i" 2>&1 &
	done
	wait
	for i in $(seq 1 50); do
		ips+="$(cat "$BATS_TMP.$i")"$'\n'
		rm -f "$BATS_TMP.$i"
	done
	n=$(echo -n "$ips" | grep -cE '^198\.18\.[0-9]+\.[0-9]+$')
	assert_eq "$n" 50 "successful ADDs (output: $ips)"
	assert_eq "$(echo -n "$ips" | sort -u | grep -c .)" 50 "distinct IPs"
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" 50 "endpoints"
	# 19 pod IPs per interface: 50 pods need 3 interfaces.
	assert_eq "$(json_get "$(node_ctl node-1 ipam show -j)" 'len(d["interfaces"])')" 3 "interfaces"

	# Every pod answers from the VPC host.
	local failed
	failed=$(echo -n "$ips" | xargs -P 10 -I{} sh -c \
		"'$SLUICECTL' lab --name '$name' host exec -- ping -c1 -W2 -q {} >/dev/null 2>&1 || echo {}")
	assert_eq "$failed" "" "pods not answering"
	assert_pool_matches_cloud node-1

	for i in $(seq 1 50); do
		"$SLUICECTL" lab --name "$name" pod del load/pod-$i >"$BATS_TMP.d$i" 2>&1 &
	done
	wait
	for i in $(seq 1 50); do
		[[ ! -s $BATS_TMP.d$i ]] || fail "DEL of pod-$i: $(cat "$BATS_TMP.d$i")"
		rm -f "$BATS_TMP.d$i"
	done
	local st
	st=$(node_ctl node-1 ipam show -j)
	assert_eq "$(json_get "$st" 'd["used"]')" 0 "IPs in use after all DELs"
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" 0 "endpoints after DELs"
	assert_eq "$(lab node exec node-1 -- ip -o link show | grep -c ' sl[0-9a-f]\{12\}')" 0 "pod links left"
	assert_eq "$(json_get "$(node_ctl node-1 map dump endpoint -j)" "len([e for e in d if e['kind'] == 'pod'])")" 0 \
		"pod entries left in the endpoint map"
	assert_pool_matches_cloud node-1
}

test_limits_end_in_a_clean_error() {
	local name=${RUN_ID}ipl out cni status
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	# One interface for pods (the primary counts) with 3 pod IPs: a 3-pod node.
	lab_start "$name" --nodes 1 --max-interfaces 2 --max-ips-per-interface 4 >/dev/null
	for i in 1 2 3; do pod_add node-1 lim/p$i >/dev/null; done

	out=$(lab pod add node-1 lim/p4 -j 2>/dev/null) && fail "a 4th pod got an IP: $out"
	assert_eq "$(json_get "$out" 'd["cni"]["code"]')" 11 "CNI error code"
	assert_contains "$(json_get "$out" 'd["cni"]["msg"]')" "no IP address available"
	assert_contains "$(json_get "$out" 'd["cni"]["details"]')" "limits reached"
	assert_fails lab exec lim/p4 -- true # the pod's namespace was removed
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" 3 "endpoints"

	# STATUS says the node cannot serve an ADD: code 50.
	conf="{\"cniVersion\":\"1.1.0\",\"name\":\"sluice\",\"type\":\"sluice\",\"agentSocket\":\"/run/sluice-lab/$name/nodes/node-1/sluiced.sock\"}"
	status=0
	cni=$(echo "$conf" | CNI_COMMAND=STATUS "$SLUICE_CNI") || status=$?
	assert_ne "$status" 0 "STATUS exit status"
	assert_eq "$(json_get "$cni" 'd["code"]')" 50 "STATUS code"

	# A DEL frees room: the next ADD works and STATUS is happy again.
	lab pod del lim/p2
	pod_add node-1 lim/p5 >/dev/null
	echo "$conf" | CNI_COMMAND=STATUS "$SLUICE_CNI" >/dev/null && fail "STATUS must be 50 again when full"
	lab pod del lim/p5
	echo "$conf" | CNI_COMMAND=STATUS "$SLUICE_CNI" || fail "STATUS must succeed with a free IP"
	assert_pool_matches_cloud node-1
}

test_ip_not_reused_at_once() {
	local name=${RUN_ID}ipr a b
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 --max-ips-per-interface 8 --warm-ip-target 3 >/dev/null
	a=$(pod_add node-1 r/one)
	lab pod del r/one
	b=$(pod_add node-1 r/two)
	assert_ne "$b" "$a" "a just-released IP must be the last one handed out"
}

BATS_TMP=$(mktemp -u)
run_tests
