#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A reference implementation of networking.k8s.io/v1 NetworkPolicy, for tests.

It knows nothing of Sluice: it reads Kubernetes objects (Namespace, Pod,
NetworkPolicy, and List) and decides, for a connection from one endpoint to
another on a protocol and port, whether Kubernetes says it is allowed. The lab
suite (selftests/lab/test_netpol.sh) compares its answers with what sl-grid
measured. Written from the API reference and the Network Policies concept
page, plus the two choices docs/policy.md makes where Kubernetes leaves them to
the implementation (ipBlock matches pod IPs too; named ports resolve against
the destination pod, never towards an address that is not a pod).

Semantics, in short:
  * A connection is allowed iff the source's egress allows it AND the
    destination's ingress allows it (replies of an allowed connection pass).
  * A pod is isolated in a direction iff some policy of its namespace selects
    it (podSelector) and has that direction in policyTypes. policyTypes, when
    empty, is ["Ingress"], plus "Egress" if spec.egress has at least one rule.
    An isolated pod allows what at least one rule of one such policy allows.
  * A rule matches a peer (from/to: absent or empty matches every peer) and a
    port (ports: absent or empty matches every port of every protocol).
  * Peers: podSelector alone = pods of the policy's namespace; namespaceSelector
    alone = every pod of the selected namespaces; both = the selected pods of
    the selected namespaces; ipBlock = addresses in cidr and in no except.
    An empty selector selects everything; an absent one does not take part.
  * The node a pod runs on always reaches it (kubelet probes).
  * Nodes and other hosts are not pods: they have no policy of their own and
    only an ipBlock matches them.

Usage:
  netpol_oracle.py --self-test
  netpol_oracle.py render --targets GRID_INPUT FILE      ${NAME} -> the target's ip
  netpol_oracle.py pods FILE...                          "NS/NAME NODE" per Pod
  netpol_oracle.py live --targets GRID_INPUT FILE        FILE as a List, Pods with their IPs
  netpol_oracle.py check --grid RESULTS [--max N] (--apply F | --delete F)...
  netpol_oracle.py expect --grid RESULTS (--apply F | --delete F)...   the tables
The --apply/--delete operations replay, in order, what was applied to the lab
(an object replaces the earlier object of the same kind, namespace and name).
check prints "cells N mismatches M", then one line per differing cell; it
exits 0 when every cell matches, 1 when some differ, 2 on bad input.

Scenario files are YAML or JSON. The YAML reader below takes the block and
flow subset that Kubernetes manifests use (mappings, sequences, plain and
quoted scalars, comments, "---" documents) and refuses the rest (anchors,
tags, block scalars) rather than guess: the standard library has no YAML.
"""

import ipaddress
import json
import re
import sys

NS_NAME_LABEL = "kubernetes.io/metadata.name"


class OracleError(Exception):
    pass


# --- a YAML subset reader --------------------------------------------------------

_INT = re.compile(r"^[-+]?[0-9]+$")
_KEY = re.compile(r"^([^\s#'\"{}\[\],:][^#]*?)\s*:(?:\s+|$)")


def _scalar(text, where):
    text = text.strip()
    if text[:1] in ("&", "*", "!", "|", ">", "%", "@", "`"):
        raise OracleError(f"{where}: unsupported YAML: {text!r}")
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    return text


def _quoted(s, i, where):
    """Parses the quoted string starting at s[i]; returns (value, next index)."""
    q = s[i]
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if q == "'" and c == "'":
            if s[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if q == '"' and c == "\\":
            e = s[i + 1:i + 2]
            simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "/": "/", "0": "\0"}
            if e in simple:
                out.append(simple[e])
                i += 2
                continue
            if e == "u":
                out.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
                continue
            raise OracleError(f"{where}: unsupported escape \\{e}")
        if q == '"' and c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise OracleError(f"{where}: unterminated string")


def _flow(s, i, where):
    """Parses a flow value at s[i]; returns (value, next index)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise OracleError(f"{where}: unexpected end of flow collection")
    c = s[i]
    if c in "{[":
        close = "}" if c == "{" else "]"
        coll = {} if c == "{" else []
        i += 1
        while True:
            while i < len(s) and s[i] == " ":
                i += 1
            if i < len(s) and s[i] == close:
                return coll, i + 1
            if c == "{":
                key, i = _flow(s, i, where)
                while i < len(s) and s[i] == " ":
                    i += 1
                if i >= len(s) or s[i] != ":":
                    raise OracleError(f"{where}: expected ':' in a flow mapping")
                val, i = _flow(s, i + 1, where)
                coll[key] = val
            else:
                val, i = _flow(s, i, where)
                coll.append(val)
            while i < len(s) and s[i] == " ":
                i += 1
            if i < len(s) and s[i] == ",":
                i += 1
            elif i < len(s) and s[i] == close:
                return coll, i + 1
            else:
                raise OracleError(f"{where}: expected ',' or '{close}' in a flow collection")
    if c in "'\"":
        return _quoted(s, i, where)
    j = i
    while j < len(s) and s[j] not in ",]}":
        if s[j] == ":" and (j + 1 == len(s) or s[j + 1] in " ,]}"):
            break
        j += 1
    return _scalar(s[i:j], where), j


