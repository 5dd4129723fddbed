#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Orphan reconcile against the sim cloud: the tests change the VPC behind the
# agent's back (its state file, under the sim's own lock, and the links a
# real attach or detach would add or remove) and check that the next orphan
# pass (sluiced --orphan-interval-s 2) settles every difference: a Sluice
# interface the pool does not know is adopted (netdev present) or detached
# (none); an interface attached by someone else is never touched; a pool
# interface gone from the cloud is forgotten, or kept "lost" while a pod
# holds an IP on it; IPs are added and dropped to match the cloud. After each
# test the pool and the cloud agree and nothing is left in the VPC.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

VPC_JSON= ROUTER= NODE_NS=

suite_setup() {
	lab_start "${RUN_ID}or" --nodes 1 --max-interfaces 6 --max-ips-per-interface 6 --warm-ip-target 2 \
		--agent-arg --orphan-interval-s=2 >/dev/null || return 1
	VPC_JSON=/run/sluice-lab/$LAB/vpc.json
	ROUTER=$(json_get "$(cat "$VPC_JSON")" 'd["routerNetns"]') || return 1
	NODE_NS=$(json_get "$(cat "$VPC_JSON")" '[i["netns"] for i in d["instances"] if i["id"] == "node-1"][0]') ||
		return 1
}

suite_teardown() {
	lab_stop
}

# sim OP ARGS...: edits the sim's state file under its lock, as the cloud's
# API would behind the agent's back.
#   add-iface ID MAC DEVICE PRIMARY_IP IP,IP.. [foreign]   on node-1
#   del-iface ID
#   add-ip ID IP | del-ip ID IP
#   has-iface ID | has-ip ID IP                            exit status
#   ips ID                                                 one per line
sim() {
	python3 - "$VPC_JSON" "$@" <<'EOF'
import fcntl, json, os, sys
path, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(path + ".lock", "a+") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    with open(path) as f:
        d = json.load(f)
    ifaces = {i["id"]: (inst, i) for inst in d["instances"] for i in inst["interfaces"]}
    if op == "add-iface":
        inst = [i for i in d["instances"] if i["id"] == "node-1"][0]
        rec = {"id": args[0], "mac": args[1], "subnet": "subnet-pods", "deviceIndex": int(args[2]),
               "primary": False, "primaryIP": args[3], "ips": [ip for ip in args[4].split(",") if ip]}
        if len(args) > 5 and args[5] == "foreign":
            rec["foreign"] = True
        inst["interfaces"].append(rec)
    elif op == "del-iface":
        inst, rec = ifaces[args[0]]
        inst["interfaces"].remove(rec)
    elif op == "add-ip":
        ifaces[args[0]][1]["ips"].append(args[1])
    elif op == "del-ip":
        ifaces[args[0]][1]["ips"].remove(args[1])
    elif op == "has-iface":
        sys.exit(0 if args[0] in ifaces else 1)
    elif op == "has-ip":
        sys.exit(0 if args[0] in ifaces and args[1] in ifaces[args[0]][1]["ips"] else 1)
    elif op == "ips":
        print("\n".join(ifaces[args[0]][1]["ips"]))
        sys.exit(0)
    tmp = path + ".orphans-test"
    with open(tmp, "w") as f:
        json.dump(d, f)
    os.rename(tmp, path)
EOF
}

# The links a sim attach makes: the router's end named by the id, the
# node's end (ethDEVICE) with the interface's MAC.
plug() { # ID MAC DEVICE
	ip -n "$ROUTER" link add "$1" type veth peer name "eth$3" address "$2" netns "$NODE_NS"
	ip -n "$ROUTER" link set "$1" up
}

unplug() { # ID
	ip -n "$ROUTER" link del "$1" 2>/dev/null || true
}

route_ip() { # ID IP MAC: what a sim assign adds in the router
	ip -n "$ROUTER" neigh replace "$2" lladdr "$3" dev "$1" nud permanent
	ip -n "$ROUTER" route replace "$2/32" dev "$1" scope link
}

pool_json() { node_ctl node-1 ipam show -j; }

pool_iface_field() { # ID FIELD -> the field of the pool's interface ID ("" when unknown)
	pool_json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["interfaces"]:
    if i["id"] == sys.argv[1]:
        print(i[sys.argv[2]])' "$1" "$2"
}

pool_has_iface() { [[ -n $(pool_iface_field "$1" id) ]]; }
pool_lacks_iface() { ! pool_has_iface "$1"; }
iface_adopted() { [[ $(pool_iface_field "$1" ifindex) =~ ^[1-9] ]]; }

pool_ips() { # ID
	pool_json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["interfaces"]:
    if i["id"] == sys.argv[1]:
        print("\n".join(sorted(s["ip"] for s in i["ips"])))' "$1"
}

