#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A counting HTTP proxy from a network namespace to services on this host's 127.0.0.1.

Keystone, Neutron and the fake Nova of neutron.sh listen on 127.0.0.1 of the
host; a lab node's agent lives in its own namespace and reaches "the cloud" at
its subnet's gateway, in the lab's router namespace. This proxy listens there
(sockets are made after setns(2) into that namespace, then the process comes
back: its upstream connections are the host's) and forwards every request as
it is, one service per port. It counts what it forwards, per service, method
and path (ids replaced by "*"): the cloud calls of the agent, which a real
Neutron does not report.

  ns_proxy.py --netns NS --service NAME=UPSTREAM_PORT... --ready-file F

F gets one "NAME=PORT" line per service once everything listens.
Control (on any of the ports, never faulted):
  GET /_proxy/stats -> {"requests": N, "routes": {...}, "faults": {KIND: N}}; DELETE /_proxy/stats
  POST /_proxy/faults {"rules": [{"service": "nt"|"*", "method": "PUT"|"*", "kind": K,
                        "probability": P}]}   appended; DELETE /_proxy/faults clears them
Fault kinds (so a real Neutron, which cannot inject faults, sees the agent
through a faulty network): "429" (Retry-After: 1, nothing forwarded), "500"
(nothing forwarded), "drop" (connection closed, nothing forwarded), "partial"
(forwarded, then 500), "garbage" (forwarded, then 200 with a broken JSON
body), "lost" (forwarded, then the connection is closed: the answer is lost).
Rules are tried in order, the first that fires wins; draws come from one
seeded generator (--seed).
"""
import argparse
import ctypes
import http.client
import json
import os
import random
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLONE_NEWNET = 0x40000000
ID_RE = re.compile(r"/[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|/[0-9a-f]{32}")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}

lock = threading.Lock()
stats = {"requests": 0, "routes": {}, "faults": {}}
faults = []
rng = random.Random(1)


def pick_fault(name, method):
    with lock:
        for f in faults:
            if f.get("service", "*") not in ("*", name) or f.get("method", "*") not in ("*", method):
                continue
            if rng.random() >= f.get("probability", 1.0):
                continue
            stats["faults"][f["kind"]] = stats["faults"].get(f["kind"], 0) + 1
            return f["kind"]
    return None


def setns(fd):
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def handler_for(name, upstream):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def forward(self):
            path = self.path
            if path.startswith("/_proxy/stats"):
                with lock:
                    if self.command == "DELETE":
                        stats.update(requests=0, routes={}, faults={})
                    self.reply(200, stats)
                return
            if path.startswith("/_proxy/faults"):
                n = int(self.headers.get("Content-Length") or 0)
                with lock:
                    if self.command == "DELETE":
                        faults.clear()
                    elif self.command == "POST":
                        faults.extend(json.loads(self.rfile.read(n) or b"{}").get("rules", []))
                    self.reply(200, {"rules": faults})
                return
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            route = "%s %s %s" % (name, self.command, ID_RE.sub("/*", path.split("?")[0]))
            with lock:
                stats["requests"] += 1
                stats["routes"][route] = stats["routes"].get(route, 0) + 1
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            kind = pick_fault(name, self.command)
            if kind == "429":
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                data = b'{"message": "rate limited by the test proxy"}'
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if kind == "500":
                self.reply(500, {"NeutronError": {"type": "HTTPInternalServerError",
                                                  "message": "injected by the test proxy", "detail": ""}})
                return
            if kind == "drop":
                self.close_connection = True
                return
            try:
                c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=120)
                c.request(self.command, path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                c.close()
                if kind == "partial":
                    self.reply(500, {"NeutronError": {"type": "HTTPInternalServerError",
                                                      "message": "injected after the work", "detail": ""}})
                    return
                if kind == "lost":
                    self.close_connection = True
                    return
                if kind == "garbage":
                    data = b'{"port": {"id": "trunc'
                self.send_response_only(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (OSError, http.client.HTTPException):
                # upstream gone (a test killed it): the client sees a dropped connection
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netns", required=True)
    ap.add_argument("--service", action="append", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng.seed(a.seed)
    ThreadingHTTPServer.daemon_threads = True
    servers = []
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + a.netns, os.O_RDONLY)
    setns(there)
    for s in a.service:
        name, port = s.split("=")
        srv = ThreadingHTTPServer(("0.0.0.0", 0), handler_for(name, int(port)))
        srv.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        servers.append((name, srv))
    setns(home)  # upstream connections are made from here
    for _, srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(a.ready_file + ".tmp", "w") as f:
        for name, srv in servers:
            f.write("%s=%d\n" % (name, srv.server_address[1]))
    os.rename(a.ready_file + ".tmp", a.ready_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()


if __name__ == "__main__":
    main()
