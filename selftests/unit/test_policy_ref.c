// SPDX-License-Identifier: Apache-2.0
/* Property test of the NetworkPolicy compiler against a reference
 * evaluator.
 *
 * Random worlds (fixed seeds): namespaces with and without Namespace
 * objects, pods local and remote, pods the store knows without an IP, local
 * pods the store does not know, a hostNetwork pod, the node's address, and
 * random valid policies of every rule kind. For every local pod, direction,
 * peer address, protocol and port of a grid, the reference evaluator decides
 * straight from the policies' JSON, the Kubernetes way (written here without
 * the compiler's parser), and the compiled ipcache + trie decide the way the
 * datapath does (LPM lookups over the arrays). They must agree.
 *
 * Where Sluice chose (policy.h), the reference follows the choice: a named
 * egress port matches only a pod destination reached through a pod peer (or
 * "any peer"), never through an ipBlock; hostNetwork pods are plain
 * addresses. Named ports are a function of a pod's label set here, as they
 * are for the pods of one Deployment, so "the union per identity" equals
 * "the destination pod's own ports"; test_policy.c covers the union. */
#include "lib/sl_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

/* --- random numbers --------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static bool coin(unsigned percent)
{
	return rnd(100) < percent;
}

/* --- the world ------------------------------------------------------------------------ */

#define MAX_PODS 20
#define MAX_POLS 8
#define N_NS 4

struct kv {
	const char *k, *v;
};

struct rport {
	const char *name;
	uint16_t port;
	uint8_t proto;
};

struct rns {
	char name[8];
	struct kv labels[3];
	int n_labels;
	bool has_obj;
};

struct rpod {
	char ns[8]; /* "" for a non-Kubernetes pod */
	char name[16];
	struct kv labels[3];
	int n_labels;
	char ip[20];
	bool local, in_store, store_ip, host_net;
	struct rport ports[3];
	int n_ports;
};

struct world {
	struct rns ns[N_NS];
	struct rpod pods[MAX_PODS];
	int n_pods;
	json_t *pol[MAX_POLS]; /* spec */
	int pol_ns[MAX_POLS];
	int n_pols;
};

static const char *const pod_keys[] = { "app", "tier", "role" };
static const char *const pod_vals[] = { "a", "b", "c" };
static const char *const ns_keys[] = { "team", "env", "kubernetes.io/metadata.name" };
static const char *const ns_vals[] = { "x", "y", "prod", "ns0", "ns1", "ns2", "ns3" };
static const char *const port_names[] = { "http", "dns", "metrics", "svc" };
static const char *const extra_ips[] = { "8.8.8.8",    "8.8.4.4",     "10.0.9.9",    "10.0.1.200",
					 "172.16.0.1", "192.168.0.1", "192.168.0.2", "10.0.3.255" };
#define HOST_IP "192.168.0.1"
#define HOSTNET_IP "192.168.0.2"
static const uint16_t grid_ports[] = { 1, 53, 79, 80, 81, 443, 999, 1000, 1500, 2000, 2001, 3868, 5000, 8080, 9100,
				       9101, 65535 };
static const uint8_t grid_protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };

static uint32_t hash_str(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h * 16777619u;
}

/* Named ports as a function of (namespace, labels): the same for all pods of
 * a label set, different across sets (numbers and, for "svc", protocols). */
