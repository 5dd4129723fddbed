# SPDX-License-Identifier: Apache-2.0
#
# A one-node lab whose agent runs the real `openstack` provider against a REAL
# Keystone and Neutron and the fake Nova (neutron.sh), sourced after
# testlib.sh, lab.sh and cloud_lib.sh by test_openstack_agent.sh.
#
# Keystone, Neutron and Nova listen on the host's 127.0.0.1; the agent lives
# in the node's namespace. ns_proxy.py listens in the lab's router namespace
# (the node reaches it at its gateway, 198.18.0.1) and forwards to them,
# counting the agent's calls and injecting faults on request. The pod network
# is a Neutron network with the subnet 198.18.32.0/20 (gateway 198.18.32.1);
# the fake Nova plugs each attached port as a veth with the port's MAC into
# the node and routes its fixed IPs in the router namespace, so pods reach the
# lab's VPC host for real.
#
#   os_harness_up           start neutron.sh in a new directory (SLUICE_OS_ENV=DIR/env reuses one)
#   os_harness_down
#   os_lab_up NAME          the lab, the proxy, the pod network, the fake Nova server
#   os_lab_down
#   os_agent_start [ARG]... (re)start node-1's agent with the openstack flags
#   proxy GET|POST|DELETE PATH [JSON]   the proxy's control API
#   os_cloud_calls          Keystone + Neutron + Nova requests of the agent so far
#   os_accounting           "ok" or the differences (os_account.py)

OS_GW=198.18.0.1
OS_HARNESS_DIR=""
OS_HARNESS_OURS=0
OS_PROXY_PID=""

os_harness_up() {
	if [[ -n ${SLUICE_OS_ENV:-} ]]; then
		OS_HARNESS_DIR=$(dirname "$SLUICE_OS_ENV")
	else
		OS_HARNESS_DIR=$(mktemp -u /tmp/sluice-cloudt-os-XXXXXX)
		OS_HARNESS_OURS=1
		"$SLUICE_TOP/selftests/cloud/neutron.sh" start "$OS_HARNESS_DIR" || return 1
	fi
	# Not exported: the agent must take its credentials from clouds.yaml alone.
	# shellcheck disable=SC1091
	source "$OS_HARNESS_DIR/env"
}

os_harness_down() {
	((OS_HARNESS_OURS)) && "$SLUICE_TOP/selftests/cloud/neutron.sh" stop "$OS_HARNESS_DIR"
	OS_HARNESS_OURS=0
}

ks_token() { # USER PASSWORD PROJECT
	curl -sf -i -X POST "$OS_AUTH_URL/auth/tokens" -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"name\":\"Default\"},\"password\":\"$2\"}}},\"scope\":{\"project\":{\"name\":\"$3\",\"domain\":{\"name\":\"Default\"}}}}}" |
		awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}

