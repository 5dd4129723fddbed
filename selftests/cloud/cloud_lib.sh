# SPDX-License-Identifier: Apache-2.0
#
# Pod churn and measurement helpers of the cloud suites (sourced after
# testlib.sh and lab.sh). CLOUD_DIR is the suite's scratch directory: ADDs
# and DELs the helpers had to retry are listed in CLOUD_DIR/retries.
#
# Measurements are TAP diagnostics ("# ..."), which selftests/run shows only
# under a failing test: diag also keeps them in
# $SLUICE_BUILD/selftests/cloud/<suite>.txt (rewritten by each run).

# Debian's python3 first: a version manager's shim in PATH (pyenv) costs a
# second per call on a loaded machine, and these suites call it often.
PATH=/usr/bin:$PATH

CLOUD_RESULTS=$SLUICE_BUILD/selftests/cloud/$(basename "$0" .sh).txt
mkdir -p "$(dirname "$CLOUD_RESULTS")" && : >"$CLOUD_RESULTS"

diag() {
	echo "# $*" >&3
	echo "$*" >>"$CLOUD_RESULTS"
}

# add_pod NODE NS/POD [TRIES]: a kubelet retries a failed ADD; so does this.
add_pod() {
	local node=$1 pod=$2 tries=${3:-5} i
	for ((i = 1; i <= tries; i++)); do
		lab pod add "$node" "$pod" >/dev/null 2>&1 && return 0
		echo "$pod" >>"$CLOUD_DIR/retries"
		sleep 0.5
	done
	echo "ADD $pod failed $tries times" >&2
	return 1
}

del_pod() {
	local pod=$1 tries=${2:-5} i
	local out
	for ((i = 1; i <= tries; i++)); do
		out=$(lab pod del "$pod" 2>&1) && return 0
		[[ $out == *"no pod $pod in lab"* ]] && return 0 # an earlier try did it
		echo "$pod" >>"$CLOUD_DIR/retries"
		sleep 0.5
	done
	echo "DEL $pod failed $tries times" >&2
	return 1
}

# Waits for one of the jobs in the caller's "pids" and drops it from there;
# returns its status. (Not `jobs`: the fake cloud is a job of this shell too.)
_reap() {
	local done_pid="" st=0 i
	wait -n -p done_pid "${pids[@]}" || st=$?
	for i in "${!pids[@]}"; do
		[[ ${pids[i]} == "$done_pid" ]] && unset 'pids[i]'
	done
	pids=("${pids[@]}")
	return $st
}

# pods_add NODE NS FROM TO [PARALLEL] [TRIES]: pods NS/pFROM..NS/pTO, PARALLEL at a time.
pods_add() {
	local node=$1 ns=$2 from=$3 to=$4 par=${5:-4} tries=${6:-5} i rc=0 pids=()
	for ((i = from; i <= to; i++)); do
		add_pod "$node" "$ns/p$i" "$tries" &
		pids+=($!)
		((${#pids[@]} < par)) || _reap || rc=1
	done
	while ((${#pids[@]})); do _reap || rc=1; done
	return $rc
}

pods_del() { # NS FROM TO [PARALLEL] [TRIES]
	local ns=$1 from=$2 to=$3 par=${4:-4} tries=${5:-5} i rc=0 pids=()
	for ((i = from; i <= to; i++)); do
		del_pod "$ns/p$i" "$tries" &
		pids+=($!)
		((${#pids[@]} < par)) || _reap || rc=1
	done
	while ((${#pids[@]})); do _reap || rc=1; done
	return $rc
}

ipam_field() { # NODE PYEXPR
	json_get "$(node_ctl "$1" ipam show -j)" "$2"
}

pod_ips_on() { # NODE
	lab status -j | python3 -c '
import json, sys
for p in json.load(sys.stdin)["pods"]:
    if p["node"] == sys.argv[1] and p.get("ip"):
        print(p["ip"])' "$1"
}

none_used() { # NODE: no IP in use (nor on its way back to the cloud)
	(($(ipam_field "$1" 'd["used"]') == 0))
}

all_answer_ping() { # NODE: every pod on NODE answers the VPC host
	local failed
	failed=$(pod_ips_on "$1" | xargs -r -P 8 -I{} sh -c \
		"'$SLUICECTL' lab --name '$LAB' host exec -- ping -c1 -W2 -q {} >/dev/null 2>&1 || echo {}")
	[[ -z $failed ]] || fail "pods not answering the VPC host: $failed"
}

retried() { wc -l <"$CLOUD_DIR/retries" 2>/dev/null || echo 0; }

now_ms() { date +%s%3N; }

ready_ms() { # NODE NS/POD HOST-IP: ms from the ADD until the pod's first ping to the host succeeds
	local t0 t1
	t0=$(now_ms)
	lab pod add "$1" "$2" >/dev/null
	until lab exec "$2" -- ping -c1 -W1 -q "$3" >/dev/null 2>&1; do
		(($(now_ms) - t0 < 30000)) || fail "$2 never reached $3"
	done
	t1=$(now_ms)
	echo $((t1 - t0))
}


# pool_state NODE -> "FREE FULL": free IPs, and 1 when every interface is at its IP limit
pool_state() {
	node_ctl "$1" ipam show -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
lim = d["limits"]["maxIPsPerInterface"] - 1  # the interface own IP counts
print(d["free"], int(all(len(i["ips"]) >= lim for i in d["interfaces"])))'
}

# cold_latency NODE HOST NS: with warm targets 0, pods are added until no IP
# is free; the next ADD waits for the cloud: for one IP while an interface has
# room ("cold IP"), for a new interface once all are full ("cold attach").
# Prints "cold IP: N ms; cold attach: M ms" (or why one could not be measured).
cold_latency() {
	local node=$1 host=$2 ns=$3 j k free full ip_ms="" att_ms=""
	for j in $(seq 1 30); do
		[[ -n $ip_ms && -n $att_ms ]] && break
		# the pool gives back what it need not hold after the release delay
		for k in $(seq 1 25); do
			read -r free full < <(pool_state "$node")
			((free == 0)) && break
			sleep 0.2
		done
		if ((free == 0 && full)) && [[ -z $att_ms ]]; then
			att_ms=$(ready_ms "$node" "$ns/attach" "$host")
		elif ((free == 0 && !full)) && [[ -z $ip_ms ]]; then
			ip_ms=$(ready_ms "$node" "$ns/ip" "$host")
		else
			lab pod add "$node" "$ns/f$j" >/dev/null
		fi
	done
	echo "cold IP: $([[ -n $ip_ms ]] && echo "$ip_ms ms" || echo "not measured");" \
		"cold attach: $([[ -n $att_ms ]] && echo "$att_ms ms" || echo "not measured")"
}
