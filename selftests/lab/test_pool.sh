#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The warm-pool controller against the sim cloud (docs/warm-pool.md):
# interfaces attached and detached as the targets say while pods scale
# 0 -> 60 -> 0 across an agent SIGKILL; a freed IP with live conntrack
# entries is not handed out again until they go or the hold runs out; the
# reconcile modes, with the cloud calls each makes per 100 pods; GC'd IPs
# flowing back to the cloud; STATUS when the cloud-call budget is spent.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

ipam_json() { node_ctl node-1 ipam show -j; }
ipam_get() { json_get "$(ipam_json)" "$1"; } # python expression on d

# The cloud's view of node-1: "<interfaces> <ips>" (the primary left out).
cloud_counts() {
	lab status -j | python3 -c '
import json, sys
ifs = [i for i in json.load(sys.stdin)["interfaces"] if i["instance"] == sys.argv[1] and not i["primary"]]
print(len(ifs), sum(len(i["ips"]) for i in ifs))' node-1
}

# Every IP the cloud assigned to node-1's interfaces is in the pool, and
# the pool has nothing else; every endpoint's IP is distinct and in use.
assert_pool_is_cloud() {
	local cloud pool eps
	cloud=$(lab status -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sorted(ip for i in d["interfaces"] if i["instance"] == "node-1" and not i["primary"] for ip in i["ips"]))')
	pool=$(ipam_json | python3 -c '
import json, sys
print(sorted(s["ip"] for i in json.load(sys.stdin)["interfaces"] for s in i["ips"]))')
	assert_eq "$pool" "$cloud" "agent pool vs cloud"
	eps=$(node_ctl node-1 endpoint list -j | python3 -c '
import json, sys
ips = [e["ip"] for e in json.load(sys.stdin)["endpoints"]]
print(len(ips), len(set(ips)))')
	assert_eq "${eps% *}" "${eps#* }" "endpoint IPs are distinct"
	assert_eq "$(ipam_get 'd["used"]')" "${eps% *}" "used IPs vs endpoints"
}

pods_add() { # FIRST LAST PREFIX: in parallel, 8 at a time; fails on any error
	seq "$1" "$2" | xargs -P 8 -I{} sh -c \
		"'$SLUICECTL' lab --name '$LAB' pod add node-1 '$3'{} >/dev/null 2>&1 || echo FAIL {}" >"$BATS_TMP.add"
	[[ ! -s $BATS_TMP.add ]] || fail "ADDs failed: $(tr '\n' ' ' <"$BATS_TMP.add")"
}

pods_del() { # FIRST LAST PREFIX
	seq "$1" "$2" | xargs -P 8 -I{} sh -c \
		"'$SLUICECTL' lab --name '$LAB' pod del '$3'{} >/dev/null 2>&1 || echo FAIL {}" >"$BATS_TMP.del"
	[[ ! -s $BATS_TMP.del ]] || fail "DELs failed: $(tr '\n' ' ' <"$BATS_TMP.del")"
}

settled() { # the pool meets its targets and is not above them
	[[ $(ipam_get 'd["debt"]["ips"] == 0 and not d["excess"] and d["held"] == 0') == True ]]
}

# 10 pod IPs per interface (the primary IP counts), 8 interfaces of ours.
# Warm 5: 60 pods want 65 IPs = 7 interfaces; 0 pods want 5 = 1 interface.
test_scale_0_60_0_across_a_restart() {
	local name=${RUN_ID}pls
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 --max-interfaces 9 --max-ips-per-interface 11 --warm-ip-target 5 \
		--agent-arg --release-delay-s --agent-arg 2 >/dev/null
	WAIT_TIMEOUT=20 wait_for settled
	assert_eq "$(ipam_get 'd["interfaceCount"]')" 1 "interfaces with no pod"
	assert_eq "$(cloud_counts)" "1 5" "cloud: interfaces and IPs with no pod"

	pods_add 1 30 s/p
	lab agent kill node-1 # SIGKILL halfway up
	lab agent start node-1
	assert_eq "$(ipam_get 'd["used"]')" 30 "IPs in use after the restart"
	pods_add 31 60 s/p
	WAIT_TIMEOUT=20 wait_for settled
	assert_eq "$(ipam_get 'd["used"]')" 60 "IPs in use at 60 pods"
	assert_eq "$(ipam_get 'd["interfaceCount"]')" 7 "interfaces at 60 pods"
	(($(ipam_get 'd["free"]') >= 5)) || fail "fewer than 5 warm IPs at 60 pods"
	assert_eq "$(cloud_counts | cut -d' ' -f1)" 7 "cloud: interfaces at 60 pods"
	assert_pool_is_cloud

	pods_del 1 30 s/p
	lab agent kill node-1 # SIGKILL halfway down, inside the release delay
	lab agent start node-1
	pods_del 31 60 s/p
	WAIT_TIMEOUT=40 wait_for settled
	assert_eq "$(ipam_get 'd["used"]')" 0 "IPs in use at 0 pods"
	assert_eq "$(ipam_get 'd["interfaceCount"]')" 1 "interfaces back at 0 pods"
	local free
	free=$(ipam_get 'd["free"]')
	((free >= 5 && free <= 13)) || fail "free IPs at 0 pods: $free, want 5..13 (target + hysteresis)"
	assert_eq "$(cloud_counts)" "1 $free" "cloud: interfaces and IPs at 0 pods"
	(($(ipam_get 'd["calls"]["detach"]') >= 1)) || fail "no detach call counted after the restart"
	assert_pool_is_cloud
}

ct_of() { # IP -> live (not CLOSED) conntrack entries naming it
	node_ctl node-1 ct list -j | python3 -c '
import json, sys
print(sum(1 for c in json.load(sys.stdin) if sys.argv[1] in (c["src"], c["dst"]) and c["state"] != "closed"))' "$1"
}
ct_has() { (($(ct_of "$1") >= 1)); }

held_ip() { # IP -> True when the pool holds it back
	ipam_get "any(s['ip'] == '$1' and s['held'] for i in d['interfaces'] for s in i['ips'])"
}
is_held() { [[ $(held_ip "$1") == "$2" ]]; } # IP True|False
is_blocked() { [[ $(ipam_get 'd["blocked"]') == "$1" ]]; }

# A long-lived TCP connection from pod NS/POD to the VPC host on PORT; the
# pod is deleted under it, so the entries stay ESTABLISHED (nothing will
# ever close them). Leaves CONN_PIDS to kill.
open_connection_then_delete_pod() { # NS/POD PORT
	local ip hip
	ip=$(pod_ip "$1")
	hip=$(host_ip)
	lab host exec -- python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); time.sleep(300)' "$2" >/dev/null 2>&1 &
	CONN_PIDS="$!"
	sleep 0.3
	lab exec "$1" -- python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); time.sleep(300)' "$hip" "$2" \
		>/dev/null 2>&1 &
	CONN_PIDS+=" $!"
	WAIT_TIMEOUT=10 wait_for ct_has "$ip"
	lab pod del "$1"
}

