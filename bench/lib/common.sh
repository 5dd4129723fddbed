# SPDX-License-Identifier: Apache-2.0
#
# Shared by every bench scenario (sourced by bench/run.sh): naming, the
# registry of what this run created, cleanup, namespace helpers and the
# result writers.
#
# Everything a run creates is named after its id: namespaces "$P-*"
# (P=sb<id>), labs "sb<x><id>", files under $STATE. Cleanup kills only the
# processes this run started (by PID, checked against their start time) and
# removes only what the registry lists, plus "$P-*" namespaces.

# --- logging ---------------------------------------------------------------

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/bench.log" >&2; }
warn() { log "WARNING: $*"; }
die() {
	log "ERROR: $*"
	exit 1
}

# --- results ---------------------------------------------------------------

# record SCENARIO TOPOLOGY METRIC UNIT REP VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/raw.tsv"; }

# unavailable SCENARIO TOPOLOGY METRIC REASON: a row the run cannot measure.
unavailable() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/na.tsv"
	log "not available: $1/$2 $3: $4"
}

# kv KEY "k=v k2=v2 ..." -> v
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# --- the registry and cleanup ------------------------------------------------

# bg NAME NETNS CMD...: starts CMD in NETNS in the background, output to
# logs/NAME.log, and registers its PID with its start time.
bg() {
	local name=$1 ns=$2 pid start
	shift 2
	nsenter --net="/var/run/netns/$ns" "$@" >>"$OUT/logs/$name.log" 2>&1 &
	pid=$!
	start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || echo 0)
	echo "$pid $start $name" >>"$STATE/pids"
	BG_PID=$pid
}

# stop_pid PID: kills one process of ours (if it is still the one we started).
stop_pid() {
	local pid=$1 start name line
	line=$(grep "^$pid " "$STATE/pids" 2>/dev/null | tail -1) || true
	[[ -n $line ]] || return 0
	read -r pid start name <<<"$line"
	if [[ $(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) == "$start" ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	sed -i "/^$pid $start /d" "$STATE/pids"
}

ns_add() { # ns_add NAME (full name, "$P-..."): a new namespace with lo up
	ip netns add "$1"
	echo "$1" >>"$STATE/netns"
	ip -n "$1" link set lo up
}

lab_register() { echo "$1" >>"$STATE/labs"; }

# release_all: stops and removes everything this run has created so far.
release_all() {
	local pid start name lab ns
	if [[ -f $STATE/pids ]]; then
		while read -r pid start name; do
			[[ $(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) == "$start" ]] && kill "$pid" 2>/dev/null
		done <"$STATE/pids"
		sleep 0.2
		while read -r pid start name; do
			[[ $(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) == "$start" ]] && kill -9 "$pid" 2>/dev/null
		done <"$STATE/pids"
		: >"$STATE/pids"
	fi
	if [[ -f $STATE/labs ]]; then
		while read -r lab; do
			"$CTL" lab --name "$lab" down >/dev/null 2>&1 || warn "lab down $lab failed"
		done <"$STATE/labs"
		: >"$STATE/labs"
	fi
	for ns in $(cat "$STATE/netns" 2>/dev/null) $(ip netns list 2>/dev/null | awk -v p="$P-" 'index($1, p) == 1 {print $1}'); do
		ip netns del "$ns" 2>/dev/null || true
	done
	: >"$STATE/netns"
}

cleanup() {
	local left
	trap - EXIT INT TERM HUP
	[[ -n ${STATE:-} && -d $STATE ]] || return 0
	log "cleaning up run $RUN_ID"
	release_all
	rm -rf "$STATE"
	# What is left of this run's names (should be nothing).
	left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^($P-|sb[a-z]$RUN_ID-)" || true)
	[[ -z $left ]] || warn "namespaces left behind: $left"
	left=$(ls -d /run/sluice-lab/sb[a-z]"$RUN_ID" /sys/fs/bpf/sluice-lab-sb[a-z]"$RUN_ID" 2>/dev/null || true)
	[[ -z $left ]] || warn "lab files left behind: $left"
}

# --- namespaces ----------------------------------------------------------------

in_ns() { # in_ns NETNS CMD...
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@"
}

# Client side of the traffic tests: TIME_WAIT reuse and a wide port range so
# ~15k connections a second do not run out of ports (CRR).
client_sysctls() {
	in_ns "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
}

MAC_SEQ=0
next_mac() {
	MAC_SEQ=$((MAC_SEQ + 1))
	printf '02:77:%02x:%02x:%02x:%02x' $((RANDOM % 256)) $((MAC_SEQ >> 16 & 255)) $((MAC_SEQ >> 8 & 255)) $((MAC_SEQ & 255))
}

# veth NS1 IF1 NS2 IF2 -> sets VETH_MAC1 VETH_MAC2. Created directly inside the
# two namespaces: nothing ever appears in the machine's own namespace.
veth() {
	VETH_MAC1=$(next_mac)
	VETH_MAC2=$(next_mac)
	ip link add "$2" netns "$1" address "$VETH_MAC1" type veth peer name "$4" netns "$3" address "$VETH_MAC2"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# How RR/CRR clients and servers and the drop generator run: on CPU 0, and
# (RT=1, the default) SCHED_FIFO, so other work on the machine cannot preempt
# a transaction half way; the measurement stays the path's CPU cost per
# transaction. The kernel keeps 5% of the CPU for everything else
# (sched_rt_runtime_us). iperf3 and the CNI plugins run as normal tasks.
PIN=(taskset -c 0)
[[ $RT == 1 ]] && PIN=(chrt -f 20 taskset -c 0)

# Servers of a traffic endpoint: sl-rr on 7000 (allowed) and 7001 (the port a
# policy denies), iperf3 on 5201, all pinned to CPU 0 like the clients.
servers_start() { # servers_start NETNS [noiperf]
	bg "rr-$1" "$1" "${PIN[@]}" "$TOOLS/sl-rr" server -p 7000 -p 7001
	[[ ${2:-} == noiperf ]] || bg "iperf-$1" "$1" taskset -c 0 iperf3 -s -p 5201
}

# probe FROM_NS IP PORT [TIMEOUT_MS] -> 0 answered, 1 dropped (timeout), 2 refused/error
probe() {
	in_ns "$1" "$TOOLS/sl-rr" probe -H "$2" -p "$3" -W "${4:-1000}" >/dev/null 2>&1
}

# probe_until FROM_NS IP PORT WANT(0|1) SECONDS: retries until the probe gives WANT.
probe_until() {
	local end=$((SECONDS + $5)) rc
	while :; do
		rc=0
		probe "$1" "$2" "$3" 500 || rc=$?
		[[ $rc == "$4" ]] && return 0
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# --- numbers ---------------------------------------------------------------

# stats FILE -> "p50 p99 max n" of the numbers in column 2 of FILE
lat_stats() {
	sort -g -k2,2 "$1" | awk '{v[NR]=$2} END {
		if (NR == 0) { print "0 0 0 0"; exit }
		i50 = int(0.50 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
		printf "%.3f %.3f %.3f %d\n", v[i50], v[i99], v[NR], NR }'
}
