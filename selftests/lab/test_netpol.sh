#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NetworkPolicy truth tables with real traffic. A 2-node lab holds the grid of
# selftests/lab/netpol/grid.yaml: namespaces x, y, z with pods a, b, c each.
# Every check probes TCP and UDP on ports 80 and 81 between every ordered pair
# of pods, between the pods and the VPC host both ways, and from both nodes to
# every pod and the host (sl-grid: 440 probes at once, in about one timeout),
# and compares each cell with what Kubernetes says (selftests/lib/netpol_oracle.py, which reads
# the same objects the lab was given). A test applies a scenario's policies,
# checks, changes something, checks, deletes them and checks that everything
# is allowed again.
#
# A policy change must be enforced within NP_SETTLE_MS (default 3000): a check
# waits until both agents' policy.rev (sluicectl status -j) has moved past
# the change (at most 1 s), then probes, and probes again on a mismatch until
# the time is up. Every probe uses a source port never used before in this run, so a
# conntrack entry of an earlier check cannot let a probe through.
#
# On a mismatch the test prints the differing cells (src -> dst proto/port:
# expected vs got, and which policy denies) and leaves both full tables in
# $SLUICE_BUILD/selftests/netpol-failures/. The suite ends with a TAP
# diagnostic "# truth table: N cells in M checks, ...", also written to
# $SLUICE_BUILD/selftests/netpol-cells (selftests/run shows a passing
# program's diagnostics to nobody).
#
# With NP_SOURCE=kube (test_netpol_kube.sh) the agents read the objects
# from an API server (--k8s-source kube) instead of the lab's manifest
# directory: the fake API server of selftests/lib/fake_apiserver.py, run in
# the lab's VPC router namespace where the nodes reach it, and every change
# goes through its API as list and watch events.
#
# One scenario: selftests/run -f lab/test_netpol/test_ip_block
# (or SLUICE_TEST_FILTER='*ip_block*' selftests/lab/test_netpol.sh)
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

NP_SCEN=$SLUICE_TOP/selftests/lab/netpol
ORACLE=$SLUICE_TOP/selftests/lib/netpol_oracle.py
NP_TIMEOUT_MS=${NP_TIMEOUT_MS:-400}
NP_SETTLE_MS=${NP_SETTLE_MS:-3000}
NP_NODES=(node-1 node-2)
NP_SOURCE=${NP_SOURCE:-dir}
# The interpreter itself: a version manager's python3 shim can cost 0.4 s a
# start, and a check starts Python several times.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((10#$t / 1000))
}

oracle() { "$PY" "$ORACLE" "$@"; }

# The probe targets: every pod, the VPC host, and the nodes as sources only.
np_targets() {
	lab status -j | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
t = [{"name": p["namespace"] + "/" + p["name"], "netns": p["netns"], "ip": p["ip"]}
     for p in sorted(d["pods"], key=lambda p: (p["namespace"], p["name"]))]
t.append({"name": "host", "netns": d["host"]["netns"], "ip": d["host"]["ip"]})
t += [{"name": "node:" + n["name"], "netns": n["netns"], "ip": n["ip"], "dest": False}
      for n in d["nodes"]]
print(json.dumps({"timeoutMs": int(sys.argv[1]), "ports": [80, 81],
                  "protocols": ["tcp", "udp"], "targets": t}))' "$NP_TIMEOUT_MS"
}