def _inline(text, where):
    text = text.strip()
    if text[:1] in ("{", "[", "'", '"'):
        val, i = _flow(text, 0, where)
        if text[i:].strip():
            raise OracleError(f"{where}: trailing text after a value: {text[i:]!r}")
        return val
    return _scalar(text, where)


def _strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


class _Lines:
    def __init__(self, lines, name):
        self.v = lines  # [(indent, text, lineno)]
        self.name = name

    def where(self, i):
        return f"{self.name}:{self.v[i][2] if i < len(self.v) else 'end'}"


def _is_seq_item(text):
    return text == "-" or text.startswith("- ")


def _block(L, i, indent):
    """Parses the block node whose first line is L.v[i] at `indent`."""
    ind, text, _ = L.v[i]
    if _is_seq_item(text):
        return _sequence(L, i, ind)
    if _KEY.match(text) or text[:1] in "'\"" and re.match(r"^(['\"]).*?\1\s*:(\s|$)", text):
        return _mapping(L, i, ind)
    val, i = _continued_inline(L, i)
    return val, i


def _continued_inline(L, i):
    """An inline value, possibly a flow collection spanning several lines."""
    text = L.v[i][1]
    where = L.where(i)
    j = i + 1
    if text[:1] in "{[":
        while _depth(text) > 0 and j < len(L.v):
            text += " " + L.v[j][1]
            j += 1
    return _inline(text, where), j


def _depth(text):
    d, quote, escaped = 0, None, False
    for c in text:
        if escaped:
            escaped = False
        elif quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                escaped = True
        elif c in "'\"":
            quote = c
        elif c in "{[":
            d += 1
        elif c in "}]":
            d -= 1
    return d


def _value_after_key(L, i, rest, ind, where):
    """The value of 'key: rest' on line i (rest may be empty: a nested block)."""
    if rest:
        if rest[:1] in "{[":
            L.v[i] = (ind, rest, L.v[i][2])
            return _continued_inline(L, i)
        return _inline(rest, where), i + 1
    j = i + 1
    if j < len(L.v) and (L.v[j][0] > ind or (L.v[j][0] == ind and _is_seq_item(L.v[j][1]))):
        return _block(L, j, L.v[j][0])
    return None, j


def _mapping(L, i, ind):
    out = {}
    while i < len(L.v) and L.v[i][0] == ind:
        text = L.v[i][1]
        where = L.where(i)
        if text[:1] in "'\"":
            key, k = _quoted(text, 0, where)
            m = re.match(r"\s*:(\s+|$)", text[k:])
            if not m:
                raise OracleError(f"{where}: expected 'key: value'")
            rest = text[k + m.end():].strip()
        else:
            m = _KEY.match(text)
            if not m:
                raise OracleError(f"{where}: expected 'key: value', got {text!r}")
            key = _scalar(m.group(1), where)
            rest = text[m.end():].strip()
        if key in out:
            raise OracleError(f"{where}: duplicate key {key!r}")
        out[key], i = _value_after_key(L, i, rest, ind, where)
    if i < len(L.v) and L.v[i][0] > ind:
        raise OracleError(f"{L.where(i)}: bad indentation")
    return out, i


