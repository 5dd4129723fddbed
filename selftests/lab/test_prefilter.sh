#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sluiced --xdp-prefilter: sluice_xdp_eni on every cloud interface the agent
# adopts. A new connection from the VPC that a pod's ingress policy denies
# is dropped at XDP (counted POLICY_DENIED, direction xdp-eni) before tc
# sees it; allowed ones and known connections pass to sluice_from_eni. An
# agent restarted without the flag removes the prefilter it attached.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

suite_setup() {
	lab_start "${RUN_ID}xdp" --nodes 1 >/dev/null || return 1
	lab agent stop node-1 >/dev/null || return 1
	lab agent start node-1 -- --xdp-prefilter >/dev/null || return 1
	pod_add node-1 web/srv --labels app=srv >/dev/null
}

suite_teardown() {
	lab_stop >/dev/null 2>&1
}

# The netdev names of node-1's cloud interfaces (the pool's, not the primary).
eni_names() {
	node_ctl node-1 ipam show -j | python3 -c '
import json, sys
print(" ".join(i["name"] for i in json.load(sys.stdin)["interfaces"]))'
}

# What a TCP connect from the VPC host to IP:PORT meets: "open", "refused"
# (allowed, nobody listens) or "timeout" (dropped).
connect_from_host() { # IP PORT
	lab host exec -- python3 -c '
import socket, sys
s = socket.socket()
s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("timeout")' "$1" "$2"
}

xdp_on() { # NETDEV
	lab node exec node-1 -- ip -o link show dev "$1" | grep -q 'prog/xdp'
}

test_prefilter_attached_to_every_eni_only() {
	local eni names
	names=$(eni_names)
	[[ -n $names ]] || fail "no cloud interface in the pool"
	for eni in $names; do
		xdp_on "$eni" || fail "no XDP program on $eni: $(lab node exec node-1 -- ip -o link show dev "$eni")"
	done
	# Not on the node's primary interface, not on pod veths.
	assert_not_contains "$(lab node exec node-1 -- ip -o link show dev eth0)" "prog/xdp"
	assert_eq "$(lab node exec node-1 -- ip -o link show | grep -c 'prog/xdp')" "$(wc -w <<<"$names")" \
		"XDP programs on the node"
}

test_denied_connection_dropped_at_xdp_allowed_one_passes() {
	local ip host before after
	ip=$(pod_ip web/srv)
	host=$(host_ip)
	lab apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: srv-in, namespace: web}
spec:
  podSelector: {matchLabels: {app: srv}}
  policyTypes: [Ingress]
  ingress:
  - from: [{ipBlock: {cidr: $host/32}}]
    ports: [{protocol: TCP, port: 8080}]
EOF
	defer lab delete -f - <<<'{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "srv-in", "namespace": "web"}}'
	# Enforced once 9090 stops refusing (the policy reached the maps).
	WAIT_TIMEOUT=10 wait_for_eq timeout connect_from_host "$ip" 9090

	before=$(metric node-1 POLICY_DENIED xdp-eni)
	assert_eq "$(connect_from_host "$ip" 9090)" timeout "port 9090, denied by policy"
	after=$(metric node-1 POLICY_DENIED xdp-eni)
	((after > before)) || fail "no POLICY_DENIED drop at XDP ($before -> $after)"
	assert_eq "$(connect_from_host "$ip" 8080)" refused "port 8080, allowed (nobody listens)"
	assert_tcp host web/srv "$ip" 8080
	# The pod's replies and the rest of the allowed connection were not the
	# prefilter's to drop: it counts nothing else.
	assert_eq "$(node_ctl node-1 map dump metrics -j | python3 -c '
import json, sys
print(sorted({m["reason"] for m in json.load(sys.stdin) if m["direction"] == "xdp-eni"}))')" \
		"['POLICY_DENIED']" "drop reasons at XDP"
}

test_restart_without_flag_removes_prefilter() {
	local eni
	lab agent stop node-1 >/dev/null
	lab agent start node-1 -- >/dev/null
	for eni in $(eni_names); do
		! xdp_on "$eni" || fail "the XDP prefilter stayed on $eni"
	done
	assert_contains "$(cat "/run/sluice-lab/$LAB/nodes/node-1/sluiced.log")" "removed the XDP prefilter"
	assert_tcp host web/srv "$(pod_ip web/srv)" 8080
}

run_tests
