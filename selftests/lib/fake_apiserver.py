#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake Kubernetes API server for tests: the real wire protocol for
Pods, Namespaces, NetworkPolicies and Nodes (list with paging, chunked watch
streams, bookmarks, 410 Gone), driven and broken on purpose through a plain
HTTP control endpoint. Python 3 standard library only (and the openssl CLI to
make certificates).

    fake_apiserver.py --dir DIR [--http] [--certs CDIR] [--token T]...
                      [--client-cn CN]... [--port P] [--gone event|status]
    fake_apiserver.py --gen-certs CDIR

Once listening it writes DIR/server.json (atomically):
    {"pid", "port", "url", "control_port", "control_url",
     "ca", "client_cert", "client_key"}        (the last three with TLS)
and serves until SIGTERM. --port 0 (the default) takes a free port.

TLS: certificates come from CDIR (default DIR), made there with openssl when
missing: ca.crt/ca.key, server.crt/key (localhost, 127.0.0.1, ::1) and a
client.crt/key with CN "sluice-test" signed by the same CA.

Authentication: with no --token and no --client-cn every request is allowed;
otherwise a request needs "Authorization: Bearer T" with a known token, or a
client certificate of the CA whose CN is a known --client-cn. Else 401.

Custom resources (the one Sluice writes), cluster-scoped:
    /apis/sluice.dev/v1alpha1/sluicenodestatuses[/NAME]
                                 GET (item or list), POST (create: 201, 409
                                 if it exists), PUT (replace: needs the
                                 current metadata.resourceVersion, else 409;
                                 404 if absent). While the CRD is "not
                                 installed" (POST /config {"crd": false})
                                 every such path answers 404.

API (GET only):
    /api/v1/pods  /api/v1/namespaces  /api/v1/nodes
    /apis/networking.k8s.io/v1/networkpolicies
  ?limit=N&continue=TOKEN        paged list (kind XList, metadata.resourceVersion,
                                 metadata.continue, items without kind/apiVersion)
  ?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=S
                                 chunked stream of {"type","object"} lines;
                                 RV older than the last compaction -> 410, as an
                                 ERROR event (--gone event, the real server's
                                 way) or an HTTP 410 (--gone status)
  &fieldSelector=metadata.name=X (also metadata.namespace, spec.nodeName)

Control API (plain HTTP on 127.0.0.1:control_port, JSON in and out):
    GET  /healthz
    GET  /stats        {"rv", "compacted", "requests": [{"resource","verb",
                        "query","status","auth","time"}...], "active_watches":
                        {"pods": n...}, "counts": {"pods": {"list": n, "watch": n}}}
    POST /objects      {"op": "add"|"modify"|"apply"|"delete", "resource":
                        "pods", "object": {...}, "silent": false} or
                       {"ops": [...]}. silent: change the object without a watch
                        event (a change lost to compaction). -> {"resourceVersion"}
    POST /generate     {"resource": "pods", "count": N, "namespace": "bulk",
                        "prefix": "pod", "node": "node-1"} realistic pods
    POST /faults       {"resource": "pods"|"*", "verb": "list"|"watch"|"*",
                        "count": 1 (-1: forever), "continue": true (only pages
                        after the first), and one or more of:
                        "status": 401|403|500|410 (an error answer),
                        "delay": seconds (before answering),
                        "garbage": true (list: a 200 of garbage; watch: a
                        garbage line after the first events),
                        "drop_after": N (watch: N events, then half of the
                        next and the connection cut; list: half the body),
                        "error_event": 410|500 (watch: an ERROR event first)}
                       or a list of them. DELETE /faults clears them.
    POST /compact      every resourceVersion so far becomes too old (410)
    POST /drop         {"resource": "*", "abrupt": false} ends active watches
                       (abrupt: cut without the last chunk)
    POST /bookmark     {"resource": "*"} bumps the resourceVersion and sends a
                       BOOKMARK on active watches that allow them
    POST /config       {"tokens": [...], "client_cns": [...], "gone": "event"|"status",
                        "crd": true|false}
    GET  /crs          {"sluicenodestatuses": {NAME: object}, "writes": N}
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

