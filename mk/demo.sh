#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: a 2-node simulated VPC, pods created through the real CNI
# plugin, a connectivity matrix through the eBPF datapath, and how to look
# inside. make demo-down removes it all.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
ctl="$top/$BUILD/sluicectl"
lab=${LAB:-sluice}

if [[ $(id -u) -ne 0 ]]; then
	echo "make demo needs root: it creates network namespaces and loads BPF programs." >&2
	exit 1
fi

case "${1:-up}" in
down)
	"$ctl" lab down --name "$lab"
	exit 0
	;;
up) ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac

if "$ctl" lab status --name "$lab" >/dev/null 2>&1; then
	echo "== lab $lab is up from an earlier demo: recreating it"
	"$ctl" lab down --name "$lab"
fi

echo "== a simulated VPC with 2 nodes (one sluiced each)"
"$ctl" lab up --name "$lab" --nodes 2

echo
echo "== pods, through the sluice CNI plugin (CNI ADD)"
"$ctl" lab apply --name "$lab" -f - <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels: {team: demo}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: demo
  labels: {app: web}
spec:
  nodeName: node-1
  containers:
  - name: web
    image: busybox
    ports: [{name: http, containerPort: 80}]
EOF
for p in "node-1 demo/web-1" "node-1 demo/client" "node-2 demo/web-2 --labels app=web"; do
	# shellcheck disable=SC2086
	ip=$("$ctl" lab pod add --name "$lab" $p)
	printf '  %-8s %-12s %s\n' ${p%% --*} "$ip"
done

echo
"$ctl" lab status --name "$lab"

echo
echo "== connectivity matrix (ICMP echo and a TCP connection for every pair)"
"$ctl" lab matrix --name "$lab"

web2=$("$ctl" lab status --name "$lab" -j | python3 -c 'import json,sys; print([p["ip"] for p in json.load(sys.stdin)["pods"] if p["name"]=="web-2"][0])')
pins=/sys/fs/bpf/sluice-lab-$lab/node-1
cat <<EOF

== look inside (node-1; use --node node-2 for the other)
  $BUILD/sluicectl --lab $lab --node node-1 status
  $BUILD/sluicectl --lab $lab --node node-1 endpoint list
  $BUILD/sluicectl --lab $lab --node node-1 ipam show
  $BUILD/sluicectl --lab $lab --node node-1 map dump endpoint     # also: eni, metrics, meta
  $BUILD/sluicectl --lab $lab --node node-1 monitor               # drop events as they happen
  bpftool map dump pinned $pins/sluice_endpoint
  bpftool map dump pinned $pins/sluice_metrics
  $BUILD/sluicectl lab node exec node-1 -- bpftool net show       # tc programs on veths and ENIs
  $BUILD/sluicectl lab exec demo/client -- ping -c 3 $web2        # pod -> pod across nodes
  $BUILD/sluicectl lab host exec -- ping -c 3 $web2               # VPC host -> pod

== tear it down
  make demo-down
EOF