static void derive_ports(struct rpod *p)
{
	static const uint16_t nums[] = { 80, 8080, 53, 9100, 9101, 3868, 5000 };
	uint32_t h = hash_str(2166136261u, p->ns);

	for (int i = 0; i < p->n_labels; i++)
		h = hash_str(hash_str(h, p->labels[i].k), p->labels[i].v);
	p->n_ports = (int)(h % 3);
	for (int i = 0; i < p->n_ports; i++) {
		struct rport *r = &p->ports[i];

		h = h * 1103515245u + 12345u;
		r->name = port_names[(h >> 8) % 4 == 0 ? 0 : ((h >> 8) + (uint32_t)i) % 4];
		/* unique names within the pod */
		for (int k = 0; k < i; k++)
			if (!strcmp(p->ports[k].name, r->name))
				r->name = port_names[(uint32_t)(i + k + 1) % 4];
		r->port = nums[(h >> 16) % 7];
		r->proto = !strcmp(r->name, "dns") ? IPPROTO_UDP
			   : !strcmp(r->name, "svc") ? ((h >> 4) & 1 ? IPPROTO_UDP : IPPROTO_SCTP)
						     : IPPROTO_TCP;
	}
	for (int i = 0; i < p->n_ports; i++)
		for (int k = 0; k < i; k++)
			if (!strcmp(p->ports[k].name, p->ports[i].name))
				p->n_ports = i; /* still a duplicate: drop the rest */
}

static void gen_world(struct world *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < N_NS; i++) {
		struct rns *n = &w->ns[i];

		snprintf(n->name, sizeof(n->name), "ns%d", i);
		n->has_obj = i < 3 || coin(30);
		n->labels[n->n_labels++] = (struct kv){ "kubernetes.io/metadata.name", n->name };
		if (!n->has_obj)
			continue;
		if (coin(70))
			n->labels[n->n_labels++] = (struct kv){ "team", coin(50) ? "x" : "y" };
		if (coin(50))
			n->labels[n->n_labels++] = (struct kv){ "env", "prod" };
	}
	w->n_pods = 8 + (int)rnd(MAX_PODS - 8);
	for (int i = 0; i < w->n_pods; i++) {
		struct rpod *p = &w->pods[i];
		int kind = (int)rnd(100);

		snprintf(p->ns, sizeof(p->ns), "ns%u", rnd(N_NS));
		snprintf(p->name, sizeof(p->name), "p%d", i);
		snprintf(p->ip, sizeof(p->ip), "10.0.%d.%d", i / 6, 10 + i % 6);
		p->in_store = true;
		p->store_ip = true;
		p->local = coin(50);
		if (kind < 6 && p->local) {
			p->in_store = false; /* a pod the store does not know (yet) */
		} else if (kind < 10 && p->local) {
			p->ns[0] = '\0'; /* another runtime's pod */
			p->in_store = false;
		} else if (kind < 20 && p->local) {
			p->store_ip = false; /* status.podIPs not there yet */
		}
		if (p->in_store) { /* at least one label: no identity is shared with a store-less pod */
			p->n_labels = 1 + (int)rnd(3);
			for (int k = 0; k < p->n_labels; k++)
				p->labels[k] = (struct kv){ pod_keys[k], pod_vals[rnd(3)] };
			derive_ports(p);
		}
	}
	/* A hostNetwork pod on another node: its address is that node's. */
	{
		struct rpod *p = &w->pods[w->n_pods++];

		snprintf(p->ns, sizeof(p->ns), "ns0");
		snprintf(p->name, sizeof(p->name), "hostnet");
		snprintf(p->ip, sizeof(p->ip), HOSTNET_IP);
		p->in_store = p->store_ip = p->host_net = true;
		p->labels[p->n_labels++] = (struct kv){ "app", "a" };
		derive_ports(p);
	}
}

/* --- random policies ------------------------------------------------------------------- */

