#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# containerd 1.6 (Debian) started by this suite with a private config (root,
# state and sockets in $RT), and `ctr run --cni` as the client: its
# containers become pods of a one-node lab.
#
# What ctr 1.6 does, from cmd/ctr/commands/run/run.go and go-cni v1.1.6:
#  - `gocni.New(gocni.WithDefaultConf)` with no way to point it elsewhere (no
#    flag, no environment): configs from /etc/cni/net.d, plugins from
#    /opt/cni/bin (Debian's build also searches /usr/lib/cni: CNI_PATH is
#    "/opt/cni/bin:/usr/lib/cni"). It loads ONE network, the first of the
#    *.conf, *.conflist and *.json files in byte order (sort.Strings), and
#    calls its interface eth0. So this suite places a conflist that sorts
#    first and a plugin, both with names unique to the run, refuses to
#    overwrite anything, and removes exactly those two files at the end.
#  - ADD gets CNI_NETNS=/proc/PID/ns/net of the task, before the task starts.
#  - DEL comes only from a foreground `ctr run` (the deferred cleanup in
#    run.go, after the task exited, so the netns is gone): network.Remove(ctx,
#    id, "") sends an EMPTY CNI_NETNS. `ctr run --detach`, `ctr task kill`
#    and `ctr container rm` never call DEL. go-cni drops a DEL error that
#    says "not found" and ctr only logs the others, so the plugin's exit
#    status is read from the recorder (runtime.sh), not from ctr.
#  - CNI_CONTAINERID is "<namespace>-<container id>"; no CNI_ARGS.
#  - The containers run from a busybox rootfs (`ctr run --rootfs`): no image.
#  - Left outside $RT by the runtime, removed at the end if this run created
#    them: libcni's result cache /var/lib/cni and the shim socket directory
#    /run/containerd/s (hard-wired in runtime/v2/shim/util_unix.go). ctr's
#    FIFO dir and runc's root are moved into $RT with --fifo-dir and
#    --runc-root.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"
source "$(dirname "$0")/runtime.sh"

NET=sluice-$RUN_ID
CNS=sluice-$RUN_ID # containerd namespace
CGROUP_PARENT=sluice-$RUN_ID-ctd
CNI_CONF=/etc/cni/net.d/00-$NET.conflist
CNI_PLUGIN=/opt/cni/bin/$NET
_placed=()

c_ctr() { ctr --address "$RT/containerd.sock" --namespace "$CNS" "$@"; }

# place SRC DEST: copies SRC to DEST only if DEST does not exist (O_EXCL
# through noclobber), and remembers DEST for removal.
place() {
	mkdir -p "$(dirname "$2")" || return 1
	if ! (set -C && cat "$1" >"$2") 2>/dev/null; then
		echo "$2 exists already: not overwriting it" >&2
		return 1
	fi
	_placed+=("$2")
	chmod --reference="$1" "$2"
}

# The config ctr will load: the first file of the CNI config dir in Go's
# sort order, with libcni's extensions.
first_cni_conf() {
	python3 -c '
import os, sys
d = "/etc/cni/net.d"
files = sorted(os.path.join(d, f) for f in os.listdir(d)
               if not os.path.isdir(os.path.join(d, f))
               and os.path.splitext(f)[1] in (".conf", ".conflist", ".json"))
print(files[0] if files else "")'
}

pid_running() { # PID: alive and not a zombie
	[[ -e /proc/$1/stat ]] && [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]
}

