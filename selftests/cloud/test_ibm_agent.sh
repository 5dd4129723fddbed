#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Node agents running the real `ibm` provider, end to end: a lab whose agents
# attach interfaces and reserve pod IPs through fake-ibm (the IBM VPC API on
# top of the lab's sim VPC, see ibm_lab.sh), real CNI ADDs and DELs, real
# traffic. Checks that pods get working IPs, that the cloud follows the pool
# as pods come and go, that a SIGKILLed agent and a 30% fault rate leave
# nothing leaked, and measures cloud calls per 100 pods in each reconcile
# mode and pod-ready latency with a warm pool and a cold attach (printed as
# TAP diagnostics, never asserted).
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"
source "$(dirname "$0")/cloud_lib.sh"
source "$(dirname "$0")/ibm_lab.sh"

SUITE_T0=$SECONDS
WARM=4
# 12 attachments (the primary included) of 8 IPs: room for 60 pods and the warm
# pool on one node. A larger budget than the default 2/s keeps the suite short;
# the counts measured do not depend on it.
FAKE_ARGS=(--fake --max-attachments --fake 12 --fake --attach-delay-ms --fake 300 --fake --detach-delay-ms --fake 100)
AGENT_ARGS=(--warm-ip-target "$WARM" --release-delay-s 2 --reuse-max-hold-s 5 --cloud-calls-per-s 50 --cloud-burst 50)

cloud_count() { # NODE -> "ATTACHMENTS RESERVED_IPS" (secondary attachments, their pod IPs)
	fake GET /fake/inventory | python3 -c '
import json, sys
d = json.load(sys.stdin)
atts = [a for a in d["network_attachments"] if a["instance"] == sys.argv[1] and a["type"] != "primary"]
vnis = {a["virtual_network_interface"]["id"] for a in atts}
prim = {v["primary_ip"]["id"] for v in d["virtual_network_interfaces"]}
rips = [r for r in d["reserved_ips"] if (r.get("target") or {}).get("id") in vnis and r["id"] not in prim]
print(len(atts), len(rips))' "$1"
}

shrunk_to() { # NODE MAX-ATTACHMENTS MAX-IPS
	local n_if n_rip
	read -r n_if n_rip < <(cloud_count "$1")
	((n_if <= $2 && n_rip <= $3 && n_rip >= WARM))
}

test_pods_get_ips_and_traffic() {
	local a b c host
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}i2" 2 "${FAKE_ARGS[@]}" "${AGENT_ARGS[@]}"
	a=$(pod_add node-1 web/a)
	b=$(pod_add node-2 web/b)
	c=$(pod_add node-1 web/c)
	for ip in "$a" "$b" "$c"; do
		[[ $ip == 198.18.1[6-9].* || $ip == 198.18.2[0-9].* || $ip == 198.18.3[01].* ]] ||
			fail "pod IP $ip is not in the pod subnet 198.18.16.0/20"
	done
	host=$(host_ip)
	assert_ping web/a "$host"
	assert_ping web/b "$host"
	assert_ping host "$c"
	assert_tcp web/a web/b "$b" # across nodes, through the VPC router
	assert_tcp web/c web/a "$a" # on one node
	assert_tcp host web/c "$c"
	# The IPs came through the IBM API: reserved IPs bound to attachments.
	local routes
	routes=$(fake GET /fake/stats)
	assert_ne "$(json_get "$routes" 'd["routes"].get("POST /v1/subnets/*/reserved_ips", 0)')" 0 "reserved IP creations"
	assert_ne "$(json_get "$routes" 'd["routes"].get("POST /v1/instances/*/network_attachments", 0)')" 0 \
		"attachment creations"
	assert_accounted 20 node-1 node-2
}

