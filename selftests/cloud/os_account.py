#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Accounting between a real Neutron and a lab node's agent (openstack provider).

  os_account.py PORTS.json LAB-STATUS.json NODE SERVER IPAM.json LINKS.json

PORTS is Neutron's GET /v2.0/ports?network_id=<the pod network> (admin), IPAM
the agent's `sluicectl ipam show -j`, LINKS `ip -j link show` in the node.
Prints "ok" when:

  - every port of the pod network is Sluice's port of SERVER (description
    "sluice:SERVER"), attached to it (device_id) and ACTIVE: nothing leaked,
    nothing half-attached; and these ports are exactly the agent's interfaces;
  - each port's fixed IPs, its own (tag "sluice-primary=<ip>") aside, are
    exactly the agent's pool IPs on that interface;
  - each interface is a link in the node with the port's MAC;
  - the lab's pods on NODE have distinct IPs, all in use in the pool, and the
    pool uses no IP for a pod the lab does not have.

Otherwise prints one line per difference.
"""
import json
import sys


def main():
    ports = json.load(open(sys.argv[1]))["ports"]
    status = json.load(open(sys.argv[2]))
    node, server = sys.argv[3], sys.argv[4]
    ipam = json.load(open(sys.argv[5]))
    links = json.load(open(sys.argv[6]))
    problems = []

    ours = {}
    for p in ports:
        if p.get("description") != "sluice:" + server:
            problems.append("port %s (%s, %s) is not Sluice's port of the node" %
                            (p["id"], p.get("name"), p.get("description")))
            continue
        if p.get("device_id") != server:
            problems.append("port %s (%s) is not attached (device_id %r)" % (p["id"], p["name"], p["device_id"]))
            continue
        if p.get("status") != "ACTIVE":
            problems.append("port %s (%s) is %s" % (p["id"], p["name"], p.get("status")))
        ours[p["id"]] = p
    agent = {i["id"]: i for i in ipam["interfaces"]}
    for pid in sorted(set(ours) - set(agent)):
        problems.append("port %s (%s) attached in the cloud, not in the agent" % (pid, ours[pid]["name"]))
    for pid in sorted(set(agent) - set(ours)):
        problems.append("interface %s in the agent, not an attached port" % pid)
    macs = {l.get("address", "").lower() for l in links}
    for pid in sorted(set(agent) & set(ours)):
        p = ours[pid]
        own = {t.split("=", 1)[1] for t in p.get("tags", []) if t.startswith("sluice-primary=")}
        want = {f["ip_address"] for f in p["fixed_ips"]} - own
        have = {s["ip"] for s in agent[pid]["ips"]}
        if want - have:
            problems.append("%s: fixed IPs not in the pool: %s" % (pid, sorted(want - have)))
        if have - want:
            problems.append("%s: pool IPs not fixed IPs of the port: %s" % (pid, sorted(have - want)))
        if p["mac_address"].lower() not in macs:
            problems.append("%s: no link with MAC %s in the node" % (pid, p["mac_address"]))

    pods = {}
    for p in status["pods"]:
        if p.get("ip") and p["node"] == node:
            pods.setdefault(p["ip"], []).append(p["namespace"] + "/" + p["name"])
    for ip, who in pods.items():
        if len(who) > 1:
            problems.append("IP %s is held by several pods: %s" % (ip, ", ".join(who)))
    used = {s["ip"] for i in ipam["interfaces"] for s in i["ips"] if s.get("containerID")}
    if set(pods) - used:
        problems.append("pods whose IP the pool does not hold in use: %s" % sorted(set(pods) - used))
    if used - set(pods):
        problems.append("IPs in use for pods the lab does not have: %s" % sorted(used - set(pods)))
    print("\n".join(problems) if problems else "ok")


if __name__ == "__main__":
    main()