def _sequence(L, i, ind):
    out = []
    while i < len(L.v) and L.v[i][0] == ind and _is_seq_item(L.v[i][1]):
        text = L.v[i][1]
        rest = text[1:].lstrip()
        if not rest:
            j = i + 1
            if j < len(L.v) and L.v[j][0] > ind:
                val, i = _block(L, j, L.v[j][0])
            else:
                val, i = None, j
        else:
            # "- key: v" opens a mapping whose keys sit at the column after "- "
            col = ind + (len(text) - len(rest))
            L.v[i] = (col, rest, L.v[i][2])
            val, i = _block(L, i, col)
        out.append(val)
    if i < len(L.v) and L.v[i][0] > ind:
        raise OracleError(f"{L.where(i)}: bad indentation")
    return out, i


def yaml_load_all(text, name="<yaml>"):
    """The documents of a YAML (subset) or JSON text."""
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            return [json.loads(stripped)]
        except ValueError:
            pass  # YAML flow style, not JSON
    docs, cur = [], []
    for n, raw in enumerate(text.split("\n"), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise OracleError(f"{name}:{n}: tab in indentation")
        line = _strip_comment(raw)
        if line.strip() in ("---", "...") or line.startswith("--- "):
            docs.append(cur)
            cur = []
            continue
        if line.strip():
            cur.append((len(line) - len(line.lstrip()), line.strip(), n))
    docs.append(cur)
    out = []
    for lines in docs:
        if not lines:
            continue
        L = _Lines(lines, name)
        val, i = _block(L, 0, lines[0][0])
        if i != len(lines):
            raise OracleError(f"{L.where(i)}: unexpected content")
        out.append(val)
    return out


# --- objects ------------------------------------------------------------------

def objects_of(docs, name):
    out = []
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict) or "kind" not in d:
            raise OracleError(f"{name}: a document without kind")
        if d["kind"].endswith("List"):
            out.extend(objects_of(d.get("items") or [], name))
        elif d["kind"] in ("Namespace", "Pod", "NetworkPolicy"):
            out.append(d)
        else:
            raise OracleError(f"{name}: unknown kind {d['kind']}")
    return out


def load_objects(path):
    with open(path) as f:
        return objects_of(yaml_load_all(f.read(), path), path)


def obj_key(o):
    md = o.get("metadata") or {}
    ns = "" if o["kind"] == "Namespace" else md.get("namespace") or "default"
    return (o["kind"], ns, md["name"])


class Cluster:
    """The API server's view: objects applied and deleted, last write wins."""

    def __init__(self):
        self.objs = {}

    def apply(self, objs):
        for o in objs:
            self.objs[obj_key(o)] = o

    def delete(self, objs):
        for o in objs:
            self.objs.pop(obj_key(o), None)

    def of_kind(self, kind):
        return [o for k, o in sorted(self.objs.items()) if k[0] == kind]

    def ns_labels(self, ns):
        o = self.objs.get(("Namespace", "", ns))
        labels = dict((o or {}).get("metadata", {}).get("labels") or {})
        labels[NS_NAME_LABEL] = ns  # the API server sets it
        return labels

    def pod(self, ns, name):
        return self.objs.get(("Pod", ns, name))


# --- semantics ------------------------------------------------------------------