# np_src apply|delete FILE: the objects of FILE into the cluster: the lab's
# manifest directory, or the fake API server's objects.
np_src() {
	if [[ $NP_SOURCE != kube ]]; then
		lab "$1" -f "$2" >/dev/null
		return
	fi
	ip netns exec "$LAB-vpc" "$PY" - "$1" "$2" "$NP_CTL" "$ORACLE" <<'EOF'
import importlib.util, json, sys, urllib.request
op, path, ctl, oracle = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("oracle", oracle)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
res = {"Namespace": "namespaces", "Pod": "pods", "NetworkPolicy": "networkpolicies"}
ops = [{"op": op, "resource": res[o["kind"]], "object": o} for o in m.load_objects(path)]
req = urllib.request.Request(ctl + "/objects", data=json.dumps({"ops": ops}).encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
EOF
}

# Both agents have listed everything from their source.
np_synced() {
	local n
	for n in "${NP_NODES[@]}"; do
		[[ $(json_get "$(node_ctl "$n" status -j)" 'd["k8s"]["synced"]') == True ]] || return 1
	done
}

# A lab whose agents watch a fake API server in the VPC router namespace.
np_start_kube_lab() {
	local api=$NP_TMP/api n
	mkdir -p "$api"
	cat >"$NP_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "http://198.18.0.1:6443"}}]
users: [{name: sluice, user: {token: "np-token"}}]
contexts: [{name: lab, context: {cluster: lab, user: sluice}}]
current-context: lab
EOF
	lab_start "${RUN_ID}nk" --nodes 2 --kubeconfig "$NP_TMP/kubeconfig" || return 1
	ip netns exec "$LAB-vpc" "$PY" "$SLUICE_TOP/selftests/lib/fake_apiserver.py" --dir "$api" --http \
		--bind 0.0.0.0 --port 6443 --token np-token >"$NP_TMP/apiserver.log" 2>&1 &
	NP_API_PID=$!
	for _ in $(seq 1 100); do
		[[ -s $api/server.json ]] && break
		sleep 0.1
	done
	NP_CTL=$(json_get "$(cat "$api/server.json")" 'd["control_url"]') || return 1
	# The agents started before the server and are backing off: restart
	# them so they list at once.
	for n in "${NP_NODES[@]}"; do
		lab agent stop "$n" && lab agent start "$n" || return 1
	done
	WAIT_TIMEOUT=20 wait_for np_synced
}

suite_setup() {
	local pod node pids=() pid
	NP_TMP=$(mktemp -d /tmp/sluice-netpol.XXXXXX) || return 1
	rm -rf "$SLUICE_BUILD/selftests/netpol-failures" # tables of an earlier run
	echo 0 >"$NP_TMP/runs"
	: >"$NP_TMP/tally"
	NP_T0=$(now_ms)
	if [[ $NP_SOURCE == kube ]]; then
		np_start_kube_lab || return 1
	else
		lab_start "${RUN_ID}np" --nodes 2 || return 1
	fi
	np_src apply "$NP_SCEN/grid.yaml" || return 1

	while read -r pod node; do
		pod_add "$node" "$pod" >"$NP_TMP/add.${pod/\//.}" 2>&1 &
		pids+=($!)
	done < <(oracle pods "$NP_SCEN/grid.yaml")
	for pid in "${pids[@]}"; do
		wait "$pid" || { cat "$NP_TMP"/add.*; return 1; }
	done
	np_targets >"$NP_TMP/targets.json" || return 1
	# The grid as the API server now holds it (Pods with their IPs): what a
	# relabel test re-applies to undo its relabel. The lab published the
	# IPs in its manifests as a kubelet would; an API server gets them here.
	oracle live --targets "$NP_TMP/targets.json" "$NP_SCEN/grid.yaml" >"$NP_TMP/grid-live.json" || return 1
	[[ $NP_SOURCE != kube ]] || np_src apply "$NP_TMP/grid-live.json" || return 1
	echo "setup took $(($(now_ms) - NP_T0)) ms"
}

suite_teardown() {
	[[ -n ${NP_API_PID:-} ]] && kill "$NP_API_PID" 2>/dev/null && wait "$NP_API_PID" 2>/dev/null
	lab_stop
	rm -rf "$NP_TMP"
}

# --- per-test state (each test is a subshell: it starts from the grid) -------------

NP_OPS=()         # --apply/--delete FILE..., in order: what the oracle replays
NP_STEPS=()       # the same, for humans
declare -A NP_LIVE # scenario file -> its rendered copy, applied and not deleted
NP_RELABELED=0
NP_DEFERRED=0
NP_SINCE=""       # both agents' policy.rev before the last change
NP_CHANGED_MS=0
NP_N=0

# Each agent's policy.rev, -1 where it is unknown.
np_revs() {
	local n
	for n in "${NP_NODES[@]}"; do
		node_ctl "$n" status -j 2>/dev/null || echo '{}'
	done | "$PY" -c '
import json, sys
text, dec, i, revs = sys.stdin.read(), json.JSONDecoder(), 0, []
while text[i:].strip():
    while text[i].isspace():
        i += 1
    d, i = dec.raw_decode(text, i)
    revs.append(str(d.get("policy", {}).get("rev", -1)) if isinstance(d, dict) else "-1")
print(" ".join(revs))'
}

# Both agents have moved past the revision recorded before the last change
# (or do not say: then only probing tells).
np_revs_moved() {
	local now before i
	read -ra now <<<"$(np_revs)"
	read -ra before <<<"$NP_SINCE"
	for i in "${!NP_NODES[@]}"; do
		((now[i] < 0 || now[i] > before[i])) || return 1
	done
}

np_test_name() {
	local f
	for f in "${FUNCNAME[@]}"; do
		[[ $f == test_* ]] && echo "$f" && return
	done
	echo "?"
}

np_changing() {
	NP_SINCE=$(np_revs)
	NP_CHANGED_MS=$(now_ms)
}

np_cleanup() {
	local f
	for f in "${NP_LIVE[@]}"; do
		np_src delete "$f" >/dev/null 2>&1
	done
	((NP_RELABELED)) && np_src apply "$NP_TMP/grid-live.json" >/dev/null 2>&1
	return 0
}

# np_apply FILE: FILE (under netpol/) with ${target} replaced by its IP,
# applied to the lab, remembered for the oracle.
np_apply() {
	local out
	NP_N=$((NP_N + 1))
	out=$NP_TMP/$BASHPID.$NP_N.$(basename "$1")
	oracle render --targets "$NP_TMP/targets.json" "$NP_SCEN/$1" >"$out" || fail "render $1"
	if ((!NP_DEFERRED)); then
		defer np_cleanup
		NP_DEFERRED=1
	fi
	np_changing
	np_src apply "$out" || fail "apply $1"
	NP_OPS+=(--apply "$out")
	NP_STEPS+=("apply $1")
	case $1 in
	relabel/pod-* | relabel/namespace-*) NP_RELABELED=1 ;;
	*) NP_LIVE[$1]=$out ;;
	esac
}

