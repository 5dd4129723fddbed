// SPDX-License-Identifier: Apache-2.0
/*
 * fake-ibm: a fake IBM Cloud VPC API (with IAM and the instance metadata
 * service) for the `ibm` provider's tests and for a lab whose agents run
 * `--provider ibm`. Written from the API reference, not from a real server:
 * shapes, status codes and the async model (pending -> stable, deleting ->
 * gone) follow IBM's documentation and SDKs; the error codes it invents are
 * marked below.
 *
 * Why C on libmicrohttpd rather than a python script: on top of the sim VPC it
 * must create the same kernel objects as the sim cloud (a veth whose instance
 * end carries the VNI's MAC, the gateway /32 on the router end, a /32 route
 * and permanent neighbour per reserved IP), and sim_router.c already does
 * exactly that through rtnetlink. Reusing it keeps one implementation of "what
 * an attached interface looks like" and no `ip` child processes.
 *
 *   fake-ibm [--unix PATH] [--listen ADDR:PORT [--netns NAME]] [--ready-file PATH]
 *            [--sim-state PATH | --instance ID...] [--subnet ID=CIDR...]
 *            [--api-key KEY...] [--token-ttl S] [--profile NAME] [--max-attachments N]
 *            [--attach-delay-ms N] [--detach-delay-ms N] [--rip-delay-ms N]
 *            [--page-max N] [--seed N] [-v]
 *
 *   --unix PATH        serve on a unix socket (tests: cloud_http_opts.unix_socket)
 *   --listen A:P       serve TCP (port 0: any; the port is written to --ready-file),
 *   --netns NAME       ... in that network namespace: in a lab, the router namespace
 *                      on 0.0.0.0, so every node reaches it at its subnet's gateway
 *   --sim-state PATH   a sim VPC (sluicectl lab, sim_vpc_create): subnets, router
 *                      namespace, instances with their netns and interfaces are
 *                      imported; attachments then become veths in the instances'
 *                      namespaces, reserved IPs routes in the router. Without it
 *                      nothing touches the kernel (API only), with the sim's default
 *                      subnets and the instances of --instance.
 *   --api-key KEY      keys IAM accepts [test-api-key]
 *   --token-ttl S      IAM token lifetime [3600]
 *   --max-attachments  network_attachment_count max of the profile [4]
 *   --*-delay-ms       pending -> stable of attachments [300], deleting -> gone [100],
 *                      pending -> stable of reserved IPs [0]
 *   --page-max N       largest page served (limit is clamped to it) [100]
 *
 * Endpoints: IAM POST /identity/token; metadata PUT /instance_identity/v1/token,
 * POST /instance_identity/v1/iam_token, GET /metadata/v1/instance (the caller's
 * instance by its source address, else the first); VPC under /v1 (version and
 * generation=2 required, bearer token required): instances, instance profiles,
 * network attachments, virtual network interfaces (+ ips), subnets (+ reserved
 * IPs), collections paged with limit/start and next.href. Errors are IBM's
 * {"errors": [{"code", "message", "more_info"}], "trace", "status_code"}.
 *
 * Control API (never faulted, no auth), JSON:
 *   GET    /fake/health
 *   GET    /fake/inventory     every instance, attachment, VNI and reserved IP,
 *                              with internal fields (instance, link, ifname, subnet)
 *   GET    /fake/stats         {"requests", "faults_injected", "routes": {"POST /v1/...": n}}
 *   DELETE /fake/stats
 *   GET    /fake/faults        the rules and how often each fired
 *   POST   /fake/faults        {"rules": [RULE...]} appended
 *   DELETE /fake/faults
 *   POST   /fake/config        {"attach_delay_ms", "detach_delay_ms", "rip_delay_ms",
 *                               "token_ttl", "page_max", "max_attachments", "seed",
 *                               "clock_offset" (s added to the token clock)}
 *   POST   /fake/tokens/revoke every issued token becomes invalid (401s)
 *   POST   /fake/instances     {"id", "profile"?}: an API-only instance
 *   POST   /fake/sim-import    import instances added to the sim VPC since start
 * plus ANY /test/echo (faultable, no auth) for HTTP client tests.
 *
 * RULE: {"method": "POST", "path": "/v1/instances/?*" (an fnmatch glob),
 *        "action": "status"|"hang"|"garbage"|"reset", "status": 500, "code": "...",
 *        "retry_after": "2" | "date:+2", "hang_ms": 5000,
 *        "phase": "before"|"after"   (after: the operation happens, then the fault),
 *        "skip": N (let N matching requests through first), "count": N (then retire),
 *        "probability": 0.3}
 * Every field is optional (defaults: any method, any path, status 500, phase
 * before, except garbage: after). Faults never hit /fake/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cloud/sim_router.h"
#include "cloud/sim_state.h"
#include "common/addr.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "netlink/netns.h"

#define MAX_BODY (1u << 20)
#define ZONE "us-south-1"
#define VPC_ID "r006-fake-vpc"
#define PRIMARY_SUBNET_DEFAULT "subnet-nodes"

static struct {
	pthread_mutex_t lock;
	json_t *subnets, *instances, *attachments, *vnis, *rips, *faults;
	json_t *tokens;    /* IAM access token -> expiration (s, realtime) */
	json_t *id_tokens; /* instance identity token -> {"instance", "exp"} */
	json_t *routes;    /* stats: "METHOD pattern" -> count */
	json_t *api_keys;
	char *router_netns; /* sim mode: kernel objects are made */
	char *sim_state;
	long token_ttl;
	long attach_delay_ms, detach_delay_ms, rip_delay_ms;
	long page_max;
	long max_attachments;
	long clock_offset; /* seconds added to the token clock: tests move time */
	char profile[64];
	unsigned seed;
	unsigned long long seq;
	unsigned long long requests, faults_injected;
	bool verbose;
} F = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.token_ttl = 3600,
	.attach_delay_ms = 300,
	.detach_delay_ms = 100,
	.page_max = 100,
	.max_attachments = 4,
	.profile = "bx2-2x8",
	.seed = 1,
};