def selector_matches(sel, labels):
    """A LabelSelector (present, maybe empty) against a label map."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if not isinstance(v, str):
            raise OracleError(f"matchLabels {k}: a label value is a string, not {v!r} (quote it)")
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), e.get("values") or []
        if not all(isinstance(v, str) for v in values):
            raise OracleError(f"matchExpressions {key}: values are strings (quote them): {values!r}")
        if op in ("In", "NotIn") and not values:
            raise OracleError(f"matchExpressions {key} {op}: values must be non-empty")
        if op in ("Exists", "DoesNotExist") and values:
            raise OracleError(f"matchExpressions {key} {op}: values must be empty")
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise OracleError(f"matchExpressions: unknown operator {op!r}")
        if not ok:
            return False
    return True


class Endpoint:
    """Something that sends or receives a probe: a pod, a node or a host."""

    def __init__(self, name, ip, pod=None, node=None):
        self.name = name
        self.ip = ipaddress.ip_address(ip)
        self.pod = pod  # the Pod object, for pods
        self.node = node  # the node a pod runs on, or the node this endpoint is

    @property
    def ns(self):
        return self.pod["metadata"].get("namespace") or "default"

    @property
    def labels(self):
        return self.pod["metadata"].get("labels") or {}


def present(d, key):
    return isinstance(d, dict) and d.get(key) is not None


def peer_matches(cluster, peer, policy_ns, ep):
    if not isinstance(peer, dict):
        raise OracleError(f"a peer must be an object: {peer!r}")
    if present(peer, "ipBlock"):
        if present(peer, "podSelector") or present(peer, "namespaceSelector"):
            raise OracleError("a peer with ipBlock may not have selectors")
        blk = peer["ipBlock"]
        net = ipaddress.ip_network(blk["cidr"], strict=False)
        if ep.ip not in net:
            return False
        for ex in blk.get("except") or []:
            exn = ipaddress.ip_network(ex, strict=False)
            if not exn.subnet_of(net):
                raise OracleError(f"ipBlock except {ex} is not inside {blk['cidr']}")
            if ep.ip in exn:
                return False
        return True
    if not present(peer, "podSelector") and not present(peer, "namespaceSelector"):
        raise OracleError(f"a peer needs podSelector, namespaceSelector or ipBlock: {peer!r}")
    if ep.pod is None:
        return False  # selectors select pods only
    if present(peer, "namespaceSelector"):
        if not selector_matches(peer["namespaceSelector"], cluster.ns_labels(ep.ns)):
            return False
    elif ep.ns != policy_ns:
        return False
    if present(peer, "podSelector"):
        return selector_matches(peer["podSelector"], ep.labels)
    return True


def named_port(dst, name, proto):
    """The number the destination pod gives the port name, or None."""
    if dst.pod is None:
        return None
    for c in (dst.pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name and (p.get("protocol") or "TCP") == proto:
                return p.get("containerPort")
    return None


def port_matches(ports, proto, port, dst):
    if not ports:
        return True
    for p in ports:
        p = p or {}
        pproto = p.get("protocol") or "TCP"
        if pproto not in ("TCP", "UDP", "SCTP"):
            raise OracleError(f"unknown protocol {pproto!r}")
        if pproto != proto:
            continue
        want, end = p.get("port"), p.get("endPort")
        if want is None:
            if end is not None:
                raise OracleError("endPort needs a port")
            return True
        if isinstance(want, str):
            if end is not None:
                raise OracleError(f"endPort may not go with a named port ({want})")
            if named_port(dst, want, proto) == port:
                return True
            continue
        if end is not None:
            if end < want:
                raise OracleError(f"endPort {end} is below port {want}")
            if want <= port <= end:
                return True
        elif port == want:
            return True
    return False


def policy_types(pol):
    spec = pol.get("spec") or {}
    types = spec.get("policyTypes") or []
    if not types:
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for t in types:
        if t not in ("Ingress", "Egress"):
            raise OracleError(f"{pol['metadata']['name']}: unknown policyType {t!r}")
    return types


def selecting(cluster, ep, direction):
    """Policies that isolate pod `ep` in direction ("Ingress"/"Egress")."""
    out = []
    for pol in cluster.of_kind("NetworkPolicy"):
        md = pol["metadata"]
        if (md.get("namespace") or "default") != ep.ns:
            continue
        sel = (pol.get("spec") or {}).get("podSelector")
        if sel is not None and not selector_matches(sel, ep.labels):
            continue
        if direction in policy_types(pol):
            out.append(pol)
    return out


def direction_allows(cluster, subject, peer, direction, proto, port, dst):
    """(allowed, why) for `subject`'s policies in `direction` towards `peer`."""
    pols = selecting(cluster, subject, direction)
    if not pols:
        return True, ""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for pol in pols:
        for rule in (pol.get("spec") or {}).get(key) or []:
            rule = rule or {}
            peers = rule.get(peers_key) or []
            ns = pol["metadata"].get("namespace") or "default"
            if peers and not any(peer_matches(cluster, p, ns, peer) for p in peers):
                continue
            if port_matches(rule.get("ports"), proto, port, dst):
                return True, ""
    names = ",".join(f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}" for p in pols)
    return False, f"{direction.lower()} of {subject.name} isolated by {names}, no rule matches"