static json_t *gen_selector(const char *const *keys, int n_keys, const char *const *vals, int n_vals)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	json_t *s = json_object(), *ml = json_object(), *me = json_array();
	int kind = (int)rnd(6);
	int n_ml = kind == 1 ? 1 : kind == 2 || kind == 5 ? (int)rnd(2) + 1 : 0;
	int n_me = kind == 3 ? 1 : kind == 4 ? 2 : kind == 5 ? 1 : 0;

	for (int i = 0; i < n_ml; i++)
		json_object_set_new(ml, keys[rnd((uint32_t)n_keys)], json_string(vals[rnd((uint32_t)n_vals)]));
	for (int i = 0; i < n_me; i++) {
		const char *op = ops[rnd(4)];
		json_t *e = json_pack("{s:s, s:s}", "key", keys[rnd((uint32_t)n_keys)], "operator", op);

		if (op[0] == 'I' || op[0] == 'N') {
			json_t *v = json_array();
			int n = 1 + (int)rnd(2);

			for (int k = 0; k < n; k++)
				json_array_append_new(v, json_string(vals[rnd((uint32_t)n_vals)]));
			json_object_set_new(e, "values", v);
		}
		json_array_append_new(me, e);
	}
	if (json_object_size(ml) || coin(20))
		json_object_set(s, "matchLabels", ml);
	if (json_array_size(me) || coin(20))
		json_object_set(s, "matchExpressions", me);
	json_decref(ml);
	json_decref(me);
	return s;
}

static json_t *pod_selector(void)
{
	return gen_selector(pod_keys, 3, pod_vals, 3);
}

static json_t *ns_selector(void)
{
	return gen_selector(ns_keys, 3, ns_vals, 7);
}

static const char *const cidrs[] = { "10.0.0.0/8",  "10.0.0.0/16",   "10.0.1.0/24",    "10.0.2.0/23",
				     "10.0.0.0/22", "0.0.0.0/0",     "8.8.0.0/16",     "192.168.0.0/24",
				     "10.0.1.10/32", "172.16.0.0/12", "10.0.1.12/30" };

static json_t *gen_ipblock(const struct world *w)
{
	const char *c = cidrs[rnd(sizeof(cidrs) / sizeof(cidrs[0]))];
	json_t *b = json_pack("{s:s}", "cidr", c), *ex = json_array();
	struct sl_prefix p;
	int n = (int)rnd(3);

	assert_int_equal(sl_prefix_parse(c, true, &p), 0);
	for (int i = 0; i < n && p.len < 32; i++) {
		/* Strictly inside: an address of the world within the cidr, a longer length. */
		struct sl_prefix x;
		char buf[SL_PREFIX_STRLEN];
		const char *ip = coin(70) ? w->pods[rnd((uint32_t)w->n_pods)].ip : extra_ips[rnd(8)];

		x.len = (uint8_t)(p.len + 1 + rnd(32u - p.len));
		assert_int_equal(sl_ip_parse(ip, &x.ip), 0);
		if (!sl_prefix_contains(&p, &x.ip))
			continue;
		for (unsigned bit = x.len; bit < 32; bit++)
			x.ip.addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		json_array_append_new(ex, json_string(sl_prefix_fmt(&x, buf)));
	}
	if (json_array_size(ex))
		json_object_set(b, "except", ex);
	json_decref(ex);
	return json_pack("{s:o}", "ipBlock", b);
}

static json_t *gen_peer(const struct world *w)
{
	switch (rnd(4)) {
	case 0:
		return json_pack("{s:o}", "podSelector", pod_selector());
	case 1:
		return json_pack("{s:o}", "namespaceSelector", ns_selector());
	case 2:
		return json_pack("{s:o, s:o}", "podSelector", pod_selector(), "namespaceSelector", ns_selector());
	default:
		return gen_ipblock(w);
	}
}

static json_t *gen_port(void)
{
	static const char *const protos[] = { NULL, "TCP", "UDP", "SCTP" };
	static const uint16_t nums[] = { 80, 443, 53, 5000, 9100, 3868 };
	static const uint16_t ranges[][2] = { { 1000, 2000 }, { 79, 81 }, { 1, 65535 }, { 9000, 9200 }, { 53, 80 } };
	const char *proto = protos[rnd(4)];
	json_t *p = json_object();
	int kind = (int)rnd(10);

	if (proto)
		json_object_set_new(p, "protocol", json_string(proto));
	if (kind < 4) {
		json_object_set_new(p, "port", json_integer(nums[rnd(6)]));
	} else if (kind < 7) {
		json_object_set_new(p, "port", json_string(port_names[rnd(4)]));
	} else if (kind < 9) {
		uint32_t r = rnd(5);

		json_object_set_new(p, "port", json_integer(ranges[r][0]));
		json_object_set_new(p, "endPort", json_integer(ranges[r][1]));
	} /* else: no port, every port of the protocol */
	return p;
}

