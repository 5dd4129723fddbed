#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The datapath with real traffic in a 2-node lab: every forwarding path, the
# ENI that owns a pod's IP, no ARP anywhere, drops counted and reported, and
# the pinned maps readable by sluicectl and bpftool.
#
# Interfaces hold 3 pod IPs each (--max-ips-per-interface 4, the primary IP
# counts) and the warm target is 1, so node-1's fourth pod lands on a second
# interface that the agent had to attach when the first was full.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

suite_setup() {
	lab_start "${RUN_ID}dp" --nodes 2 --max-ips-per-interface 4 --warm-ip-target 1 || return 1
	pod_add node-1 a/p1 --labels app=one >/dev/null || return 1
	pod_add node-1 a/p2 >/dev/null || return 1
	pod_add node-1 a/p3 >/dev/null || return 1
	pod_add node-1 a/p4 >/dev/null || return 1
	pod_add node-2 b/q1 >/dev/null || return 1
}

suite_teardown() {
	lab_stop
}

test_same_node_pod_to_pod() {
	assert_ping a/p1 "$(pod_ip a/p2)"
	assert_tcp a/p1 a/p2 "$(pod_ip a/p2)"
}

test_cross_node_pod_to_pod() {
	assert_ping a/p1 "$(pod_ip b/q1)"
	assert_ping b/q1 "$(pod_ip a/p1)"
	assert_tcp a/p2 b/q1 "$(pod_ip b/q1)"
	assert_tcp b/q1 a/p2 "$(pod_ip a/p2)"
}

test_pod_to_vpc_host_and_back() {
	assert_ping a/p1 "$(host_ip)"
	assert_ping host "$(pod_ip a/p1)"
	assert_tcp a/p3 host "$(host_ip)"
	assert_tcp host b/q1 "$(pod_ip b/q1)"
}

test_node_reaches_its_own_pods() {
	# kubelet probes come from the node itself
	assert_ping node:node-1 "$(pod_ip a/p1)"
	assert_tcp node:node-1 a/p1 "$(pod_ip a/p1)"
}

test_second_interface_attached_when_first_is_full() {
	local eps enis
	eps=$(node_ctl node-1 endpoint list -j)
	enis=$(json_get "$eps" 'sorted(set(e["eniName"] for e in d["endpoints"]))')
	assert_eq "$enis" '["eni1", "eni2"]' "interfaces holding node-1's pods"
	assert_eq "$(json_get "$eps" 'sorted(e["pod"] for e in d["endpoints"] if e["eniName"] == "eni2")')" \
		'["p4"]' "pods on the second interface"
}

test_egress_leaves_through_the_owning_interface() {
	# The VPC router drops a source that arrives on an interface that does not
	# own it (strict rp_filter, like a real SDN), so reaching the VPC host at
	# all proves p4 (on eni2) egresses through eni2. Counters say so too.
	local before1 before2 after1 after2
	tx() { json_get "$(lab node exec node-1 -- ip -s -j link show "$1")" 'd[0]["stats64"]["tx"]["packets"]'; }
	before1=$(tx eni1)
	before2=$(tx eni2)
	_exec_in a/p4 ping -c 20 -i 0.01 -W 2 -q "$(host_ip)" >/dev/null || fail "p4 cannot reach the VPC host"
	after1=$(tx eni1)
	after2=$(tx eni2)
	(( after2 - before2 >= 20 )) || fail "eni2 sent $((after2 - before2)) packets, expected >= 20"
	(( after1 - before1 < 5 )) || fail "eni1 sent $((after1 - before1)) packets for p4's traffic"
}

test_pod_sees_a_static_gateway_and_never_arps() {
	local neigh
	_exec_in a/p1 ping -c 2 -W 2 -q "$(host_ip)" >/dev/null
	_exec_in a/p1 ping -c 2 -W 2 -q "$(pod_ip a/p2)" >/dev/null
	neigh=$(_exec_in a/p1 ip -4 neigh show)
	assert_contains "$neigh" "169.254.1.1 dev eth0 lladdr"
	assert_contains "$neigh" "PERMANENT"
	assert_eq "$(echo "$neigh" | grep -c .)" 1 "neighbour entries in the pod"
	assert_contains "$(_exec_in a/p1 ip route show default)" "default via 169.254.1.1 dev eth0"
}