test_scale_0_60_0() {
	local n_if n_rip t0 max_if
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}is" 1 "${FAKE_ARGS[@]}" "${AGENT_ARGS[@]}"
	WAIT_TIMEOUT=20 wait_for accounting_ok node-1
	read -r n_if n_rip < <(cloud_count node-1)
	diag "scale: 0 pods: $n_if attachments, $n_rip reserved IPs"

	t0=$SECONDS
	pods_add node-1 s 1 60 6 || fail "ADDs failed"
	assert_eq "$(pod_ips_on node-1 | sort -u | wc -l)" 60 "distinct pod IPs"
	assert_accounted 30 node-1
	read -r n_if n_rip < <(cloud_count node-1)
	diag "scale: 60 pods (in $((SECONDS - t0)) s): $n_if attachments, $n_rip reserved IPs"
	# 7 pod IPs per attachment (8, the VNI's own included): 60 pods need 9;
	# with the warm target on top, ceil(64 / 7) = 10.
	max_if=$(((60 + WARM + 6) / 7))
	((n_if >= 9)) || fail "$n_if attachments for 60 pods"
	((n_if <= max_if)) || fail "$n_if attachments for 60 pods and $WARM warm IPs (at most $max_if)"
	((n_rip >= 60)) || fail "$n_rip reserved IPs for 60 pods"
	all_answer_ping node-1

	t0=$SECONDS
	pods_del s 1 60 6 || fail "DELs failed"
	assert_accounted 30 node-1
	# After the release delay (2 s) and the conntrack holds (at most 5 s), the
	# pool gives back whole interfaces while it keeps its warm target without
	# them: one interface (7 IPs, within the target + 8 of hysteresis) remains.
	WAIT_TIMEOUT=40 wait_for shrunk_to node-1 1 $((WARM + 8))
	assert_accounted 30 node-1
	WAIT_TIMEOUT=30 wait_for none_used node-1
	read -r n_if n_rip < <(cloud_count node-1)
	diag "scale: back to 0 pods (in $((SECONDS - t0)) s): $n_if attachments, $n_rip reserved IPs"
}

test_sigkill_agent_mid_scale_up() {
	local job n_if n_rip i
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}ik" 1 "${FAKE_ARGS[@]}" "${AGENT_ARGS[@]}"
	pods_add node-1 k 1 40 4 10 &
	job=$!
	# SIGKILL once the scale-up is well under way (a second attachment on its way).
	for i in $(seq 1 200); do
		read -r n_if n_rip < <(cloud_count node-1)
		((n_if >= 2)) && break
		sleep 0.05
	done
	lab agent kill node-1
	diag "sigkill: agent killed with $(pod_ips_on node-1 | wc -l) pods, $n_if attachments, $n_rip reserved IPs"
	sleep 0.5
	lab agent start node-1 >/dev/null # the ibm arguments are kept
	wait "$job" || fail "ADDs failed after the restart"
	assert_eq "$(pod_ips_on node-1 | sort -u | wc -l)" 40 "distinct pod IPs"
	assert_accounted 30 node-1
	all_answer_ping node-1
	read -r n_if n_rip < <(cloud_count node-1)
	diag "sigkill: converged at 40 pods: $n_if attachments, $n_rip reserved IPs, retried ADDs: $(retried)"
	pods_del k 1 40 4 || fail "DELs failed"
	WAIT_TIMEOUT=30 wait_for none_used node-1
	assert_accounted 30 node-1
}