def verdict(cluster, src, dst, proto, port):
    """(allowed, why) for a new connection src -> dst on proto/port."""
    proto = proto.upper()
    if src.pod is not None:
        ok, why = direction_allows(cluster, src, dst, "Egress", proto, port, dst)
        if not ok:
            return False, why
    if dst.pod is not None:
        if src.pod is None and src.node is not None and src.node == dst.node:
            return True, ""  # a pod's own node always reaches it
        return direction_allows(cluster, dst, src, "Ingress", proto, port, dst)
    return True, ""


# --- the grid -------------------------------------------------------------------

def endpoints(cluster, targets):
    """Endpoints by name from sl-grid's targets ("NS/POD", "node:NAME", others)."""
    out = {}
    for t in targets:
        name = t["name"]
        local = t.get("localIps") or []
        ip = local[0] if len(local) == 1 else t["ip"]
        if name.startswith("node:"):
            out[name] = Endpoint(name, ip, node=name[5:])
        elif "/" in name:
            ns, pname = name.split("/", 1)
            pod = cluster.pod(ns, pname)
            if pod is None:
                raise OracleError(f"target {name}: no such Pod in the applied objects")
            st = [x.get("ip") for x in (pod.get("status") or {}).get("podIPs") or []]
            if st and t["ip"] not in st:
                raise OracleError(f"target {name}: ip {t['ip']} but the Pod says {st}")
            out[name] = Endpoint(name, t["ip"], pod=pod, node=(pod.get("spec") or {}).get("nodeName"))
        else:
            out[name] = Endpoint(name, ip)
    return out


def replay(ops):
    cluster = Cluster()
    for op, path in ops:
        objs = load_objects(path)
        if op == "apply":
            cluster.apply(objs)
        else:
            cluster.delete(objs)
    return cluster


def compare(cluster, grid, max_lines=40):
    """(cells, mismatches, lines): one line per pair and kind of difference,
    "SRC -> DST proto/port...: expected X; got Y"."""
    eps = endpoints(cluster, grid["targets"])
    groups = {}
    nbad = 0
    for r in grid["results"]:
        src, dst = eps[r["from"]], eps[r["to"]]
        want, why = verdict(cluster, src, dst, r["proto"], r["port"])
        if want != r["ok"]:
            nbad += 1
            got = "allow" if r["ok"] else f"deny ({r.get('error')})"
            exp = "allow" if want else f"deny, {why}"
            groups.setdefault((r["from"], r["to"], exp, got), []).append(f"{r['proto']}/{r['port']}")
    lines = [f"{s} -> {d} {' '.join(cells)}: expected {exp}; got {got}"
             for (s, d, exp, got), cells in groups.items()]
    if len(lines) > max_lines:
        lines[max_lines:] = [f"... and {len(lines) - max_lines} more pairs"]
    return len(grid["results"]), nbad, lines


def matrix(grid, cell, legend):
    """sl-grid's matrix layout: a row per source, a column per destination,
    one character per port and protocol from cell(result)."""
    cells, order = {}, []
    for r in grid["results"]:
        cells.setdefault((r["from"], r["to"]), []).append(cell(r))
        if f"{r['port']}/{r['proto']}" not in order:
            order.append(f"{r['port']}/{r['proto']}")
    srcs = [t["name"] for t in grid["targets"] if t.get("source", True)]
    dsts = [t["name"] for t in grid["targets"] if t.get("dest", True)]
    nw = max(len(n) for n in srcs + dsts)
    w = max(nw, len(order))
    out = [f"cell: {' '.join(order)}; {legend}", " " * nw + "".join(f" {d:<{w}}" for d in dsts)]
    for s in srcs:
        out.append(f"{s:<{nw}}" + "".join(f" {''.join(cells.get((s, d), '-')):<{w}}" for d in dsts))
    return "\n".join(out)