/* --- small helpers ------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The clock of token issue and expiry (realtime + clock_offset). */
static time_t fake_time(void)
{
	return time(NULL) + F.clock_offset;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static const char *iso_now(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static unsigned rnd(void)
{
	return (unsigned)rand_r(&F.seed);
}

/* IBM-looking ids: "0717-" + a UUID (zone prefix, as real VPC ids have). */
static const char *new_id(char buf[48])
{
	unsigned long long n = ++F.seq;

	snprintf(buf, 48, "0717-%08x-%04x-4%03x-a%03x-%012llx", rnd(), rnd() & 0xffff, rnd() & 0xfff,
		 rnd() & 0xfff, n);
	return buf;
}

static const char *jstr(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static json_t *find_id(json_t *arr, const char *id)
{
	size_t i;
	json_t *it;

	json_array_foreach(arr, i, it) {
		if (id && jstr(it, "id") && !strcmp(jstr(it, "id"), id))
			return it;
	}
	return NULL;
}

static void remove_obj(json_t *arr, json_t *obj)
{
	size_t i;
	json_t *it;

	json_array_foreach(arr, i, it) {
		if (it == obj) {
			json_array_remove(arr, i);
			return;
		}
	}
}

/* The object without its internal ("_"-prefixed) fields. */
static json_t *pub(json_t *o)
{
	json_t *c = json_object(), *v;
	const char *k;

	json_object_foreach(o, k, v) {
		if (k[0] != '_')
			json_object_set(c, k, v);
	}
	return c;
}

static json_t *ref(json_t *o, const char *type)
{
	json_t *r = json_pack("{s:s, s:s, s:s}", "id", jstr(o, "id"), "href", jstr(o, "href"), "resource_type",
			      type);

	if (jstr(o, "name"))
		json_object_set_new(r, "name", json_string(jstr(o, "name")));
	if (jstr(o, "crn"))
		json_object_set_new(r, "crn", json_string(jstr(o, "crn")));
	return r;
}

static json_t *rip_ref(json_t *rip)
{
	json_t *r = ref(rip, "subnet_reserved_ip");

	json_object_set_new(r, "address", json_string(jstr(rip, "address")));
	return r;
}

/* --- requests and replies -------------------------------------------------------- */

struct rq {
	struct MHD_Connection *c;
	const char *method;
	const char *path;
	const char *body;
	size_t len;
	const char *caps[4];
	char host[256];
	char client_ip[64];
};

struct reply {
	unsigned status;
	json_t *json;
	char *raw;
	char retry_after[64];
	bool drop;
};

static const char *arg(struct rq *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(struct rq *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, name);
}

static void reply_json(struct reply *rp, unsigned status, json_t *j)
{
	json_decref(rp->json);
	rp->status = status;
	rp->json = j;
}

static void ibm_error(struct reply *rp, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void ibm_error(struct reply *rp, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512], trace[48], info[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(info, sizeof(info), "https://cloud.ibm.com/docs/vpc?topic=vpc-rias-error-messages#%s", code);
	reply_json(rp, status,
		   json_pack("{s:[{s:s, s:s, s:s}], s:s, s:i}", "errors", "code", code, "message", msg,
			     "more_info", info, "trace", new_id(trace) + 5, "status_code", (int)status));
}

static json_t *body_json(struct rq *rq, struct reply *rp)
{
	json_t *j = rq->len ? json_loadb(rq->body, rq->len, 0, NULL) : json_object();

	if (!json_is_object(j)) {
		json_decref(j);
		ibm_error(rp, 400, "bad_request", "the request body is not a JSON object");
		return NULL;
	}
	return j;
}

/* --- paging ----------------------------------------------------------------------- */

/* A page of items (public copies) under key, with first/next hrefs that
 * carry `extra` (the caller's filters). */
static void page(struct rq *rq, struct reply *rp, json_t *items, const char *key, const char *extra)
{
	const char *ls = arg(rq, "limit"), *ss = arg(rq, "start");
	long limit = 50, offset = 0, n = (long)json_array_size(items);
	json_t *out, *arr = json_array();
	char href[1024], *end;

	if (ls) {
		limit = strtol(ls, &end, 10);
		if (*end || limit < 1 || limit > 100) {
			json_decref(arr);
			ibm_error(rp, 400, "bad_request", "limit must be 1..100");
			return;
		}
	}
	if (limit > F.page_max)
		limit = F.page_max;
	if (ss) {
		/* Opaque to clients; here "pg" + the offset in hex. */
		if (strncmp(ss, "pg", 2) || (offset = strtol(ss + 2, &end, 16), *end) || offset < 0) {
			json_decref(arr);
			ibm_error(rp, 400, "bad_request", "invalid start token");
			return;
		}
	}
	for (long i = offset; i < n && i < offset + limit; i++)
		json_array_append_new(arr, pub(json_array_get(items, (size_t)i)));
	snprintf(href, sizeof(href), "http://%s%s?limit=%ld%s%s", rq->host, rq->path, limit, extra ? "&" : "",
		 extra ? extra : "");
	out = json_pack("{s:o, s:i, s:i, s:{s:s}}", key, arr, "limit", (int)limit, "total_count", (int)n,
			"first", "href", href);
	if (offset + limit < n) {
		snprintf(href, sizeof(href), "http://%s%s?limit=%ld&start=pg%lx%s%s", rq->host, rq->path, limit,
			 offset + limit, extra ? "&" : "", extra ? extra : "");
		json_object_set_new(out, "next", json_pack("{s:s}", "href", href));
	}
	reply_json(rp, 200, out);
}

/* --- subnets and addresses --------------------------------------------------------- */

static int subnet_prefix(json_t *s, struct sl_prefix *p)
{
	return sl_prefix_parse(jstr(s, "ipv4_cidr_block"), true, p);
}

static bool addr_used(const char *subnet, const char *addr)
{
	size_t i;
	json_t *r;

	json_array_foreach(F.rips, i, r) {
		if (!strcmp(jstr(r, "_subnet"), subnet) && !strcmp(jstr(r, "_address"), addr))
			return true;
	}
	return false;
}

/* A free address: not the network, the gateway, the two IBM reserves after
 * it, or the broadcast; scanning from a cursor so a freed address is not
 * handed out again at once. */
static int alloc_ip(json_t *s, char out[SL_IP_STRLEN])
{
	struct sl_prefix p;
	uint64_t size, cursor = (uint64_t)json_integer_value(json_object_get(s, "_cursor"));
	struct sl_ip ip;

	if (subnet_prefix(s, &p))
		return -EINVAL;
	size = sl_prefix_size(&p);
	if (size < 8)
		return -ENOSPC;
	for (uint64_t k = 0; k < size - 5; k++) {
		uint64_t off = 4 + (cursor - 4 + k) % (size - 5);

		sl_prefix_nth(&p, off, &ip);
		sl_ip_fmt(&ip, out);
		if (!addr_used(jstr(s, "id"), out)) {
			json_object_set_new(s, "_cursor", json_integer((json_int_t)(off + 1 < size - 1 ? off + 1 : 4)));
			return 0;
		}
	}
	return -ENOSPC;
}

static json_t *add_subnet(const char *id, const char *cidr)
{
	struct sl_prefix p;
	char href[256];
	json_t *s;

	if (sl_prefix_parse(cidr, true, &p) || p.ip.family != SL_FAMILY_IPV4) {
		pr_err("subnet %s: bad IPv4 CIDR %s", id, cidr);
		return NULL;
	}
	snprintf(href, sizeof(href), "https://fake.iaas.cloud.ibm.com/v1/subnets/%s", id);
	s = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:I, s:i}", "id", id, "name", id,
		      "href", href, "crn", id, "ipv4_cidr_block", cidr, "ip_version", "ipv4", "status",
		      "available", "zone", "name", ZONE, "vpc", "id", VPC_ID, "total_ipv4_address_count",
		      (json_int_t)sl_prefix_size(&p), "_cursor", 4);
	json_object_set_new(s, "resource_type", json_string("subnet"));
	json_array_append_new(F.subnets, s);
	return s;
}

/* --- the kernel side (sim mode) ------------------------------------------------------ */

static json_t *vni_attachment(json_t *vni)
{
	return find_id(F.attachments, jstr(vni, "_attachment"));
}

/* Routes (or unroutes) a reserved IP where its VNI's veth is. */
static int route_rip(json_t *rip, bool add)
{
	json_t *vni = find_id(F.vnis, jstr(json_object_get(rip, "target"), "id")), *att;
	struct sl_ip ip;
	uint8_t mac[6];

	if (!F.router_netns || !vni)
		return 0;
	att = vni_attachment(vni);
	if (!att || !jstr(att, "_link") || json_is_true(json_object_get(att, "_imported_primary")))
		return 0;
	if (sl_ip_parse(jstr(rip, "_address"), &ip) || sl_mac_parse(jstr(vni, "_mac"), mac))
		return -EINVAL;
	return sim_router_route_ip(F.router_netns, jstr(att, "_link"), &ip, mac, add);
}

static json_t *vni_rips(json_t *vni)
{
	json_t *out = json_array(), *r, *primary = NULL;
	size_t i;

	json_array_foreach(F.rips, i, r) {
		if (!strcmp(jstr(json_object_get(r, "target"), "id") ? jstr(json_object_get(r, "target"), "id") : "",
			    jstr(vni, "id"))) {
			if (!strcmp(jstr(r, "id"), jstr(json_object_get(vni, "primary_ip"), "id")))
				primary = r;
			else
				json_array_append(out, r);
		}
	}
	if (primary)
		json_array_insert(out, 0, primary);
	return out;
}

/* The attachment's veth: the instance end gets the VNI's MAC under the
 * first free ethN; routes for every IP already bound. */
static int plumb(json_t *att, json_t *vni)
{
	json_t *inst = find_id(F.instances, jstr(att, "_instance"));
	json_t *subnet = find_id(F.subnets, jstr(json_object_get(att, "subnet"), "id"));
	json_t *ips;
	struct sl_prefix p;
	struct sl_ip gw;
	uint8_t mac[6];
	char link[IF_NAMESIZE], ifname[IF_NAMESIZE];
	size_t i;
	json_t *r;
	int err = -EEXIST;

	if (!F.router_netns || !jstr(inst, "_netns"))
		return 0;
	if (!subnet || subnet_prefix(subnet, &p) || sl_prefix_nth(&p, 1, &gw) || sl_mac_parse(jstr(vni, "_mac"), mac))
		return -EINVAL;
	snprintf(link, sizeof(link), "ibm%llu", ++F.seq);
	for (unsigned k = 1; k < 64 && err == -EEXIST; k++) {
		snprintf(ifname, sizeof(ifname), "eth%u", k);
		err = sim_router_attach(F.router_netns, link, jstr(inst, "_netns"), ifname, mac, &gw);
	}
	if (err)
		return err;
	json_object_set_new(att, "_link", json_string(link));
	json_object_set_new(att, "_ifname", json_string(ifname));
	ips = vni_rips(vni);
	json_array_foreach(ips, i, r) {
		if (!err && !strcmp(jstr(r, "lifecycle_state"), "stable"))
			err = route_rip(r, true);
	}
	json_decref(ips);
	if (err) {
		sim_router_detach(F.router_netns, link);
		json_object_del(att, "_link");
	}
	return err;
}

/* Deletes a reserved IP record (and its route). */
static void drop_rip(json_t *rip)
{
	if (json_object_get(rip, "target") && strcmp(jstr(rip, "lifecycle_state"), "pending"))
		route_rip(rip, false);
	remove_obj(F.rips, rip);
}

/* An attachment gone for good: its veth, its VNI when auto_delete, and the
 * VNI's auto_delete IPs (the others are unbound). */
static void finish_delete(json_t *att)
{
	json_t *vni = find_id(F.vnis, jstr(json_object_get(att, "virtual_network_interface"), "id"));

	if (F.router_netns && jstr(att, "_link"))
		sim_router_detach(F.router_netns, jstr(att, "_link"));
	json_incref(att);
	remove_obj(F.attachments, att);
	if (vni) {
		json_t *ips = vni_rips(vni), *r;
		size_t i;

		json_object_del(vni, "_attachment");
		json_object_del(vni, "target");
		if (json_is_true(json_object_get(vni, "auto_delete"))) {
			json_array_foreach(ips, i, r) {
				if (json_is_true(json_object_get(r, "auto_delete")))
					remove_obj(F.rips, r);
				else
					json_object_del(r, "target");
			}
			remove_obj(F.vnis, vni);
		}
		json_decref(ips);
	}
	json_decref(att);
}

/* Lifecycle transitions that are due. */
static void advance(void)
{
	long long now = now_ms();
	size_t i;
	json_t *it;

	for (i = 0; i < json_array_size(F.attachments); i++) {
		json_t *vni;
		const char *state;

		it = json_array_get(F.attachments, i);
		state = jstr(it, "lifecycle_state");
		if (!strcmp(state, "deleting") && now >= json_integer_value(json_object_get(it, "_gone_at"))) {
			finish_delete(it);
			i--;
			continue;
		}
		if (strcmp(state, "pending") || now < json_integer_value(json_object_get(it, "_ready_at")))
			continue;
		vni = find_id(F.vnis, jstr(json_object_get(it, "virtual_network_interface"), "id"));
		if (!vni || plumb(it, vni)) {
			pr_warn("attachment %s: plumbing failed", jstr(it, "id"));
			json_object_set_new(it, "lifecycle_state", json_string("failed"));
			if (vni)
				json_object_set_new(vni, "lifecycle_state", json_string("failed"));
			continue;
		}
		json_object_set_new(it, "lifecycle_state", json_string("stable"));
		json_object_set_new(vni, "lifecycle_state", json_string("stable"));
		json_object_set_new(vni, "mac_address", json_string(jstr(vni, "_mac")));
	}
	json_array_foreach(F.rips, i, it) {
		if (!strcmp(jstr(it, "lifecycle_state"), "pending") &&
		    now >= json_integer_value(json_object_get(it, "_ready_at"))) {
			json_object_set_new(it, "lifecycle_state", json_string("stable"));
			json_object_set_new(it, "address", json_string(jstr(it, "_address")));
			if (json_object_get(it, "target") && route_rip(it, true))
				pr_warn("reserved IP %s: route failed", jstr(it, "id"));
		}
	}
}

/* --- records -------------------------------------------------------------------------- */

static json_t *new_rip(json_t *subnet, const char *addr, const char *name, bool auto_delete, bool pending)
{
	char id[48], href[512], ts[32], nm[64];
	json_t *r;

	new_id(id);
	if (!name) {
		snprintf(nm, sizeof(nm), "fake-rip-%llu", F.seq);
		name = nm;
	}
	snprintf(href, sizeof(href), "https://fake.iaas.cloud.ibm.com/v1/subnets/%s/reserved_ips/%s",
		 jstr(subnet, "id"), id);
	r = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "href", href,
		      "name", name, "address", pending ? "0.0.0.0" : addr, "auto_delete", auto_delete,
		      "lifecycle_state", pending ? "pending" : "stable", "owner", "user", "resource_type",
		      "subnet_reserved_ip", "created_at", iso_now(ts), "_address", addr, "_subnet",
		      jstr(subnet, "id"));
	if (pending)
		json_object_set_new(r, "_ready_at", json_integer(now_ms() + F.rip_delay_ms));
	json_array_append_new(F.rips, r);
	return r;
}

static void bind_rip(json_t *rip, json_t *vni)
{
	json_object_set_new(rip, "target", ref(vni, "virtual_network_interface"));
}

/* An attachment with its VNI and primary reserved IP. `mac` NULL: a new one. */
static json_t *new_attachment(json_t *inst, json_t *subnet, const char *name, const char *addr,
			      const char *mac, bool primary, bool auto_delete_ip, bool vni_auto_delete,
			      const char *vni_name, bool stable)
{
	char aid[48], vid[48], href[512], ts[32], macbuf[SL_MAC_STRLEN], nm[64], vnm[64];
	json_t *rip, *vni, *att;

	rip = new_rip(subnet, addr, NULL, auto_delete_ip, false);
	new_id(aid);
	new_id(vid);
	if (!mac) {
		unsigned long long n = F.seq;

		snprintf(macbuf, sizeof(macbuf), "02:00:4D:%02X:%02X:%02X", (unsigned)(n >> 16) & 0xff,
			 (unsigned)(n >> 8) & 0xff, (unsigned)n & 0xff);
		mac = macbuf;
	}
	if (!name) {
		snprintf(nm, sizeof(nm), "fake-attachment-%llu", F.seq);
		name = nm;
	}
	if (!vni_name) {
		snprintf(vnm, sizeof(vnm), "fake-vni-%llu", F.seq);
		vni_name = vnm;
	}
	snprintf(href, sizeof(href), "https://fake.iaas.cloud.ibm.com/v1/virtual_network_interfaces/%s", vid);
	vni = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:o, s:{s:s}, s:{s:s}, s:s}", "id",
			vid, "crn", vid, "href", href, "name", vni_name, "lifecycle_state",
			stable ? "stable" : "pending", "auto_delete", vni_auto_delete, "allow_ip_spoofing", 0,
			"enable_infrastructure_nat", 1, "protocol_state_filtering_mode", "auto", "created_at",
			iso_now(ts), "subnet", ref(subnet, "subnet"), "vpc", "id", VPC_ID, "zone", "name", ZONE,
			"_mac", mac);
	json_object_set_new(vni, "resource_type", json_string("virtual_network_interface"));
	json_object_set_new(vni, "primary_ip", rip_ref(rip));
	if (stable)
		json_object_set_new(vni, "mac_address", json_string(mac));
	json_array_append_new(F.vnis, vni);
	bind_rip(rip, vni);
	snprintf(href, sizeof(href), "https://fake.iaas.cloud.ibm.com/v1/instances/%s/network_attachments/%s",
		 jstr(inst, "id"), aid);
	att = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:s, s:s, s:o, s:s, s:I}", "id", aid, "href",
			href, "name", name, "created_at", ts, "lifecycle_state", stable ? "stable" : "pending",
			"port_speed", 1000, "primary_ip", rip_ref(rip), "subnet", ref(subnet, "subnet"), "type",
			primary ? "primary" : "secondary", "resource_type", "instance_network_attachment",
			"virtual_network_interface", ref(vni, "virtual_network_interface"), "_instance",
			jstr(inst, "id"), "_ready_at", (json_int_t)(now_ms() + F.attach_delay_ms));
	json_array_append_new(F.attachments, att);
	json_object_set_new(vni, "_attachment", json_string(aid));
	json_object_set_new(vni, "target", ref(att, "instance_network_attachment"));
	return att;
}

