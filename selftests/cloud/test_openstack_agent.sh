#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A node agent running the real `openstack` provider, end to end, against a
# REAL Keystone and Neutron (Debian's packages, started by neutron.sh) and the
# fake Nova: real CNI ADDs and DELs in a lab node, Neutron ports attached as
# veths with the port's MAC, pod traffic to the lab's VPC host (see os_lab.sh).
# Checks that pods get working IPs, that ports follow the pool as pods come
# and go, that a SIGKILLed agent, a Nova killed as detaches start and
# 30% faults between the agent and the cloud leave nothing leaked in Neutron;
# measures cloud calls per 100 pods in each reconcile mode and pod-ready
# latency with a warm pool and a cold attach (TAP diagnostics, not asserted).
# Neutron itself cannot inject faults: the proxy in front of it does.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"
source "$(dirname "$0")/cloud_lib.sh"
source "$(dirname "$0")/os_lab.sh"

SUITE_T0=$SECONDS
WARM=4
# 16 IPs per port (the default; the port's own included): 15 pod IPs a port.
AGENT_ARGS=(--warm-ip-target "$WARM" --release-delay-s 2 --reuse-max-hold-s 5 --cloud-calls-per-s 50 --cloud-burst 50)

suite_setup() {
	local t0=$SECONDS
	os_harness_up || return 1
	diag "Keystone, Neutron and fake Nova up in $((SECONDS - t0)) s"
	LAB=${RUN_ID}os
	os_lab_up "$LAB" "${AGENT_ARGS[@]}" || return 1
}

suite_teardown() {
	os_lab_down
	os_harness_down
}

