# SPDX-License-Identifier: Apache-2.0
#
# A lab whose node agents run the real `ibm` provider against fake-ibm
# (sourced after testlib.sh and lab.sh by selftests/cloud/test_ibm_agent.sh).
#
# fake-ibm runs on top of the lab's sim state, in the lab's router namespace
# (LAB-vpc), on 0.0.0.0: every node reaches it at its subnet's gateway
# (198.18.0.1), so the agents talk TCP to "the cloud" as they would in a VPC.
# The lab's own sim agents attach one interface at start; they are stopped
# and that attachment is deleted through the fake's API before the agents come
# back with `--provider ibm`, so the cloud holds only what the ibm agents make.
#
#   ibm_lab_up NAME NODES [--fake ARG]... [AGENT-ARG]...
#   fake GET|POST|DELETE PATH [JSON]      the fake's API (control or VPC)
#   ibm_agent_start NODE [AGENT-ARG]...   (re)start a node's agent with the ibm flags
#   ibm_cloud_calls                       VPC + IAM requests so far (control API excluded)
#   ibm_accounting NODE...                prints "ok" or what differs between the
#                                         cloud and the agents (see ibm_account.py)

IBM_GW=198.18.0.1
IBM_FAKE_PID=""
IBM_PORT=""
CLOUD_DIR=""