# Deletes every sluice_ct entry naming IP, through the pinned map.
ct_forget() { # IP
	local pin
	pin=$(json_get "$(node_ctl node-1 status -j)" 'd["pinDir"]')/sluice_ct
	bpftool -j map dump pinned "$pin" | python3 -c '
import json, socket, subprocess, sys
want = socket.inet_aton(sys.argv[1])
for e in json.load(sys.stdin):
    raw = bytes(int(b, 16) for b in e["key"])  # struct sl_ct_key: saddr at 8, daddr at 24
    if raw[8:12] == want or raw[24:28] == want:
        subprocess.run(["bpftool", "map", "delete", "pinned", sys.argv[2], "key", "hex"] +
                       ["%02x" % b for b in raw], check=True)' "$1" "$pin"
}

test_conntrack_holds_a_freed_ip() {
	local name=${RUN_ID}plc a got i
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	# 5 pod IPs per interface, warm 1: few free IPs, reuse would come fast.
	lab_start "$name" --nodes 1 --max-ips-per-interface 6 --warm-ip-target 1 \
		--agent-arg --reuse-max-hold-s --agent-arg 600 >/dev/null
	a=$(pod_add node-1 c/a)
	open_connection_then_delete_pod c/a 9100
	defer kill $CONN_PIDS
	WAIT_TIMEOUT=10 wait_for is_held "$a" True
	(($(ipam_get 'd["held"]') >= 1)) || fail "held count"
	# Six pods: more than the free IPs that are not held; none gets $a.
	for i in 1 2 3 4 5 6; do
		got=$(pod_add node-1 c/b$i)
		assert_ne "$got" "$a" "IP of c/b$i while conntrack names it"
	done
	assert_eq "$(held_ip "$a")" True "still held"

	# The entries go: the IP is free for pods again.
	ct_forget "$a"
	assert_eq "$(ct_of "$a")" 0 "conntrack entries of $a after deleting them"
	WAIT_TIMEOUT=10 wait_for is_held "$a" False
	for i in $(seq 1 12); do
		got=$(pod_add node-1 c/d$i)
		[[ $got != "$a" ]] || break
	done
	assert_eq "$got" "$a" "the IP is handed out once its connections are gone"

	# The hold is bounded: live entries or not, it ends at reuse_max_hold_s.
	local e
	e=$(pod_add node-1 c/e)
	open_connection_then_delete_pod c/e 9101
	defer kill $CONN_PIDS
	WAIT_TIMEOUT=10 wait_for is_held "$e" True
	node_ctl node-1 ipam set --reuse-max-hold-s 1 >/dev/null
	WAIT_TIMEOUT=10 wait_for is_held "$e" False
	(($(ct_of "$e") >= 1)) || fail "the entries of $e were expected to still be there"
	assert_pool_is_cloud
}