def expect_tables(cluster, grid):
    """The expected table, the measured one, and the cells that differ."""
    eps = endpoints(cluster, grid["targets"])
    want = {}
    for r in grid["results"]:
        want[id(r)] = verdict(cluster, eps[r["from"]], eps[r["to"]], r["proto"], r["port"])[0]

    def expected(r):
        return r["proto"][0].upper() if want[id(r)] else "."

    def measured(r):
        return r["proto"][0].upper() if r["ok"] else "." if r.get("error") == "timeout" else "!"

    def diff(r):
        return "." if want[id(r)] == r["ok"] else "X"
    return "\n".join(["== expected", matrix(grid, expected, "T/U allowed, . denied"),
                      "== measured", matrix(grid, measured, "T/U reached, . timed out, ! error"),
                      "== differences", matrix(grid, diff, "X differs")])


def render(text, targets):
    ips = {t["name"]: t["ip"] for t in targets}

    def sub(m):
        if m.group(1) not in ips:
            raise OracleError(f"${{{m.group(1)}}}: no such target")
        return ips[m.group(1)]
    return re.sub(r"\$\{([^}]+)\}", sub, text)


# --- self-test ------------------------------------------------------------------

SELF_TEST_CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x, env: prod}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: y
  labels:
    ns: y   # a comment
    env: "dev"
---
kind: List
items:
- kind: Pod
  metadata: {name: a, namespace: x, labels: {pod: a, tier: front}}
  spec:
    nodeName: n1
    containers:
    - name: main
      ports:
      - {name: serve-80-tcp, containerPort: 80}
      - {name: serve-81-udp, containerPort: 81, protocol: UDP}
- kind: Pod
  metadata: {name: b, namespace: x, labels: {pod: b}}
  spec: {nodeName: n2, containers: [{name: main, ports: [{name: web, containerPort: 81}]}]}
- kind: Pod
  metadata: {name: a, namespace: y, labels: {pod: a}}
  spec: {nodeName: n2, containers: [{name: main}]}
"""

SELF_TEST_TARGETS = [
    {"name": "x/a", "ip": "10.0.1.1"}, {"name": "x/b", "ip": "10.0.1.2"},
    {"name": "y/a", "ip": "10.0.2.1"}, {"name": "host", "ip": "10.9.0.1"},
    {"name": "node:n1", "ip": "10.8.0.1"}, {"name": "node:n2", "ip": "10.8.0.2"},
]

# (policies YAML, [(src, dst, proto, port, expected allow)], what it shows)
SELF_TEST_CASES = [
    ("", [("x/a", "x/b", "tcp", 80, True), ("host", "y/a", "udp", 81, True)],
     "no policy: everything is allowed"),
    ("""
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}}
""", [("y/a", "x/a", "tcp", 80, False), ("x/a", "y/a", "tcp", 80, True),
      ("node:n1", "x/a", "tcp", 80, True), ("node:n2", "x/a", "tcp", 80, False),
      ("node:n2", "x/b", "udp", 81, True)],
     "no policyTypes, no rules: ingress isolated; egress not; a pod's own node passes"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {}}]
""", [("x/b", "x/a", "tcp", 80, True), ("y/a", "x/a", "tcp", 80, False),
      ("host", "x/a", "tcp", 80, False)],
     "empty podSelector alone: every pod of the policy's namespace, nothing else"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {}}]
""", [("x/b", "x/a", "tcp", 80, True), ("y/a", "x/a", "udp", 81, True),
      ("host", "x/a", "tcp", 80, False)],
     "empty namespaceSelector: every pod of every namespace, but no host"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - {}
""", [("host", "x/a", "tcp", 80, True), ("y/a", "x/a", "udp", 99, True)],
     "a rule without from and ports allows everyone on every port"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: []
    ports: [{}]
