#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Rootful podman (4.3, Debian) with its CNI network backend runs containers
# on a network whose only plugin is `sluice`, pointed at a one-node lab: the
# containers become pods of the node, on VPC addresses.
#
# Nothing of the machine's own podman setup is read or written. A private
# containers.conf (CONTAINERS_CONF) and storage.conf (CONTAINERS_STORAGE_CONF)
# put everything in $RT:
#  - store, run state, tmp_dir, the CNI config dir and the plugin dir;
#  - runc's state, through a wrapper named in [engine.runtimes]; the global
#    `--runtime-flag root=` would not do: podman leaves it out of the
#    `container cleanup` command that conmon runs when a container exits,
#    and that runc then creates /run/runc;
#  - no image: containers run from a busybox rootfs (--rootfs), because any
#    image copy, `podman import` included, writes the blob-info cache
#    /var/lib/containers/cache whatever the store;
#  - cgroups under a parent of this run's own (--cgroup-parent).
# Left outside: libcni's result cache /var/lib/cni (hard-wired in podman
# 4.3), removed at the end if this run created it.
#
# Facts of podman 4.3 that shape the config: crun refuses this machine's
# hybrid cgroups, so runc; root lacks CAP_SYS_RESOURCE, so ulimits within the
# current ones; its CNI library (1.1) speaks cniVersion 1.0.0 at most and
# rejects a result interface without "mac". It calls VERSION before ADD and
# DEL, sends CNI_NETNS=/run/netns/netns-<uuid> to both and
# CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=<container name>.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"
source "$(dirname "$0")/runtime.sh"

NET=sluice-$RUN_ID
BADNET=sluice-$RUN_ID-nowhere
CGROUP_PARENT=sluice-$RUN_ID-pm

# pm_run NAME [NETWORK]: a detached container that sleeps; removed at the
# end of the test.
pm_run() {
	local name=$1 net=${2:-$NET}
	defer podman rm -f -t 0 "$name"
	podman run -d --name "$name" --network "$net" --cgroup-parent "/$CGROUP_PARENT" \
		--rootfs "$RT/rootfs" /bin/sleep 600 >/dev/null || fail "podman run $name failed"
}

pm_ip() { # NAME
	podman inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"
}

pm_id() { # NAME
	podman inspect -f '{{.Id}}' "$1"
}

# TCP between two containers: TO serves a token once; FROM reads it.
pm_tcp_ok() { # FROM TO TO_IP
	local token=tok$RANDOM$RANDOM out
	podman exec -d "$2" nc -l -p 8080 -e echo "$token" >/dev/null || return 1
	for _ in $(seq 1 50); do
		out=$(podman exec "$1" timeout 2 nc "$3" 8080 </dev/null 2>/dev/null || true)
		[[ $out == *"$token"* ]] && return 0
		sleep 0.1
	done
	return 1
}

suite_setup() {
	trap suite_teardown EXIT
	trap 'exit 143' TERM INT
	require_cmds podman runc conmon python3 || return 1
	RT=$(mktemp -d /tmp/sluice-rt-podman.XXXXXX) || return 1
	note_absent_dirs /var/lib/cni /var/lib/cni/results
	lab_start "${RUN_ID}pm" --nodes 1 || return 1
	SOCK=/run/sluice-lab/$LAB/nodes/node-1/sluiced.sock
	POD_SUBNET=$(pod_subnet) || return 1

	make_rootfs "$RT/rootfs" || return 1
	mkdir -p "$RT/cni" "$RT/bin" "$RT/tmp" "$RT/oci" || return 1
	write_recorder "$RT/bin/sluice" || return 1
	printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$(command -v runc)" "$RT/runc" >"$RT/oci/runc" &&
		chmod 0755 "$RT/oci/runc" || return 1
	printf '{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"sluice","agentSocket":"%s"}]}\n' \
		"$NET" "$SOCK" >"$RT/cni/$NET.conflist" || return 1
	printf '{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"sluice","agentSocket":"%s"}]}\n' \
		"$BADNET" "$RT/nowhere.sock" >"$RT/cni/$BADNET.conflist" || return 1
	cat >"$RT/containers.conf" <<-EOF || return 1
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
		[network]
		network_backend = "cni"
		cni_plugin_dirs = ["$RT/bin"]
		network_config_dir = "$RT/cni"
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "none"
		tmp_dir = "$RT/tmp"
		[engine.runtimes]
		runc = ["$RT/oci/runc"]
	EOF
	cat >"$RT/storage.conf" <<-EOF || return 1
		[storage]
		driver = "vfs"
		graphroot = "$RT/storage"
		runroot = "$RT/run"
	EOF
	export CONTAINERS_CONF=$RT/containers.conf CONTAINERS_STORAGE_CONF=$RT/storage.conf

	local info
	info=$(podman info --format '{{.Host.NetworkBackend}} {{.Store.GraphRoot}} {{.Host.OCIRuntime.Path}}' 2>&1) || {
		echo "podman info: $info"
		return 1
	}
	[[ $info == "cni $RT/storage $RT/oci/runc" ]] || {
		echo "podman does not use the private config: '$info'"
		return 1
	}
	podman network ls --format '{{.Name}}' | grep -qx "$NET" || {
		echo "podman does not see the network $NET in $RT/cni"
		return 1
	}
}

