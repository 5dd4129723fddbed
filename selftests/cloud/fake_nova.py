#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A small fake Nova for the openstack provider's tests (Python standard library only).

It implements the compute API the provider uses, on top of a REAL Neutron:

  POST   /v2.1/servers/{id}/os-interface            {"interfaceAttachment":{"port_id":P}} -> 200
  GET    /v2.1/servers/{id}/os-interface            -> 200 {"interfaceAttachments":[...]}
  GET    /v2.1/servers/{id}/os-interface/{port}     -> 200 / 404
  DELETE /v2.1/servers/{id}/os-interface/{port}     -> 202, then asynchronous

Attach does what Nova and a hypervisor do: sets device_id, device_owner and
binding:host_id on the Neutron port (as the admin "nova" service user; the
"fakebind" ML2 driver then makes it ACTIVE) and plugs a veth whose instance end
carries the port's MAC into the server's network namespace (named ethN, left
down, like a hot-plugged NIC). The other end goes into a router namespace that
plays the cloud's SDN, as the sim VPC does: the subnet gateway /32 on it, and a
/32 route plus a permanent neighbour for every fixed IP Neutron holds for the
port (kept in sync by a background thread), so traffic really flows. Detach
answers 202 and later unplugs the veth and clears the port's binding.

Incoming tokens are validated against Keystone (401 with Keystone's body
otherwise). Errors use Nova's body shape {"<fault>":{"code","message"}}.

Control API for the tests (no auth), under /_fake/:
  POST   /_fake/servers  {"id","host","netns"?,"router_netns"?}  register a server
  DELETE /_fake/servers/{id}                                      forget it (unplugs its veths)
  POST   /_fake/faults   {"op":"attach|detach|list|show|*","kind":K,"count":N | "rate":P,
                          "delay":S,"retry_after":S,"seed":X}     add a fault rule
  DELETE /_fake/faults                                            clear the rules
  POST   /_fake/config   {"detach_delay":S}
  GET    /_fake/stats                                             requests, faults, attachments
  GET    /_fake/metadata/{id}/openstack/latest/meta_data.json     the metadata service
With --state FILE, the servers and the plugged ports are saved there on every
change and read back at start: a fake Nova killed with SIGKILL (a detach in
flight is then lost, as when nova-compute dies) and started again knows the
servers and veths it had, as a real Nova keeps them in its database.

Fault kinds: 429 (Retry-After), 500, 503, drop (connection closed, nothing
done), timeout (sleeps `delay` s, nothing done), late (does the work, then
sleeps `delay` s before answering), garbage (does the work, answers 200 with a
broken JSON body), partial (does the work, answers 500), stuck (detach: 202,
never completes).
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CACHE_S = 1.0     # token validations are cached this long (revocations show after it)
SYNC_S = 0.5      # how often the SDN's routes follow Neutron's fixed IPs

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               409: "conflictingRequest", 429: "overLimit", 500: "computeFault",
               503: "serviceUnavailable"}