fake() { # METHOD PATH [JSON]
	local args=(-s -S --max-time 20 -X "$1" "http://127.0.0.1:$IBM_PORT$2")
	[[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' -d "$3")
	ip netns exec "$LAB-vpc" curl "${args[@]}"
}

ibm_token() {
	ip netns exec "$LAB-vpc" curl -s -S --max-time 10 -X POST "http://127.0.0.1:$IBM_PORT/identity/token" \
		-d 'grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=test-api-key' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# The agent arguments of the ibm provider for NODE (instance id = node name).
ibm_agent_args() {
	echo --provider ibm --ibm-vpc-url "http://$IBM_GW:$IBM_PORT/v1" --ibm-iam-url "http://$IBM_GW:$IBM_PORT" \
		--ibm-api-key-file "$CLOUD_DIR/apikey" --instance-id "$1" --pod-subnet subnet-pods
}

ibm_agent_start() { # NODE [ARGS...]
	local node=$1
	shift
	lab agent stop "$node" >/dev/null 2>&1 || true
	# shellcheck disable=SC2046
	lab agent start "$node" -- $(ibm_agent_args "$node") "$@" >/dev/null ||
		{ tail -n 5 "/run/sluice-lab/$LAB/nodes/$node/sluiced.log" >&2; return 1; }
	WAIT_TIMEOUT=30 wait_for agent_ready "$node"
}

agent_ready() {
	node_ctl "$1" ipam show -j >/dev/null
}

ibm_fake_stop() {
	if [[ -n $IBM_FAKE_PID ]]; then
		kill "$IBM_FAKE_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$IBM_FAKE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$IBM_FAKE_PID" 2>/dev/null
	fi
	IBM_FAKE_PID=""
	[[ -n $CLOUD_DIR && -d $CLOUD_DIR ]] && rm -rf "$CLOUD_DIR"
	CLOUD_DIR=""
	return 0
}

ibm_lab_down() {
	[[ -n ${LAB:-} ]] && "$SLUICECTL" lab down --name "$LAB" >/dev/null 2>&1
	ibm_fake_stop
}

ibm_lab_up() { # NAME NODES [--fake ARG]... [AGENT-ARGS...]
	local name=$1 nodes=$2 fake_args=() i node tok att
	shift 2
	while [[ ${1:-} == --fake ]]; do
		fake_args+=("$2")
		shift 2
	done
	lab_start "$name" --nodes "$nodes" >/dev/null || return 1
	for i in $(seq 1 "$nodes"); do lab agent stop "node-$i" >/dev/null || return 1; done
	CLOUD_DIR=$(mktemp -d /tmp/sluice-cloudt-XXXXXX)
	printf 'test-api-key' >"$CLOUD_DIR/apikey"
	chmod 600 "$CLOUD_DIR/apikey"
	setsid "$TOOLS/fake-ibm" --sim-state "/run/sluice-lab/$name/vpc.json" --netns "$name-vpc" \
		--listen 0.0.0.0:0 --ready-file "$CLOUD_DIR/ready" "${fake_args[@]}" \
		>"$CLOUD_DIR/fake-ibm.log" 2>&1 </dev/null &
	IBM_FAKE_PID=$!
	disown "$IBM_FAKE_PID" # not a job: `wait -n` in the tests must not wait for it
	for _ in $(seq 1 100); do [[ -s $CLOUD_DIR/ready ]] && break; sleep 0.05; done
	IBM_PORT=$(cat "$CLOUD_DIR/ready" 2>/dev/null)
	[[ -n $IBM_PORT ]] || { cat "$CLOUD_DIR/fake-ibm.log" >&2; return 1; }
	# Remove what the sim agents attached: the ibm agents start from a clean cloud.
	tok=$(ibm_token) || return 1
	for att in $(fake GET /fake/inventory | python3 -c '
import json, sys
for a in json.load(sys.stdin)["network_attachments"]:
    if a["name"].startswith("sim-"):
        print(a["instance"] + "/" + a["id"])'); do
		ip netns exec "$LAB-vpc" curl -s -S -o /dev/null -X DELETE -H "Authorization: Bearer $tok" \
			"http://127.0.0.1:$IBM_PORT/v1/instances/${att%/*}/network_attachments/${att#*/}?version=2025-12-16&generation=2" ||
			return 1
	done
	WAIT_TIMEOUT=10 wait_for no_sim_attachments || return 1
	for i in $(seq 1 "$nodes"); do
		# A fresh agent: the sim's checkpoint names interfaces that are gone.
		rm -f "/run/sluice-lab/$name/nodes/node-$i/state/checkpoint.json"
		ibm_agent_start "node-$i" "$@" || return 1
	done
}

no_sim_attachments() {
	[[ $(fake GET /fake/inventory | python3 -c '
import json, sys
print(sum(a["name"].startswith("sim-") for a in json.load(sys.stdin)["network_attachments"]))') == 0 ]]
}

ibm_cloud_calls() {
	fake GET /fake/stats | python3 -c '
import json, sys
r = json.load(sys.stdin)["routes"]
print(sum(n for k, n in r.items() if " /fake/" not in k and " /test/" not in k))'
}

ibm_accounting() { # NODE...
	local node args=()
	fake GET /fake/inventory >"$CLOUD_DIR/inventory.json"
	for node in "$@"; do
		node_ctl "$node" ipam show -j >"$CLOUD_DIR/ipam-$node.json" || { echo "ipam show on $node failed"; return 0; }
		lab node exec "$node" -- ip -j link show >"$CLOUD_DIR/links-$node.json"
		args+=("$node" "$CLOUD_DIR/ipam-$node.json" "$CLOUD_DIR/links-$node.json")
	done
	lab status -j >"$CLOUD_DIR/status.json"
	python3 "$SLUICE_TOP/selftests/cloud/ibm_account.py" "$CLOUD_DIR/inventory.json" "$CLOUD_DIR/status.json" "${args[@]}"
}

accounting_ok() { [[ $(ibm_accounting "$@") == ok ]]; }

# Waits until the cloud and the agents agree, or fails with what differs.
assert_accounted() { # TIMEOUT_S NODE...
	local t=$1 deadline out
	shift
	deadline=$((SECONDS + t))
	while :; do
		out=$(ibm_accounting "$@")
		[[ $out == ok ]] && return 0
		((SECONDS < deadline)) || fail "cloud vs agents after ${t}s: $out"
		sleep 0.5
	done
}