test_node_answers_no_arp_from_a_pod() {
	local before after
	before=$(metric node-1 UNSUPPORTED_L3 from-pod)
	if _exec_in a/p1 "$TOOLS/sl-arping" eth0 "$(node_ip node-1)" 500; then
		fail "the node answered ARP for its own address from a pod"
	fi
	if _exec_in a/p1 "$TOOLS/sl-arping" eth0 169.254.1.1 500; then
		fail "something answered ARP for the pod's gateway"
	fi
	after=$(metric node-1 UNSUPPORTED_L3 from-pod)
	(( after >= before + 2 )) || fail "ARP drops counted $before -> $after"
}

test_spoofed_source_is_dropped_counted_and_reported() {
	local before after events victim
	victim=$(pod_ip a/p2)
	before=$(metric node-1 SPOOFED_SOURCE from-pod)
	node_ctl node-1 monitor -j --count 1 --timeout-ms 5000 >"$BATS_TMP.mon" 2>/dev/null &
	local mon=$!
	defer kill "$mon"
	sleep 0.3
	_exec_in a/p1 ip addr add "$victim/32" dev eth0
	defer _exec_in a/p1 ip addr del "$victim/32" dev eth0
	_exec_in a/p1 ping -c 1 -W 1 -I "$victim" "$(host_ip)" >/dev/null 2>&1 &&
		fail "a pod reached the VPC with another pod's address"
	after=$(metric node-1 SPOOFED_SOURCE from-pod)
	(( after > before )) || fail "SPOOFED_SOURCE drops $before -> $after"
	wait "$mon" || true
	events=$(cat "$BATS_TMP.mon")
	rm -f "$BATS_TMP.mon"
	assert_contains "$events" '"reason":"SPOOFED_SOURCE"'
	assert_contains "$events" "\"src\":\"$victim\""
	assert_contains "$events" '"file":"bpf/pod.bpf.c"'
}

test_maps_decoded_by_sluicectl_and_bpftool() {
	local ip dump pins
	ip=$(pod_ip a/p1)
	dump=$(node_ctl node-1 map dump endpoint -j)
	assert_eq "$(json_get "$dump" "[e['kind'] for e in d if e['ip'] == '$ip']")" '["pod"]' "endpoint map entry of p1"
	assert_contains "$(json_get "$dump" "[e['ip'] for e in d if e['kind'] == 'host']")" "$(node_ip node-1)"
	pins=/sys/fs/bpf/sluice-lab-$LAB/node-1
	for m in sluice_endpoint sluice_eni sluice_metrics sluice_meta; do
		dump=$(bpftool map dump pinned "$pins/$m") || fail "bpftool cannot dump $m"
	done
	dump=$(bpftool -j map dump pinned "$pins/sluice_endpoint")
	assert_contains "$dump" '"gw_mac"'
	assert_contains "$dump" '"eni_ifindex"'
	assert_contains "$(bpftool map dump pinned "$pins/sluice_eni")" '"gw_addr"'
}

test_programs_attached_where_expected() {
	local net
	net=$(lab node exec node-1 -- bpftool -j net show)
	assert_eq "$(json_get "$net" "sorted(set(t['devname'] for t in d[0]['tc'] if t['name'].startswith('sluice_from_eni')))")" \
		'["eni1", "eni2"]' "devices with sluice_from_eni"
	assert_eq "$(json_get "$net" "len([t for t in d[0]['tc'] if t['name'].startswith('sluice_from_pod')])")" 4 \
		"host-side veths with sluice_from_pod"
	assert_eq "$(json_get "$net" "[t['devname'] for t in d[0]['tc'] if t['devname'] == 'eth0']")" "[]" \
		"programs on the node's primary interface"
}

test_matrix_all_paths() {
	local m
	m=$(lab matrix -j)
	assert_eq "$(json_get "$m" 'd["failed"]')" 0 "failed probes in the matrix"
	assert_eq "$(json_get "$m" 'sorted(set(r["path"] for r in d["results"]))')" \
		'["cross-node", "from-vpc", "same-node", "to-vpc"]' "paths covered"
}

BATS_TMP=$(mktemp -u)
run_tests
