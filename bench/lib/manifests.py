#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Kubernetes manifests for the bench's Sluice topologies (JSON on stdout).

  manifests.py realistic HOST_IP [N...]  the NetworkPolicy set of sluice-policy
                                         (namespace benchpol), allowing the client
                                         to reach the servers srv-N too
  manifests.py rules N                   sluice-policy-N: N ingress rules for app=bench-srv-N
                                         that never match (ipBlock 10.250.x.y/32, port
                                         9999); "allow benchpol bench-srv-N bench-pcli"
                                         is the one that lets the client in
  manifests.py deny NAMESPACE APP        isolate pods app=APP for ingress, allow nothing
  manifests.py allow NAMESPACE APP FROM  ingress to app=APP from app=FROM, ports 7000/5201
  manifests.py pods NAMESPACE PREFIX FIRST LAST NODE [k=v,...]
                                         Pod objects PREFIX<FIRST>..PREFIX<LAST>
"""
import json
import sys

PORTS = [{"protocol": "TCP", "port": 7000}, {"protocol": "TCP", "port": 5201}]


def np(name, ns, selector, spec):
    spec = dict(spec)
    spec["podSelector"] = selector
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def app(a):
    return {"matchLabels": {"app": a}}


def realistic(host_ip, counts):
    ns = "benchpol"
    servers = ["bench-psrv", "bench-pxsrv"] + ["bench-srv-%s" % n for n in counts]
    items = [
        # What most clusters start from: deny everything, then open up.
        np("default-deny", ns, {}, {"policyTypes": ["Ingress", "Egress"]}),
        np("allow-dns", ns, {}, {"policyTypes": ["Egress"], "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}),
        np("servers-from-client", ns, {"matchExpressions": [{"key": "app", "operator": "In",
                                                             "values": ["bench-psrv", "bench-pxsrv"]}]},
           {"policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": app("bench-pcli")}],
                                                     "ports": PORTS}]}),
        np("client-egress", ns, app("bench-pcli"), {"policyTypes": ["Egress"], "egress": [
            {"to": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": servers}]}}],
             "ports": PORTS},
            {"to": [{"ipBlock": {"cidr": host_ip + "/32"}}], "ports": PORTS}]}),
        np("monitoring", ns, {}, {"policyTypes": ["Ingress"], "ingress": [{
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": 9100}, {"protocol": "TCP", "port": 8080, "endPort": 8090}]}]}),
    ]
    # Neighbours that select nothing in the bench but sit in the same maps.
    for tier, peer in (("frontend", "ingress"), ("backend", "frontend"), ("db", "backend")):
        items.append(np("tier-" + tier, ns, {"matchLabels": {"tier": tier}}, {
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": peer}}},
                                  {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                         "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": 443}]}]}))
    return items


def rules(n):
    n = int(n)
    ingress = [{"from": [{"ipBlock": {"cidr": "10.250.%d.%d/32" % (i // 250, i % 250 + 1)}}],
                "ports": [{"protocol": "TCP", "port": 9999}]} for i in range(n)]
    return [np("bench-rules-%d" % n, "benchpol", app("bench-srv-%d" % n),
               {"policyTypes": ["Ingress"], "ingress": ingress})]


def pods(ns, prefix, first, last, node, labels=""):
    lab = dict(kv.split("=", 1) for kv in labels.split(",") if kv)
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    for i in range(int(first), int(last) + 1):
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "%s%d" % (prefix, i), "namespace": ns, "labels": lab},
                    "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox",
                                                               "ports": [{"name": "rr", "containerPort": 7000}]}]}})
    return out


def main(argv):
    cmd = argv[1]
    if cmd == "realistic":
        items = realistic(argv[2], argv[3:])
    elif cmd == "rules":
        items = rules(argv[2])
    elif cmd == "deny":
        items = [np("bench-deny-" + argv[3], argv[2], app(argv[3]), {"policyTypes": ["Ingress"]})]
    elif cmd == "allow":
        items = [np("bench-allow-" + argv[3], argv[2], app(argv[3]),
                    {"policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": app(argv[4])}],
                                                              "ports": PORTS}]})]
    elif cmd == "pods":
        items = pods(*argv[2:])
    else:
        sys.exit(__doc__)
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