static json_t *gen_list(json_t *(*gen)(const struct world *), const struct world *w, int max)
{
	json_t *l = json_array();
	int n = (int)rnd((uint32_t)max + 1);

	for (int i = 0; i < n; i++)
		json_array_append_new(l, gen(w));
	return l;
}

static json_t *gen_port_w(const struct world *w)
{
	(void)w;
	return gen_port();
}

static json_t *gen_rules(const struct world *w, const char *peers_key)
{
	json_t *rules = json_array();
	int n = (int)rnd(4);

	for (int i = 0; i < n; i++) {
		json_t *r = json_object();

		if (coin(80))
			json_object_set_new(r, peers_key, gen_list(gen_peer, w, 3));
		if (coin(75))
			json_object_set_new(r, "ports", gen_list(gen_port_w, w, 3));
		json_array_append_new(rules, r);
	}
	return rules;
}

static void gen_policies(struct world *w)
{
	w->n_pols = (int)rnd(MAX_POLS + 1);
	for (int i = 0; i < w->n_pols; i++) {
		json_t *spec = json_object();
		int types = (int)rnd(5);

		w->pol_ns[i] = (int)rnd(N_NS);
		if (coin(90))
			json_object_set_new(spec, "podSelector", pod_selector());
		if (coin(70))
			json_object_set_new(spec, "ingress", gen_rules(w, "from"));
		if (coin(60))
			json_object_set_new(spec, "egress", gen_rules(w, "to"));
		if (types == 1)
			json_object_set_new(spec, "policyTypes", json_pack("[s]", "Ingress"));
		else if (types == 2)
			json_object_set_new(spec, "policyTypes", json_pack("[s]", "Egress"));
		else if (types == 3)
			json_object_set_new(spec, "policyTypes", json_pack("[s,s]", "Ingress", "Egress"));
		w->pol[i] = spec;
	}
}

/* --- into the store ------------------------------------------------------------------------ */

static json_t *labels_json(const struct kv *l, int n)
{
	json_t *o = json_object();

	for (int i = 0; i < n; i++)
		json_object_set_new(o, l[i].k, json_string(l[i].v));
	return o;
}

static void put(struct k8s_store *st, json_t *j)
{
	struct k8s_obj *o = NULL;

	if (k8s_obj_from_json(j, &o))
		fail_msg("bad object %s", json_dumps(j, 0));
	assert_int_equal(k8s_store_put(st, o, NULL), 0);
	json_decref(j);
}

static void load_world(const struct world *w, struct k8s_store *st)
{
	static const char *const proto_names[] = { [IPPROTO_TCP] = "TCP", [IPPROTO_UDP] = "UDP",
						   [IPPROTO_SCTP] = "SCTP" };

	for (int i = 0; i < N_NS; i++)
		if (w->ns[i].has_obj)
			put(st, json_pack("{s:s, s:{s:s, s:o}}", "kind", "Namespace", "metadata", "name", w->ns[i].name,
					  "labels", labels_json(w->ns[i].labels, w->ns[i].n_labels)));
	for (int i = 0; i < w->n_pods; i++) {
		const struct rpod *p = &w->pods[i];
		json_t *ports, *status;

		if (!p->in_store)
			continue;
		ports = json_array();
		status = json_object();
		for (int k = 0; k < p->n_ports; k++)
			json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", p->ports[k].name,
							       "containerPort", p->ports[k].port, "protocol",
							       proto_names[p->ports[k].proto]));
		if (p->store_ip)
			json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
		put(st, json_pack("{s:s, s:{s:s, s:s, s:o}, s:{s:b, s:[{s:s, s:o}]}, s:o}", "kind", "Pod", "metadata",
				  "name", p->name, "namespace", p->ns, "labels", labels_json(p->labels, p->n_labels),
				  "spec", "hostNetwork", p->host_net, "containers", "name", "c", "ports", ports,
				  "status", status));
	}
	for (int i = 0; i < w->n_pols; i++) {
		char name[16];

		snprintf(name, sizeof(name), "pol%d", i);
		put(st, json_pack("{s:s, s:{s:s, s:s}, s:O}", "kind", "NetworkPolicy", "metadata", "name", name,
				  "namespace", w->ns[w->pol_ns[i]].name, "spec", w->pol[i]));
	}
}

