# SPDX-License-Identifier: Apache-2.0
#
# Helpers for the suites in which a real container runtime invokes the
# plugin (sourced after testlib.sh and lab.sh). Each suite works in one
# temporary directory, $RT, that holds everything it creates except what the
# runtime insists on placing elsewhere; what it places elsewhere is noted
# here and removed by name.

# require_cmds CMD... : fails naming what is missing and how to get it.
require_cmds() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	((${#missing[@]} == 0)) && return 0
	echo "missing commands: ${missing[*]} (install the test packages: mk/deps.sh test)" >&2
	return 1
}

# A container root filesystem with no image: Debian's busybox-static (the
# dynamic busybox would find no libc in it) and a link per applet.
make_rootfs() { # DIR
	local dir=$1 a
	if [[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) != "install ok installed" ]]; then
		echo "busybox-static is not installed (mk/deps.sh test)" >&2
		return 1
	fi
	mkdir -p "$dir/bin" && cp /bin/busybox "$dir/bin/busybox" || return 1
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -s busybox "$dir/bin/$a" || return 1
	done
}

# write_recorder FILE: a CNI plugin that is the real one ($SLUICE_CNI) with
# the runtime's environment, stdin and stdout untouched, and that appends
# "VERB id=CNI_CONTAINERID netns=CNI_NETNS version=cniVersion rc=STATUS" to
# $RT/calls.log, so a test can see what the runtime sent and what the plugin
# answered even where the runtime hides it (go-cni drops DEL errors that say
# "not found", ctr only logs the others).
write_recorder() {
	cat >"$1" <<EOF || return 1
#!/bin/sh
in=\$(mktemp "$RT/stdin.XXXXXX") || exit 1
cat >"\$in"
"$SLUICE_CNI" <"\$in"
rc=\$?
v=\$(grep -o '"cniVersion" *: *"[^"]*"' "\$in" | head -n 1 | cut -d'"' -f4)
echo "\$CNI_COMMAND id=\${CNI_CONTAINERID:-} netns=\${CNI_NETNS:-} version=\$v rc=\$rc" >>"$RT/calls.log"
rm -f "\$in"
exit \$rc
EOF
	chmod 0755 "$1"
}

# calls VERB ID: the recorded calls of VERB for container ID.
calls() {
	grep "^$1 id=$2 " "$RT/calls.log" 2>/dev/null || true
}

# Directories runtimes create on first use outside their configured roots
# and never remove (libcni's result cache, containerd's shim sockets): noted
# while absent, removed at the end if they are empty again.
_absent_dirs=()
note_absent_dirs() {
	local d
	for d in "$@"; do
		[[ -e $d ]] || _absent_dirs+=("$d")
	done
}

remove_noted_dirs() {
	local d
	# deepest first
	for d in $(printf '%s\n' "${_absent_dirs[@]}" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-); do
		rmdir "$d" 2>/dev/null
	done
	_absent_dirs=()
}

# The cgroup directories under a parent that only this run's containers
# used: runtimes remove a container's own directory, not the parents.
remove_cgroup_tree() { # NAME (a top-level cgroup)
	local d
	for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
		[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

# Unmounts whatever is still mounted below DIR, then removes DIR without
# crossing into a mount.
remove_tree() { # DIR
	local dir=$1 m
	[[ -n $dir && -d $dir ]] || return 0
	for m in $(findmnt -rn -o TARGET | grep "^$dir/" | sort -r); do
		umount -l "$m"
	done
	rm -rf --one-file-system "$dir"
}

# libcni's cached results (libcni names them NETWORK-CONTAINERID-IFNAME) of
# network NET; it removes one when its DEL succeeds.
cached_results() { # NET
	compgen -G "/var/lib/cni/results/$1-*" || true
}

# The lab's pod subnet: the subnet of node-1's secondary interfaces.
pod_subnet() {
	lab status -j | python3 -c '
import json, sys
print([i["subnet"] for i in json.load(sys.stdin)["interfaces"]
       if i["instance"] == "node-1" and not i["primary"]][0])'
}

assert_in_subnet() { # IP CIDR
	python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' \
		"$1" "$2" || fail "$1 is not in the pod subnet $2"
}

# The agent's endpoint for a container, one field of it ("" when none).
endpoint_field() { # CONTAINERID FIELD
	json_get "$(node_ctl node-1 endpoint list -j)" \
		"next((e['$2'] for e in d['endpoints'] if e['containerID'] == '$1'), '')"
}

# A fingerprint of node-1: endpoints, IPs in use, pod veths in the node.
node_state() {
	echo "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" \
		"$(json_get "$(node_ctl node-1 ipam show -j)" 'd["used"]')" \
		"$(lab node exec node-1 -- ip -o link show | grep -c ' sl[0-9a-f]\{12\}')"
}

# TCP from the VPC host to a container: the container serves a token on
# PORT; the host reads it.
host_tcp_ok() { # IP PORT TOKEN
	local out
	for _ in $(seq 1 50); do
		out=$(lab host exec -- busybox timeout 2 busybox nc "$1" "$2" </dev/null 2>/dev/null || true)
		[[ $out == *"$3"* ]] && return 0
		sleep 0.1
	done
	return 1
}
