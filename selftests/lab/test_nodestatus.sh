#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The SluiceNodeStatus each agent publishes: in a lab with the manifest
# directory as its Kubernetes source, as sluicenodestatus-NODE.json in that
# directory (which the dir source must skip quietly); with --k8s-source kube,
# on the API server (the fake one of selftests/lib/fake_apiserver.py), where
# a missing CRD is logged once and never stops the agent. In both, the object
# follows a pod add.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

PY=${PYTHON:-python3}

status_file() { echo "/run/sluice-lab/$LAB/manifests/sluicenodestatus-$1.json"; }

# jq-like access to a node's status file: status_get NODE EXPR (d = object)
status_get() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$(status_file "$1")" "$2"
}

owner_of() { # NODE IP -> the owner the status gives the IP
	status_get "$1" "''.join(ip.get('owner', '') for i in d['status']['interfaces'] for ip in i['ips'] if ip['ip'] == '$2')"
}

# The status file's pool numbers are the agent's own (sluicectl ipam show).
pool_free_agrees() { # NODE
	[[ $(status_get "$1" 'd["status"]["pool"]["free"]') == "$(json_get "$(node_ctl "$1" ipam show -j)" 'd["free"]')" ]]
}

test_dir_lab_status_files() {
	local name=${RUN_ID}ns ip cond
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 2 >/dev/null

	WAIT_TIMEOUT=20 wait_for test -s "$(status_file node-1)"
	WAIT_TIMEOUT=20 wait_for test -s "$(status_file node-2)"
	assert_eq "$(status_get node-1 'd["kind"] + " " + d["apiVersion"] + " " + d["metadata"]["name"]')" \
		"SluiceNodeStatus sluice.dev/v1alpha1 node-1" "object"
	assert_eq "$(status_get node-2 'd["status"]["instanceID"]')" node-2 "instance id"
	assert_eq "$(status_get node-1 'd["status"]["provider"]')" sim "provider"
	cond='[c["status"] for c in d["status"]["conditions"] if c["type"] == "%s"][0]'
	# shellcheck disable=SC2059
	WAIT_TIMEOUT=20 wait_for_eq True status_get node-1 "$(printf "$cond" Ready)"
	# shellcheck disable=SC2059
	assert_eq "$(status_get node-1 "$(printf "$cond" CloudReachable)")" True "CloudReachable"
	WAIT_TIMEOUT=20 wait_for pool_free_agrees node-1
	# The node's primary interface is never one of Sluice's.
	assert_eq "$(status_get node-1 'sorted(set(i["state"] for i in d["status"]["interfaces"]))')" "['adopted']"
	assert_eq "$(status_get node-1 '[i for i in d["status"]["interfaces"] if i["name"] == "eth0"]')" "[]"

	ip=$(pod_add node-1 web/p1)
	WAIT_TIMEOUT=10 wait_for_eq web/p1 owner_of node-1 "$ip"
	assert_eq "$(owner_of node-2 "$ip")" "" "node-2 knows nothing of node-1's pod"
	lab pod del web/p1
	WAIT_TIMEOUT=10 wait_for_eq "" owner_of node-1 "$ip"

	# The manifest directory holds the files, yet no agent reads or rejects them.
	assert_not_contains "$(cat /run/sluice-lab/"$name"/nodes/*/sluiced.log)" "rejected;"
	assert_not_contains "$(cat /run/sluice-lab/"$name"/nodes/*/sluiced.log)" "sluicenodestatus-"
	assert_eq "$(json_get "$(node_ctl node-1 status -j)" 'd["ready"]')" True "agent ready"
}

# A lab whose agents use a fake API server in the VPC router namespace.
kube_lab() { # NAME TMP
	local name=$1 tmp=$2 n
	mkdir -p "$tmp/api"
	cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "http://198.18.0.1:6443"}}]