# fresh_agent [ARGS...]: the agent with the suite's flags (and ARGS), the cloud
# converged; without ARGS also the pool back at its targets (one port).
fresh_agent() {
	os_agent_start "${AGENT_ARGS[@]}" "$@"
	(($#)) || WAIT_TIMEOUT=60 wait_for os_shrunk
	WAIT_TIMEOUT=60 wait_for os_accounting_ok
	rm -f "$CLOUD_DIR/retries"
}

test_pods_get_ips_and_traffic() {
	local a b host
	fresh_agent
	a=$(pod_add node-1 web/a)
	b=$(pod_add node-1 web/b)
	for ip in "$a" "$b"; do
		[[ $ip == 198.18.3[2-9].* || $ip == 198.18.4[0-7].* ]] || fail "pod IP $ip is not in the Neutron subnet"
	done
	host=$(host_ip)
	assert_ping web/a "$host"
	assert_ping host "$b"
	assert_tcp web/a web/b "$b"
	assert_tcp host web/a "$a"
	assert_os_accounted 20
	lab pod del web/a
	lab pod del web/b
	assert_os_accounted 30
}

test_scale_0_20_0() {
	local n_port n_ip t0
	fresh_agent
	read -r n_port n_ip < <(os_count)
	diag "scale: 0 pods: $n_port ports, $n_ip pod IPs"
	t0=$SECONDS
	pods_add node-1 s 1 20 4 || fail "ADDs failed"
	assert_eq "$(pod_ips_on node-1 | sort -u | wc -l)" 20 "distinct pod IPs"
	assert_os_accounted 60
	all_answer_ping node-1
	read -r n_port n_ip < <(os_count)
	diag "scale: 20 pods (in $((SECONDS - t0)) s): $n_port ports, $n_ip pod IPs"
	# 15 pod IPs a port: 20 pods and 4 warm need 2.
	((n_port == 2)) || fail "$n_port ports for 20 pods and $WARM warm IPs (2 expected)"
	t0=$SECONDS
	pods_del s 1 20 4 || fail "DELs failed"
	WAIT_TIMEOUT=60 wait_for os_shrunk
	WAIT_TIMEOUT=30 wait_for none_used node-1
	assert_os_accounted 30
	read -r n_port n_ip < <(os_count)
	diag "scale: back to 0 pods (in $((SECONDS - t0)) s): $n_port ports, $n_ip pod IPs"
}

os_shrunk() { # one port left, holding the warm target (+ the hysteresis of 8 at most)
	local n_port n_ip
	read -r n_port n_ip < <(os_count)
	((n_port == 1 && n_ip >= WARM && n_ip <= WARM + 8))
}

test_sigkill_agent_then_nova_down_at_detach() {
	local job n_port n_ip i
	fresh_agent
	pods_add node-1 k 1 20 4 10 &
	job=$!
	for i in $(seq 1 300); do
		read -r n_port n_ip < <(os_count)
		((n_port >= 2)) && break
		sleep 0.1
	done
	lab agent kill node-1
	diag "sigkill: agent killed with $(pod_ips_on node-1 | wc -l) pods, $n_port ports, $n_ip pod IPs"
	sleep 0.5
	lab agent start node-1 >/dev/null
	wait "$job" || fail "ADDs failed after the restart"
	assert_eq "$(pod_ips_on node-1 | sort -u | wc -l)" 20 "distinct pod IPs"
	assert_os_accounted 60
	all_answer_ping node-1
	diag "sigkill: converged at 20 pods, ADDs retried: $(retried)"

	# Nova dies (SIGKILL) as the pool starts giving ports back: the detaches
	# fail (the connection is refused), and it comes back knowing its servers
	# and veths. (Killing it after it answered 202 to a detach, the work then
	# lost, stalls the provider for its 180 s detach timeout: see
	# docs/cloud-testing.md.)
	proxy DELETE /_proxy/stats >/dev/null
	"$SLUICE_TOP/selftests/cloud/neutron.sh" nova-kill "$OS_HARNESS_DIR"
	pods_del k 1 20 4 || fail "DELs failed"
	for i in $(seq 1 300); do
		proxy GET /_proxy/stats | grep -q 'nova DELETE' && break
		sleep 0.1
	done
	sleep 3
	diag "nova dead while the agent tried $(proxy GET /_proxy/stats | python3 -c 'import json,sys; print(sum(n for k, n in json.load(sys.stdin)["routes"].items() if k.startswith("nova DELETE")))') detach requests"
	"$SLUICE_TOP/selftests/cloud/neutron.sh" nova-start "$OS_HARNESS_DIR" || fail "fake Nova did not start again"
	WAIT_TIMEOUT=90 wait_for os_shrunk
	WAIT_TIMEOUT=30 wait_for none_used node-1
	assert_os_accounted 60
	read -r n_port n_ip < <(os_count)
	diag "killed nova: converged at 0 pods: $n_port ports, $n_ip pod IPs"
}

test_faults_30pct_converge_without_leaks() {
	local stats
	fresh_agent
	proxy DELETE /_proxy/stats >/dev/null
	curl -s -o /dev/null -X DELETE "$NOVA_URL/_fake/stats" || true
	# 30% of the agent's requests to Neutron and Nova fail, in these shares
	# (rules tried in order, so conditional probabilities): 429 + Retry-After 8%,
	# 500 8%, connection dropped 4%, done then 500 (partial) 4%, done then
	# garbage JSON 3%, done then the answer lost 3%. Keystone is left alone.
	proxy POST /_proxy/faults '{"rules": [
		{"service": "nt", "kind": "429", "probability": 0.08},
		{"service": "nova", "kind": "429", "probability": 0.08},
		{"service": "nt", "kind": "500", "probability": 0.087},
		{"service": "nova", "kind": "500", "probability": 0.087},
		{"service": "nt", "kind": "drop", "probability": 0.0476},
		{"service": "nova", "kind": "drop", "probability": 0.0476},
		{"service": "nt", "kind": "partial", "probability": 0.05},
		{"service": "nova", "kind": "partial", "probability": 0.05},
		{"service": "nt", "kind": "garbage", "probability": 0.0395},
		{"service": "nova", "kind": "garbage", "probability": 0.0395},
		{"service": "nt", "kind": "lost", "probability": 0.041},
		{"service": "nova", "kind": "lost", "probability": 0.041}]}' >/dev/null
	# twice one port -> two -> one: attaches, IP updates, detaches, deletes
	pods_add node-1 f 1 25 4 15 || fail "ADDs failed under faults"
	pods_del f 1 25 4 15 || fail "DELs failed under faults"
	WAIT_TIMEOUT=60 wait_for os_shrunk
	pods_add node-1 f 26 50 4 15 || fail "ADDs failed under faults"
	pods_del f 26 50 4 15 || fail "DELs failed under faults"
	stats=$(proxy GET /_proxy/stats)
	proxy DELETE /_proxy/faults >/dev/null
	WAIT_TIMEOUT=90 wait_for os_shrunk
	WAIT_TIMEOUT=30 wait_for none_used node-1
	assert_os_accounted 60
	diag "faults: $(json_get "$stats" 'sum(d["faults"].values())') injected in" \
		"$(json_get "$stats" 'sum(n for k, n in d["routes"].items() if not k.startswith("ks "))') Neutron/Nova requests:" \
		"$(json_get "$stats" '", ".join("%s=%d" % kv for kv in sorted(d["faults"].items()))')"
	diag "faults: agent HTTP retries $(ipam_field node-1 'd.get("providerHTTP", {}).get("retries", "n/a")'), ADD/DEL retried by the test $(retried), leaks after convergence: none"
}