static json_t *add_instance(const char *id, const char *netns, const char *profile)
{
	char href[256], ts[32];
	json_t *inst;

	snprintf(href, sizeof(href), "https://fake.iaas.cloud.ibm.com/v1/instances/%s", id);
	inst = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:s, s:s}", "id", id,
			 "name", id, "crn", id, "href", href, "status", "running", "lifecycle_state", "stable",
			 "profile", "name", profile ? profile : F.profile, "href", "", "vpc", "id", VPC_ID,
			 "zone", "name", ZONE, "created_at", iso_now(ts), "resource_type", "instance");
	if (netns)
		json_object_set_new(inst, "_netns", json_string(netns));
	json_array_append_new(F.instances, inst);
	return inst;
}

/* An API-only instance with a primary attachment in the nodes subnet. */
static int add_api_instance(const char *id, const char *profile)
{
	json_t *subnet = find_id(F.subnets, PRIMARY_SUBNET_DEFAULT), *inst, *att;
	char addr[SL_IP_STRLEN];

	if (!subnet)
		subnet = json_array_get(F.subnets, 0);
	if (find_id(F.instances, id))
		return -EEXIST;
	if (!subnet || alloc_ip(subnet, addr))
		return -ENOSPC;
	inst = add_instance(id, NULL, profile);
	att = new_attachment(inst, subnet, "eth0", addr, NULL, true, false, false, NULL, true);
	json_object_set_new(inst, "_primary_ip", json_string(addr));
	json_object_set_new(inst, "primary_network_attachment", ref(att, "instance_network_attachment"));
	return 0;
}

/* Instances (and subnets, the first time) of a sim VPC state file. */
static int sim_import(void)
{
	struct sim_state st;
	json_t *it, *inst, *iface;
	size_t i, j;
	int err;

	err = sim_state_open(F.sim_state, &st);
	if (err) {
		pr_err("read sim state %s: %s", F.sim_state, strerror(-err));
		return err;
	}
	if (!F.router_netns)
		F.router_netns = strdup(jstr(st.root, "routerNetns"));
	json_array_foreach(json_object_get(st.root, "subnets"), i, it) {
		if (!find_id(F.subnets, jstr(it, "id")) && !add_subnet(jstr(it, "id"), jstr(it, "cidr"))) {
			err = -EINVAL;
			goto out;
		}
	}
	json_array_foreach(json_object_get(st.root, "instances"), i, inst) {
		json_t *fi;

		if (find_id(F.instances, jstr(inst, "id")))
			continue;
		fi = add_instance(jstr(inst, "id"), jstr(inst, "netns"), NULL);
		json_array_foreach(json_object_get(inst, "interfaces"), j, iface) {
			json_t *subnet = find_id(F.subnets, jstr(iface, "subnet")), *att, *vni, *ip;
			bool primary = json_is_true(json_object_get(iface, "primary"));
			char name[64];
			size_t k;

			if (!subnet)
				continue;
			snprintf(name, sizeof(name), primary ? "eth0" : "sim-%s", jstr(iface, "id"));
			att = new_attachment(fi, subnet, name, jstr(iface, "primaryIP"), jstr(iface, "mac"), primary,
					     !primary, !primary, NULL, true);
			/* The sim made its link already: its name is the interface id. */
			json_object_set_new(att, "_link", json_string(jstr(iface, "id")));
			json_object_set_new(att, "_imported_primary", json_boolean(primary));
			vni = find_id(F.vnis, jstr(json_object_get(att, "virtual_network_interface"), "id"));
			json_array_foreach(json_object_get(iface, "ips"), k, ip) {
				json_t *r = new_rip(subnet, json_string_value(ip), NULL, true, false);

				bind_rip(r, vni);
			}
			if (primary) {
				json_object_set_new(fi, "_primary_ip", json_string(jstr(iface, "primaryIP")));
				json_object_set_new(fi, "primary_network_attachment",
						    ref(att, "instance_network_attachment"));
			}
		}
		pr_info("imported instance %s (netns %s)", jstr(inst, "id"), jstr(inst, "netns"));
	}
out:
	sim_state_close(&st);
	return err;
}

