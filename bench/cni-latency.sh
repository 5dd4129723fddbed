#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# CNI ADD and DEL latency of Sluice in the lab, measured at the plugin: the
# wall time of `sluice` invoked the way a runtime does (env + config on
# stdin), N pods in a row, with a warm pool (the pool controller is given
# time to fill it before timing). Namespaces are created before timing, so
# the figure is the CNI call alone. Prints p50/p90/p99/max in ms.
#
#   bench/cni-latency.sh [N]        (default 100; run as root after `make`)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
ctl=$top/$BUILD/sluicectl
plugin=$top/$BUILD/sluice
n=${1:-100}
lab=bl$$
sock=/run/sluice-lab/$lab/nodes/node-1/sluiced.sock

cleanup() {
	for i in $(seq 1 "$n"); do ip netns del "$lab-p$i" 2>/dev/null || true; done
	"$ctl" lab down --name "$lab" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Room for N pods on one node: 4 interfaces of 64 IPs, a warm pool of N.
"$ctl" lab up --name "$lab" --nodes 1 --max-ips-per-interface 64 --warm-ip-target "$n" >/dev/null
for _ in $(seq 1 100); do
	free=$("$ctl" --lab "$lab" --node node-1 ipam show -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["free"])')
	((free >= n)) && break
	sleep 0.1
done
for i in $(seq 1 "$n"); do ip netns add "$lab-p$i"; done

# The timing loop runs in Python: one fork+exec of the plugin per call, as a
# runtime does, timed around exactly that. The same loop over /bin/true
# gives the exec floor of this machine, printed beside the results.
python3 - "$plugin" "$sock" "$lab" "$n" <<'EOF2'
import os, subprocess, sys, time
plugin, sock, lab, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conf = ('{"cniVersion":"1.1.0","name":"sluice","type":"sluice","agentSocket":"%s"}' % sock).encode()

def call(binary, verb, i):
    env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": "bench%d" % i, "CNI_IFNAME": "eth0",
           "CNI_NETNS": "/var/run/netns/%s-p%d" % (lab, i),
           "CNI_ARGS": "K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p%d" % i}
    t0 = time.perf_counter_ns()
    r = subprocess.run([binary], input=conf, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter_ns() - t0
    if binary == plugin and r.returncode != 0:
        sys.exit("%s %d failed: %s" % (verb, i, r.stdout.decode()))
    return dt / 1e6

def stats(name, xs):
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
    print("%-14s n=%d p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms" % (name, len(xs), q(50), q(90), q(99), xs[-1]))

floor = [call("/bin/true", "VERSION", i) for i in range(1, n + 1)]
add = [call(plugin, "ADD", i) for i in range(1, n + 1)]
dele = [call(plugin, "DEL", i) for i in range(1, n + 1)]
stats("exec floor", floor)
stats("CNI ADD", add)
stats("CNI DEL", dele)
EOF2