/* --- the reference evaluator ----------------------------------------------------------------- */

static const char *kv_get(const struct kv *l, int n, const char *k)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(l[i].k, k))
			return l[i].v;
	return NULL;
}

/* metav1.LabelSelector semantics, read straight from the JSON. */
static bool ref_sel(const json_t *sel, const struct kv *l, int n)
{
	const char *k;
	json_t *v, *e;
	size_t i;

	json_object_foreach((json_t *)json_object_get(sel, "matchLabels"), k, v) {
		const char *have = kv_get(l, n, k);

		if (!have || strcmp(have, json_string_value(v)))
			return false;
	}
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
		const char *op = json_string_value(json_object_get(e, "operator"));
		const char *have = kv_get(l, n, json_string_value(json_object_get(e, "key")));
		bool in = false;
		json_t *x;
		size_t j;

		json_array_foreach(json_object_get(e, "values"), j, x)
			in |= have && !strcmp(have, json_string_value(x));
		if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) || (!strcmp(op, "Exists") && !have) ||
		    (!strcmp(op, "DoesNotExist") && have))
			return false;
	}
	return true;
}

static const struct rns *ns_of(const struct world *w, const char *name)
{
	for (int i = 0; i < N_NS; i++)
		if (!strcmp(w->ns[i].name, name))
			return &w->ns[i];
	return NULL;
}

/* The pod behind an address, as the cluster knows it: not hostNetwork ones. */
static const struct rpod *pod_at(const struct world *w, const char *ip)
{
	for (int i = 0; i < w->n_pods; i++) {
		const struct rpod *p = &w->pods[i];

		if (!p->host_net && !strcmp(p->ip, ip) && (p->local || p->store_ip))
			return p;
	}
	return NULL;
}

static bool in_cidr(const char *cidr, const char *ip_s)
{
	struct sl_prefix p;
	struct sl_ip ip;

	assert_int_equal(sl_prefix_parse(cidr, true, &p), 0);
	assert_int_equal(sl_ip_parse(ip_s, &ip), 0);
	return sl_prefix_contains(&p, &ip);
}

