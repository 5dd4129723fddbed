#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The CNI protocol end to end: the real `sluice` binary, invoked the way a
# runtime does (CNI_* environment, config on stdin), against a real agent in
# a one-node lab. Every verb, every error path, and "nothing changed" after
# every error.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

suite_setup() {
	lab_start "${RUN_ID}cni" --nodes 1 --add-wait-ms 1500 || return 1
	SOCK=/run/sluice-lab/$LAB/nodes/node-1/sluiced.sock
}

suite_teardown() {
	lab_stop
}

conf() { # [cniVersion]
	printf '{"cniVersion":"%s","name":"sluice","type":"sluice","agentSocket":"%s"}' "${1:-1.1.0}" "$SOCK"
}

# The config with prevResult set, as a runtime sends it to CHECK.
with_prev() { # RESULT
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))' \
		"$(conf)" "$1"
}

# cni VERB CONTAINER NETNS [stdin] -> stdout; exit status in CNI_RC.
# CNI_ARGS (default empty: a pod of a runtime without Kubernetes) may name a
# Kubernetes pod, as the kubelet does.
cni() {
	local verb=$1 cid=$2 netns=$3 input=${4:-$(conf)}
	CNI_RC=0
	CNI_OUT=$(echo "$input" | env -i PATH="$PATH" CNI_COMMAND="$verb" CNI_CONTAINERID="$cid" \
		CNI_NETNS="$netns" CNI_IFNAME=eth0 CNI_PATH="$SLUICE_BUILD" \
		CNI_ARGS="${CNI_ARGS:-}" "$SLUICE_CNI") || CNI_RC=$?
}

new_netns() { # -> path; removed when the test ends
	local name=${LAB}-cni-$RANDOM$RANDOM
	ip netns add "$name"
	defer ip netns del "$name"
	echo "/var/run/netns/$name"
}

# A fingerprint of the node's state: endpoints, used IPs, pod links.
state() {
	echo "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" \
		"$(json_get "$(node_ctl node-1 ipam show -j)" 'd["used"]')" \
		"$(lab node exec node-1 -- ip -o link show | grep -c ' sl[0-9a-f]\{12\}')"
}

test_version() {
	cni VERSION "" "" '{"cniVersion":"1.0.0"}'
	assert_eq "$CNI_RC" 0
	assert_eq "$(json_get "$CNI_OUT" 'd["supportedVersions"]')" '["0.3.1", "0.4.0", "1.0.0", "1.1.0"]'
}