/* --- IAM and metadata ------------------------------------------------------------------- */

static char *form_value(const char *body, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - p) > n && !strncmp(p, name, n) && p[n] == '=') {
			char *out = malloc((size_t)(stop - p)), *o = out;

			for (const char *s = p + n + 1; out && s < stop; s++) {
				if (*s == '+') {
					*o++ = ' ';
				} else if (*s == '%' && stop - s > 2) {
					char hex[3] = { s[1], s[2], 0 };

					*o++ = (char)strtol(hex, NULL, 16);
					s += 2;
				} else {
					*o++ = *s;
				}
			}
			if (out)
				*o = '\0';
			return out;
		}
		p = stop + 1;
	}
	return NULL;
}

static void issue_token(struct reply *rp, long ttl, bool iam_shape)
{
	char tok[96], a[48], b[48], ts[32], exp[32];
	time_t now = fake_time(), e = now + ttl;
	struct tm tm;

	snprintf(tok, sizeof(tok), "fake-iam-%s-%s", new_id(a) + 5, new_id(b) + 5);
	json_object_set_new(F.tokens, tok, json_integer((json_int_t)e));
	if (iam_shape) {
		reply_json(rp, 200,
			   json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "access_token", tok, "refresh_token",
				     "not_supported", "token_type", "Bearer", "expires_in", (json_int_t)ttl,
				     "expiration", (json_int_t)e, "scope", "ibm openid"));
		return;
	}
	gmtime_r(&e, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	reply_json(rp, 200,
		   json_pack("{s:s, s:s, s:s, s:I}", "access_token", tok, "created_at", iso_now(ts), "expires_at",
			     exp, "expires_in", (json_int_t)ttl));
}

static void h_iam_token(struct rq *rq, struct reply *rp)
{
	char *grant = form_value(rq->body, rq->len, "grant_type"), *key = form_value(rq->body, rq->len, "apikey");
	bool ok = false;
	size_t i;
	json_t *k;

	json_array_foreach(F.api_keys, i, k) {
		if (key && !strcmp(json_string_value(k), key))
			ok = true;
	}
	if (!grant || strcmp(grant, "urn:ibm:params:oauth:grant-type:apikey")) {
		reply_json(rp, 400, json_pack("{s:s, s:s, s:{s:s}}", "errorCode", "BXNIM0103E", "errorMessage",
					      "Property missing or empty", "context", "requestId", "fake"));
	} else if (!ok) {
		/* [code as documented for IBM IAM; exact code unverified] */
		reply_json(rp, 400,
			   json_pack("{s:s, s:s, s:{s:s}}", "errorCode", "BXNIM0415E", "errorMessage",
				     "Provided API key could not be found", "context", "requestId", "fake"));
	} else {
		issue_token(rp, F.token_ttl, true);
	}
	free(grant);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
}

static json_t *instance_by_client(struct rq *rq)
{
	size_t i;
	json_t *inst;

	json_array_foreach(F.instances, i, inst) {
		if (jstr(inst, "_primary_ip") && !strcmp(jstr(inst, "_primary_ip"), rq->client_ip))
			return inst;
	}
	return json_array_get(F.instances, 0);
}

static bool metadata_version(struct rq *rq, struct reply *rp)
{
	if (!arg(rq, "version")) {
		ibm_error(rp, 400, "missing_version", "the version query parameter is required");
		return false;
	}
	return true;
}

static void h_md_token(struct rq *rq, struct reply *rp)
{
	const char *flavor = header(rq, "Metadata-Flavor");
	json_t *b, *inst = instance_by_client(rq);
	char tok[96], a[48], ts[32];
	json_int_t ttl;

	if (!metadata_version(rq, rp))
		return;
	if (!flavor || strcmp(flavor, "ibm")) {
		ibm_error(rp, 400, "missing_metadata_flavor", "the Metadata-Flavor: ibm header is required");
		return;
	}
	b = body_json(rq, rp);
	if (!b)
		return;
	ttl = json_integer_value(json_object_get(b, "expires_in"));
	json_decref(b);
	if (!ttl)
		ttl = 300;
	if (ttl < 5 || ttl > 3600) {
		ibm_error(rp, 400, "invalid_expires_in", "expires_in must be 5..3600");
		return;
	}
	if (!inst) {
		ibm_error(rp, 404, "not_found", "no instance");
		return;
	}
	snprintf(tok, sizeof(tok), "fake-identity-%s", new_id(a) + 5);
	json_object_set_new(F.id_tokens, tok,
			    json_pack("{s:s, s:I}", "instance", jstr(inst, "id"), "exp", (json_int_t)fake_time() + ttl));
	reply_json(rp, 200,
		   json_pack("{s:s, s:s, s:s, s:I}", "access_token", tok, "created_at", iso_now(ts), "expires_at",
			     ts, "expires_in", ttl));
}

/* The instance an identity token was issued to, or NULL (and a 401). */
static json_t *identity(struct rq *rq, struct reply *rp)
{
	const char *auth = header(rq, "Authorization");
	json_t *t = auth && !strncmp(auth, "Bearer ", 7) ? json_object_get(F.id_tokens, auth + 7) : NULL;

	if (!t || json_integer_value(json_object_get(t, "exp")) <= fake_time()) {
		ibm_error(rp, 401, "not_authorized", "missing or expired instance identity token");
		return NULL;
	}
	return find_id(F.instances, jstr(t, "instance"));
}

static void h_md_iam_token(struct rq *rq, struct reply *rp)
{
	if (metadata_version(rq, rp) && identity(rq, rp))
		issue_token(rp, F.token_ttl, false);
}

static json_t *instance_out(json_t *inst);

static void h_md_instance(struct rq *rq, struct reply *rp)
{
	json_t *inst;

	if (metadata_version(rq, rp) && (inst = identity(rq, rp)))
		reply_json(rp, 200, instance_out(inst));
}

/* --- VPC: instances ------------------------------------------------------------------------ */

static json_t *instance_out(json_t *inst)
{
	json_t *o = pub(inst), *refs = json_array(), *a;
	size_t i;

	json_array_foreach(F.attachments, i, a) {
		if (!strcmp(jstr(a, "_instance"), jstr(inst, "id"))) {
			json_t *r = ref(a, "instance_network_attachment");

			json_object_set(r, "primary_ip", json_object_get(a, "primary_ip"));
			json_object_set(r, "subnet", json_object_get(a, "subnet"));
			json_object_set(r, "virtual_network_interface", json_object_get(a, "virtual_network_interface"));
			json_array_append_new(refs, r);
		}
	}
	json_object_set_new(o, "network_attachments", refs);
	return o;
}

static json_t *instance_or_404(struct rq *rq, struct reply *rp)
{
	json_t *inst = find_id(F.instances, rq->caps[0]);

	if (!inst)
		ibm_error(rp, 404, "instance_not_found", "Instance not found: %s", rq->caps[0]);
	return inst;
}

static void h_instances_list(struct rq *rq, struct reply *rp)
{
	json_t *items = json_array(), *inst;
	size_t i;

	json_array_foreach(F.instances, i, inst)
		json_array_append_new(items, instance_out(inst));
	page(rq, rp, items, "instances", NULL);
	json_decref(items);
}

static void h_instance_get(struct rq *rq, struct reply *rp)
{
	json_t *inst = instance_or_404(rq, rp);

	if (inst)
		reply_json(rp, 200, instance_out(inst));
}

static void h_profile_get(struct rq *rq, struct reply *rp)
{
	reply_json(rp, 200,
		   json_pack("{s:s, s:s, s:{s:s, s:i, s:i}, s:{s:s, s:i, s:i}}", "name", rq->caps[0], "href", "",
			     "network_attachment_count", "type", "range", "min", 1, "max", (int)F.max_attachments,
			     "network_interface_count", "type", "range", "min", 1, "max",
			     (int)F.max_attachments));
}

/* --- VPC: network attachments ---------------------------------------------------------------- */

static json_t *attachment_of(json_t *inst, const char *id)
{
	json_t *a = find_id(F.attachments, id);

	return a && !strcmp(jstr(a, "_instance"), jstr(inst, "id")) ? a : NULL;
}

static void h_att_list(struct rq *rq, struct reply *rp)
{
	json_t *inst = instance_or_404(rq, rp), *arr, *a;
	size_t i;

	if (!inst)
		return;
	arr = json_array();
	json_array_foreach(F.attachments, i, a) {
		if (!strcmp(jstr(a, "_instance"), jstr(inst, "id")))
			json_array_append_new(arr, pub(a));
	}
	reply_json(rp, 200, json_pack("{s:o}", "network_attachments", arr));
}

static void h_att_get(struct rq *rq, struct reply *rp)
{
	json_t *inst = instance_or_404(rq, rp), *a;

	if (!inst)
		return;
	a = attachment_of(inst, rq->caps[1]);
	if (!a)
		ibm_error(rp, 404, "network_attachment_not_found", "Network attachment not found: %s", rq->caps[1]);
	else
		reply_json(rp, 200, pub(a));
}