np_delete() {
	local out=${NP_LIVE[$1]:?"$1 was not applied"}
	np_changing
	np_src delete "$out" || fail "delete $1"
	unset "NP_LIVE[$1]"
	NP_OPS+=(--delete "$out")
	NP_STEPS+=("delete $1")
}

# Undoes the relabels: the grid's Namespaces and Pods as they were.
np_restore_grid() {
	np_changing
	np_src apply "$NP_TMP/grid-live.json" || fail "re-apply the grid"
	NP_RELABELED=0
	NP_OPS+=(--apply "$NP_TMP/grid-live.json")
	NP_STEPS+=("restore the grid's labels")
}

np_next_sport_base() {
	local n
	n=$(<"$NP_TMP/runs")
	echo $((n + 1)) >"$NP_TMP/runs"
	echo $((10000 + (n * 512) % 50000)) # 440 probes a run: no tuple reused for 97 runs
}

# np_check: the grid matches the oracle, within NP_SETTLE_MS of the last change.
np_check() {
	local grid=$NP_TMP/$BASHPID.grid.json deadline out rc tries=0 took
	((NP_CHANGED_MS)) || NP_CHANGED_MS=$(now_ms)
	deadline=$((NP_CHANGED_MS + NP_SETTLE_MS))
	# Probing before the agents have the change is wasted time, but an agent
	# that skips a revision when nothing changed for it must not stall us.
	while [[ -n $NP_SINCE ]] && ! np_revs_moved && (($(now_ms) < NP_CHANGED_MS + 1000)); do
		sleep 0.05
	done
	while :; do
		tries=$((tries + 1))
		"$TOOLS/sl-grid" -f "$NP_TMP/targets.json" -p "$(np_next_sport_base)" >"$grid" ||
			fail "sl-grid failed (step: ${NP_STEPS[*]: -1})"
		rc=0
		out=$(oracle check --grid "$grid" --max 16 --apply "$NP_TMP/grid-live.json" "${NP_OPS[@]}") || rc=$?
		((rc != 2)) || fail "oracle: $out"
		((rc != 0 && $(now_ms) < deadline)) || break
		sleep 0.05
	done
	took=$(($(now_ms) - NP_CHANGED_MS))
	echo "$(np_test_name) step ${#NP_STEPS[@]} ${out%%$'\n'*} tries $tries ms $took" >>"$NP_TMP/tally"
	((rc == 0)) && return 0
	echo "scenario: $(np_steps)"
	echo "$out"
	np_report_failure "$grid"
	fail "truth table differs ${took} ms after the change ($tries probes of the grid)"
}