# Every IP the cloud assigned to node-1's Sluice interfaces is in the pool and
# the pool holds nothing else.
pool_matches_cloud() {
	local cloud pool
	cloud=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sorted((i["id"], ip) for inst in d["instances"] if inst["id"] == "node-1"
             for i in inst["interfaces"] if not i["primary"] and not i.get("foreign") for ip in i["ips"]))' "$VPC_JSON")
	pool=$(pool_json | python3 -c '
import json, sys
print(sorted((i["id"], s["ip"]) for i in json.load(sys.stdin)["interfaces"] for s in i["ips"]))')
	[[ $cloud == "$pool" ]]
}

assert_settled() {
	WAIT_TIMEOUT=20 wait_for pool_matches_cloud
	# Every Sluice interface in the cloud is the pool's, and adopted.
	local id
	for id in $(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(i["id"] for inst in d["instances"] if inst["id"] == "node-1"
               for i in inst["interfaces"] if not i["primary"] and not i.get("foreign")))' "$VPC_JSON"); do
		iface_adopted "$id" || fail "cloud interface $id is not adopted: $(pool_json)"
	done
}

orphan_count() { pool_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["orphans"][sys.argv[1]])' "$1"; }

agent_log() { cat "/run/sluice-lab/$LAB/nodes/node-1/sluiced.log"; }
logged() { agent_log | grep -qF -- "$1"; }

test_unknown_interface_with_netdev_is_adopted() {
	local id=${RUN_ID}a mac=02:5e:99:00:01:01 ifindex readopted
	readopted=$(orphan_count readopted)
	defer unplug "$id"
	defer sim del-iface "$id"
	# The netdev first: one that shows up later is detached if a pass
	# finds the interface without it twice.
	plug "$id" "$mac" 4
	sim add-iface "$id" "$mac" 4 198.18.31.10 198.18.31.11,198.18.31.12
	route_ip "$id" 198.18.31.11 "$mac"
	route_ip "$id" 198.18.31.12 "$mac"

	WAIT_TIMEOUT=20 wait_for iface_adopted "$id"
	assert_eq "$(pool_iface_field "$id" name)" eni4 "stable name of the adopted netdev"
	assert_eq "$(pool_ips "$id" | tr '\n' ' ')" "198.18.31.11 198.18.31.12 " "its IPs in the pool"
	ifindex=$(pool_iface_field "$id" ifindex)
	assert_eq "$(json_get "$(node_ctl node-1 map dump eni -j)" "len([e for e in d if e['ifindex'] == $ifindex])")" 1 \
		"ENI map entry"
	assert_contains "$(lab node exec node-1 -- ip -d link show eni4)" "mtu "
	assert_contains "$(lab node exec node-1 -- ip link show eni4)" "state UP"
	assert_contains "$(lab node exec node-1 -- ip addr show eni4)" "198.18.31.10/32"
	assert_settled
	# and `ipam show` says so
	(($(orphan_count readopted) > readopted)) || fail "orphans.readopted did not grow: $(orphan_count readopted)"
}

test_unknown_interface_without_netdev_is_detached_foreign_untouched() {
	local id=${RUN_ID}d fid=${RUN_ID}f fmac=02:5e:99:00:02:02 detached
	detached=$(orphan_count detached)
	defer unplug "$fid"
	defer sim del-iface "$fid"
	defer sim del-iface "$id"
	# Someone else's interface, with a netdev (named ethN by "its" owner) and
	# an address of its own.
	plug "$fid" "$fmac" 5
	sim add-iface "$fid" "$fmac" 5 198.18.31.20 198.18.31.21 foreign
	lab node exec node-1 -- ip addr add 198.18.31.20/20 dev eth5
	# Sluice's (by its record), but no netdev ever appeared for it.
	sim add-iface "$id" 02:5e:99:00:02:01 3 198.18.31.30 198.18.31.31

	WAIT_TIMEOUT=20 wait_for sim_lacks_iface "$id"
	logged "$id (02:5e:99:00:02:01) is Sluice's but unknown to the pool and has no netdev yet" ||
		fail "detached without a second look"
	logged "detached $id" || fail "no detach logged: $(agent_log | tail -5)"
	# The pass that detached $id saw $fid too, and left it alone.
	assert_ok sim has-iface "$fid"
	assert_ok sim has-ip "$fid" 198.18.31.21
	pool_lacks_iface "$fid" || fail "the foreign interface joined the pool"
	pool_lacks_iface "$id" || fail "the detached interface is in the pool"
	assert_ok lab node exec node-1 -- ip link show eth5 # not renamed
	assert_not_contains "$(lab node exec node-1 -- tc filter show dev eth5 ingress)" "bpf"
	assert_not_contains "$(agent_log)" "$fid"
	assert_settled
	(($(orphan_count detached) > detached)) || fail "orphans.detached did not grow: $(orphan_count detached)"
}
sim_lacks_iface() { ! sim has-iface "$1"; }