""", [("host", "x/a", "tcp", 1234, True), ("host", "x/a", "udp", 81, False)],
     "from: [] is every peer; ports: [{}] is every TCP port (protocol defaults to TCP)"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: []
  egress: []
""", [("y/a", "x/a", "tcp", 80, False), ("x/a", "y/a", "tcp", 80, True)],
     "egress: [] does not add Egress to the default policyTypes"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
""", [("x/a", "y/a", "tcp", 80, True), ("x/a", "x/b", "tcp", 80, False),
      ("y/a", "x/a", "tcp", 80, False)],
     "an egress rule adds Egress to the default policyTypes (and Ingress stays)"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
""", [("x/a", "y/a", "tcp", 80, False), ("y/a", "x/a", "tcp", 80, True)],
     "policyTypes [Egress] without rules: egress isolated, ingress untouched"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}
""", [("x/b", "x/a", "tcp", 80, True), ("y/a", "x/a", "tcp", 80, False),
      ("host", "x/a", "tcp", 80, False)],
     "ipBlock matches pod IPs too, minus except"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: serve-80-tcp}, {port: serve-81-udp, protocol: TCP}, {port: web}]
""", [("y/a", "x/a", "tcp", 80, True), ("y/a", "x/a", "tcp", 81, False),
      ("y/a", "x/b", "tcp", 81, True), ("y/a", "x/b", "tcp", 80, False)],
     "named ports resolve per destination pod and need the protocol to match"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: web}]
""", [("y/a", "x/b", "tcp", 81, True), ("y/a", "x/a", "tcp", 81, False),
      ("y/a", "host", "tcp", 81, False)],
     "an egress named port resolves against the destination; never towards a non-pod"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 79, endPort: 80}, {protocol: UDP, port: 81, endPort: 81}]
""", [("y/a", "x/a", "tcp", 80, True), ("y/a", "x/a", "tcp", 81, False),
      ("y/a", "x/a", "udp", 81, True), ("y/a", "x/a", "udp", 80, False)],
     "endPort ranges are inclusive and per protocol"),
    ("""
kind: NetworkPolicy
metadata: {name: one, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
---
kind: NetworkPolicy
metadata: {name: two, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}], ports: [{port: 81, protocol: UDP}]}]
""", [("x/b", "x/a", "tcp", 80, True), ("y/a", "x/a", "udp", 81, True),
      ("y/a", "x/a", "tcp", 80, False), ("y/a", "x/b", "udp", 81, True),
      ("x/a", "x/b", "tcp", 80, False)],
     "the union of every policy selecting a pod"),
    ("""
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}
      podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
    - podSelector:
        matchExpressions:
        - {key: pod, operator: In, values: [b]}
        - {key: pod, operator: Exists}
""", [("y/a", "x/a", "tcp", 80, True), ("x/b", "x/a", "tcp", 80, True),
      ("x/a", "x/b", "tcp", 80, False)],
     "matchExpressions, and both selectors in one peer"),
]