np_steps() {
	local IFS=';' s
	s="${NP_STEPS[*]:-no policy}"
	echo "${s//;/; }"
}

np_report_failure() { # GRID_RESULTS: both full tables and the agents' state
	local dir=$SLUICE_BUILD/selftests/netpol-failures f n
	mkdir -p "$dir"
	f=$dir/$(np_test_name).txt
	{
		echo "scenario: $(np_steps)"
		oracle expect --grid "$1" --apply "$NP_TMP/grid-live.json" "${NP_OPS[@]}"
		for n in "${NP_NODES[@]}"; do
			echo "== $n"
			node_ctl "$n" status -j
		done
	} >"$f" 2>&1
	echo "full tables: $f"
}

# A scenario that needs nothing but its file: apply, check, delete, check.
np_scenario() {
	np_apply "$1"
	np_check
	np_delete "$1"
	np_check
}

# --- tests ---------------------------------------------------------------------------

test_oracle_self_test() {
	assert_ok "$PY" "$ORACLE" --self-test
}

test_no_policy_allows_everything() {
	np_check
}

test_default_deny_ingress() {
	np_scenario default-deny-ingress.yaml
}

test_default_deny_egress() {
	np_scenario default-deny-egress.yaml
}

test_allow_from_same_namespace() {
	np_scenario allow-same-namespace.yaml
}

test_pod_selector() {
	np_scenario pod-selector.yaml
}

test_namespace_selector() {
	np_scenario namespace-selector.yaml
}

test_pod_and_namespace_selector_in_one_peer() {
	np_scenario pod-and-namespace-selector.yaml
}

test_match_expressions_every_operator() {
	np_scenario match-expressions.yaml
}

test_empty_pod_selector_vs_empty_namespace_selector() {
	np_scenario empty-selectors.yaml
}

test_ip_block_with_except_and_pod_ips() {
	np_scenario ip-block.yaml
}

test_ports_by_number() {
	np_scenario ports-by-number.yaml
}

test_ports_by_name() {
	np_scenario ports-by-name.yaml
}

test_port_range_end_port() {
	np_scenario port-range.yaml
}

test_tcp_vs_udp() {
	np_scenario tcp-vs-udp.yaml
}

test_egress_only_policy_types() {
	np_scenario egress-only.yaml
}

test_policy_types_defaulting() {
	np_scenario policy-types-default.yaml
}

test_ingress_and_egress() {
	np_scenario ingress-and-egress.yaml
}

test_union_of_policies() {
	np_scenario union.yaml
}

test_replies_pass() {
	np_scenario replies-pass.yaml
}

test_node_reaches_its_pods_under_default_deny() {
	np_scenario node-default-deny.yaml
}

test_policy_update_in_place_and_delete() {
	np_apply update/v1.yaml
	np_check
	np_apply update/v2.yaml
	np_check
	np_delete update/v2.yaml
	unset "NP_LIVE[update/v1.yaml]" # the same object: deleted with v2
	np_check
}

test_pod_relabel_changes_verdicts() {
	np_apply relabel/policy.yaml
	np_check
	np_apply relabel/pod-yb-client.yaml
	np_check
	np_restore_grid
	np_check
	np_delete relabel/policy.yaml
	np_check
}

test_namespace_relabel_changes_verdicts() {
	np_apply relabel/policy.yaml
	np_check
	np_apply relabel/namespace-z-blue.yaml
	np_check
	np_restore_grid
	np_check
	np_delete relabel/policy.yaml
	np_check
}

run_tests
rc=$?
if [[ -n ${NP_TMP:-} ]]; then
	# tally lines: TEST step N cells C mismatches M tries T ms MS
	read -r cells checks slowest < <(awk '{ c += $5; n++ }
		$3 > 0 && $7 == 0 && ($11 > s || !seen) { s = $11; seen = 1 }
		END { print c + 0, n + 0, seen ? s : "-" }' "$NP_TMP/tally")
	summary="truth table: $cells cells in $checks checks; slowest change to matching table ${slowest} ms;"
	summary+=" suite $(($(now_ms) - NP_T0)) ms"
	echo "# $summary"
	mkdir -p "$SLUICE_BUILD/selftests" && echo "$summary" >"$SLUICE_BUILD/selftests/netpol-cells"
	rm -rf "$NP_TMP"
fi
exit $rc
