#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Accounting between fake-ibm's cloud and the node agents of a lab.

  ibm_account.py INVENTORY.json LAB-STATUS.json [NODE IPAM.json LINKS.json]...

INVENTORY is fake-ibm's GET /fake/inventory, LAB-STATUS `sluicectl lab status
-j`, IPAM a node agent's `sluicectl ipam show -j` (docs/agent-api.md), LINKS
`ip -j link show` in the node's namespace. Prints "ok" when, for every node:

  - the cloud's secondary network attachments of the instance are all stable
    (none pending or deleting: converged) and are exactly the agent's interfaces;
  - the reserved IPs bound to each attachment's VNI (its primary IP aside) are
    exactly the agent's pool IPs on that interface (free and used);
  - each agent interface is a link in the node with the VNI's MAC, and no link in
    the node carries the MAC of a VNI the agent does not hold (half-attached);
  - the lab's pods on the node have distinct IPs, all in use in the agent's pool,
    and the agent uses no IP for a pod the lab does not have;

and, for the whole cloud, no reserved IP of the pod subnet is unbound or bound
to a VNI that is gone, and no VNI is left without an attachment. Otherwise
prints one line per difference.
"""
import json
import sys


def main():
    inv = json.load(open(sys.argv[1]))
    status = json.load(open(sys.argv[2]))
    rest = sys.argv[3:]
    problems = []

    atts = {a["id"]: a for a in inv["network_attachments"]}
    vnis = {v["id"]: v for v in inv["virtual_network_interfaces"]}
    vni_primary = {v["id"]: v.get("primary_ip", {}).get("id") for v in vnis.values()}
    bound = {}  # vni id -> set of addresses (primary IPs excluded)
    for r in inv["reserved_ips"]:
        t = (r.get("target") or {}).get("id")
        if r.get("subnet") != "subnet-pods":
            continue
        if not t:
            problems.append("reserved IP %s (%s, %s) is bound to nothing" % (r["address"], r["id"], r["name"]))
            continue
        if t not in vnis:
            problems.append("reserved IP %s is bound to VNI %s, which is gone" % (r["address"], t))
            continue
        if vni_primary.get(t) == r["id"]:
            continue
        bound.setdefault(t, set()).add(r["address"])
    for v in vnis.values():
        if v.get("attachment") not in atts:
            problems.append("VNI %s (%s) has no attachment" % (v["id"], v["name"]))

    all_ips = {}
    for p in status["pods"]:
        if p.get("ip"):
            all_ips.setdefault(p["ip"], []).append(p["namespace"] + "/" + p["name"])
    for ip, who in all_ips.items():
        if len(who) > 1:
            problems.append("IP %s is held by several pods: %s" % (ip, ", ".join(who)))

    for i in range(0, len(rest), 3):
        node, ipam, links = rest[i], json.load(open(rest[i + 1])), json.load(open(rest[i + 2]))
        cloud = {a["id"]: a for a in atts.values() if a.get("instance") == node and a.get("type") != "primary"}
        for a in cloud.values():
            if a["lifecycle_state"] != "stable":
                problems.append("%s: attachment %s (%s) is %s" % (node, a["id"], a["name"], a["lifecycle_state"]))
        agent = {i["id"]: i for i in ipam["interfaces"]}
        for aid in sorted(set(cloud) - set(agent)):
            problems.append("%s: attachment %s (%s) in the cloud, not in the agent" % (node, aid, cloud[aid]["name"]))
        for aid in sorted(set(agent) - set(cloud)):
            problems.append("%s: interface %s in the agent, not attached in the cloud" % (node, aid))
        macs = {l.get("address", "").lower(): l for l in links}
        agent_macs = set()
        for aid in sorted(set(agent) & set(cloud)):
            vid = cloud[aid]["virtual_network_interface"]["id"]
            want = bound.get(vid, set())
            have = {s["ip"] for s in agent[aid]["ips"]}
            if want - have:
                problems.append("%s: %s: reserved in the cloud, not in the pool: %s" % (node, aid, sorted(want - have)))
            if have - want:
                problems.append("%s: %s: in the pool, not reserved in the cloud: %s" % (node, aid, sorted(have - want)))
            mac = vnis[vid]["mac"].lower()
            agent_macs.add(mac)
            if mac not in macs:
                problems.append("%s: interface %s: no link with MAC %s in the node" % (node, aid, mac))
        for v in vnis.values():
            a = atts.get(v.get("attachment"))
            if a and a.get("instance") == node and a.get("type") != "primary" and v["mac"].lower() in macs \
                    and v["mac"].lower() not in agent_macs and a["lifecycle_state"] == "stable":
                problems.append("%s: link %s (MAC %s) is not an interface of the agent" %
                                (node, macs[v["mac"].lower()].get("ifname"), v["mac"]))
        used = {s["ip"] for i in ipam["interfaces"] for s in i["ips"] if s.get("containerID")}
        pods = {ip for ip, who in all_ips.items()
                if any(p["node"] == node and p["ip"] == ip for p in status["pods"])}
        if pods - used:
            problems.append("%s: pods whose IP the pool does not hold in use: %s" % (node, sorted(pods - used)))
        if used - pods:
            problems.append("%s: IPs in use for pods the lab does not have: %s" % (node, sorted(used - pods)))

    print("\n".join(problems) if problems else "ok")


if __name__ == "__main__":
    main()
