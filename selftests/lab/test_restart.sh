#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The datapath outlives the agent: SIGKILL during a TCP stream breaks
# nothing, a restarted agent keeps every assignment, serves ADD again, and
# cleans what a crash left behind.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

suite_setup() {
	lab_start "${RUN_ID}rs" --nodes 2 || return 1
	pod_add node-1 r/a1 >/dev/null || return 1
	pod_add node-1 r/a2 >/dev/null || return 1
	pod_add node-2 r/b1 >/dev/null || return 1
}

suite_teardown() {
	lab_stop
}

endpoints_summary() { # NODE -> "containerID ip" lines, sorted
	json_get "$(node_ctl "$1" endpoint list -j)" \
		'"\n".join(sorted(e["containerID"] + " " + e["ip"] for e in d["endpoints"]))'
}

test_sigkill_during_tcp_stream() {
	local srv out
	_exec_in r/b1 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	srv=$!
	defer kill "$srv"
	sleep 0.5
	# An 8 s stream from node-1 to node-2; node-1's agent dies 2 s in and
	# comes back 2 s later.
	_exec_in r/a1 iperf3 -c "$(pod_ip r/b1)" -p 5201 -t 8 -J >"$BATS_TMP.iperf" 2>&1 &
	local cli=$!
	defer kill "$cli"
	sleep 2
	lab agent kill node-1
	ping_ok r/a2 "$(pod_ip r/b1)" || fail "traffic stopped while the agent was dead"
	sleep 2
	lab agent start node-1
	wait "$cli" || fail "iperf3 failed: $(tail -5 "$BATS_TMP.iperf")"
	out=$(cat "$BATS_TMP.iperf")
	rm -f "$BATS_TMP.iperf"
	assert_eq "$(json_get "$out" '"error" in d')" False "iperf3 error"
	(( $(json_get "$out" 'int(d["end"]["sum_received"]["seconds"])') >= 7 )) || fail "stream did not last"
	(( $(json_get "$out" 'd["end"]["sum_received"]["bytes"]') > 1000000 )) || fail "too few bytes"
}

test_restart_keeps_every_assignment_and_serves_add() {
	local before after new
	before=$(endpoints_summary node-1)
	lab agent kill node-1
	lab agent start node-1
	after=$(endpoints_summary node-1)
	assert_eq "$after" "$before" "endpoints after restart"
	new=$(pod_add node-1 r/a3)
	defer lab pod del r/a3
	assert_not_contains "$before" " $new" "existing IPs"
	assert_ping r/a3 "$(pod_ip r/b1)"
	assert_ping r/a1 "$new"
}

test_add_while_agent_down_is_try_again() {
	local out
	lab agent kill node-2
	defer lab agent start node-2
	out=$(lab pod add node-2 r/b2 -j 2>/dev/null) && fail "ADD succeeded without an agent"
	assert_eq "$(json_get "$out" 'd["cni"]["code"]')" 11 "CNI code without an agent"
	assert_fails lab exec r/b2 -- true
	lab agent start node-2
	pod_add node-2 r/b2 >/dev/null
	lab pod del r/b2
}

test_orphans_of_a_crash_are_cleaned_at_start() {
	local pins
	pins=/sys/fs/bpf/sluice-lab-$LAB/node-1
	# A link named like ours that no endpoint owns (an ADD cut short), and a
	# datapath entry for an address nobody holds.
	lab node exec node-1 -- ip link add sl0123456789ab type veth peer name sltmp0
	bpftool map update pinned "$pins/sluice_endpoint" \
		key hex 04 00 00 00 c6 12 7f 7f 00 00 00 00 00 00 00 00 00 00 00 00 \
		value hex 63 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
	lab agent kill node-1
	lab agent start node-1
	assert_fails lab node exec node-1 -- ip link show sl0123456789ab
	assert_eq "$(json_get "$(node_ctl node-1 map dump endpoint -j)" "[e for e in d if e['ip'] == '198.18.127.127']")" \
		"[]" "stale map entry"
	assert_ping r/a1 "$(pod_ip r/b1)"
}

test_damaged_checkpoint_is_refused_not_reset() {
	local state=/run/sluice-lab/$LAB/nodes/node-2/state/checkpoint.json
	lab agent stop node-2
	cp "$state" "$BATS_TMP.cp"
	defer rm -f "$BATS_TMP.cp"
	echo '{"version": 1, "node": "node-2", "interfaces": [' >"$state"
	assert_fails lab agent start node-2
	assert_contains "$(cat /run/sluice-lab/$LAB/nodes/node-2/sluiced.log)" "is damaged"
	lab agent stop node-2 || true
	cp "$BATS_TMP.cp" "$state"
	lab agent start node-2
	assert_ping r/b1 "$(pod_ip r/a1)"
	assert_eq "$(json_get "$(node_ctl node-2 endpoint list -j)" 'len(d["endpoints"])')" 1 "node-2 endpoints"
}

used_ips() { # NODE
	json_get "$(node_ctl "$1" ipam show -j)" 'd["used"]'
}

# A runtime that removes a pod while its DEL cannot reach the agent does not
# retry (podman 4.3, ctr 1.6): the agent must notice the pod is gone.
test_pod_removed_while_agent_down_is_released() {
	local before
	pod_add node-2 r/gone >/dev/null
	defer lab pod del r/gone
	before=$(used_ips node-2)
	lab agent kill node-2
	ip netns del "$LAB-r-gone"
	lab agent start node-2
	assert_eq "$(used_ips node-2)" "$((before - 1))" "IPs in use after restart"
	assert_eq "$(json_get "$(node_ctl node-2 endpoint list -j)" '[e["pod"] for e in d["endpoints"] if e["pod"] == "gone"]')" \
		"[]" "endpoint of the removed pod"
}

test_pod_removed_without_del_is_released_by_the_sweep() {
	local before
	pod_add node-2 r/gone2 >/dev/null
	defer lab pod del r/gone2
	before=$(used_ips node-2)
	ip netns del "$LAB-r-gone2"
	one_less() { (($(used_ips node-2) == before - 1)); }
	WAIT_TIMEOUT=25 wait_for one_less
}

deny_r_ingress() {
	printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: r}\nspec: {podSelector: {}}\n'
}

# The datapath outlives the agent, and so does its policy: a kill leaves it
# in force, and a policy deleted while the agent was down is deleted from
# the maps when it comes back (the diff starts from what the maps hold).
test_policy_across_restarts() {
	deny_r_ingress | lab apply -f -
	defer sh -c "$(declare -f deny_r_ingress); deny_r_ingress | '$SLUICECTL' lab --name '$LAB' delete -f -"
	denied() { ! ping_ok "$@"; }
	WAIT_TIMEOUT=5 wait_for denied r/b1 "$(pod_ip r/a1)"
	lab agent kill node-1
	assert_no_ping r/b1 "$(pod_ip r/a1)"
	lab agent start node-1
	assert_no_ping r/b1 "$(pod_ip r/a1)"

	lab agent kill node-1
	deny_r_ingress | lab delete -f -
	lab agent start node-1
	WAIT_TIMEOUT=5 wait_for ping_ok r/b1 "$(pod_ip r/a1)"
}

BATS_TMP=$(mktemp -u)
run_tests