calls_total() { ipam_get 'd["calls"]["total"]'; }

# Pods created one after the other, then deleted, in each mode; prints the
# cloud calls it took per 100 pods (created and deleted) once the pool is
# back at its targets.
test_reconcile_modes_and_calls_per_100_pods() {
	local name=${RUN_ID}plm mode c0 c1 u0 rel i n=20 line="" got
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 --max-interfaces 6 --max-ips-per-interface 11 --warm-ip-target 3 >/dev/null
	for mode in immediate scheduled manual; do
		lab agent stop node-1
		lab agent start node-1 -- --reconcile "$mode" --reconcile-interval-s 2 --release-delay-s 1
		assert_eq "$(ipam_get 'd["mode"]')" "$mode" "mode"
		WAIT_TIMEOUT=20 wait_for settled
		c0=$(calls_total)
		# Nothing changes: no call, however long we wait; a pass asked
		# for finds the desired state's hash unchanged and skips.
		sleep 2.5
		u0=$(ipam_get 'd["passes"]["unchanged"]')
		node_ctl node-1 ipam reconcile >/dev/null
		(($(ipam_get 'd["passes"]["unchanged"]') > u0)) || fail "$mode: the reconcile was not skipped as unchanged"
		assert_eq "$(calls_total)" "$c0" "$mode: calls while nothing changes"
		for i in $(seq 1 $n); do
			got=$(pod_add node-1 m/$mode$i) || fail "$mode: ADD of pod $i failed"
		done
		for i in $(seq 1 $n); do lab pod del m/$mode$i; done
		if [[ $mode == manual ]]; then
			# Only a config change or a reconcile gives IPs back.
			rel=$(ipam_get 'd["calls"]["release"] + d["calls"]["detach"]')
			sleep 2
			assert_eq "$(ipam_get 'd["calls"]["release"] + d["calls"]["detach"]')" "$rel" \
				"manual: releases without a reconcile"
			assert_eq "$(ipam_get 'd["excess"]')" True "manual: the pool stays above its targets"
			node_ctl node-1 ipam reconcile >/dev/null
		fi
		WAIT_TIMEOUT=30 wait_for settled
		c1=$(calls_total)
		line+=" $mode=$(((c1 - c0) * 100 / n))"
		echo "# $mode: $((c1 - c0)) calls for $n pods created and deleted: $(ipam_get 'd["calls"]')" >>"$DIAG"
		assert_pool_is_cloud
	done
	# A TAP diagnostic on the suite's own output (the test's is kept only
	# on failure), and a copy next to the build for reports.
	echo "# calls per 100 pods:$line" >>"$DIAG"
	echo "calls per 100 pods:$line" >"$SLUICE_BUILD/pool-calls-per-100-pods.txt" || true
}