static bool ref_rule(const struct world *w, const json_t *rule, bool ingress, const char *pol_ns,
		     const struct rpod *subj, const struct rpod *peer, const char *peer_ip, uint8_t proto,
		     uint16_t port)
{
	const json_t *peers = json_object_get(rule, ingress ? "from" : "to"), *ports = json_object_get(rule, "ports");
	bool via_pod = false, via_ip = false;
	const json_t *e;
	size_t i;

	if (!json_array_size(peers))
		via_pod = via_ip = true;
	json_array_foreach(peers, i, e) {
		const json_t *ipb = json_object_get(e, "ipBlock"), *ps = json_object_get(e, "podSelector");
		const json_t *nss = json_object_get(e, "namespaceSelector");

		if (ipb) {
			bool in = in_cidr(json_string_value(json_object_get(ipb, "cidr")), peer_ip);
			const json_t *x;
			size_t k;

			json_array_foreach(json_object_get(ipb, "except"), k, x)
				in &= !in_cidr(json_string_value(x), peer_ip);
			via_ip |= in;
		} else if (peer && peer->ns[0]) {
			const struct rns *pns = ns_of(w, peer->ns);
			bool ns_ok = nss ? ref_sel(nss, pns->labels, pns->n_labels) : !strcmp(peer->ns, pol_ns);

			via_pod |= ns_ok && (!ps || ref_sel(ps, peer->labels, peer->n_labels));
		}
	}
	if (!via_pod && !via_ip)
		return false;
	if (!json_array_size(ports))
		return true;
	json_array_foreach(ports, i, e) {
		const char *pr = json_string_value(json_object_get(e, "protocol"));
		const json_t *p = json_object_get(e, "port"), *end = json_object_get(e, "endPort");
		uint8_t want = !pr || !strcmp(pr, "TCP") ? IPPROTO_TCP : !strcmp(pr, "UDP") ? IPPROTO_UDP : IPPROTO_SCTP;
		const struct rpod *dst = ingress ? subj : via_pod ? peer : NULL;

		if (want != proto)
			continue;
		if (!p)
			return true;
		if (json_is_integer(p)) {
			json_int_t lo = json_integer_value(p), hi = end ? json_integer_value(end) : lo;

			if (port >= lo && port <= hi)
				return true;
			continue;
		}
		/* A named port: the destination pod's container port of that name and protocol. */
		for (int k = 0; dst && k < dst->n_ports; k++)
			if (!strcmp(dst->ports[k].name, json_string_value(p)) && dst->ports[k].proto == proto &&
			    dst->ports[k].port == port)
				return true;
	}
	return false;
}

static bool ref_allows(const struct world *w, const struct rpod *subj, bool ingress, const char *peer_ip,
		       uint8_t proto, uint16_t port)
{
	const struct rpod *peer = pod_at(w, peer_ip);
	bool isolated = false;

	if (!subj->ns[0])
		return true; /* not a Kubernetes pod: no policy selects it */
	for (int i = 0; i < w->n_pols; i++) {
		const json_t *spec = w->pol[i], *types = json_object_get(spec, "policyTypes"), *t;
		const json_t *sel = json_object_get(spec, "podSelector");
		const char *pol_ns = w->ns[w->pol_ns[i]].name;
		bool has_dir = false;
		size_t k;

		if (strcmp(subj->ns, pol_ns) || (sel && !ref_sel(sel, subj->labels, subj->n_labels)))
			continue;
		if (!json_array_size(types))
			has_dir = ingress || json_array_size(json_object_get(spec, "egress"));
		json_array_foreach(types, k, t)
			has_dir |= !strcmp(json_string_value(t), ingress ? "Ingress" : "Egress");
		if (!has_dir)
			continue;
		isolated = true;
		json_array_foreach(json_object_get(spec, ingress ? "ingress" : "egress"), k, t)
			if (ref_rule(w, t, ingress, pol_ns, subj, peer, peer_ip, proto, port))
				return true;
	}
	return !isolated;
}

/* --- the datapath's view ------------------------------------------------------------------------ */

static bool lpm_match(const uint8_t *entry, const uint8_t *key, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(entry, key, full))
		return false;
	return !rest || !((entry[full] ^ key[full]) & (uint8_t)(0xff << (8 - rest)));
}

static const struct policy_ipcache_entry *ipc_lookup(const struct policy_state *st, const char *ip_s)
{
	const struct policy_ipcache_entry *best = NULL;
	struct sl_ipcache_key k = { 0 };
	struct sl_ip ip;

	assert_int_equal(sl_ip_parse(ip_s, &ip), 0);
	k.family = ip.family;
	memcpy(k.addr, ip.addr, 16);
	for (size_t i = 0; i < st->n_ipcache; i++) {
		const struct policy_ipcache_entry *e = &st->ipcache[i];

		if (lpm_match(&e->key.family, &k.family, e->key.prefixlen) &&
		    (!best || e->key.prefixlen > best->key.prefixlen))
			best = e;
	}
	return best;
}