test_add_check_del_roundtrip() {
	local ns ip
	ns=$(new_netns)
	cni ADD c1 "$ns"
	assert_eq "$CNI_RC" 0 "ADD exit status ($CNI_OUT)"
	assert_eq "$(json_get "$CNI_OUT" 'd["cniVersion"]')" 1.1.0
	assert_eq "$(json_get "$CNI_OUT" 'all(len(i["mac"]) == 17 for i in d["interfaces"])')" True "macs"
	assert_eq "$(json_get "$CNI_OUT" 'd["interfaces"][1]["sandbox"]')" "$ns"
	assert_eq "$(json_get "$CNI_OUT" 'd["routes"][0]["dst"]')" 0.0.0.0/0
	ip=$(json_get "$CNI_OUT" 'd["ips"][0]["address"]')
	assert_contains "$(ip netns exec "${ns##*/}" ip -4 addr show eth0)" "$ip"
	assert_ping host "${ip%/*}"

	local prev=$CNI_OUT
	cni CHECK c1 "$ns" "$(with_prev "$prev")"
	assert_eq "$CNI_RC" 0 "CHECK exit status ($CNI_OUT)"

	cni DEL c1 "$ns"
	assert_eq "$CNI_RC" 0 "DEL exit status ($CNI_OUT)"
	assert_eq "$CNI_OUT" "" "DEL output"
	assert_fails ip netns exec "${ns##*/}" ip link show eth0
	cni DEL c1 "$ns"
	assert_eq "$CNI_RC" 0 "second DEL ($CNI_OUT)"
	cni DEL c1 ""
	assert_eq "$CNI_RC" 0 "DEL with an empty CNI_NETNS ($CNI_OUT)"
}

test_add_is_idempotent() {
	local ns first
	ns=$(new_netns)
	cni ADD c2 "$ns"
	first=$(json_get "$CNI_OUT" 'd["ips"][0]["address"]')
	cni ADD c2 "$ns"
	assert_eq "$CNI_RC" 0
	assert_eq "$(json_get "$CNI_OUT" 'd["ips"][0]["address"]')" "$first" "repeated ADD"
	cni DEL c2 "$ns"
}

test_del_after_netns_is_gone() {
	local name=${LAB}-cni-gone
	ip netns add "$name"
	cni ADD c3 "/var/run/netns/$name"
	assert_eq "$CNI_RC" 0
	ip netns del "$name"
	cni DEL c3 "/var/run/netns/$name"
	assert_eq "$CNI_RC" 0 "DEL after the netns is gone ($CNI_OUT)"
	assert_eq "$(state)" "0 0 0" "node state"
}

test_old_versions_get_old_results() {
	local ns v
	for v in 0.3.1 0.4.0 1.0.0; do
		ns=$(new_netns)
		cni ADD "old${v//./}" "$ns" "$(conf "$v")"
		assert_eq "$CNI_RC" 0 "ADD $v ($CNI_OUT)"
		assert_eq "$(json_get "$CNI_OUT" 'd["cniVersion"]')" "$v"
		if [[ $v == 1.0.0 ]]; then
			assert_eq "$(json_get "$CNI_OUT" '"version" in d["ips"][0]')" False "version field in $v"
		else
			assert_eq "$(json_get "$CNI_OUT" 'd["ips"][0]["version"]')" 4 "version field in $v"
		fi
		cni DEL "old${v//./}" "$ns" "$(conf "$v")"
		assert_eq "$CNI_RC" 0
	done
}

test_errors_change_nothing() {
	local ns before
	ns=$(new_netns)
	before=$(state)

	cni ADD bad1 "$ns" '{"cniVersion":"1.1.0", "name": '
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 6 "malformed JSON"
	cni ADD bad2 "" "$(conf)"
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 4 "missing CNI_NETNS"
	assert_contains "$(json_get "$CNI_OUT" 'd["msg"]')" CNI_NETNS
	cni ADD bad3 "$ns" '{"cniVersion":"1.1.0","type":"sluice"}'
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 7 "missing name"
	cni ADD bad4 "$ns" '{"cniVersion":"9.9.9","name":"sluice","type":"sluice"}'
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 1 "unsupported version"
	cni ADD bad5 /var/run/netns/no-such-netns-$RANDOM
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 3 "missing netns"
	cni ADD 'bad/6' "$ns"
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 4 "invalid container ID"
	cni ADD bad7 "$ns" "$(conf | sed 's|sluiced.sock|nobody.sock|')"
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 11 "agent unreachable"
	assert_ne "$CNI_RC" 0 "exit status of an error"
	assert_eq "$(state)" "$before" "node state after errors"
	assert_fails ip netns exec "${ns##*/}" ip link show eth0
}

test_check_detects_a_broken_pod() {
	local ns prev
	ns=$(new_netns)
	cni ADD c4 "$ns"
	prev=$CNI_OUT
	ip netns exec "${ns##*/}" ip link set eth0 down
	ip netns exec "${ns##*/}" ip addr flush dev eth0
	cni CHECK c4 "$ns" "$(with_prev "$prev")"
	assert_ne "$CNI_RC" 0 "CHECK of a broken pod"
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 100
	cni DEL c4 "$ns"
}

test_status_and_gc() {
	local ns1 ns2 gc
	ns1=$(new_netns)
	ns2=$(new_netns)
	cni STATUS "" ""
	assert_eq "$CNI_RC" 0 "STATUS ($CNI_OUT)"
	cni ADD keep "$ns1"
	cni ADD drop "$ns2"
	gc=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["cni.dev/valid-attachments"]=[{"containerID":"keep","ifname":"eth0"}]; print(json.dumps(c))' "$(conf)")
	cni GC "" "" "$gc"
	assert_eq "$CNI_RC" 0 "GC ($CNI_OUT)"
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" '[e["containerID"] for e in d["endpoints"]]')" \
		'["keep"]' "endpoints after GC"
	assert_fails ip netns exec "${ns2##*/}" ip link show eth0
	cni DEL keep "$ns1"
}

test_kubernetes_pod_waits_for_its_labels() {
	local ns before
	ns=$(new_netns)
	before=$(state)
	# No Pod object: ADD waits (1.5 s here) and gives up with 11, changing nothing.
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=ghost" cni ADD k8s1 "$ns"
	assert_eq "$(json_get "$CNI_OUT" 'd["code"]')" 11 "ADD of an unknown Pod"
	assert_contains "$(json_get "$CNI_OUT" 'd["details"]')" "shop/ghost"
	assert_eq "$(state)" "$before" "node state"
	# The Pod appears while ADD waits: ADD succeeds with its labels.
	( sleep 0.5; printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: ghost, namespace: shop, labels: {app: g}}\nspec: {containers: [{name: c, image: x}]}\n' |
		"$SLUICECTL" lab --name "$LAB" apply -f - ) &
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=ghost" cni ADD k8s1 "$ns"
	wait
	assert_eq "$CNI_RC" 0 "ADD once the Pod exists ($CNI_OUT)"
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" '[e["labels"] for e in d["endpoints"] if e["pod"] == "ghost"]')" \
		'[{"app": "g"}]' "labels of the pod"
	cni DEL k8s1 "$ns"
}

run_tests