test_netdev_that_shows_up_late_is_adopted() {
	local id=${RUN_ID}l mac=02:5e:99:00:05:01
	defer unplug "$id"
	defer sim del-iface "$id"
	sim add-iface "$id" "$mac" 4 198.18.31.60 198.18.31.61
	WAIT_TIMEOUT=20 wait_for logged "$id ($mac) is Sluice's but unknown to the pool and has no netdev yet"
	plug "$id" "$mac" 4
	WAIT_TIMEOUT=20 wait_for iface_adopted "$id"
	assert_ok sim has-iface "$id"
	assert_settled
}

test_interface_gone_from_cloud_is_forgotten() {
	local id=${RUN_ID}g mac=02:5e:99:00:03:01
	defer unplug "$id"
	defer sim del-iface "$id"
	# The netdev first: one that shows up later is detached if a pass
	# finds the interface without it twice.
	plug "$id" "$mac" 4
	sim add-iface "$id" "$mac" 4 198.18.31.40 198.18.31.41
	WAIT_TIMEOUT=20 wait_for iface_adopted "$id"

	# The cloud detaches it: the record and the netdev go.
	sim del-iface "$id"
	unplug "$id"
	WAIT_TIMEOUT=20 wait_for pool_lacks_iface "$id"
	logged "forgot interface $id" || fail "no forget logged"
	assert_eq "$(json_get "$(node_ctl node-1 map dump endpoint -j)" \
		"len([e for e in d if e.get('ip') == '198.18.31.40'])")" 0 "host entry of its primary IP"
	assert_settled
}

iface_of_ip() { # IP -> the pool interface holding it
	pool_json | python3 -c '
import json, sys
print("".join(i["id"] for i in json.load(sys.stdin)["interfaces"] if any(s["ip"] == sys.argv[1] for s in i["ips"])))' "$1"
}

test_interface_with_pod_gone_from_cloud_is_lost_until_the_pod_goes() {
	local ip eni ip2
	ip=$(pod_add node-1 orph/p1)
	defer lab pod del orph/p1
	eni=$(iface_of_ip "$ip")
	[[ -n $eni ]] || fail "no interface holds $ip"

	# The cloud loses the interface under the pod.
	sim del-iface "$eni"
	unplug "$eni"
	WAIT_TIMEOUT=20 wait_for pool_lacks_iface "$eni"
	logged "$eni is no longer Sluice's in the cloud, but" || fail "the pod's IP was not reported"
	# The pod keeps its endpoint (a DEL must still find it).
	assert_eq "$(json_get "$(node_ctl node-1 endpoint list -j)" \
		'len([e for e in d["endpoints"] if e["pod"] == "p1" and e["eni"] == "'"$eni"'"])')" 1 "endpoint of p1"
	# A new pod gets an IP of a live interface.
	ip2=$(pod_add node-1 orph/p2)
	defer lab pod del orph/p2
	assert_ne "$(iface_of_ip "$ip2")" "" "interface of a new pod's IP"
	assert_ne "$(iface_of_ip "$ip2")" "$eni" "interface of a new pod's IP"

	lab pod del orph/p1
	WAIT_TIMEOUT=20 wait_for logged "the last pod on lost interface $eni is gone"
	lab pod del orph/p2
	assert_settled
}

test_ips_follow_the_cloud() {
	local id=${RUN_ID}i mac=02:5e:99:00:04:01
	defer unplug "$id"
	defer sim del-iface "$id"
	# The netdev first: one that shows up later is detached if a pass
	# finds the interface without it twice.
	plug "$id" "$mac" 4
	sim add-iface "$id" "$mac" 4 198.18.31.50 198.18.31.51
	route_ip "$id" 198.18.31.51 "$mac"
	WAIT_TIMEOUT=20 wait_for iface_adopted "$id"

	# Assigned behind the agent's back: the pool takes it as free.
	sim add-ip "$id" 198.18.31.52
	route_ip "$id" 198.18.31.52 "$mac"
	WAIT_TIMEOUT=20 wait_for logged "198.18.31.52 on $id is assigned in the cloud"
	# Released behind its back: a free IP leaves the pool.
	sim del-ip "$id" 198.18.31.51
	WAIT_TIMEOUT=20 wait_for logged "198.18.31.51 is no longer assigned to $id"
	assert_settled
	if pool_ips "$id" | grep -qx 198.18.31.51; then
		fail "a released IP is still in the pool"
	fi
}

run_tests