/* LPM over the entries of one subject and direction (a range of the sorted array). */
static const struct policy_trie_entry *trie_lookup(const struct policy_state *st, uint32_t subject, uint8_t dir,
						   uint32_t peer, uint8_t proto, uint16_t port)
{
	const struct policy_trie_entry *best = NULL;
	struct sl_policy_key k;
	size_t lo = 0, hi = st->n_trie;

	memset(&k, 0, sizeof(k));
	k.subject = subject;
	k.direction = dir;
	k.peer = peer;
	k.proto = proto;
	k.dport = htons(port);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct sl_policy_key *m = &st->trie[mid].key;

		if (m->subject < subject || (m->subject == subject && m->direction < dir))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < st->n_trie && st->trie[i].key.subject == subject && st->trie[i].key.direction == dir;
	     i++) {
		const struct policy_trie_entry *e = &st->trie[i];

		if (lpm_match((const uint8_t *)&e->key.subject, (const uint8_t *)&k.subject, e->key.prefixlen) &&
		    (!best || e->key.prefixlen > best->key.prefixlen))
			best = e;
	}
	return best;
}

static bool datapath_allows(const struct policy_state *st, uint32_t subject, uint8_t dir, const char *peer_ip,
			    uint8_t proto, uint16_t port)
{
	const struct policy_ipcache_entry *pe = ipc_lookup(st, peer_ip);
	uint32_t peer = pe ? pe->val.identity : SL_ID_WORLD, cidr = pe ? pe->val.cidr_identity : 0;
	const struct policy_trie_entry *v = trie_lookup(st, subject, dir, peer, proto, port);

	if (!v || v->val.action == SL_POLICY_ALLOW)
		return true;
	if (cidr) {
		v = trie_lookup(st, subject, dir, cidr, proto, port);
		if (v && v->val.action == SL_POLICY_ALLOW)
			return true;
	}
	v = trie_lookup(st, subject, dir, SL_ID_ANY, proto, port);
	return v && v->val.action == SL_POLICY_ALLOW;
}

/* --- the property ----------------------------------------------------------------------------------- */

static void dump_world(const struct world *w)
{
	for (int i = 0; i < w->n_pods; i++) {
		const struct rpod *p = &w->pods[i];

		print_message("# pod %s/%s ip %s local %d store %d storeip %d hostnet %d labels", p->ns, p->name,
			      p->ip, p->local, p->in_store, p->store_ip, p->host_net);
		for (int k = 0; k < p->n_labels; k++)
			print_message(" %s=%s", p->labels[k].k, p->labels[k].v);
		print_message(" ports");
		for (int k = 0; k < p->n_ports; k++)
			print_message(" %s:%u/%u", p->ports[k].name, p->ports[k].port, p->ports[k].proto);
		print_message("\n");
	}
	for (int i = 0; i < w->n_pols; i++) {
		char *s = json_dumps(w->pol[i], JSON_COMPACT | JSON_SORT_KEYS);

		print_message("# policy %s: %s\n", w->ns[w->pol_ns[i]].name, s);
		free(s);
	}
}

struct totals {
	unsigned long checks, allowed, worlds, entries, policies;
};

/* The previous world's state, handed to the next compile as input.prev:
 * any state must do, only rule numbers may depend on it. */
static struct policy_state prev_state;