def log(msg):
    sys.stderr.write("[fake-nova %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Keystone:
    """Token of the nova service user; re-auths when told the token is bad."""

    def __init__(self, url, user, password, project):
        self.url, self.user, self.password, self.project = url.rstrip("/"), user, password, project
        self.token = None
        self.lock = threading.Lock()
        self.valid = {}  # subject token -> time validated (a short cache, as keystonemiddleware keeps)

    def auth(self):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": self.user, "domain": {"name": "Default"}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"name": "Default"}}}}}
        req = urllib.request.Request(self.url + "/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            self.token = r.headers["X-Subject-Token"]
        return self.token

    def get(self):
        with self.lock:
            return self.token or self.auth()

    def invalidate(self, token):
        with self.lock:
            if self.token == token:
                self.token = None

    def validate(self, subject):
        with self.lock:
            if time.monotonic() - self.valid.get(subject, -10) < CACHE_S:
                return True
        for _ in range(2):
            tok = self.get()
            req = urllib.request.Request(self.url + "/auth/tokens?nocatalog",
                                         headers={"X-Auth-Token": tok, "X-Subject-Token": subject})
            try:
                with urllib.request.urlopen(req, timeout=30):
                    with self.lock:
                        self.valid[subject] = time.monotonic()
                    return True
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    self.invalidate(tok)
                    continue
                return False
        return False


class Neutron:
    def __init__(self, url, ks):
        self.url, self.ks = url.rstrip("/") + "/v2.0", ks

    def call(self, method, path, body=None):
        for _ in range(2):
            tok = self.ks.get()
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.url + path, data=data, method=method, headers={
                "X-Auth-Token": tok, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    raw = r.read()
                    return r.status, (json.loads(raw) if raw else None)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    self.ks.invalidate(tok)
                    continue
                raw = e.read()
                try:
                    return e.code, json.loads(raw)
                except ValueError:
                    return e.code, None
        return 401, None

    def port(self, port_id):
        st, body = self.call("GET", "/ports/" + port_id)
        return body["port"] if st == 200 else None

    def subnet(self, subnet_id):
        st, body = self.call("GET", "/subnets/" + subnet_id)
        return body["subnet"] if st == 200 else None


class Fault(Exception):
    pass


class Nova:
    def __init__(self, ks, neutron):
        self.ks, self.neutron = ks, neutron
        self.lock = threading.RLock()
        self.servers = {}        # id -> {"host", "netns", "router_netns"}
        self.plugs = {}          # port id -> {"server", "rlink", "ifname", "mac", "routes": set()}
        self.faults = []
        self.rng = random.Random(1)
        self.detach_delay = 0.5
        self.stats = {"requests": {}, "faults": {}, "attaches": 0, "detaches": 0}
        self.stopping = False
        self.state_file = None

    # --- state across restarts ------------------------------------------------
    def save(self):
        if not self.state_file:
            return
        with self.lock:
            st = {"servers": self.servers,
                  "plugs": {k: dict(v, routes=sorted(v["routes"])) for k, v in self.plugs.items()}}
            tmp = self.state_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.replace(tmp, self.state_file)

    def load(self, path):
        self.state_file = path
        try:
            with open(path) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return
        self.servers = st.get("servers", {})
        self.plugs = {k: dict(v, routes=set(v.get("routes", []))) for k, v in st.get("plugs", {}).items()}
        log("state: %d servers, %d plugged ports from %s" % (len(self.servers), len(self.plugs), path))

    # --- faults -------------------------------------------------------------
    def pick_fault(self, op):
        with self.lock:
            self.stats["requests"][op] = self.stats["requests"].get(op, 0) + 1
            for f in self.faults:
                if f["op"] not in (op, "*"):
                    continue
                if "rate" in f:
                    if self.rng.random() >= f["rate"]:
                        continue
                elif f.get("count", 1) <= 0:
                    continue
                else:
                    f["count"] = f.get("count", 1) - 1
                self.stats["faults"][f["kind"]] = self.stats["faults"].get(f["kind"], 0) + 1
                log("fault %s on %s" % (f["kind"], op))
                return f
        return None

    # --- plumbing -----------------------------------------------------------
    def free_ifname(self, netns):
        out = sh("ip", "-n", netns, "-o", "link", "show").stdout
        used = set(re.findall(r"^\d+: ([^:@]+)", out, re.M))
        n = 1
        while "eth%d" % n in used:
            n += 1
        return "eth%d" % n

    def plug(self, server, port):
        srv = self.servers[server]
        if not srv.get("netns"):
            return None
        pid = port["id"].replace("-", "")
        rlink, tmp = "o" + pid[:12], "t" + pid[:12]
        ifname = self.free_ifname(srv["netns"])
        rns = srv.get("router_netns")
        try:
            sh("ip", "link", "add", rlink, "type", "veth", "peer", "name", tmp)
            sh("ip", "link", "set", tmp, "netns", srv["netns"])
            sh("ip", "-n", srv["netns"], "link", "set", tmp, "name", ifname, "address", port["mac_address"])
            if rns:
                sh("ip", "link", "set", rlink, "netns", rns)
                subnet = self.neutron.subnet(port["fixed_ips"][0]["subnet_id"]) if port["fixed_ips"] else None
                if subnet and subnet.get("gateway_ip"):
                    plen = "128" if ":" in subnet["gateway_ip"] else "32"
                    sh("ip", "-n", rns, "addr", "add", "%s/%s" % (subnet["gateway_ip"], plen), "dev", rlink)
                sh("ip", "-n", rns, "link", "set", rlink, "up")
        except Exception:
            sh("ip", "link", "del", rlink, check=False)
            if rns:
                sh("ip", "-n", rns, "link", "del", rlink, check=False)
            sh("ip", "-n", srv["netns"], "link", "del", ifname, check=False)
            raise
        return {"server": server, "rlink": rlink, "ifname": ifname, "mac": port["mac_address"],
                "routes": set()}

    def unplug(self, port_id):
        p = self.plugs.pop(port_id, None)
        if not p:
            return
        srv = self.servers.get(p["server"], {})
        rns = srv.get("router_netns")
        if rns:
            sh("ip", "-n", rns, "link", "del", p["rlink"], check=False)
        else:
            sh("ip", "link", "del", p["rlink"], check=False)
        self.save()

    def sync_routes(self):
        """The SDN delivers every fixed IP of a plugged port to its veth."""
        while not self.stopping:
            time.sleep(SYNC_S)
            with self.lock:
                servers = set(v["server"] for v in self.plugs.values()
                              if self.servers.get(v["server"], {}).get("router_netns"))
            ports = {}
            for server in servers:  # one list per server, not one read per port
                try:
                    st, body = self.neutron.call("GET", "/ports?fields=id&fields=fixed_ips&device_id=" + server)
                except Exception:
                    continue
                for port in (body or {}).get("ports", []) if st == 200 else []:
                    ports[port["id"]] = port
            for port_id, port in ports.items():
                with self.lock:
                    cur = self.plugs.get(port_id)
                    rns = self.servers.get(cur["server"], {}).get("router_netns") if cur else None
                if not rns:
                    continue
                want = set(ip["ip_address"] for ip in port["fixed_ips"])
                with self.lock:
                    cur = self.plugs.get(port_id)
                    if not cur:
                        continue
                    for ip in want - cur["routes"]:
                        fam = "-6" if ":" in ip else "-4"
                        sh("ip", fam, "-n", rns, "route", "replace", ip, "dev", cur["rlink"], check=False)
                        sh("ip", fam, "-n", rns, "neigh", "replace", ip, "lladdr", cur["mac"], "dev",
                           cur["rlink"], "nud", "permanent", check=False)
                    for ip in cur["routes"] - want:
                        fam = "-6" if ":" in ip else "-4"
                        sh("ip", fam, "-n", rns, "route", "del", ip, "dev", cur["rlink"], check=False)
                        sh("ip", fam, "-n", rns, "neigh", "del", ip, "dev", cur["rlink"], check=False)
                    if cur["routes"] != want:
                        cur["routes"] = want
                        self.save()

    # --- the API ------------------------------------------------------------
    @staticmethod
    def attachment(port):
        return {"fixed_ips": [{"ip_address": i["ip_address"], "subnet_id": i["subnet_id"]}
                              for i in port["fixed_ips"]],
                "mac_addr": port["mac_address"], "net_id": port["network_id"],
                "port_id": port["id"], "port_state": port["status"]}

    def do_attach(self, server, port_id):
        with self.lock:
            port = self.neutron.port(port_id)
            if port is None:
                return 404, "Port %s could not be found." % port_id
            if port["device_id"]:
                return 409, "Port %s is still in use." % port_id
            plug = self.plug(server, port)
            st, body = self.neutron.call("PUT", "/ports/" + port_id, {"port": {
                "device_id": server, "device_owner": "compute:nova",
                "binding:host_id": self.servers[server]["host"]}})
            if st != 200:
                if plug:
                    self.plugs[port_id] = plug
                    self.unplug(port_id)
                return 500, "Failed to attach network adapter device to %s" % server
            if plug:
                self.plugs[port_id] = plug
                self.save()
            self.stats["attaches"] += 1
            return 200, {"interfaceAttachment": self.attachment(body["port"])}

    def finish_detach(self, server, port_id, delay):
        time.sleep(delay)
        with self.lock:
            self.unplug(port_id)
            st, _ = self.neutron.call("PUT", "/ports/" + port_id, {"port": {
                "device_id": "", "device_owner": "", "binding:host_id": ""}})
            self.stats["detaches"] += 1
            log("detached %s from %s (neutron %d)" % (port_id, server, st))

    def do_detach(self, server, port_id, stuck=False):
        port = self.neutron.port(port_id)
        if port is None or port["device_id"] != server:
            return 404, "Port %s is not attached" % port_id
        if not stuck:
            threading.Thread(target=self.finish_detach, args=(server, port_id, self.detach_delay),
                             daemon=True).start()
        return 202, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    nova = None

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def reply(self, status, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data or status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def fault(self, status, message, headers=None):
        self.reply(status, {FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}},
                   headers)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    # --- dispatch -------------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def do_PUT(self):
        self.route("PUT")

    def route(self, method):
        try:
            path = self.path.split("?")[0]
            if path.startswith("/_fake/"):
                return self.control(method, path)
            m = re.match(r"^/v2\.1/servers/([^/]+)/os-interface(?:/([^/]+))?/?$", path)
            if not m:
                return self.fault(404, "Not found: %s" % path)
            tok = self.headers.get("X-Auth-Token")
            if not tok or not self.nova.ks.validate(tok):
                return self.reply(401, {"error": {"code": 401, "title": "Unauthorized",
                                                  "message": "The request you have made requires authentication."}},
                                  {"WWW-Authenticate": "Keystone uri=\"%s\"" % self.nova.ks.url})
            server, port_id = m.group(1), m.group(2)
            if method == "POST" and not port_id:
                body = self.read_json()
                return self.op("attach", server, body)
            if method == "GET" and not port_id:
                return self.op("list", server)
            if method == "GET":
                return self.op("show", server, port_id=port_id)
            if method == "DELETE" and port_id:
                return self.op("detach", server, port_id=port_id)
            return self.fault(405, "Method not allowed")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # a bug here must not look like a hang
            log("error: %r" % e)
            try:
                self.fault(500, "fake nova: %r" % e)
            except Exception:
                pass

    def op(self, op, server, body=None, port_id=None):
        nova = self.nova
        if server not in nova.servers:
            return self.fault(404, "Instance %s could not be found." % server)
        f = nova.pick_fault(op)
        kind = f["kind"] if f else None
        if kind == "429":
            ra = str(f.get("retry_after", 1))
            return self.reply(429, {"overLimit": {"code": 429, "message": "Rate limit exceeded",
                                                  "retryAfter": ra}}, {"Retry-After": ra})
        if kind in ("500", "503"):
            return self.fault(int(kind), "Injected fault %s" % kind)
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if kind == "timeout":
            time.sleep(f.get("delay", 5))
            self.close_connection = True
            return None
        if op == "attach":
            att = (body or {}).get("interfaceAttachment") or {}
            if not att.get("port_id"):
                return self.fault(400, "Only attaching by port_id is supported here")
            status, res = nova.do_attach(server, att["port_id"])
        elif op == "detach":
            status, res = nova.do_detach(server, port_id, stuck=(kind == "stuck"))
        elif op == "list":
            st, b = nova.neutron.call("GET", "/ports?device_id=" + server)
            status, res = 200, {"interfaceAttachments": [nova.attachment(p) for p in (b or {}).get("ports", [])]}
        else:
            port = nova.neutron.port(port_id)
            if port is None or port["device_id"] != server:
                status, res = 404, "Port interface %s not found" % port_id
            else:
                status, res = 200, {"interfaceAttachment": nova.attachment(port)}
        if kind == "late":
            time.sleep(f.get("delay", 5))
            self.close_connection = True
            return None
        if kind == "partial":
            return self.fault(500, "Injected fault after the work was done")
        if kind == "garbage" and status < 300:
            return self.reply(200, raw=b'{"interfaceAttachment": {"port_id": [')
        if status >= 400:
            return self.fault(status, res)
        return self.reply(status, res)

    def control(self, method, path):
        nova = self.nova
        parts = path.strip("/").split("/")
        if parts[1:2] == ["metadata"] and method == "GET" and len(parts) >= 3:
            server = parts[2]
            if server not in nova.servers or parts[3:] != ["openstack", "latest", "meta_data.json"]:
                return self.reply(404, raw=b"Not Found")
            return self.reply(200, {"uuid": server, "name": nova.servers[server]["host"],
                                    "hostname": nova.servers[server]["host"],
                                    "availability_zone": "nova", "project_id": "demo"})
        if parts[1:] == ["servers"] and method == "POST":
            b = self.read_json()
            with nova.lock:
                nova.servers[b["id"]] = {"host": b.get("host", b["id"]), "netns": b.get("netns"),
                                         "router_netns": b.get("router_netns")}
                nova.save()
            return self.reply(201, nova.servers[b["id"]])
        if parts[1:2] == ["servers"] and method == "DELETE" and len(parts) == 3:
            with nova.lock:
                for port_id in [k for k, v in nova.plugs.items() if v["server"] == parts[2]]:
                    nova.unplug(port_id)
                nova.servers.pop(parts[2], None)
                nova.save()
            return self.reply(204)
        if parts[1:] == ["faults"] and method == "POST":
            b = self.read_json()
            with nova.lock:
                if "seed" in b:
                    nova.rng.seed(b["seed"])
                nova.faults.append(b)
            return self.reply(201, b)
        if parts[1:] == ["faults"] and method == "DELETE":
            with nova.lock:
                nova.faults = []
            return self.reply(204)
        if parts[1:] == ["config"] and method == "POST":
            b = self.read_json()
            with nova.lock:
                nova.detach_delay = float(b.get("detach_delay", nova.detach_delay))
            return self.reply(200, {"detach_delay": nova.detach_delay})
        if parts[1:] == ["stats"] and method == "GET":
            with nova.lock:
                s = dict(nova.stats)
                s["plugs"] = {k: {"server": v["server"], "ifname": v["ifname"], "mac": v["mac"],
                                  "routes": sorted(v["routes"])} for k, v in nova.plugs.items()}
                return self.reply(200, s)
        return self.reply(404, {"error": "no such control path %s" % path})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keystone", required=True)
    ap.add_argument("--neutron", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--state", help="keep servers and plugged ports in this file across restarts")
    a = ap.parse_args()
    ks = Keystone(a.keystone, a.user, a.password, a.project)
    nova = Nova(ks, Neutron(a.neutron, ks))
    if a.state:
        nova.load(a.state)
    Handler.nova = nova
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    threading.Thread(target=nova.sync_routes, daemon=True).start()

    def stop(*_):
        nova.stopping = True
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("listening on 127.0.0.1:%d" % a.port)
    srv.serve_forever()
    with nova.lock:
        for port_id in list(nova.plugs):
            nova.unplug(port_id)
    log("stopped")


if __name__ == "__main__":
    main()