static void h_att_create(struct rq *rq, struct reply *rp)
{
	json_t *inst = instance_or_404(rq, rp), *b, *proto, *subnet, *a, *att;
	const char *name, *subnet_id;
	char addr[SL_IP_STRLEN];
	size_t i, count = 0;
	json_t *pip;

	if (!inst || !(b = body_json(rq, rp)))
		return;
	proto = json_object_get(b, "virtual_network_interface");
	name = jstr(b, "name");
	subnet_id = jstr(json_object_get(proto, "subnet"), "id");
	if (!json_is_object(proto) || !subnet_id) {
		ibm_error(rp, 400, "bad_request", "virtual_network_interface.subnet.id is required");
		goto out;
	}
	subnet = find_id(F.subnets, subnet_id);
	if (!subnet) {
		ibm_error(rp, 404, "subnet_not_found", "Subnet not found: %s", subnet_id);
		goto out;
	}
	json_array_foreach(F.attachments, i, a) {
		if (strcmp(jstr(a, "_instance"), jstr(inst, "id")))
			continue;
		count++;
		if (name && !strcmp(jstr(a, "name"), name)) {
			/* [code invented by the fake] */
			ibm_error(rp, 409, "network_attachment_name_duplicate",
				  "The name %s is already used by another network attachment of the instance", name);
			goto out;
		}
	}
	if ((long)count >= F.max_attachments) {
		/* [code invented by the fake] */
		ibm_error(rp, 400, "instance_network_attachment_limit_exceeded",
			  "The instance profile allows %ld network attachments", F.max_attachments);
		goto out;
	}
	pip = json_object_get(proto, "primary_ip");
	if (jstr(pip, "address")) {
		snprintf(addr, sizeof(addr), "%s", jstr(pip, "address"));
		if (addr_used(subnet_id, addr)) {
			ibm_error(rp, 409, "reserved_ip_address_in_use", "%s is in use", addr);
			goto out;
		}
	} else if (alloc_ip(subnet, addr)) {
		/* [code invented by the fake] */
		ibm_error(rp, 400, "subnet_ip_exhausted", "Subnet %s has no free address", subnet_id);
		goto out;
	}
	att = new_attachment(inst, subnet, name, addr, NULL, false,
			     !json_is_false(json_object_get(pip, "auto_delete")),
			     !json_is_false(json_object_get(proto, "auto_delete")), jstr(proto, "name"), false);
	reply_json(rp, 201, pub(att));
out:
	json_decref(b);
}

static void h_att_delete(struct rq *rq, struct reply *rp)
{
	json_t *inst = instance_or_404(rq, rp), *a;

	if (!inst)
		return;
	a = attachment_of(inst, rq->caps[1]);
	if (!a) {
		ibm_error(rp, 404, "network_attachment_not_found", "Network attachment not found: %s", rq->caps[1]);
		return;
	}
	if (!strcmp(jstr(a, "type"), "primary")) {
		ibm_error(rp, 409, "network_attachment_primary_cannot_be_deleted",
			  "The primary network attachment of an instance cannot be deleted");
		return;
	}
	if (strcmp(jstr(a, "lifecycle_state"), "deleting")) {
		json_object_set_new(a, "lifecycle_state", json_string("deleting"));
		json_object_set_new(a, "_gone_at", json_integer(now_ms() + F.detach_delay_ms));
	}
	rp->status = 202;
}

/* --- VPC: virtual network interfaces ----------------------------------------------------------- */

static json_t *vni_or_404(struct rq *rq, struct reply *rp)
{
	json_t *v = find_id(F.vnis, rq->caps[0]);

	if (!v)
		ibm_error(rp, 404, "virtual_network_interface_not_found", "Virtual network interface not found: %s",
			  rq->caps[0]);
	return v;
}

static json_t *vni_out(json_t *vni)
{
	json_t *o = pub(vni), *ips = vni_rips(vni), *refs = json_array(), *r;
	size_t i;

	json_array_foreach(ips, i, r)
		json_array_append_new(refs, rip_ref(r));
	json_decref(ips);
	json_object_set_new(o, "ips", refs);
	return o;
}

static void h_vni_list(struct rq *rq, struct reply *rp)
{
	json_t *items = json_array(), *v;
	size_t i;

	json_array_foreach(F.vnis, i, v)
		json_array_append_new(items, vni_out(v));
	page(rq, rp, items, "virtual_network_interfaces", NULL);
	json_decref(items);
}

static void h_vni_get(struct rq *rq, struct reply *rp)
{
	json_t *v = vni_or_404(rq, rp);

	if (v)
		reply_json(rp, 200, vni_out(v));
}

static void h_vni_ips(struct rq *rq, struct reply *rp)
{
	json_t *v = vni_or_404(rq, rp), *ips, *refs, *r;
	size_t i;

	if (!v)
		return;
	ips = vni_rips(v);
	refs = json_array();
	json_array_foreach(ips, i, r)
		json_array_append_new(refs, rip_ref(r));
	page(rq, rp, refs, "ips", NULL);
	json_decref(refs);
	json_decref(ips);
}

static json_t *bound_rip(struct rq *rq, struct reply *rp, json_t *vni)
{
	json_t *r = find_id(F.rips, rq->caps[1]);

	if (!r || !jstr(json_object_get(r, "target"), "id") ||
	    strcmp(jstr(json_object_get(r, "target"), "id"), jstr(vni, "id"))) {
		ibm_error(rp, 404, "reserved_ip_not_found", "Reserved IP %s is not bound to %s", rq->caps[1],
			  jstr(vni, "id"));
		return NULL;
	}
	return r;
}

static void h_vni_ip_get(struct rq *rq, struct reply *rp)
{
	json_t *v = vni_or_404(rq, rp), *r;

	if (v && (r = bound_rip(rq, rp, v)))
		reply_json(rp, 200, rip_ref(r));
}

static void h_vni_ip_bind(struct rq *rq, struct reply *rp)
{
	json_t *v = vni_or_404(rq, rp), *r;

	if (!v)
		return;
	r = find_id(F.rips, rq->caps[1]);
	if (!r) {
		ibm_error(rp, 404, "reserved_ip_not_found", "Reserved IP not found: %s", rq->caps[1]);
		return;
	}
	if (json_object_get(r, "target")) {
		if (!strcmp(jstr(json_object_get(r, "target"), "id"), jstr(v, "id"))) {
			reply_json(rp, 200, rip_ref(r));
			return;
		}
		ibm_error(rp, 409, "reserved_ip_in_use", "Reserved IP %s is bound elsewhere", rq->caps[1]);
		return;
	}
	if (strcmp(jstr(r, "_subnet"), jstr(json_object_get(v, "subnet"), "id"))) {
		ibm_error(rp, 400, "reserved_ip_subnet_mismatch", "Reserved IP is not in the VNI's subnet");
		return;
	}
	bind_rip(r, v);
	if (route_rip(r, true)) {
		json_object_del(r, "target");
		ibm_error(rp, 500, "internal_error", "routing the reserved IP failed");
		return;
	}
	reply_json(rp, 200, rip_ref(r));
}

static void h_vni_ip_unbind(struct rq *rq, struct reply *rp)
{
	json_t *v = vni_or_404(rq, rp), *r;

	if (!v || !(r = bound_rip(rq, rp, v)))
		return;
	if (!strcmp(jstr(r, "id"), jstr(json_object_get(v, "primary_ip"), "id"))) {
		ibm_error(rp, 409, "reserved_ip_primary_cannot_be_unbound", "The primary IP cannot be unbound");
		return;
	}
	if (json_is_true(json_object_get(r, "auto_delete"))) {
		drop_rip(r);
	} else {
		route_rip(r, false);
		json_object_del(r, "target");
	}
	rp->status = 204;
}

/* --- VPC: subnets and reserved IPs ---------------------------------------------------------------- */

static json_t *subnet_out(json_t *s)
{
	json_t *o = pub(s), *r;
	json_int_t used = 0;
	size_t i;

	json_array_foreach(F.rips, i, r)
		used += !strcmp(jstr(r, "_subnet"), jstr(s, "id"));
	json_object_set_new(o, "available_ipv4_address_count",
			    json_integer(json_integer_value(json_object_get(s, "total_ipv4_address_count")) - 5 - used));
	return o;
}

static json_t *subnet_or_404(struct rq *rq, struct reply *rp)
{
	json_t *s = find_id(F.subnets, rq->caps[0]);

	if (!s)
		ibm_error(rp, 404, "subnet_not_found", "Subnet not found: %s", rq->caps[0]);
	return s;
}

static void h_subnet_list(struct rq *rq, struct reply *rp)
{
	json_t *items = json_array(), *s;
	size_t i;

	json_array_foreach(F.subnets, i, s)
		json_array_append_new(items, subnet_out(s));
	page(rq, rp, items, "subnets", NULL);
	json_decref(items);
}

static void h_subnet_get(struct rq *rq, struct reply *rp)
{
	json_t *s = subnet_or_404(rq, rp);

	if (s)
		reply_json(rp, 200, subnet_out(s));
}

static json_t *rip_of(struct rq *rq, struct reply *rp, json_t *subnet)
{
	json_t *r = find_id(F.rips, rq->caps[1]);

	if (!r || strcmp(jstr(r, "_subnet"), jstr(subnet, "id"))) {
		ibm_error(rp, 404, "reserved_ip_not_found", "Reserved IP not found: %s", rq->caps[1]);
		return NULL;
	}
	return r;
}

static void h_rip_list(struct rq *rq, struct reply *rp)
{
	json_t *s = subnet_or_404(rq, rp), *items, *r;
	const char *target = arg(rq, "target.id");
	char extra[256];
	size_t i;

	if (!s)
		return;
	items = json_array();
	json_array_foreach(F.rips, i, r) {
		const char *t = jstr(json_object_get(r, "target"), "id");

		if (strcmp(jstr(r, "_subnet"), jstr(s, "id")) || (target && (!t || strcmp(t, target))))
			continue;
		json_array_append(items, r);
	}
	snprintf(extra, sizeof(extra), "target.id=%s", target ? target : "");
	page(rq, rp, items, "reserved_ips", target ? extra : NULL);
	json_decref(items);
}