static void check_world(uint64_t seed, struct totals *tot)
{
	struct policy_local_pod local[MAX_PODS + 1];
	int local_idx[MAX_PODS + 1];
	struct policy_state st = { 0 };
	struct identity_table *ids;
	struct k8s_store *store;
	struct world w;
	struct sl_ip host;
	char *warnings = NULL;
	const char *peers[MAX_PODS + 16];
	size_t n_local = 0, n_peers = 0;

	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	gen_world(&w);
	gen_policies(&w);
	assert_int_equal(k8s_store_new(&store), 0);
	assert_int_equal(identity_table_new(&ids), 0);
	load_world(&w, store);
	for (int i = 0; i < w.n_pods; i++) {
		if (!w.pods[i].local)
			continue;
		local[n_local].ns = w.pods[i].ns;
		local[n_local].name = w.pods[i].name;
		assert_int_equal(sl_ip_parse(w.pods[i].ip, &local[n_local].ip), 0);
		local_idx[n_local++] = i;
	}
	assert_int_equal(sl_ip_parse(HOST_IP, &host), 0);
	{
		struct policy_input in = { store, ids, &host, 1, local, n_local, &prev_state };

		assert_int_equal(policy_compile(&in, &st, &warnings), 0);
	}
	for (size_t i = 0; i < st.n_trie; i++) {
		const struct policy_trie_entry *e = &st.trie[i];

		assert_true(e->val.rule < st.n_rules);
		assert_int_equal(st.rules[e->val.rule].direction, e->key.direction);
		assert_true((st.rules[e->val.rule].index == -1) == (e->key.prefixlen == SL_POLICY_PREFIX_ISOLATED));
	}
	if (warnings) {
		dump_world(&w);
		fail_msg("seed %llu: %s", (unsigned long long)seed, warnings);
	}
	for (int i = 0; i < w.n_pods; i++)
		if (w.pods[i].local || w.pods[i].store_ip)
			peers[n_peers++] = w.pods[i].ip;
	for (size_t i = 0; i < sizeof(extra_ips) / sizeof(extra_ips[0]); i++)
		peers[n_peers++] = extra_ips[i];

	for (size_t s = 0; s < n_local; s++) {
		const struct rpod *subj = &w.pods[local_idx[s]];

		for (int dir = 0; dir < 2; dir++) {
			for (size_t p = 0; p < n_peers; p++) {
				for (size_t pr = 0; pr < sizeof(grid_protos); pr++) {
					for (size_t po = 0; po < sizeof(grid_ports) / sizeof(grid_ports[0]); po++) {
						bool want = ref_allows(&w, subj, dir == 0, peers[p], grid_protos[pr],
								       grid_ports[po]);
						bool got = datapath_allows(&st, st.local_identity[s],
									   dir == 0 ? SL_POLICY_INGRESS
										    : SL_POLICY_EGRESS,
									   peers[p], grid_protos[pr], grid_ports[po]);

						if (want != got) {
							dump_world(&w);
							fail_msg("seed %llu: %s/%s %s %s proto %u port %u: reference %s, compiled %s",
								 (unsigned long long)seed, subj->ns, subj->name,
								 dir == 0 ? "from" : "to", peers[p], grid_protos[pr],
								 grid_ports[po], want ? "allows" : "denies",
								 got ? "allows" : "denies");
						}
						tot->checks++;
						tot->allowed += want;
					}
				}
			}
		}
	}
	tot->worlds++;
	tot->entries += st.n_trie;
	tot->policies += (unsigned long)w.n_pols;
	policy_state_free(&prev_state);
	prev_state = st;
	identity_table_free(ids);
	k8s_store_free(store);
	for (int i = 0; i < w.n_pols; i++)
		json_decref(w.pol[i]);
}

static void test_policy_ref_random_worlds(void **state)
{
	struct totals tot = { 0 };

	(void)state;
	for (uint64_t seed = 1; seed <= 400; seed++)
		check_world(seed, &tot);
	policy_state_free(&prev_state);
	print_message("# %lu worlds, %lu policies, %lu trie entries, %lu verdicts (%lu allowed)\n", tot.worlds,
		      tot.policies, tot.entries, tot.checks, tot.allowed);
	/* The grid must exercise both outcomes substantially. */
	assert_true(tot.allowed > tot.checks / 10);
	assert_true(tot.allowed < tot.checks - tot.checks / 10);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_policy_ref_random_worlds),
};

SL_TEST_MAIN(tests, NULL, NULL)