test_gc_frees_ips_and_they_go_back_to_the_cloud() {
	local name=${RUN_ID}plg conf keep valid before after
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 --max-ips-per-interface 21 --warm-ip-target 1 \
		--agent-arg --release-delay-s --agent-arg 1 >/dev/null
	pods_add 1 14 g/p
	WAIT_TIMEOUT=20 wait_for settled
	before=$(cloud_counts | cut -d' ' -f2)
	# The runtime still knows 2 attachments: GC removes the 12 others.
	valid=$(node_ctl node-1 endpoint list -j | python3 -c '
import json, sys
eps = sorted(json.load(sys.stdin)["endpoints"], key=lambda e: e["pod"])[:2]
print(json.dumps([{"containerID": e["containerID"], "ifname": e["ifName"]} for e in eps]))')
	conf="{\"cniVersion\":\"1.1.0\",\"name\":\"sluice\",\"type\":\"sluice\",\"agentSocket\":\"/run/sluice-lab/$name/nodes/node-1/sluiced.sock\",\"cni.dev/valid-attachments\":$valid}"
	echo "$conf" | CNI_COMMAND=GC CNI_PATH=/opt/cni/bin "$SLUICE_CNI" || fail "GC failed"
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" 'len(d["endpoints"])')" 2 "endpoints after GC"
	assert_eq "$(ipam_get 'd["used"]')" 2 "IPs in use after GC"
	WAIT_TIMEOUT=20 wait_for settled
	after=$(cloud_counts | cut -d' ' -f2)
	((after < before)) || fail "the cloud still has $after IPs (had $before before GC)"
	((after <= 2 + 1 + 8)) || fail "the cloud has $after IPs, want at most used 2 + warm 1 + hysteresis 8"
	(($(ipam_get 'd["calls"]["release"]') >= 1)) || fail "no release call"
	assert_pool_is_cloud
}

test_status_50_when_the_budget_is_spent() {
	local name=${RUN_ID}plb conf cni status
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	# One token, refilled once in 1000 s: the first call takes it (the
	# attach, or the orphan reconcile's list), the assign that would fill
	# the interface finds the budget spent.
	lab_start "$name" --nodes 1 --agent-arg --cloud-calls-per-s --agent-arg 0.001 \
		--agent-arg --cloud-burst --agent-arg 1 >/dev/null
	WAIT_TIMEOUT=10 wait_for is_blocked budget
	assert_eq "$(ipam_get 'd["calls"]["assign"]')" 0 "assign calls"
	assert_eq "$(ipam_get 'd["allocatable"]')" 0 "allocatable IPs"
	(($(ipam_get 'd["budget"]["denied"]') >= 1)) || fail "no denied call counted"
	(($(ipam_get 'd["budget"]["deferredPasses"]') >= 1)) || fail "no deferred pass counted"
	conf="{\"cniVersion\":\"1.1.0\",\"name\":\"sluice\",\"type\":\"sluice\",\"agentSocket\":\"/run/sluice-lab/$name/nodes/node-1/sluiced.sock\"}"
	status=0
	cni=$(echo "$conf" | CNI_COMMAND=STATUS "$SLUICE_CNI") || status=$?
	assert_ne "$status" 0 "STATUS exit status"
	assert_eq "$(json_get "$cni" 'd["code"]')" 50 "STATUS code"
	assert_contains "$(json_get "$cni" 'd["details"]')" "budget is spent"
}

BATS_TMP=$(mktemp -u)
# Diagnostics of passing tests (run_tests keeps a test's output only when it
# fails), printed after the results.
DIAG=$BATS_TMP.diag
run_tests
[[ ! -f $DIAG ]] || cat "$DIAG"
rm -f "$DIAG" "$BATS_TMP".*