static void h_rip_get(struct rq *rq, struct reply *rp)
{
	json_t *s = subnet_or_404(rq, rp), *r;

	if (s && (r = rip_of(rq, rp, s)))
		reply_json(rp, 200, pub(r));
}

static void h_rip_create(struct rq *rq, struct reply *rp)
{
	json_t *s = subnet_or_404(rq, rp), *b, *r, *vni = NULL, *it;
	const char *name, *tid;
	char addr[SL_IP_STRLEN];
	bool auto_delete;
	size_t i;

	if (!s || !(b = body_json(rq, rp)))
		return;
	name = jstr(b, "name");
	tid = jstr(json_object_get(b, "target"), "id");
	auto_delete = json_is_true(json_object_get(b, "auto_delete"));
	if (name) {
		json_array_foreach(F.rips, i, it) {
			if (!strcmp(jstr(it, "_subnet"), jstr(s, "id")) && !strcmp(jstr(it, "name"), name)) {
				/* [code invented by the fake] */
				ibm_error(rp, 409, "reserved_ip_name_duplicate",
					  "The name %s is already used in subnet %s", name, jstr(s, "id"));
				goto out;
			}
		}
	}
	if (tid) {
		vni = find_id(F.vnis, tid);
		if (!vni) {
			ibm_error(rp, 404, "virtual_network_interface_not_found", "Target not found: %s", tid);
			goto out;
		}
		if (strcmp(jstr(json_object_get(vni, "subnet"), "id"), jstr(s, "id"))) {
			ibm_error(rp, 400, "reserved_ip_subnet_mismatch", "The target is in another subnet");
			goto out;
		}
	} else if (auto_delete) {
		ibm_error(rp, 400, "bad_request", "auto_delete must be false for an unbound reserved IP");
		goto out;
	}
	if (jstr(b, "address")) {
		snprintf(addr, sizeof(addr), "%s", jstr(b, "address"));
		if (addr_used(jstr(s, "id"), addr)) {
			ibm_error(rp, 409, "reserved_ip_address_in_use", "%s is in use", addr);
			goto out;
		}
	} else if (alloc_ip(s, addr)) {
		/* [code invented by the fake] */
		ibm_error(rp, 400, "subnet_ip_exhausted", "Subnet %s has no free address", jstr(s, "id"));
		goto out;
	}
	r = new_rip(s, addr, name, auto_delete, F.rip_delay_ms > 0);
	if (vni) {
		bind_rip(r, vni);
		if (!F.rip_delay_ms && route_rip(r, true)) {
			remove_obj(F.rips, r);
			ibm_error(rp, 500, "internal_error", "routing the reserved IP failed");
			goto out;
		}
	}
	reply_json(rp, 201, pub(r));
out:
	json_decref(b);
}

static void h_rip_delete(struct rq *rq, struct reply *rp)
{
	json_t *s = subnet_or_404(rq, rp), *r, *v;
	size_t i;

	if (!s || !(r = rip_of(rq, rp, s)))
		return;
	json_array_foreach(F.vnis, i, v) {
		if (!strcmp(jstr(json_object_get(v, "primary_ip"), "id"), jstr(r, "id"))) {
			ibm_error(rp, 409, "reserved_ip_in_use", "Reserved IP %s is the primary IP of %s",
				  jstr(r, "id"), jstr(v, "id"));
			return;
		}
	}
	drop_rip(r);
	rp->status = 204;
}

/* --- test and control ------------------------------------------------------------------------------ */

static void h_echo(struct rq *rq, struct reply *rp)
{
	reply_json(rp, 200, json_pack("{s:s, s:s%, s:I}", "method", rq->method, "body", rq->body ? rq->body : "",
				      rq->len, "len", (json_int_t)rq->len));
}

static void h_health(struct rq *rq, struct reply *rp)
{
	(void)rq;
	reply_json(rp, 200, json_pack("{s:b}", "ok", 1));
}

static json_t *with_internal(json_t *o, const char *const *keys)
{
	json_t *c = pub(o);

	for (size_t i = 0; keys[i]; i++) {
		if (json_object_get(o, keys[i]))
			json_object_set(c, keys[i] + 1, json_object_get(o, keys[i]));
	}
	return c;
}

static void h_inventory(struct rq *rq, struct reply *rp)
{
	static const char *const att_keys[] = { "_instance", "_link", "_ifname", NULL };
	static const char *const vni_keys[] = { "_attachment", "_mac", NULL };
	static const char *const rip_keys[] = { "_subnet", "_address", NULL };
	static const char *const inst_keys[] = { "_netns", "_primary_ip", NULL };
	json_t *insts = json_array(), *atts = json_array(), *vnis = json_array(), *rips = json_array(), *it;
	size_t i;

	(void)rq;
	json_array_foreach(F.instances, i, it)
		json_array_append_new(insts, with_internal(it, inst_keys));
	json_array_foreach(F.attachments, i, it)
		json_array_append_new(atts, with_internal(it, att_keys));
	json_array_foreach(F.vnis, i, it)
		json_array_append_new(vnis, with_internal(it, vni_keys));
	json_array_foreach(F.rips, i, it)
		json_array_append_new(rips, with_internal(it, rip_keys));
	reply_json(rp, 200,
		   json_pack("{s:o, s:o, s:o, s:o, s:s?}", "instances", insts, "network_attachments", atts,
			     "virtual_network_interfaces", vnis, "reserved_ips", rips, "router_netns", F.router_netns));
}

static void h_stats(struct rq *rq, struct reply *rp)
{
	if (!strcmp(rq->method, "DELETE")) {
		json_object_clear(F.routes);
		F.requests = F.faults_injected = 0;
		rp->status = 204;
		return;
	}
	reply_json(rp, 200,
		   json_pack("{s:I, s:I, s:O}", "requests", (json_int_t)F.requests, "faults_injected",
			     (json_int_t)F.faults_injected, "routes", F.routes));
}

static void h_faults(struct rq *rq, struct reply *rp)
{
	json_t *b, *rules, *r;
	size_t i;

	if (!strcmp(rq->method, "GET")) {
		reply_json(rp, 200, json_pack("{s:O}", "rules", F.faults));
		return;
	}
	if (!strcmp(rq->method, "DELETE")) {
		json_array_clear(F.faults);
		rp->status = 204;
		return;
	}
	if (!(b = body_json(rq, rp)))
		return;
	rules = json_object_get(b, "rules");
	if (!json_is_array(rules)) {
		ibm_error(rp, 400, "bad_request", "{\"rules\": [...]} expected");
		json_decref(b);
		return;
	}
	json_array_foreach(rules, i, r) {
		if (json_is_object(r)) {
			json_t *c = json_deep_copy(r);

			json_object_set_new(c, "seen", json_integer(0));
			json_object_set_new(c, "fired", json_integer(0));
			json_array_append_new(F.faults, c);
		}
	}
	json_decref(b);
	reply_json(rp, 200, json_pack("{s:O}", "rules", F.faults));
}

static void h_config(struct rq *rq, struct reply *rp)
{
	json_t *b = body_json(rq, rp), *v;

	if (!b)
		return;
#define SET(name, field)                                             \
	if ((v = json_object_get(b, name)) && json_is_integer(v)) \
		field = json_integer_value(v);
	SET("attach_delay_ms", F.attach_delay_ms)
	SET("detach_delay_ms", F.detach_delay_ms)
	SET("rip_delay_ms", F.rip_delay_ms)
	SET("token_ttl", F.token_ttl)
	SET("page_max", F.page_max)
	SET("max_attachments", F.max_attachments)
	SET("clock_offset", F.clock_offset)
#undef SET
	if ((v = json_object_get(b, "seed")) && json_is_integer(v))
		F.seed = (unsigned)json_integer_value(v);
	json_decref(b);
	reply_json(rp, 200,
		   json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "attach_delay_ms", (json_int_t)F.attach_delay_ms,
			     "detach_delay_ms", (json_int_t)F.detach_delay_ms, "rip_delay_ms",
			     (json_int_t)F.rip_delay_ms, "token_ttl", (json_int_t)F.token_ttl, "page_max",
			     (json_int_t)F.page_max, "max_attachments", (json_int_t)F.max_attachments));
}

static void h_revoke(struct rq *rq, struct reply *rp)
{
	(void)rq;
	json_object_clear(F.tokens);
	rp->status = 204;
}

static void h_add_instance(struct rq *rq, struct reply *rp)
{
	json_t *b = body_json(rq, rp);
	int err;

	if (!b)
		return;
	err = jstr(b, "id") ? add_api_instance(jstr(b, "id"), jstr(b, "profile")) : -EINVAL;
	if (err)
		ibm_error(rp, err == -EEXIST ? 409 : 400, "bad_request", "add instance: %s", strerror(-err));
	else
		reply_json(rp, 201, instance_out(find_id(F.instances, jstr(b, "id"))));
	json_decref(b);
}

static void h_sim_import(struct rq *rq, struct reply *rp)
{
	(void)rq;
	if (!F.sim_state)
		ibm_error(rp, 400, "bad_request", "not started with --sim-state");
	else if (sim_import())
		ibm_error(rp, 500, "internal_error", "sim import failed");
	else
		rp->status = 204;
}

/* --- routing --------------------------------------------------------------------------------------- */

enum { R_VPC = 1, R_CONTROL = 2 };