RESOURCES = {
    "pods": ("/api/v1/pods", "Pod", "v1", True),
    "namespaces": ("/api/v1/namespaces", "Namespace", "v1", False),
    "networkpolicies": ("/apis/networking.k8s.io/v1/networkpolicies",
                        "NetworkPolicy", "networking.k8s.io/v1", True),
    "nodes": ("/api/v1/nodes", "Node", "v1", False),
}
PATHS = {v[0]: k for k, v in RESOURCES.items()}
CR_PATH = "/apis/sluice.dev/v1alpha1/sluicenodestatuses"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Expired",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


class State:
    def __init__(self, tokens, client_cns, gone):
        self.cond = threading.Condition()
        self.rv = 1000
        self.compacted = 0
        self.objects = {r: {} for r in RESOURCES}
        self.history = {r: [] for r in RESOURCES}  # (rv, type, obj)
        self.faults = []
        self.drop_gen = {r: 0 for r in RESOURCES}
        self.drop_abrupt = {r: False for r in RESOURCES}
        self.bookmark_gen = {r: 0 for r in RESOURCES}
        self.active = {r: 0 for r in RESOURCES}
        self.requests = []
        self.counts = {r: {"list": 0, "watch": 0} for r in RESOURCES}
        self.tokens = set(tokens)
        self.client_cns = set(client_cns)
        self.gone = gone
        self.crd = True
        self.crs = {}
        self.cr_writes = 0

    @staticmethod
    def key(obj):
        m = obj.get("metadata", {})
        return (m.get("namespace", ""), m["name"])

    def change(self, res, op, obj, silent=False):
        """Applies op under self.cond; returns the new resourceVersion."""
        path, kind, api, namespaced = RESOURCES[res]
        obj = dict(obj)  # objects come fresh from JSON: no deep copy needed
        obj["metadata"] = dict(obj.get("metadata", {}))
        obj["kind"] = kind
        obj["apiVersion"] = api
        m = obj["metadata"]
        if namespaced:
            m.setdefault("namespace", "default")
        else:
            m.pop("namespace", None)
        if res == "namespaces":
            m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
        k = self.key(obj)
        cur = self.objects[res].get(k)
        if op == "apply":
            op = "modify" if cur else "add"
        if op == "add" and cur:
            raise ValueError("%s %s exists" % (res, k))
        if op in ("modify", "delete") and not cur:
            raise ValueError("%s %s not found" % (res, k))
        self.rv += 1
        if op == "delete":
            obj = dict(cur)
            obj["metadata"] = dict(cur["metadata"], resourceVersion=str(self.rv))
            del self.objects[res][k]
            etype = "DELETED"
        else:
            m["resourceVersion"] = str(self.rv)
            m.setdefault("uid", cur["metadata"]["uid"] if cur else str(uuid.uuid4()))
            m.setdefault("creationTimestamp", cur["metadata"].get("creationTimestamp") if cur else now_iso())
            self.objects[res][k] = obj
            etype = "ADDED" if op == "add" else "MODIFIED"
        if not silent:
            self.history[res].append((self.rv, etype, obj))
        self.cond.notify_all()
        return self.rv

    def take_fault(self, res, verb, cont):
        for f in self.faults:
            if f.get("resource", "*") not in ("*", res):
                continue
            if f.get("verb", "*") not in ("*", verb):
                continue
            if f.get("continue") and not cont:
                continue
            if f.get("count", 1) == 0:
                continue
            if f.get("count", 1) > 0:
                f["count"] = f.get("count", 1) - 1
            return f
        return None


def since(history, rv):
    """The events of a history (sorted by resourceVersion) after rv."""
    lo, hi = 0, len(history)
    while lo < hi:  # bisect_right on e[0]; bisect's key= needs Python 3.10
        mid = (lo + hi) // 2
        if history[mid][0] <= rv:
            lo = mid + 1
        else:
            hi = mid
    return history[lo:]


def field_match(obj, selector):
    if not selector:
        return True
    for term in selector.split(","):
        neg = "!=" in term
        k, v = term.replace("!=", "=").replace("==", "=").split("=", 1)
        cur = obj
        for part in k.split("."):
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        cur = cur if isinstance(cur, str) else ""
        if (cur == v) == neg:
            return False
    return True


