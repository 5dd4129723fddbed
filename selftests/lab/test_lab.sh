#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The lab itself: manifests give pods their labels and ports, bad manifests
# change nothing, several labs live side by side, and `lab down` leaves
# nothing behind.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/lab.sh"

# Everything a lab owns on this machine, one line per object.
lab_footprint() { # NAME
	local name=$1
	ip netns list | awk '{print $1}' | grep "^$name-" || true
	ls -d "/run/sluice-lab/$name" "/sys/fs/bpf/sluice-lab-$name" 2>/dev/null || true
	pgrep -af "sluiced .*--socket /run/sluice-lab/$name/" | grep -v pgrep || true
}

test_manifests_give_labels_and_ports() {
	local name=${RUN_ID}mf eps
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 >/dev/null
	lab apply -f - <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: front}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web, version: "2"}}
spec:
  containers:
  - name: c
    image: busybox
    ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
EOF
	pod_add node-1 shop/web >/dev/null
	pod_add node-1 shop/other --labels app=other,role=db >/dev/null
	eps=$(node_ctl node-1 endpoint list -j)
	assert_eq "$(json_get "$eps" '[e["labels"] for e in d["endpoints"] if e["pod"] == "web"][0]')" \
		'{"app": "web", "version": "2"}' "labels of the applied Pod"
	assert_eq "$(json_get "$eps" '[[(p["name"], p["containerPort"], p["protocol"]) for p in e["ports"]] for e in d["endpoints"] if e["pod"] == "web"][0]')" \
		'[["http", 8080, "TCP"], ["", 53, "UDP"]]' "container ports"
	assert_eq "$(json_get "$eps" '[e["labels"] for e in d["endpoints"] if e["pod"] == "other"][0]')" \
		'{"app": "other", "role": "db"}' "labels given to pod add"
	# The Namespace carries the label the API server sets.
	assert_contains "$(cat /run/sluice-lab/$name/manifests/namespace_shop.json)" '"kubernetes.io/metadata.name": "shop"'
	# A relabel through apply reaches the agent (inotify).
	lab apply -f - <<'EOF'
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "version": "3"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
EOF
	WAIT_TIMEOUT=5 wait_for sh -c "'$SLUICECTL' --lab $name --node node-1 endpoint list -j | grep -q '\"version\": \"3\"'"
}

test_bad_manifest_changes_nothing() {
	local name=${RUN_ID}bm before out
	LAB=$name
	defer "$SLUICECTL" lab down --name "$name"
	lab_start "$name" --nodes 1 >/dev/null
	pod_add node-1 ns1/a --labels app=a >/dev/null
	before=$(ls /run/sluice-lab/$name/manifests; cat /run/sluice-lab/$name/manifests/*)
	out=$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: ns1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n' |
		lab apply -f - 2>&1) && fail "a bad manifest was applied"
	assert_contains "$out" "document 2"
	assert_contains "$out" "Bad_Name"
	out=$(echo 'kind: Gadget' | lab apply -f - 2>&1) && fail "an unknown kind was applied"
	assert_contains "$out" "Gadget"
	assert_eq "$(ls /run/sluice-lab/$name/manifests; cat /run/sluice-lab/$name/manifests/*)" "$before" "manifest directory"
	out=$(lab pod add node-1 ns1/x --labels 'no-equals-sign' 2>&1) && fail "a bad --labels was accepted"
	assert_contains "$out" "key=value"
	assert_fails lab exec ns1/x -- true
}

test_labs_live_side_by_side_and_down_leaves_nothing() {
	local a=${RUN_ID}la b=${RUN_ID}lb ipa ipb
	defer "$SLUICECTL" lab down --name "$a"
	defer "$SLUICECTL" lab down --name "$b"
	LAB=$a lab_start "$a" --nodes 1 >/dev/null
	LAB=$b lab_start "$b" --nodes 1 >/dev/null
	ipa=$("$SLUICECTL" lab --name "$a" pod add node-1 x/p)
	ipb=$("$SLUICECTL" lab --name "$b" pod add node-1 x/p)
	# Same address plan, separate VPCs: both get the first pod IP and work.
	assert_eq "$ipa" "$ipb" "first pod IP of two identical labs"
	LAB=$a assert_ping host "$ipa"
	LAB=$b assert_ping host "$ipb"

	"$SLUICECTL" lab down --name "$a"
	assert_eq "$(lab_footprint "$a")" "" "what lab $a left behind"
	LAB=$b assert_ping host "$ipb"
	LAB=$b assert_tcp host x/p "$ipb"
	"$SLUICECTL" lab down --name "$b"
	assert_eq "$(lab_footprint "$b")" "" "what lab $b left behind"
	"$SLUICECTL" lab down --name "$b" # idempotent
}

test_bad_lab_arguments_are_refused() {
	assert_fails "$SLUICECTL" lab up --name Bad-Name
	assert_fails "$SLUICECTL" lab up --name "${RUN_ID}zz" --nodes 0
	assert_fails "$SLUICECTL" lab up --name "${RUN_ID}zz" --nodes x
	assert_fails "$SLUICECTL" lab pod add --name "${RUN_ID}zz" node-1 nopod
	assert_eq "$(lab_footprint "${RUN_ID}zz")" "" "what refused commands left"
}

run_tests