static const struct route {
	const char *method; /* NULL: any */
	const char *pattern;
	void (*fn)(struct rq *, struct reply *);
	int flags;
} routes[] = {
	{ "POST", "/identity/token", h_iam_token, 0 },
	{ "PUT", "/instance_identity/v1/token", h_md_token, 0 },
	{ "POST", "/instance_identity/v1/iam_token", h_md_iam_token, 0 },
	{ "GET", "/metadata/v1/instance", h_md_instance, 0 },
	{ "GET", "/v1/instances", h_instances_list, R_VPC },
	{ "GET", "/v1/instances/*", h_instance_get, R_VPC },
	{ "GET", "/v1/instance/profiles/*", h_profile_get, R_VPC },
	{ "GET", "/v1/instances/*/network_attachments", h_att_list, R_VPC },
	{ "POST", "/v1/instances/*/network_attachments", h_att_create, R_VPC },
	{ "GET", "/v1/instances/*/network_attachments/*", h_att_get, R_VPC },
	{ "DELETE", "/v1/instances/*/network_attachments/*", h_att_delete, R_VPC },
	{ "GET", "/v1/virtual_network_interfaces", h_vni_list, R_VPC },
	{ "GET", "/v1/virtual_network_interfaces/*", h_vni_get, R_VPC },
	{ "GET", "/v1/virtual_network_interfaces/*/ips", h_vni_ips, R_VPC },
	{ "GET", "/v1/virtual_network_interfaces/*/ips/*", h_vni_ip_get, R_VPC },
	{ "PUT", "/v1/virtual_network_interfaces/*/ips/*", h_vni_ip_bind, R_VPC },
	{ "DELETE", "/v1/virtual_network_interfaces/*/ips/*", h_vni_ip_unbind, R_VPC },
	{ "GET", "/v1/subnets", h_subnet_list, R_VPC },
	{ "GET", "/v1/subnets/*", h_subnet_get, R_VPC },
	{ "GET", "/v1/subnets/*/reserved_ips", h_rip_list, R_VPC },
	{ "POST", "/v1/subnets/*/reserved_ips", h_rip_create, R_VPC },
	{ "GET", "/v1/subnets/*/reserved_ips/*", h_rip_get, R_VPC },
	{ "DELETE", "/v1/subnets/*/reserved_ips/*", h_rip_delete, R_VPC },
	{ NULL, "/test/echo", h_echo, 0 },
	{ "GET", "/fake/health", h_health, R_CONTROL },
	{ "GET", "/fake/inventory", h_inventory, R_CONTROL },
	{ "GET", "/fake/stats", h_stats, R_CONTROL },
	{ "DELETE", "/fake/stats", h_stats, R_CONTROL },
	{ "GET", "/fake/faults", h_faults, R_CONTROL },
	{ "POST", "/fake/faults", h_faults, R_CONTROL },
	{ "DELETE", "/fake/faults", h_faults, R_CONTROL },
	{ "POST", "/fake/config", h_config, R_CONTROL },
	{ "POST", "/fake/tokens/revoke", h_revoke, R_CONTROL },
	{ "POST", "/fake/instances", h_add_instance, R_CONTROL },
	{ "POST", "/fake/sim-import", h_sim_import, R_CONTROL },
};

/* Segment-wise match; "*" captures one segment into caps (pointers into buf). */
static bool match(const char *pattern, const char *path, char *buf, size_t buflen, const char **caps)
{
	const char *p = pattern, *s = path;
	unsigned nc = 0;
	size_t used = 0;

	while (*p && *s) {
		size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");

		if (pl == 1 && *p == '*') {
			if (!sl || nc >= 4 || used + sl + 1 > buflen)
				return false;
			memcpy(buf + used, s, sl);
			buf[used + sl] = '\0';
			caps[nc++] = buf + used;
			used += sl + 1;
		} else if (pl != sl || strncmp(p, s, pl)) {
			return false;
		}
		p += pl;
		s += sl;
		if (*p == '/' && *s == '/') {
			p++;
			s++;
		}
	}
	return !*p && !*s;
}

static bool valid_version(const char *v)
{
	return v && strlen(v) == 10 && v[4] == '-' && v[7] == '-' && strspn(v, "0123456789-") == 10;
}

/* VPC preconditions: version, generation, a live bearer token. */
static bool vpc_checks(struct rq *rq, struct reply *rp)
{
	const char *auth = header(rq, "Authorization"), *gen = arg(rq, "generation");
	json_t *t;

	if (!valid_version(arg(rq, "version"))) {
		ibm_error(rp, 400, "missing_version", "The version query parameter is required (YYYY-MM-DD)");
		return false;
	}
	if (!gen || strcmp(gen, "2")) {
		ibm_error(rp, 400, "invalid_generation", "generation=2 is required");
		return false;
	}
	t = auth && !strncmp(auth, "Bearer ", 7) ? json_object_get(F.tokens, auth + 7) : NULL;
	if (!t || json_integer_value(t) <= fake_time()) {
		ibm_error(rp, 401, "not_authorized", "The token is missing, invalid or expired");
		return false;
	}
	return true;
}

static void count_route(const char *method, const char *pattern)
{
	char key[256];

	snprintf(key, sizeof(key), "%s %s", method, pattern);
	json_object_set_new(F.routes, key, json_integer(json_integer_value(json_object_get(F.routes, key)) + 1));
}

/* A copy of the fault to inject for this request, or NULL. Lock held. */
static json_t *pick_fault(struct rq *rq)
{
	size_t i;
	json_t *r;

	json_array_foreach(F.faults, i, r) {
		const char *m = jstr(r, "method"), *path = jstr(r, "path");
		json_int_t skip = json_integer_value(json_object_get(r, "skip"));
		json_int_t count = json_integer_value(json_object_get(r, "count"));
		json_int_t seen = json_integer_value(json_object_get(r, "seen"));
		json_int_t fired = json_integer_value(json_object_get(r, "fired"));
		json_t *pv = json_object_get(r, "probability");

		if (m && strcmp(m, "*") && strcmp(m, rq->method))
			continue;
		if (path && fnmatch(path, rq->path, 0))
			continue;
		json_object_set_new(r, "seen", json_integer(++seen));
		if (seen <= skip)
			continue;
		if (pv && (double)rnd() / RAND_MAX >= json_number_value(pv))
			continue;
		json_object_set_new(r, "fired", json_integer(++fired));
		F.faults_injected++;
		r = json_deep_copy(r);
		if (count && fired >= count)
			json_array_remove(F.faults, i);
		return r;
	}
	return NULL;
}

static void garbage(struct reply *rp)
{
	static const char junk[] = "{\"network_attachments\": [{\"id\": \"0717-trunc";

	free(rp->raw);
	rp->raw = strdup(junk);
	json_decref(rp->json);
	rp->json = NULL;
	if (!rp->status || rp->status == 204)
		rp->status = 200;
}

static void apply_status_fault(json_t *f, struct reply *rp)
{
	json_int_t status = json_integer_value(json_object_get(f, "status"));
	const char *ra = jstr(f, "retry_after"), *code = jstr(f, "code");

	if (!status)
		status = 500;
	if (!code)
		code = status == 429 ? "too_many_requests" : status == 501 ? "not_implemented" : "internal_error";
	ibm_error(rp, (unsigned)status, code, "injected fault (HTTP %d)", (int)status);
	if (ra && !strncmp(ra, "date:+", 6)) {
		time_t t = time(NULL) + strtol(ra + 6, NULL, 10);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(rp->retry_after, sizeof(rp->retry_after), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	} else if (ra) {
		snprintf(rp->retry_after, sizeof(rp->retry_after), "%s", ra);
	}
}

static void handle(struct rq *rq, struct reply *rp)
{
	const struct route *rt = NULL;
	bool path_known = false;
	char caps_buf[512];
	json_t *fault = NULL;
	const char *action = NULL;
	bool after = false;
	long hang = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].pattern, rq->path, caps_buf, sizeof(caps_buf), rq->caps))
			continue;
		path_known = true;
		if (!routes[i].method || !strcmp(routes[i].method, rq->method)) {
			rt = &routes[i];
			break;
		}
	}
	pthread_mutex_lock(&F.lock);
	F.requests++;
	count_route(rq->method, rt ? rt->pattern : "?");
	advance();
	if (!rt || !(rt->flags & R_CONTROL)) {
		fault = pick_fault(rq);
		if (fault) {
			action = jstr(fault, "action") ? jstr(fault, "action") : "status";
			after = jstr(fault, "phase") ? !strcmp(jstr(fault, "phase"), "after")
						    : !strcmp(action, "garbage");
			hang = json_integer_value(json_object_get(fault, "hang_ms"));
			if (!hang)
				hang = 5000;
		}
	}
	if (fault && !after) {
		if (!strcmp(action, "hang") || !strcmp(action, "reset"))
			rp->drop = true;
		else if (!strcmp(action, "garbage"))
			garbage(rp);
		else
			apply_status_fault(fault, rp);
	} else if (!rt) {
		if (path_known)
			ibm_error(rp, 405, "method_not_allowed", "%s is not allowed on %s", rq->method, rq->path);
		else
			ibm_error(rp, 404, "not_found", "No route for %s", rq->path);
	} else if (!(rt->flags & R_VPC) || vpc_checks(rq, rp)) {
		rt->fn(rq, rp);
		if (!rp->status)
			rp->status = 500;
		if (fault) {
			if (!strcmp(action, "reset"))
				rp->drop = true;
			else if (!strcmp(action, "garbage"))
				garbage(rp);
			else if (strcmp(action, "hang"))
				apply_status_fault(fault, rp);
		}
	}
	if (F.verbose)
		pr_info("%s %s -> %u%s%s", rq->method, rq->path, rp->status, fault ? " fault " : "",
			fault ? action : "");
	pthread_mutex_unlock(&F.lock);
	if (fault && !strcmp(action, "hang"))
		sleep_ms(hang);
	json_decref(fault);
}