test_faults_30pct_converge_without_leaks() {
	local stats rules retries req inj
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}if" 1 "${FAKE_ARGS[@]}" --fake --seed --fake 7 "${AGENT_ARGS[@]}" --log-level debug
	WAIT_TIMEOUT=20 wait_for accounting_ok node-1
	fake DELETE /fake/stats >/dev/null
	# 30% of the API's answers are faults, in these shares (the rules are tried
	# in order, hence the conditional probabilities): 429 with Retry-After 9%,
	# 500 9%, a hang then a dropped connection 4%, garbage JSON after doing the
	# work 4%, a 500 after doing the work (partial) 4%.
	fake POST /fake/faults '{"rules": [
		{"action": "status", "status": 429, "retry_after": "1", "code": "too_many_requests", "probability": 0.09},
		{"action": "status", "status": 500, "code": "internal_error", "probability": 0.099},
		{"action": "hang", "hang_ms": 1500, "probability": 0.0488},
		{"action": "garbage", "probability": 0.0513},
		{"action": "status", "status": 500, "phase": "after", "code": "internal_error", "probability": 0.054}]}' \
		>/dev/null
	pods_add node-1 f 1 40 4 15 || fail "ADDs failed under faults"
	pods_del f 21 40 4 15 || fail "DELs failed under faults"
	pods_add node-1 f 41 60 4 15 || fail "ADDs failed under faults"
	pods_del f 1 20 4 15 || fail "DELs failed under faults"
	pods_del f 41 60 4 15 || fail "DELs failed under faults"
	stats=$(fake GET /fake/stats)
	rules=$(fake GET /fake/faults)
	fake DELETE /fake/faults >/dev/null
	# Faults off: the agent must converge to exactly what it holds, with nothing leaked.
	assert_accounted 60 node-1
	WAIT_TIMEOUT=30 wait_for none_used node-1
	assert_accounted 30 node-1
	req=$(json_get "$stats" 'sum(n for k, n in d["routes"].items() if " /fake/" not in k)')
	inj=$(json_get "$stats" 'd["faults_injected"]')
	retries=$(grep -c 'retry [0-9]*/' "$(lab status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["log"])')" || true)
	diag "faults: $inj injected in $req API requests ($(json_get "$stats" "round(100.0 * $inj / max($req, 1))")%):" \
		"$(json_get "$rules" '", ".join("%s%s=%d" % (r.get("action"), "/%s" % r.get("status", "") if r.get("action") == "status" else "", r["fired"]) for r in d["rules"])')"
	diag "faults: agent HTTP retries $retries, ADD/DEL retried by the test $(retried), leaks after convergence: none"
}

# 100 pod creations and their 100 deletions (5 rounds of 20 up, 20 down) per
# mode; calls counted from the first ADD until the pool settled.
test_calls_per_100_pods_by_reconcile_mode() {
	local mode calls line="" fails
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}ic" 1 "${FAKE_ARGS[@]}" "${AGENT_ARGS[@]}"
	for mode in immediate scheduled manual; do
		# every mode starts from the pool at its targets (one attachment)
		WAIT_TIMEOUT=30 wait_for shrunk_to node-1 1 $((WARM + 8))
		ibm_agent_start node-1 "${AGENT_ARGS[@]}" --reconcile "$mode" --reconcile-interval-s 3
		WAIT_TIMEOUT=20 wait_for accounting_ok node-1
		fake DELETE /fake/stats >/dev/null
		rm -f "$CLOUD_DIR/retries"
		for round in 1 2 3 4 5; do
			pods_add node-1 "c$mode" 1 20 4 10 || fail "$mode: ADDs failed"
			pods_del "c$mode" 1 20 4 || fail "$mode: DELs failed"
		done
		sleep 5 # the release delay and one scheduled period
		assert_accounted 30 node-1
		calls=$(ibm_cloud_calls)
		fails=$(retried)
		line+=" $mode=$calls"
		diag "ibm $mode: $calls calls for 100 pods up and down, $fails ADDs retried," \
			"$(fake GET /fake/stats | python3 -c '
import json, sys
r = json.load(sys.stdin)["routes"]
print(", ".join("%s %d" % (k, n) for k, n in sorted(r.items(), key=lambda x: -x[1]) if " /fake/" not in k))')"
	done
	diag "ibm calls per 100 pods:$line"
}

test_pod_ready_latency_warm_vs_cold() {
	local host warm=() i cold
	defer ibm_lab_down
	ibm_lab_up "${RUN_ID}il" 1 "${FAKE_ARGS[@]}" "${AGENT_ARGS[@]}"
	host=$(host_ip)
	WAIT_TIMEOUT=20 wait_for accounting_ok node-1
	for i in 1 2 3 4 5; do
		sleep 1 # the pool refills between pods: every ADD finds a warm IP
		warm+=("$(ready_ms node-1 lw/w$i "$host")")
	done
	# Cold: no warm IP; pending -> stable of an attachment takes 300 ms in
	# the fake (10-30 s on IBM).
	ibm_agent_start node-1 "${AGENT_ARGS[@]}" --warm-ip-target 0 --min-ip-target 0
	cold=$(cold_latency node-1 "$host" lc)
	diag "pod ready (ADD until the first ping to the VPC host): warm pool ${warm[*]} ms; $cold"
	assert_accounted 30 node-1
}

exec 3>&1
run_tests
diag "cloud/test_ibm_agent took $((SECONDS - SUITE_T0)) s"