users: [{name: sluice, user: {token: "ns-token"}}]
contexts: [{name: lab, context: {cluster: lab, user: sluice}}]
current-context: lab
EOF
	lab_start "$name" --nodes 1 --kubeconfig "$tmp/kubeconfig" >/dev/null || return 1
	ip netns exec "$name-vpc" "$PY" "$SLUICE_TOP/selftests/lib/fake_apiserver.py" --dir "$tmp/api" --http \
		--bind 0.0.0.0 --port 6443 --token ns-token >"$tmp/apiserver.log" 2>&1 &
	echo $! >"$tmp/api.pid"
	for _ in $(seq 1 100); do
		[[ -s $tmp/api/server.json ]] && break
		sleep 0.1
	done
	[[ -s $tmp/api/server.json ]]
}

api_ctl() { # METHOD PATH [JSON]: the fake API server's control endpoint
	ip netns exec "$LAB-vpc" python3 - "$CTL" "$@" <<'EOF'
import json, sys, urllib.request
ctl, method, path = sys.argv[1:4]
data = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(ctl + path, data=data, method=method)
print(urllib.request.urlopen(req, timeout=10).read().decode())
EOF
}

cr_get() { # EXPR on the node-1 object in the API server (d = object, "" when absent)
	api_ctl GET /crs | python3 -c '
import json, sys
d = json.load(sys.stdin)["sluicenodestatuses"].get("node-1")
print(eval(sys.argv[1]) if d else "")' "$1"
}

agent_log() { cat "/run/sluice-lab/$LAB/nodes/node-1/sluiced.log"; }

test_kube_source_status_object() {
	local name=${RUN_ID}nk tmp ip
	tmp=$(mktemp -d /tmp/sluice-nodestatus.XXXXXX)
	LAB=$name
	defer rm -rf "$tmp"
	defer "$SLUICECTL" lab down --name "$name"
	defer sh -c "kill \$(cat '$tmp/api.pid') 2>/dev/null"
	kube_lab "$name" "$tmp" || fail "kube lab: $(cat "$tmp/apiserver.log")"
	CTL=$(json_get "$(cat "$tmp/api/server.json")" 'd["control_url"]')

	# No CRD yet: said once, and the agent runs on.
	api_ctl POST /config '{"crd": false}' >/dev/null
	lab agent stop node-1
	lab agent start node-1
	WAIT_TIMEOUT=20 wait_for grep -q "CRD is not installed" "/run/sluice-lab/$LAB/nodes/node-1/sluiced.log"
	sleep 2
	assert_eq "$(agent_log | grep -c "CRD is not installed")" 1 "warnings about the missing CRD"
	assert_eq "$(json_get "$(node_ctl node-1 status -j)" 'd["ready"]')" True "agent ready without the CRD"
	assert_eq "$(cr_get 'd')" "" "object without a CRD"

	# With the CRD (a restart instead of waiting for the slow retry).
	api_ctl POST /config '{"crd": true}' >/dev/null
	lab agent stop node-1
	lab agent start node-1
	WAIT_TIMEOUT=20 wait_for test -n "$(cr_get 'd["metadata"]["name"]')"
	assert_eq "$(cr_get 'd["kind"]')" SluiceNodeStatus "kind"
	assert_eq "$(cr_get 'd["status"]["instanceID"]')" node-1 "instance id"
	assert_eq "$(cr_get 'len(d["status"]["conditions"])')" 3 "conditions"

	# A pod: its Pod object first (the agent waits for its labels), then the ADD.
	api_ctl POST /objects '{"ops": [
		{"op": "apply", "resource": "namespaces", "object": {"metadata": {"name": "web"}}},
		{"op": "apply", "resource": "pods", "object": {"metadata": {"name": "p1", "namespace": "web"},
		 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]}}}]}' >/dev/null
	ip=$(pod_add node-1 web/p1)
	WAIT_TIMEOUT=10 wait_for_eq web/p1 cr_get "''.join(ip.get('owner', '') for i in d['status']['interfaces'] for ip in i['ips'] if ip['ip'] == '$ip')"
	# Replaced in place (PUT with its resourceVersion), not re-created.
	assert_eq "$(api_ctl GET /stats | python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
print(sum(1 for x in r if x["resource"] == "sluicenodestatuses" and x["verb"] == "update" and x["status"] == 200) > 0,
      sum(1 for x in r if x["resource"] == "sluicenodestatuses" and x["verb"] == "create" and x["status"] == 201))')" \
		"True 1" "replaces after one create"
	lab pod del web/p1
}

run_tests