/* --- HTTP plumbing ------------------------------------------------------------------------------- */

struct conn {
	char *body;
	size_t len;
	bool too_big;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct conn *cn = *con_cls;
	struct reply rp = { 0 };
	struct rq rq = { .c = c, .method = method, .path = url };
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *r;
	const char *host;
	char *text = NULL;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!cn) {
		cn = calloc(1, sizeof(*cn));
		*con_cls = cn;
		return cn ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		if (cn->len + *upload_size > MAX_BODY) {
			cn->too_big = true;
		} else {
			char *n = realloc(cn->body, cn->len + *upload_size + 1);

			if (!n)
				return MHD_NO;
			memcpy(n + cn->len, upload, *upload_size);
			cn->body = n;
			cn->len += *upload_size;
			cn->body[cn->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->too_big)
		return MHD_NO;
	rq.body = cn->body;
	rq.len = cn->len;
	host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	snprintf(rq.host, sizeof(rq.host), "%s", host && *host ? host : "localhost");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, rq.client_ip,
			  sizeof(rq.client_ip));
	handle(&rq, &rp);
	if (rp.drop) {
		json_decref(rp.json);
		free(rp.raw);
		return MHD_NO;
	}
	if (rp.json)
		text = json_dumps(rp.json, JSON_COMPACT);
	else if (rp.raw)
		text = rp.raw, rp.raw = NULL;
	json_decref(rp.json);
	r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *)"",
					    text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(r, "Content-Type", "application/json");
	if (rp.retry_after[0])
		MHD_add_response_header(r, "Retry-After", rp.retry_after);
	ret = MHD_queue_response(c, rp.status, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_DEBUG, fmt, ap);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* A TCP listener, created inside netns when given (the socket stays there). */
static int listen_tcp(const char *spec, const char *netns, unsigned *port_out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char host[64];
	const char *colon = strrchr(spec, ':');
	int fd = -1, nsfd = -1, saved = -1, one = 1, err = 0;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (netns) {
		nsfd = netns_open(netns);
		if (nsfd < 0)
			return nsfd;
		err = netns_enter(nsfd, &saved);
		close(nsfd);
		if (err)
			return err;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		err = -errno;
	if (netns && netns_restore(saved) && !err)
		err = -EIO;
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	*port_out = ntohs(sa.sin_port);
	return fd;
}

static struct MHD_Daemon *serve(int fd)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)600, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
}

static void *ticker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&F.lock);
		advance();
		pthread_mutex_unlock(&F.lock);
		sleep_ms(20);
	}
	return NULL;
}

static const char usage[] =
	"usage: fake-ibm [--unix PATH] [--listen ADDR:PORT [--netns NAME]] [--ready-file PATH]\n"
	"                [--sim-state PATH | --instance ID...] [--subnet ID=CIDR...] [--api-key KEY...]\n"
	"                [--token-ttl S] [--profile NAME] [--max-attachments N] [--attach-delay-ms N]\n"
	"                [--detach-delay-ms N] [--rip-delay-ms N] [--page-max N] [--seed N] [-v]\n"
	"(see the comment at the top of selftests/tools/fake-ibm.c)\n";

int main(int argc, char **argv)
{
	enum { O_UNIX = 256, O_LISTEN, O_NETNS, O_READY, O_SIM, O_INST, O_SUBNET, O_KEY, O_TTL, O_PROFILE,
	       O_MAXATT, O_ADELAY, O_DDELAY, O_RDELAY, O_PAGE, O_SEED };
	static const struct option opts[] = {
		{ "unix", required_argument, NULL, O_UNIX },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "sim-state", required_argument, NULL, O_SIM },
		{ "instance", required_argument, NULL, O_INST },
		{ "subnet", required_argument, NULL, O_SUBNET },
		{ "api-key", required_argument, NULL, O_KEY },
		{ "token-ttl", required_argument, NULL, O_TTL },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "max-attachments", required_argument, NULL, O_MAXATT },
		{ "attach-delay-ms", required_argument, NULL, O_ADELAY },
		{ "detach-delay-ms", required_argument, NULL, O_DDELAY },
		{ "rip-delay-ms", required_argument, NULL, O_RDELAY },
		{ "page-max", required_argument, NULL, O_PAGE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *unix_path = NULL, *listen_spec = NULL, *netns = NULL, *ready = NULL;
	json_t *instance_ids = json_array(), *subnet_specs = json_array();
	struct MHD_Daemon *d1 = NULL, *d2 = NULL;
	unsigned port = 0;
	pthread_t tick;
	sigset_t set;
	size_t i;
	json_t *it;
	int opt, sig, fd, err = 0;

	log_init("fake-ibm", LOG_INFO, LOG_FORMAT_TEXT, stderr);
	F.subnets = json_array();
	F.instances = json_array();
	F.attachments = json_array();
	F.vnis = json_array();
	F.rips = json_array();
	F.faults = json_array();
	F.tokens = json_object();
	F.id_tokens = json_object();
	F.routes = json_object();
	F.api_keys = json_array();
	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case O_UNIX: unix_path = optarg; break;
		case O_LISTEN: listen_spec = optarg; break;
		case O_NETNS: netns = optarg; break;
		case O_READY: ready = optarg; break;
		case O_SIM: F.sim_state = optarg; break;
		case O_INST: json_array_append_new(instance_ids, json_string(optarg)); break;
		case O_SUBNET: json_array_append_new(subnet_specs, json_string(optarg)); break;
		case O_KEY: json_array_append_new(F.api_keys, json_string(optarg)); break;
		case O_TTL: F.token_ttl = strtol(optarg, NULL, 10); break;
		case O_PROFILE: snprintf(F.profile, sizeof(F.profile), "%s", optarg); break;
		case O_MAXATT: F.max_attachments = strtol(optarg, NULL, 10); break;
		case O_ADELAY: F.attach_delay_ms = strtol(optarg, NULL, 10); break;
		case O_DDELAY: F.detach_delay_ms = strtol(optarg, NULL, 10); break;
		case O_RDELAY: F.rip_delay_ms = strtol(optarg, NULL, 10); break;
		case O_PAGE: F.page_max = strtol(optarg, NULL, 10); break;
		case O_SEED: F.seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'v': F.verbose = true; log_init("fake-ibm", LOG_DEBUG, LOG_FORMAT_TEXT, stderr); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if ((!unix_path && !listen_spec) || optind != argc || F.page_max < 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (!json_array_size(F.api_keys))
		json_array_append_new(F.api_keys, json_string("test-api-key"));
	json_array_foreach(subnet_specs, i, it) {
		const char *s = json_string_value(it), *eq = strchr(s, '=');
		char id[128];

		if (!eq || (size_t)(eq - s) >= sizeof(id)) {
			fprintf(stderr, "fake-ibm: --subnet ID=CIDR\n");
			return 2;
		}
		snprintf(id, sizeof(id), "%.*s", (int)(eq - s), s);
		if (!add_subnet(id, eq + 1))
			return 2;
	}
	if (F.sim_state) {
		if (sim_import())
			return 1;
	} else if (!json_array_size(F.subnets)) {
		add_subnet("subnet-nodes", "198.18.0.0/24");
		add_subnet("subnet-hosts", "198.18.1.0/24");
		add_subnet("subnet-pods", "198.18.16.0/20");
	}
	json_array_foreach(instance_ids, i, it) {
		if (add_api_instance(json_string_value(it), NULL)) {
			fprintf(stderr, "fake-ibm: cannot add instance %s\n", json_string_value(it));
			return 1;
		}
	}
	json_decref(instance_ids);
	json_decref(subnet_specs);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread after this one inherits it */
	signal(SIGPIPE, SIG_IGN);
	if (unix_path) {
		fd = listen_unix(unix_path);
		if (fd < 0 || !(d1 = serve(fd))) {
			fprintf(stderr, "fake-ibm: serve on %s: %s\n", unix_path, strerror(fd < 0 ? -fd : EIO));
			return 1;
		}
	}
	if (listen_spec) {
		fd = listen_tcp(listen_spec, netns, &port);
		if (fd < 0 || !(d2 = serve(fd))) {
			fprintf(stderr, "fake-ibm: serve on %s%s%s: %s\n", listen_spec, netns ? " in " : "",
				netns ? netns : "", strerror(fd < 0 ? -fd : EIO));
			return 1;
		}
	}
	pthread_create(&tick, NULL, ticker, NULL);
	if (ready) {
		char text[32];

		snprintf(text, sizeof(text), "%u\n", port);
		err = fs_write_atomic(ready, text, strlen(text), 0644);
		if (err)
			fprintf(stderr, "fake-ibm: write %s: %s\n", ready, strerror(-err));
	}
	pr_info("serving%s%s%s%s (port %u), %zu instances, %zu subnets%s%s", unix_path ? " on " : "",
		unix_path ? unix_path : "", listen_spec ? " on " : "", listen_spec ? listen_spec : "", port,
		json_array_size(F.instances), json_array_size(F.subnets), F.router_netns ? ", router " : "",
		F.router_netns ? F.router_netns : "");
	sigwait(&set, &sig);
	/* Hung requests (injected hangs) may hold connection threads: no MHD_stop_daemon. */
	if (unix_path)
		unlink(unix_path);
	(void)d1;
	(void)d2;
	return err ? 1 : 0;
}