suite_teardown() {
	[[ -n ${_torn_down:-} ]] && return 0
	_torn_down=1
	if [[ -n ${RT:-} && -f $RT/containers.conf ]]; then
		podman rm -a -f -t 0 >/dev/null 2>&1
	fi
	lab_stop
	# what libcni cached for this run's networks, were a DEL to have failed
	rm -f /var/lib/cni/results/"$NET"-* /var/lib/cni/results/"$BADNET"-*
	remove_tree "${RT:-}"
	remove_cgroup_tree "$CGROUP_PARENT"
	remove_noted_dirs
}

test_container_gets_a_lab_ip() {
	local c=${RUN_ID}-a ip id
	pm_run "$c"
	ip=$(pm_ip "$c")
	id=$(pm_id "$c")
	assert_in_subnet "$ip" "$POD_SUBNET"
	assert_contains "$(podman exec "$c" ip -4 -o addr show eth0)" "inet $ip/32" "eth0 in the container"
	assert_eq "$(endpoint_field "$id" ip)" "$ip" "the agent's endpoint for $c"
	assert_contains "$(node_ctl node-1 endpoint list)" "$ip" "sluicectl endpoint list"
	# podman kept the result the plugin printed: the MAC is the pod's
	assert_eq "$(podman inspect -f "{{(index .NetworkSettings.Networks \"$NET\").MacAddress}}" "$c")" \
		"$(endpoint_field "$id" mac)" "MAC in podman's result"
	assert_contains "$(calls ADD "$id")" "version=1.0.0 rc=0" "ADD from podman"
	assert_contains "$(calls ADD "$id")" "netns=/run/netns/" "CNI_NETNS from podman"
}

test_container_and_vpc_host_reach_each_other() {
	local c=${RUN_ID}-b ip host token=tok$RANDOM$RANDOM
	pm_run "$c"
	ip=$(pm_ip "$c")
	host=$(host_ip)
	podman exec "$c" ping -c 1 -W 2 -q "$host" >/dev/null || fail "ping $c -> VPC host $host failed"
	assert_ping host "$ip"
	podman exec -d "$c" nc -l -p 8080 -e echo "$token" >/dev/null || fail "cannot start a server in $c"
	host_tcp_ok "$ip" 8080 "$token" || fail "TCP VPC host -> $c ($ip) failed"
}

test_two_containers_reach_each_other() {
	local a=${RUN_ID}-c b=${RUN_ID}-d ipa ipb
	pm_run "$a"
	pm_run "$b"
	ipa=$(pm_ip "$a")
	ipb=$(pm_ip "$b")
	assert_ne "$ipa" "$ipb" "the two containers' IPs"
	podman exec "$a" ping -c 1 -W 2 -q "$ipb" >/dev/null || fail "ping $a -> $b ($ipb) failed"
	podman exec "$b" ping -c 1 -W 2 -q "$ipa" >/dev/null || fail "ping $b -> $a ($ipa) failed"
	pm_tcp_ok "$a" "$b" "$ipb" || fail "TCP $a -> $b ($ipb) failed"
	pm_tcp_ok "$b" "$a" "$ipa" || fail "TCP $b -> $a ($ipa) failed"
}

test_rm_leaves_nothing() {
	local c=${RUN_ID}-e ip id netns
	pm_run "$c"
	ip=$(pm_ip "$c")
	id=$(pm_id "$c")
	netns=$(endpoint_field "$id" netns)
	[[ -e $netns ]] || fail "the endpoint's netns '$netns' does not exist"
	podman rm -f -t 0 "$c" >/dev/null
	assert_contains "$(calls DEL "$id")" "netns=$netns version=1.0.0 rc=0" "DEL from podman"
	assert_eq "$(endpoint_field "$id" ip)" "" "endpoint of the removed container"
	assert_not_contains "$(node_ctl node-1 endpoint list)" "$ip" "sluicectl endpoint list"
	assert_eq "$(node_state)" "0 0 0" "endpoints, IPs in use, sl* links in the node"
	[[ ! -e $netns ]] || fail "podman left the netns $netns"
	assert_eq "$(podman ps -a -q)" "" "containers after podman rm"
	assert_eq "$(cached_results "$NET")" "" "libcni's cached results of $NET"
}

test_unreachable_agent_fails_cleanly() {
	local c=${RUN_ID}-f out before_ns seen
	before_ns=$(ip netns list | sort)
	seen=$(wc -l <"$RT/calls.log" 2>/dev/null || echo 0)
	if out=$(podman run --rm --name "$c" --network "$BADNET" --cgroup-parent "/$CGROUP_PARENT" \
		--rootfs "$RT/rootfs" /bin/true 2>&1); then
		defer podman rm -f -t 0 "$c"
		fail "podman run on a network whose agent is not there succeeded: $out"
	fi
	assert_contains "$out" "cannot reach the sluice agent" "podman's error"
	assert_contains "$out" "$RT/nowhere.sock" "podman's error"
	# podman does not say which container ID it used: the calls since the start
	assert_contains "$(tail -n +$((seen + 1)) "$RT/calls.log" | grep '^ADD ')" "version=1.0.0 rc=1" "the failed ADD"
	assert_eq "$(podman ps -a -q)" "" "containers after the failed run"
	assert_eq "$(ip netns list | sort)" "$before_ns" "network namespaces after the failed run"
	assert_eq "$(node_state)" "0 0 0" "endpoints, IPs in use, sl* links in the node"
	assert_eq "$(cached_results "$BADNET")" "" "libcni's cached results of $BADNET"
}

run_tests