def self_test():
    failures = 0
    n = 0
    base = objects_of(yaml_load_all(SELF_TEST_CLUSTER, "cluster"), "cluster")
    for pols, cases, what in SELF_TEST_CASES:
        cluster = Cluster()
        cluster.apply(base)
        cluster.apply(objects_of(yaml_load_all(pols, what), what))
        eps = endpoints(cluster, SELF_TEST_TARGETS)
        for src, dst, proto, port, want in cases:
            n += 1
            got, why = verdict(cluster, eps[src], eps[dst], proto, port)
            if got != want:
                failures += 1
                print(f"not ok - {what}: {src} -> {dst} {proto}/{port}: "
                      f"expected {'allow' if want else 'deny'}, got {'allow' if got else 'deny'} {why}")
    print(f"{'ok' if not failures else 'not ok'} - {n} verdicts over {len(SELF_TEST_CASES)} policy sets")

    # The YAML reader against hand-written expectations ...
    yaml_cases = [
        ("a: 1\nb: [x, 'y z', \"q\\\"\"]\nc:\n- d: e\n  f: {g: ~}\n- - 1\n  - 2\n",
         {"a": 1, "b": ["x", "y z", 'q"'], "c": [{"d": "e", "f": {"g": None}}, [1, 2]]}),
        ("k:\n- a # c\n- 'b # not a comment'\nempty: []\nnone:\nt: true\n",
         {"k": ["a", "b # not a comment"], "empty": [], "none": None, "t": True}),
        ("m: {a: [1,\n  2], b: c}\nkubernetes.io/metadata.name: x\ncidr: 198.18.0.0/15\n",
         {"m": {"a": [1, 2], "b": "c"}, "kubernetes.io/metadata.name": "x", "cidr": "198.18.0.0/15"}),
    ]
    for text, want in yaml_cases:
        n += 1
        got = yaml_load_all(text)[0]
        if got != want:
            failures += 1
            print(f"not ok - YAML {text!r}: {got!r} != {want!r}")
    for bad in ("a: &x 1\n", "a: |\n  x\n", "a:\n\tb: 1\n", "a: [1, 2\n"):
        n += 1
        try:
            yaml_load_all(bad)
            failures += 1
            print(f"not ok - YAML {bad!r} was accepted")
        except (OracleError, IndexError):
            pass
    # ... and against PyYAML on every scenario file, where PyYAML is installed.
    try:
        import glob
        import os
        import yaml as pyyaml
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "../lab/netpol/**/*.yaml"), recursive=True))
        for f in files:
            n += 1
            text = open(f).read()
            text = re.sub(r"\$\{[^}]+\}", "10.1.2.3", text)
            if yaml_load_all(text, f) != [d for d in pyyaml.safe_load_all(text) if d is not None]:
                failures += 1
                print(f"not ok - YAML reader and PyYAML disagree on {f}")
        print(f"ok - the YAML reader agrees with PyYAML on {len(files)} scenario files")
    except ImportError:
        print("ok - (PyYAML not installed: scenario files not cross-checked)")
    print(f"{n - failures} passed, {failures} failed")
    return 1 if failures else 0


# --- command line ---------------------------------------------------------------

def parse_ops(args):
    ops, rest, i = [], [], 0
    while i < len(args):
        if args[i] in ("--apply", "--delete") and i + 1 < len(args):
            ops.append((args[i][2:], args[i + 1]))
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return ops, rest


def option(rest, name, default=None):
    if name in rest:
        i = rest.index(name)
        if i + 1 >= len(rest):
            raise OracleError(f"{name} needs a value")
        return rest[i + 1]
    return default


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] == "--self-test":
        return self_test()
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "render":
            with open(option(args, "--targets")) as f:
                targets = json.load(f)["targets"]
            with open(args[-1]) as f:
                sys.stdout.write(render(f.read(), targets))
            return 0
        if cmd == "live":
            with open(option(args, "--targets")) as f:
                ips = {t["name"]: t["ip"] for t in json.load(f)["targets"]}
            items = []
            for o in load_objects(args[-1]):
                if o["kind"] == "Pod":
                    md = o["metadata"]
                    ip = ips[f"{md.get('namespace', 'default')}/{md['name']}"]
                    o = dict(o, status={"podIP": ip, "podIPs": [{"ip": ip}]})
                items.append(o)
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=1)
            print()
            return 0
        if cmd == "pods":
            for path in args:
                for o in load_objects(path):
                    if o["kind"] == "Pod":
                        md = o["metadata"]
                        print(f"{md.get('namespace', 'default')}/{md['name']} {o['spec'].get('nodeName', '')}")
            return 0
        ops, rest = parse_ops(args)
        with open(option(rest, "--grid")) as f:
            grid = json.load(f)
        cluster = replay(ops)
        if cmd == "expect":
            print(expect_tables(cluster, grid))
            return 0
        if cmd == "check":
            cells, nbad, lines = compare(cluster, grid, int(option(rest, "--max", "40")))
            print(f"cells {cells} mismatches {nbad}")
            for w in grid.get("warnings") or []:
                print(f"sl-grid warning: {w}")
            for line in lines:
                print("  " + line)
            return 1 if nbad else 0
    except (OracleError, OSError, KeyError, ValueError) as e:
        print(f"netpol_oracle: {cmd}: {e}", file=sys.stderr)
        return 2
    print(f"netpol_oracle: unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