wait_pid_gone() { # PID SECONDS
	local deadline=$((SECONDS + $2))
	while pid_running "$1"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# ctr_start ID CMD...: `ctr run --cni` in the foreground mode, as a job of
# this shell; sets CTR_PID. Stopped (and DEL run) when the test ends.
ctr_start() {
	local id=$1
	shift
	c_ctr run --rm --cni --rootfs --fifo-dir "$RT/fifo" --runc-root "$RT/runc" \
		--cgroup "/$CGROUP_PARENT/$id" --env PATH=/bin \
		"$RT/rootfs" "$id" "$@" </dev/null >"$RT/$id.out" 2>&1 &
	CTR_PID=$!
	echo "$CTR_PID" >>"$RT/ctr.pids"
	defer ctr_stop "$id" "$CTR_PID"
}

# Kills the task, which ends the foreground ctr (DEL, task and container
# removal); the client is killed by PID only if it hangs.
ctr_stop() { # ID PID
	c_ctr task kill -s SIGKILL "$1"
	wait_pid_gone "$2" 15 || kill -KILL "$2"
	wait "$2"
	c_ctr task rm -f "$1"
	c_ctr container rm "$1"
}

cexec() { # ID CMD...
	local id=$1
	shift
	c_ctr task exec --fifo-dir "$RT/fifo" --exec-id "x$RANDOM$RANDOM" "$id" "$@" </dev/null
}

has_endpoint() { [[ -n $(endpoint_field "$1" ip) ]]; }

task_pid() { # ID
	c_ctr task ls | awk -v id="$1" '$1 == id { print $2 }'
}

suite_setup() {
	trap suite_teardown EXIT
	trap 'exit 143' TERM INT
	require_cmds containerd ctr containerd-shim-runc-v2 runc python3 || return 1
	RT=$(mktemp -d /tmp/sluice-rt-ctd.XXXXXX) || return 1
	note_absent_dirs /etc/cni /etc/cni/net.d /opt/cni /opt/cni/bin \
		/var/lib/cni /var/lib/cni/results /run/containerd /run/containerd/s
	lab_start "${RUN_ID}ctd" --nodes 1 || return 1
	SOCK=/run/sluice-lab/$LAB/nodes/node-1/sluiced.sock
	POD_SUBNET=$(pod_subnet) || return 1
	make_rootfs "$RT/rootfs" || return 1

	write_recorder "$RT/plugin" || return 1
	printf '{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"%s","agentSocket":"%s"}]}\n' \
		"$NET" "$NET" "$SOCK" >"$RT/conflist" || return 1
	place "$RT/plugin" "$CNI_PLUGIN" || return 1
	place "$RT/conflist" "$CNI_CONF" || return 1
	local first
	first=$(first_cni_conf)
	if [[ $first != "$CNI_CONF" ]]; then
		echo "ctr loads only the first CNI config, and that is $first, not $CNI_CONF"
		return 1
	fi

	cat >"$RT/config.toml" <<-EOF || return 1
		version = 2
		root = "$RT/root"
		state = "$RT/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$RT/containerd.sock"
		[ttrpc]
		  address = "$RT/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$RT/opt"
	EOF
	containerd --config "$RT/config.toml" >"$RT/containerd.log" 2>&1 &
	CTD_PID=$!
	for _ in $(seq 1 100); do
		ctr --address "$RT/containerd.sock" version >/dev/null 2>&1 && return 0
		pid_running "$CTD_PID" || break
		sleep 0.1
	done
	echo "containerd did not come up:"
	tail -n 20 "$RT/containerd.log"
	return 1
}

suite_teardown() {
	[[ -n ${_torn_down:-} ]] && return 0
	_torn_down=1
	local id pid f
	if [[ -n ${CTD_PID:-} ]] && pid_running "$CTD_PID"; then
		for id in $(c_ctr task ls -q 2>/dev/null); do
			c_ctr task kill -s SIGKILL "$id"
			c_ctr task rm -f "$id"
		done
		for id in $(c_ctr container ls -q 2>/dev/null); do
			c_ctr container rm "$id"
		done
	fi
	# ctr clients a failed test left behind: ours by PID, checked against
	# the command line so a reused PID is left alone
	while read -r pid; do
		{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$RT/" && kill -KILL "$pid"
	done < <(cat "${RT:-/nonexistent}/ctr.pids" 2>/dev/null)
	if [[ -n ${CTD_PID:-} ]]; then
		kill -TERM "$CTD_PID" 2>/dev/null
		wait_pid_gone "$CTD_PID" 10 || kill -KILL "$CTD_PID"
		wait "$CTD_PID"
	fi
	# shims of this containerd (their command line names its socket)
	for f in /proc/[0-9]*/cmdline; do
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "-address $RT/containerd.sock" &&
			kill -KILL "$(basename "$(dirname "$f")")"
	done
	lab_stop
	for f in "${_placed[@]}"; do
		rm -f "$f"
	done
	_placed=()
	# what libcni cached for this run's network, were a DEL to have failed
	rm -f /var/lib/cni/results/"$NET"-*
	remove_tree "${RT:-}"
	remove_cgroup_tree "$CGROUP_PARENT"
	remove_noted_dirs
}

test_container_gets_a_lab_ip_and_reaches_the_vpc_host() {
	local c=c1 ip pid host token=tok$RANDOM$RANDOM
	ctr_start "$c" /bin/sh -c "while :; do nc -l -p 8080 -e echo $token; done"
	WAIT_TIMEOUT=15 wait_for has_endpoint "$CNS-$c"
	ip=$(endpoint_field "$CNS-$c" ip)
	assert_in_subnet "$ip" "$POD_SUBNET"
	pid=$(task_pid "$c")
	assert_eq "$(endpoint_field "$CNS-$c" netns)" "/proc/$pid/ns/net" "the netns ctr gave"
	assert_contains "$(calls ADD "$CNS-$c")" "netns=/proc/$pid/ns/net version=1.0.0 rc=0" "ADD from ctr"
	assert_contains "$(cexec "$c" ip -4 -o addr show eth0)" "inet $ip/32" "eth0 in the container"
	assert_contains "$(node_ctl node-1 endpoint list)" "$ip" "sluicectl endpoint list"
	host=$(host_ip)
	cexec "$c" ping -c 1 -W 2 -q "$host" >/dev/null || fail "ping container -> VPC host $host failed"
	assert_ping host "$ip"
	host_tcp_ok "$ip" 8080 "$token" || fail "TCP VPC host -> container ($ip) failed"
}

test_container_removal_leaves_nothing() {
	local c=c2 ip rc=0
	ctr_start "$c" /bin/sleep 600
	WAIT_TIMEOUT=15 wait_for has_endpoint "$CNS-$c"
	ip=$(endpoint_field "$CNS-$c" ip)
	assert_ping host "$ip"
	c_ctr task kill -s SIGKILL "$c"
	wait_pid_gone "$CTR_PID" 15 || fail "ctr run did not end after its task was killed"
	wait "$CTR_PID" || rc=$?
	assert_eq "$rc" 137 "exit status of ctr run (the task's)"
	assert_not_contains "$(cat "$RT/$c.out")" "network review" "ctr's output"
	assert_eq "$(calls DEL "$CNS-$c")" "DEL id=$CNS-$c netns= version=1.0.0 rc=0" "DEL from ctr"
	assert_eq "$(endpoint_field "$CNS-$c" ip)" "" "endpoint of the removed container"
	assert_not_contains "$(node_ctl node-1 endpoint list)" "$ip" "sluicectl endpoint list"
	assert_eq "$(node_state)" "0 0 0" "endpoints, IPs in use, sl* links in the node"
	assert_not_contains "$(c_ctr container ls -q)" "$c" "containers after ctr run --rm"
	assert_eq "$(cached_results "$NET")" "" "libcni's cached results of $NET"
}

test_short_lived_container() {
	# ADD, the task runs and exits at once, DEL: ctr run returns the task's status
	local c=c3 out ip
	out=$(c_ctr run --rm --cni --rootfs --fifo-dir "$RT/fifo" --runc-root "$RT/runc" \
		--cgroup "/$CGROUP_PARENT/$c" --env PATH=/bin "$RT/rootfs" "$c" \
		/bin/sh -c 'ip -4 -o addr show eth0' </dev/null 2>&1) || fail "ctr run failed: $out"
	defer c_ctr container rm "$c"
	ip=$(echo "$out" | sed -n 's|.* inet \([0-9.]*\)/32 .*|\1|p')
	assert_in_subnet "${ip:-none}" "$POD_SUBNET"
	assert_contains "$(calls ADD "$CNS-$c")" "rc=0" "ADD from ctr"
	assert_eq "$(calls DEL "$CNS-$c")" "DEL id=$CNS-$c netns= version=1.0.0 rc=0" "DEL from ctr"
	assert_eq "$(node_state)" "0 0 0" "endpoints, IPs in use, sl* links in the node"
}

run_tests