def pod_template(i, ns, prefix, node):
    """A pod shaped like a Deployment's: about 4 KB of JSON, most of which
    Sluice must not keep."""
    name = "%s-%05d" % (prefix, i)
    app = "app-%d" % (i % 50)
    ip = "10.%d.%d.%d" % (64 + (i >> 16) % 64, (i >> 8) & 255, i & 255)
    return {
        "metadata": {
            "name": name, "namespace": ns, "generateName": prefix + "-",
            "labels": {"app": app, "pod-template-hash": "5d8f7c9b4", "tier": "backend",
                       "version": "v%d" % (i % 3)},
            "annotations": {"kubectl.kubernetes.io/restartedAt": now_iso(),
                            "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": app + "-5d8f7c9b4", "uid": str(uuid.uuid4()),
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                               "apiVersion": "v1", "time": now_iso(), "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {
                                   ".": {}, "f:app": {}, "f:pod-template-hash": {}}},
                                   "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                       ".": {}, "f:image": {}, "f:imagePullPolicy": {},
                                       "f:name": {}, "f:ports": {}, "f:resources": {}}}}}},
                              {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                               "time": now_iso(), "fieldsType": "FieldsV1", "subresource": "status",
                               "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                                                         "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
                                                         "f:podIPs": {}, "f:startTime": {}}}}],
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "default",
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
            "containers": [{
                "name": "app", "image": "registry.example.com/team/%s:1.%d.3" % (app, i % 7),
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "LOG_LEVEL", "value": "info"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}},
                "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
        },
        "status": {
            "phase": "Running", "hostIP": "192.168.0.10", "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": now_iso(), "qosClass": "Burstable",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now_iso()}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                                   "image": "registry.example.com/team/%s:1.%d.3" % (app, i % 7),
                                   "imageID": "registry.example.com/team/%s@sha256:%064x" % (app, i),
                                   "containerID": "containerd://%064x" % (i * 7919),
                                   "state": {"running": {"startedAt": now_iso()}}}],
        },
    }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake-apiserver: " + fmt % args + "\n")

    def setup(self):
        if self.server.tls_ctx:
            self.request.settimeout(10)
            self.request = self.server.tls_ctx.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()

    # --- plumbing

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_status(self, code, message):
        self.send_json(code, status_obj(code, REASONS.get(code, "Unknown"), message))

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def cut(self):
        """Closes the connection without ending the HTTP answer."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def client_gone(self):
        """A watching client sends nothing: readable means it closed."""
        try:
            return bool(select.select([self.connection], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def record(self, res, verb, query, status, auth):
        st = self.server.state
        with st.cond:
            st.requests.append({"resource": res, "verb": verb, "query": query, "status": status,
                                "auth": auth, "time": time.time()})
            del st.requests[:-1000]

    def authenticate(self):
        st = self.server.state
        if not st.tokens and not st.client_cns:
            return "anonymous"
        h = self.headers.get("Authorization", "")
        if h.startswith("Bearer ") and h[7:] in st.tokens:
            return "token:" + h[7:]
        if self.server.tls_ctx:
            cert = self.request.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName" and v in st.client_cns:
                            return "cert:" + v
        return None

    # --- the API

    def cr(self, verb):
        """The SluiceNodeStatus resource: create, replace, get, list."""
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        name = url.path[len(CR_PATH):].strip("/")
        body = None
        if verb in ("create", "update"):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
        auth = self.authenticate()
        if auth is None:
            self.record("sluicenodestatuses", verb, {}, 401, None)
            self.send_status(401, "Unauthorized")
            return
        with st.cond:
            code, obj = 200, None
            if not st.crd:
                code = 404
            elif verb == "get" and not name:
                obj = {"kind": "SluiceNodeStatusList", "apiVersion": "sluice.dev/v1alpha1",
                       "metadata": {"resourceVersion": str(st.rv)}, "items": list(st.crs.values())}
            elif verb == "get":
                obj = st.crs.get(name)
                code = 200 if obj else 404
            elif verb == "create":
                name = body.get("metadata", {}).get("name", "")
                if name in st.crs:
                    code = 409
                elif not name or body.get("metadata", {}).get("resourceVersion"):
                    code = 400
                else:
                    code = 201
            elif verb == "update":
                cur = st.crs.get(name)
                rv = body.get("metadata", {}).get("resourceVersion")
                if not cur:
                    code = 404
                elif rv != cur["metadata"]["resourceVersion"]:
                    code = 409
            if code in (200, 201) and verb in ("create", "update"):
                st.rv += 1
                obj = dict(body)
                obj["metadata"] = dict(body["metadata"], resourceVersion=str(st.rv),
                                       uid=(st.crs.get(name) or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
                st.crs[name] = obj
                st.cr_writes += 1
        self.record("sluicenodestatuses", verb, {"name": name}, code, auth)
        if code in (200, 201):
            self.send_json(code, obj)
        elif code == 409:
            self.send_status(409, "the object has been modified; please apply your changes to the latest version"
                             if verb == "update" else "already exists")
        elif code == 400:
            self.send_status(400, "bad object")
        else:
            self.send_status(404, "the server could not find the requested resource")

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path.rstrip("/") == CR_PATH:
            self.cr("create")
        else:
            self.send_status(405, "method not allowed")

    def do_PUT(self):
        if urllib.parse.urlsplit(self.path).path.startswith(CR_PATH + "/"):
            self.cr("update")
        else:
            self.send_status(405, "method not allowed")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.rstrip("/") == CR_PATH or url.path.startswith(CR_PATH + "/"):
            self.cr("get")
            return
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        res = PATHS.get(url.path.rstrip("/"))
        st = self.server.state
        watch = q.get("watch") in ("1", "true")
        verb = "watch" if watch else "list"
        if not res:
            self.send_status(404, "the server could not find the requested resource")
            return
        auth = self.authenticate()
        if auth is None:
            self.record(res, verb, q, 401, None)
            self.send_status(401, "Unauthorized")
            return
        with st.cond:
            st.counts[res][verb] += 1
            fault = st.take_fault(res, verb, bool(q.get("continue")))
        fault = dict(fault) if fault else {}
        if fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault.get("status"):
            self.record(res, verb, q, fault["status"], auth)
            self.send_status(int(fault["status"]), "injected fault")
            return
        if watch:
            self.watch(res, q, fault, auth)
        else:
            self.list(res, q, fault, auth)

    def list(self, res, q, fault, auth):
        st = self.server.state
        path, kind, api, _ = RESOURCES[res]
        limit = int(q.get("limit") or 0)
        start = None
        with st.cond:
            list_rv = st.rv
            if q.get("continue"):
                try:
                    tok = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                    list_rv, start = tok["rv"], tuple(tok["start"])
                except (ValueError, KeyError):
                    self.record(res, "list", q, 400, auth)
                    self.send_status(400, "invalid continue token")
                    return
                if list_rv < st.compacted:
                    self.record(res, "list", q, 410, auth)
                    self.send_status(410, "The provided continue parameter is too old to display "
                                          "a consistent list result.")
                    return
            keys = sorted(k for k, o in st.objects[res].items()
                          if field_match(o, q.get("fieldSelector")) and (start is None or k > start))
            page = keys[:limit] if limit else keys
            items = []
            for k in page:
                # Stored objects are replaced, never changed in place: a
                # shallow copy is a snapshot.
                o = dict(st.objects[res][k])
                o.pop("kind", None)
                o.pop("apiVersion", None)
                items.append(o)
            meta = {"resourceVersion": str(list_rv)}
            if limit and len(keys) > limit:
                meta["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"rv": list_rv, "start": list(page[-1])}).encode()).decode()
                meta["remainingItemCount"] = len(keys) - limit
        self.record(res, "list", q, 200, auth)
        body = {"kind": kind + "List", "apiVersion": api, "metadata": meta, "items": items}
        if fault.get("garbage"):
            self.send_response(200)
            data = (b'{"kind": "%sList", "metadata": {"resourceVersion": "%d"}, '
                    b'"items": [{"metadata": <<garbage>>}]}' % (kind.encode(), list_rv))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault.get("drop_after") is not None:
            self.wfile.write(data[:len(data) // 2])
            self.cut()
            return
        self.wfile.write(data)

    def watch(self, res, q, fault, auth):
        st = self.server.state
        path, kind, api, _ = RESOURCES[res]
        sel = q.get("fieldSelector")
        bookmarks = q.get("allowWatchBookmarks") == "true"
        deadline = time.time() + float(q.get("timeoutSeconds") or 1800)
        rv_param = q.get("resourceVersion", "")
        with st.cond:
            try:
                from_rv = int(rv_param) if rv_param not in ("", "0") else None
            except ValueError:
                from_rv = -1
            too_old = from_rv is not None and from_rv < st.compacted
            if too_old and st.gone == "status":
                self.record(res, "watch", q, 410, auth)
                self.send_status(410, "too old resource version: %s (%d)" % (rv_param, st.compacted))
                return
            pending = []
            if not too_old and from_rv is None:
                pending = [("ADDED", o) for o in st.objects[res].values()]
                sent_rv = st.rv
            elif not too_old:
                pending = [(t, o) for (rv, t, o) in since(st.history[res], from_rv)]
                sent_rv = st.rv
            drop_gen = st.drop_gen[res]
            bm_gen = st.bookmark_gen[res]
            st.active[res] += 1
        self.record(res, "watch", q, 200, auth)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        abrupt = False

        def send(ev):
            nonlocal sent
            line = json.dumps(ev).encode() + b"\n"
            if fault.get("drop_after") is not None and sent >= int(fault["drop_after"]):
                self.chunk(line[:len(line) // 2])
                raise ConnectionAbortedError
            self.chunk(line)
            sent += 1
            if fault.get("garbage") and sent == 1:
                self.chunk(b"this is not JSON }{\n")

        try:
            if fault.get("garbage") and not pending:
                self.chunk(b"this is not JSON }{\n")
            if too_old:
                send({"type": "ERROR", "object": status_obj(
                    410, "Expired", "too old resource version: %s (%d)" % (rv_param, st.compacted))})
                raise EOFError
            if fault.get("error_event"):
                code = int(fault["error_event"])
                send({"type": "ERROR", "object": status_obj(code, REASONS.get(code, "Unknown"),
                                                            "injected ERROR event")})
                raise EOFError
            while True:
                for t, o in pending:
                    if field_match(o, sel):
                        send({"type": t, "object": o})
                pending = []
                with st.cond:
                    while True:
                        if st.drop_gen[res] != drop_gen:
                            abrupt = st.drop_abrupt[res]
                            raise EOFError
                        new = [(t, o) for (rv, t, o) in since(st.history[res], sent_rv)]
                        if new or time.time() >= deadline:
                            break
                        if st.bookmark_gen[res] != bm_gen:
                            break
                        if self.client_gone():
                            raise ConnectionAbortedError
                        st.cond.wait(min(0.2, max(0.0, deadline - time.time())))
                    if not new and time.time() >= deadline:
                        raise EOFError
                    pending = new
                    sent_rv = st.rv
                    bm = st.bookmark_gen[res] != bm_gen
                    bm_gen = st.bookmark_gen[res]
                    cur_rv = st.rv
                if bm and bookmarks and not pending:
                    send({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api,
                                                         "metadata": {"resourceVersion": str(cur_rv)}}})
        except EOFError:
            pass
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError, OSError):
            abrupt = True
        finally:
            with st.cond:
                st.active[res] -= 1
        if abrupt:
            self.cut()
            return
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}") if n else {}

    def do_GET(self):
        st = self.server.state
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
        elif self.path == "/stats":
            with st.cond:
                self.reply(200, {"rv": st.rv, "compacted": st.compacted, "requests": st.requests,
                                 "active_watches": dict(st.active), "counts": st.counts,
                                 "objects": {r: len(o) for r, o in st.objects.items()}})
        elif self.path == "/crs":
            with st.cond:
                self.reply(200, {"sluicenodestatuses": st.crs, "writes": st.cr_writes})
        else:
            self.reply(404, {"error": "no such control path"})

    def do_DELETE(self):
        st = self.server.state
        if self.path == "/faults":
            with st.cond:
                st.faults = []
            self.reply(200, {})
        else:
            self.reply(404, {"error": "no such control path"})

    def do_POST(self):
        st = self.server.state
        try:
            b = self.body()
            out = {}
            with st.cond:
                if self.path == "/objects":
                    for op in b.get("ops", [b]):
                        if op["resource"] not in RESOURCES:
                            raise ValueError("unknown resource " + op["resource"])
                        st.change(op["resource"], op["op"], op["object"], op.get("silent", False))
                    out = {"resourceVersion": str(st.rv)}
                elif self.path == "/generate":
                    res = b.get("resource", "pods")
                    if res != "pods":
                        raise ValueError("only pods are generated")
                    for i in range(int(b["count"])):
                        st.change("pods", "apply", pod_template(i, b.get("namespace", "bulk"),
                                                                b.get("prefix", "pod"),
                                                                b.get("node", "node-1")),
                                  b.get("silent", False))
                    out = {"resourceVersion": str(st.rv)}
                elif self.path == "/faults":
                    st.faults.extend(b if isinstance(b, list) else [b])
                elif self.path == "/compact":
                    st.rv += 1
                    st.compacted = st.rv
                    for r in RESOURCES:
                        st.history[r] = []
                    out = {"compacted": st.compacted}
                elif self.path == "/drop":
                    for r in RESOURCES:
                        if b.get("resource", "*") in ("*", r):
                            st.drop_gen[r] += 1
                            st.drop_abrupt[r] = bool(b.get("abrupt"))
                    st.cond.notify_all()
                elif self.path == "/bookmark":
                    st.rv += 1
                    for r in RESOURCES:
                        if b.get("resource", "*") in ("*", r):
                            st.bookmark_gen[r] += 1
                    st.cond.notify_all()
                    out = {"resourceVersion": str(st.rv)}
                elif self.path == "/config":
                    if "tokens" in b:
                        st.tokens = set(b["tokens"])
                    if "client_cns" in b:
                        st.client_cns = set(b["client_cns"])
                    if "gone" in b:
                        st.gone = b["gone"]
                    if "crd" in b:
                        st.crd = bool(b["crd"])
                else:
                    self.reply(404, {"error": "no such control path"})
                    return
            self.reply(200, out)
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": str(e)})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a test may restart the server on its port
    verbose = False

    def handle_error(self, request, client_address):
        # Clients that go away and failed TLS handshakes are part of the tests.
        if self.verbose:
            super().handle_error(request, client_address)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def gen_certs(d):
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, "client.crt")):
        return
    p = lambda n: os.path.join(d, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", "-new", *ec, "-keyout", p("ca.key"), "-out", p("ca.crt"),
            "-days", "30", "-subj", "/CN=fake-apiserver-ca")
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                "extendedKeyUsage=serverAuth\n")
    with open(p("client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for who, cn in (("server", "fake-apiserver"), ("client", "sluice-test")):
        openssl("req", "-new", *ec, "-keyout", p(who + ".key"), "-out", p(who + ".csr"),
                "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "30",
                "-extfile", p(who + ".ext"), "-out", p(who + ".crt.tmp"))
        os.rename(p(who + ".crt.tmp"), p(who + ".crt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir")
    ap.add_argument("--certs")
    ap.add_argument("--gen-certs")
    ap.add_argument("--http", action="store_true", help="plain HTTP, no TLS")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1",
                    help="address of the API (not of the control API, which stays on 127.0.0.1); "
                         "e.g. 0.0.0.0 inside a lab's router namespace, where nodes reach it")
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--client-cn", action="append", default=[])
    ap.add_argument("--gone", choices=("event", "status"), default="event")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.gen_certs:
        gen_certs(a.gen_certs)
        return 0
    if not a.dir:
        ap.error("--dir is required")
    os.makedirs(a.dir, exist_ok=True)
    state = State(a.token, a.client_cn, a.gone)

    api = Server((a.bind, a.port), Handler)
    api.state = state
    api.verbose = a.verbose
    api.tls_ctx = None
    info = {"pid": os.getpid()}
    if not a.http:
        certs = a.certs or a.dir
        gen_certs(certs)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
        ctx.load_verify_locations(os.path.join(certs, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        api.tls_ctx = ctx
        info.update(ca=os.path.join(certs, "ca.crt"), client_cert=os.path.join(certs, "client.crt"),
                    client_key=os.path.join(certs, "client.key"))
    ctl = Server(("127.0.0.1", 0), Control)
    ctl.state = state
    port = api.server_address[1]
    info.update(port=port, url="%s://%s:%d" % ("http" if a.http else "https",
                                             "127.0.0.1" if a.bind == "0.0.0.0" else a.bind, port),
                control_port=ctl.server_address[1],
                control_url="http://127.0.0.1:%d" % ctl.server_address[1])
    for srv in (api, ctl):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = os.path.join(a.dir, "server.json.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.rename(tmp, os.path.join(a.dir, "server.json"))

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(3600):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
