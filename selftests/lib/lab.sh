# SPDX-License-Identifier: Apache-2.0
#
# Helpers for suites that run against a lab (sourced after testlib.sh).
# A suite sets LAB (a unique name) in suite_setup with lab_start, and
# suite_teardown calls lab_stop. Lab names are [a-z0-9]{1,12}.

# lab_start NAME [lab up options...]
lab_start() {
	LAB=$1
	shift
	"$SLUICECTL" lab down --name "$LAB" >/dev/null 2>&1 || true
	"$SLUICECTL" lab up --name "$LAB" "$@" || return 1
}

lab_stop() {
	[[ -n ${LAB:-} ]] && "$SLUICECTL" lab down --name "$LAB"
}

ctl() { "$SLUICECTL" "$@"; }
lab() { "$SLUICECTL" lab --name "$LAB" "$@"; }
node_ctl() { # node_ctl NODE args...: sluicectl against a lab node's agent and pins
	local node=$1
	shift
	"$SLUICECTL" --lab "$LAB" --node "$node" "$@"
}

# pod_add NODE NS/POD [--labels ...] -> prints the IP
pod_add() {
	lab pod add "$@"
}

pod_ip() { # NS/POD
	lab status -j | python3 -c '
import json, sys
want = sys.argv[1]
for p in json.load(sys.stdin)["pods"]:
    if p["namespace"] + "/" + p["name"] == want:
        print(p["ip"])
' "$1"
}

host_ip() {
	lab status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["host"]["ip"])'
}

node_ip() { # NODE
	lab status -j | python3 -c '
import json, sys
print([n["ip"] for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]][0])' "$1"
}

# ping_from WHAT TARGET: WHAT is NS/POD, "host" or "node:NAME"
_exec_in() {
	local what=$1
	shift
	case $what in
	host) lab host exec -- "$@" ;;
	node:*) lab node exec "${what#node:}" -- "$@" ;;
	*) lab exec "$what" -- "$@" ;;
	esac
}

ping_ok() { # WHAT IP
	_exec_in "$1" ping -c 1 -W 2 -q "$2" >/dev/null 2>&1
}

assert_ping() {
	ping_ok "$1" "$2" || fail "ping $1 -> $2 failed"
}

assert_no_ping() {
	! ping_ok "$1" "$2" || fail "ping $1 -> $2 succeeded but must not"
}

# TCP: a one-shot server in WHAT on PORT replying with a token; a client reads it.
tcp_ok() { # FROM TO_WHAT TO_IP [PORT]
	local from=$1 to=$2 ip=$3 port=${4:-8080} token out
	token="tok$RANDOM$RANDOM"
	_exec_in "$to" busybox timeout 5 busybox nc -l -p "$port" -e busybox echo "$token" >/dev/null 2>&1 &
	local srv=$!
	local i
	for i in $(seq 1 50); do
		out=$(_exec_in "$from" busybox timeout 2 busybox nc "$ip" "$port" </dev/null 2>/dev/null || true)
		[[ $out == *"$token"* ]] && break
		sleep 0.1
	done
	kill "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	[[ $out == *"$token"* ]]
}

assert_tcp() {
	tcp_ok "$@" || fail "TCP $1 -> $2 ($3) failed"
}

# metric NODE REASON DIRECTION -> packets (0 when absent)
metric() {
	node_ctl "$1" map dump metrics -j | python3 -c '
import json, sys
n = 0
for m in json.load(sys.stdin):
    if m["reason"] == sys.argv[1] and m["direction"] == sys.argv[2]:
        n += m["packets"]
print(n)' "$2" "$3"
}