# 25 pod creations and their deletions per mode (from one port at its targets
# to two and back: an attach, a detach and the IPs on the way), calls
# counted until the pool settled, scaled to 100.
test_calls_per_100_pods_by_reconcile_mode() {
	local mode calls line=""
	for mode in immediate scheduled manual; do
		fresh_agent
		os_agent_start "${AGENT_ARGS[@]}" --reconcile "$mode" --reconcile-interval-s 3
		WAIT_TIMEOUT=60 wait_for os_accounting_ok
		proxy DELETE /_proxy/stats >/dev/null
		pods_add node-1 "c$mode" 1 25 4 10 || fail "$mode: ADDs failed"
		pods_del "c$mode" 1 25 4 || fail "$mode: DELs failed"
		sleep 5 # the release delay and one scheduled period
		assert_os_accounted 30
		calls=$(os_cloud_calls)
		line+=" $mode=$((calls * 4))"
		diag "openstack $mode: $calls calls for 25 pods up and down, ADDs retried $(retried):" \
			"$(proxy GET /_proxy/stats | python3 -c '
import json, sys
r = json.load(sys.stdin)["routes"]
print(", ".join("%s %d" % (k, n) for k, n in sorted(r.items(), key=lambda x: -x[1])))')"
	done
	diag "openstack calls per 100 pods:$line"
}

test_pod_ready_latency_warm_vs_cold() {
	local host warm=() i cold p
	fresh_agent
	host=$(host_ip)
	for i in 1 2 3; do
		sleep 1 # the pool refills between pods: every ADD finds a warm IP
		warm+=("$(ready_ms node-1 lw/w$i "$host")")
	done
	fresh_agent --warm-ip-target 0 --min-ip-target 0
	cold=$(cold_latency node-1 "$host" lc)
	diag "pod ready (ADD until the first ping to the VPC host): warm pool ${warm[*]} ms; $cold"
	assert_os_accounted 30
	for p in $(lab status -j | python3 -c 'import json,sys; [print(p["namespace"]+"/"+p["name"]) for p in json.load(sys.stdin)["pods"]]'); do
		lab pod del "$p"
	done
	assert_os_accounted 30
}

exec 3>&1
run_tests
diag "cloud/test_openstack_agent took $((SECONDS - SUITE_T0)) s"