neutron() { # METHOD PATH [JSON], as admin
	local args=(-sf --max-time 60 -X "$1" "$NEUTRON_URL/v2.0$2" -H "X-Auth-Token: $OS_ADMIN_TOKEN")
	[[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' -d "$3")
	curl "${args[@]}"
}

proxy() { # METHOD PATH [JSON]
	local args=(-s -S --max-time 20 -X "$1" "http://127.0.0.1:$PX_KS$2")
	[[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' -d "$3")
	ip netns exec "$LAB-vpc" curl "${args[@]}"
}

os_lab_up() { # NAME [AGENT-ARGS...]
	local name=$1 tok
	shift
	CLOUD_DIR=$(mktemp -d /tmp/sluice-cloudt-XXXXXX)
	lab_start "$name" --nodes 1 >/dev/null || return 1
	lab agent stop node-1 >/dev/null || return 1
	# The sim agent's interface is not the openstack agent's business: remove it.
	lab node exec node-1 -- sh -c 'for l in $(ls /sys/class/net | grep "^eni"); do ip link del $l; done'
	rm -f "/run/sluice-lab/$name/nodes/node-1/state/checkpoint.json"

	setsid python3 "$SLUICE_TOP/selftests/cloud/ns_proxy.py" --netns "$name-vpc" --seed 7 \
		--service "ks=$KS_PORT" --service "nt=$NT_PORT" --service "nova=$NOVA_PORT" \
		--ready-file "$CLOUD_DIR/proxy.ready" >"$CLOUD_DIR/proxy.log" 2>&1 </dev/null &
	OS_PROXY_PID=$!
	disown "$OS_PROXY_PID"
	for _ in $(seq 1 100); do [[ -s $CLOUD_DIR/proxy.ready ]] && break; sleep 0.05; done
	[[ -s $CLOUD_DIR/proxy.ready ]] || { cat "$CLOUD_DIR/proxy.log" >&2; return 1; }
	PX_KS=$(sed -n 's/^ks=//p' "$CLOUD_DIR/proxy.ready")
	PX_NT=$(sed -n 's/^nt=//p' "$CLOUD_DIR/proxy.ready")
	PX_NOVA=$(sed -n 's/^nova=//p' "$CLOUD_DIR/proxy.ready")

	OS_ADMIN_TOKEN=$(ks_token admin adminpw admin)
	tok=$(ks_token cni cnipw demo)
	[[ -n $tok && -n $OS_ADMIN_TOKEN ]] || return 1
	OS_NET=$(curl -sf -X POST "$NEUTRON_URL/v2.0/networks" -H "X-Auth-Token: $tok" -H 'Content-Type: application/json' \
		-d "{\"network\":{\"name\":\"$name-pods\"}}" | json_stdin '["network"]["id"]') || return 1
	OS_SUBNET=$(curl -sf -X POST "$NEUTRON_URL/v2.0/subnets" -H "X-Auth-Token: $tok" -H 'Content-Type: application/json' \
		-d "{\"subnet\":{\"network_id\":\"$OS_NET\",\"name\":\"$name-pods\",\"cidr\":\"198.18.32.0/20\",\"gateway_ip\":\"198.18.32.1\",\"ip_version\":4,\"enable_dhcp\":false}}" |
		json_stdin '["subnet"]["id"]') || return 1
	OS_SERVER=$(python3 -c 'import uuid; print(uuid.uuid4())')
	curl -sf -o /dev/null -X POST "$NOVA_URL/_fake/servers" \
		-d "{\"id\":\"$OS_SERVER\",\"host\":\"node-1\",\"netns\":\"$name-node-1\",\"router_netns\":\"$name-vpc\"}" || return 1
	cat >"$CLOUD_DIR/clouds.yaml" <<EOF
clouds:
  lab:
    auth:
      auth_url: http://$OS_GW:$PX_KS/v3
      username: cni
      password: cnipw
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
EOF
	os_agent_start "$@"
}

json_stdin() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

os_agent_start() { # [ARGS...]
	lab agent stop node-1 >/dev/null 2>&1 || true
	lab agent start node-1 -- --provider openstack --os-clouds-yaml "$CLOUD_DIR/clouds.yaml" --os-cloud lab \
		--os-network-url "http://$OS_GW:$PX_NT" --os-compute-url "http://$OS_GW:$PX_NOVA/v2.1" \
		--instance-id "$OS_SERVER" --pod-subnet "$OS_SUBNET" "$@" >/dev/null ||
		{ tail -n 5 "/run/sluice-lab/$LAB/nodes/node-1/sluiced.log" >&2; return 1; }
	WAIT_TIMEOUT=30 wait_for agent_ready node-1
}

agent_ready() { node_ctl "$1" ipam show -j >/dev/null; }

os_lab_down() {
	local p
	[[ -n ${LAB:-} ]] && "$SLUICECTL" lab down --name "$LAB" >/dev/null 2>&1
	if [[ -n $OS_PROXY_PID ]]; then
		kill "$OS_PROXY_PID" 2>/dev/null
		OS_PROXY_PID=""
	fi
	if [[ -n ${OS_SERVER:-} ]]; then
		curl -s -o /dev/null -X DELETE "$NOVA_URL/_fake/servers/$OS_SERVER"
		# what the agent left (the accounting says whether it should have)
		for p in $(neutron GET "/ports?network_id=$OS_NET&fields=id" |
			python3 -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin)["ports"]]'); do
			neutron DELETE "/ports/$p" >/dev/null
		done
		neutron DELETE "/networks/$OS_NET" >/dev/null
	fi
	OS_SERVER=""
	[[ -n ${CLOUD_DIR:-} && -d $CLOUD_DIR ]] && rm -rf "$CLOUD_DIR"
	return 0
}

os_cloud_calls() {
	proxy GET /_proxy/stats | json_stdin '["requests"]'
}

os_accounting() {
	neutron GET "/ports?network_id=$OS_NET" >"$CLOUD_DIR/ports.json" || { echo "neutron port list failed"; return 0; }
	node_ctl node-1 ipam show -j >"$CLOUD_DIR/ipam.json" || { echo "ipam show failed"; return 0; }
	lab node exec node-1 -- ip -j link show >"$CLOUD_DIR/links.json"
	lab status -j >"$CLOUD_DIR/status.json"
	python3 "$SLUICE_TOP/selftests/cloud/os_account.py" "$CLOUD_DIR/ports.json" "$CLOUD_DIR/status.json" \
		node-1 "$OS_SERVER" "$CLOUD_DIR/ipam.json" "$CLOUD_DIR/links.json"
}

os_accounting_ok() { [[ $(os_accounting) == ok ]]; }

assert_os_accounted() { # TIMEOUT_S
	local deadline=$((SECONDS + $1)) out
	while :; do
		out=$(os_accounting)
		[[ $out == ok ]] && return 0
		((SECONDS < deadline)) || fail "Neutron vs agent after ${1}s: $out"
		sleep 1
	done
}

os_count() { # -> "PORTS POD-IPS" of the node in Neutron
	neutron GET "/ports?network_id=$OS_NET" | python3 -c '
import json, sys
ports = json.load(sys.stdin)["ports"]
n = sum(len(p["fixed_ips"]) - 1 for p in ports)
print(len(ports), n)'
}
