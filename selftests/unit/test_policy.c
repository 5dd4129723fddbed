// SPDX-License-Identifier: Apache-2.0
/* The NetworkPolicy compiler, rule kind by rule kind: isolation and
 * policyTypes, peers (pods, namespaces, both, ipBlocks with excepts and pods
 * inside), ports (numbers, names, ranges, protocols), the union of policies,
 * empty lists, invalid policies, the ipcache, rule texts and the diff.
 *
 * Verdicts are checked the way the datapath decides (docs/policy.md): an
 * LPM lookup of the peer in the ipcache, then up to three LPM lookups in the
 * trie (peer identity, its CIDR class, any peer), both written here over the
 * compiled arrays, byte for byte as the kernel's LPM trie matches. */
#include "lib/sl_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "k8s/yaml_json.h"
#include "policy/netpol.h"
#include "policy/policy.h"

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP
#define IN SL_POLICY_INGRESS
#define EG SL_POLICY_EGRESS

/* --- fixture ------------------------------------------------------------------------ */

struct fx {
	struct k8s_store *store;
	struct identity_table *ids;
	struct policy_local_pod local[64];
	char local_names[64][2][64];
	size_t n_local;
	struct sl_ip hosts[4];
	size_t n_hosts;
	struct policy_state st;
	char *warnings;
};

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(k8s_store_new(&f->store), 0);
	assert_int_equal(identity_table_new(&f->ids), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	policy_state_free(&f->st);
	free(f->warnings);
	identity_table_free(f->ids);
	k8s_store_free(f->store);
	free(f);
}

/* Puts every document of a YAML stream into the store. */
static void fx_apply(struct fx *f, const char *text)
{
	struct yaml_json_error yerr;
	json_t *docs, *doc;
	size_t i;

	if (yaml_json_parse(text, strlen(text), &docs, &yerr))
		fail_msg("YAML: %s in %s", yerr.msg, text);
	json_array_foreach(docs, i, doc) {
		struct k8s_obj *o = NULL;

		if (k8s_obj_from_json(doc, &o))
			fail_msg("not an object: document %zu of %s", i, text);
		assert_int_equal(k8s_store_put(f->store, o, f), 0);
	}
	json_decref(docs);
}

static void fx_policy(struct fx *f, const char *ns, const char *name, const char *spec)
{
	char text[4096];

	snprintf(text, sizeof(text), "{kind: NetworkPolicy, metadata: {name: %s, namespace: %s}, spec: %s}", name, ns,
		 spec);
	fx_apply(f, text);
}

/* A pod: labels as a YAML flow map, ip "" for none, ports as a YAML list. */
static void fx_pod(struct fx *f, const char *ns, const char *name, const char *labels, const char *ip,
		   const char *ports)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{kind: Pod, metadata: {name: %s, namespace: %s, labels: %s},"
		 " spec: {containers: [{name: c, ports: %s}]}, status: {podIPs: [%s%s%s]}}",
		 name, ns, labels, ports ? ports : "[]", *ip ? "{ip: '" : "", ip, *ip ? "'}" : "");
	fx_apply(f, text);
}

static void fx_ns(struct fx *f, const char *name, const char *labels)
{
	char text[512];

	snprintf(text, sizeof(text), "{kind: Namespace, metadata: {name: %s, labels: %s}}", name, labels);
	fx_apply(f, text);
}

/* Marks a pod as running on this node, with its IP (ip "" for none). */
static void fx_local(struct fx *f, const char *ns, const char *name, const char *ip)
{
	struct policy_local_pod *lp = &f->local[f->n_local];

	snprintf(f->local_names[f->n_local][0], 64, "%s", ns);
	snprintf(f->local_names[f->n_local][1], 64, "%s", name);
	lp->ns = f->local_names[f->n_local][0];
	lp->name = f->local_names[f->n_local][1];
	memset(&lp->ip, 0, sizeof(lp->ip));
	if (*ip)
		assert_int_equal(sl_ip_parse(ip, &lp->ip), 0);
	f->n_local++;
}

/* A local pod that is also in the store, with that IP. */
static void fx_local_pod(struct fx *f, const char *ns, const char *name, const char *labels, const char *ip,
			 const char *ports)
{
	fx_pod(f, ns, name, labels, ip, ports);
	fx_local(f, ns, name, ip);
}

static void fx_host(struct fx *f, const char *ip)
{
	assert_int_equal(sl_ip_parse(ip, &f->hosts[f->n_hosts++]), 0);
}

/* Compiles into f->st; with prev, as the agent does with what the maps hold. */
static void fx_compile_prev(struct fx *f, const struct policy_state *prev)
{
	struct policy_input in = {
		.store = f->store,
		.ids = f->ids,
		.host_addrs = f->hosts,
		.n_host_addrs = f->n_hosts,
		.local = f->local,
		.n_local = f->n_local,
		.prev = prev,
	};

	policy_state_free(&f->st);
	free(f->warnings);
	f->warnings = NULL;
	assert_int_equal(policy_compile(&in, &f->st, &f->warnings), 0);
}

static void fx_compile(struct fx *f)
{
	fx_compile_prev(f, NULL);
}

/* --- the datapath's lookups ------------------------------------------------------------ */

static bool lpm_match(const uint8_t *entry, const uint8_t *key, unsigned bits)
{
	for (unsigned b = 0; b < bits; b++) {
		uint8_t m = 0x80 >> (b % 8);

		if ((entry[b / 8] & m) != (key[b / 8] & m))
			return false;
	}
	return true;
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

		if (lpm_match((const uint8_t *)&e->key.family, (const uint8_t *)&k.family, e->key.prefixlen) &&
		    (!best || e->key.prefixlen > best->key.prefixlen))
			best = e;
	}
	return best;
}

static const struct policy_trie_entry *trie_lookup(const struct policy_state *st, uint32_t subject, uint8_t dir,
						   uint32_t peer, uint8_t proto, uint16_t port)
{
	const struct policy_trie_entry *best = NULL;
	struct sl_policy_key k;

	memset(&k, 0, sizeof(k));
	k.subject = subject;
	k.direction = dir;
	k.peer = peer;
	k.proto = proto;
	k.dport = htons(port);
	for (size_t i = 0; i < st->n_trie; i++) {
		const struct policy_trie_entry *e = &st->trie[i];

		if (lpm_match((const uint8_t *)&e->key.subject, (const uint8_t *)&k.subject, e->key.prefixlen) &&
		    (!best || e->key.prefixlen > best->key.prefixlen))
			best = e;
	}
	return best;
}

/* docs/policy.md, "Verdict for the first packet of a connection". */
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

static uint32_t local_id(const struct fx *f, const char *name)
{
	for (size_t i = 0; i < f->n_local; i++)
		if (!strcmp(f->local[i].name, name))
			return f->st.local_identity[i];
	fail_msg("no local pod %s", name);
	return 0;
}

static uint32_t ip_id(const struct fx *f, const char *ip)
{
	const struct policy_ipcache_entry *e = ipc_lookup(&f->st, ip);

	assert_non_null(e);
	return e->val.identity;
}

/* Does the local pod `subj` allow this in direction dir, with peer_ip? */
static bool allows(const struct fx *f, const char *subj, uint8_t dir, const char *peer_ip, uint8_t proto,
		   uint16_t port)
{
	return datapath_allows(&f->st, local_id(f, subj), dir, peer_ip, proto, port);
}

#define ALLOW(f, subj, dir, ip, proto, port)                                                             \
	do {                                                                                             \
		if (!allows(f, subj, dir, ip, proto, port))                                              \
			fail_msg("%s %s %s proto %d port %d: denied, want allowed", subj,                \
				 dir == IN ? "from" : "to", ip, proto, port);                             \
	} while (0)
#define DENY(f, subj, dir, ip, proto, port)                                                              \
	do {                                                                                             \
		if (allows(f, subj, dir, ip, proto, port))                                               \
			fail_msg("%s %s %s proto %d port %d: allowed, want denied", subj,                \
				 dir == IN ? "from" : "to", ip, proto, port);                             \
	} while (0)

static size_t count_trie(const struct policy_state *st, uint32_t subject, uint8_t dir, uint32_t prefixlen)
{
	size_t n = 0;

	for (size_t i = 0; i < st->n_trie; i++)
		n += st->trie[i].key.subject == subject && st->trie[i].key.direction == dir &&
		     (!prefixlen || st->trie[i].key.prefixlen == prefixlen);
	return n;
}

static bool has_marker(const struct fx *f, const char *subj, uint8_t dir)
{
	return count_trie(&f->st, local_id(f, subj), dir, SL_POLICY_PREFIX_ISOLATED) == 1;
}

/* --- isolation and policyTypes ------------------------------------------------------------- */

static void test_policy_no_policy_no_isolation(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "a", "web", "{app: web}", "10.0.0.1", NULL);
	fx_pod(f, "a", "db", "{app: db}", "10.0.1.1", NULL);
	fx_compile(f);
	assert_int_equal(f->st.n_trie, 0);
	assert_int_equal(f->st.n_rules, 0);
	ALLOW(f, "web", IN, "10.0.1.1", TCP, 80);
	ALLOW(f, "web", EG, "8.8.8.8", UDP, 53);
	assert_null(f->warnings);
	fx_free(f);
}

static void test_policy_types_defaulting(void **state)
{
	static const struct {
		const char *spec;
		bool ingress, egress;
	} cases[] = {
		{ "{podSelector: {}}", true, false },
		{ "{}", true, false }, /* podSelector absent: selects all, like {} */
		{ "{podSelector: {}, egress: [{}]}", true, true },
		/* SetDefaults_NetworkPolicy: len(spec.egress) != 0, so [] is not egress */
		{ "{podSelector: {}, egress: []}", true, false },
		{ "{podSelector: {}, egress: null}", true, false },
		{ "{podSelector: {}, policyTypes: [Egress]}", false, true },
		{ "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}", false, true },
		{ "{podSelector: {}, policyTypes: [], egress: [{}]}", true, true },
		{ "{podSelector: {}, policyTypes: [Ingress, Egress]}", true, true },
		{ "{podSelector: {}, policyTypes: [Ingress, Ingress]}", true, false },
		{ "{podSelector: {}, policyTypes: [Ingress], egress: [{}]}", true, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new();

		fx_local_pod(f, "a", "web", "{app: web}", "10.0.0.1", NULL);
		fx_policy(f, "a", "p", cases[i].spec);
		fx_compile(f);
		if (f->warnings)
			fail_msg("case %zu %s: %s", i, cases[i].spec, f->warnings);
		if (has_marker(f, "web", IN) != cases[i].ingress || has_marker(f, "web", EG) != cases[i].egress)
			fail_msg("case %zu %s: isolation ingress %d egress %d, want %d %d", i, cases[i].spec,
				 has_marker(f, "web", IN), has_marker(f, "web", EG), cases[i].ingress,
				 cases[i].egress);
		/* A listed direction with no rule denies; an unlisted one allows. */
		assert_true(allows(f, "web", IN, "1.2.3.4", TCP, 80) == !cases[i].ingress);
		fx_free(f);
	}
}

static void test_policy_isolation_per_subject_identity(void **state)
{
	struct fx *f = fx_new();
	uint32_t web, web2, db;

	(void)state;
	fx_local_pod(f, "a", "web-1", "{app: web}", "10.0.0.1", NULL);
	fx_local_pod(f, "a", "web-2", "{app: web}", "10.0.0.2", NULL);
	fx_local_pod(f, "a", "db", "{app: db}", "10.0.0.3", NULL);
	fx_local_pod(f, "b", "web", "{app: web}", "10.0.0.4", NULL);
	fx_policy(f, "a", "deny-web", "{podSelector: {matchLabels: {app: web}}, ingress: []}");
	fx_compile(f);
	web = local_id(f, "web-1");
	web2 = local_id(f, "web-2");
	db = local_id(f, "db");
	/* Pods sharing a label set share an identity and its one marker. */
	assert_int_equal(web, web2);
	assert_int_not_equal(web, db);
	assert_int_equal(f->st.n_trie, 1);
	assert_int_equal(f->st.trie[0].key.subject, web);
	assert_int_equal(f->st.trie[0].key.direction, IN);
	assert_int_equal(f->st.trie[0].key.prefixlen, SL_POLICY_PREFIX_ISOLATED);
	assert_int_equal(f->st.trie[0].val.action, SL_POLICY_DENY);
	DENY(f, "web-1", IN, "10.0.0.3", TCP, 80);
	ALLOW(f, "db", IN, "10.0.0.1", TCP, 80);
	/* Another namespace's pod with the same labels: not selected. */
	ALLOW(f, "web", IN, "10.0.0.1", TCP, 80);
	ALLOW(f, "web-1", EG, "10.0.0.3", TCP, 80);
	fx_free(f);
}

/* --- empty lists ------------------------------------------------------------------------------------ */

static void test_policy_empty_lists(void **state)
{
	static const struct {
		const char *spec;
		bool allow_any; /* from 1.2.3.4 on TCP 80 and UDP 53 */
	} cases[] = {
		{ "{podSelector: {}, ingress: []}", false },
		{ "{podSelector: {}}", false },
		{ "{podSelector: {}, ingress: [{}]}", true },
		{ "{podSelector: {}, ingress: [{from: []}]}", true },
		{ "{podSelector: {}, ingress: [{ports: []}]}", true },
		{ "{podSelector: {}, ingress: [{from: [], ports: []}]}", true },
		{ "{podSelector: {}, ingress: [{from: null, ports: null}]}", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new();

		fx_local_pod(f, "a", "web", "{app: web}", "10.0.0.1", NULL);
		fx_pod(f, "b", "client", "{app: client}", "10.0.9.9", NULL);
		fx_policy(f, "a", "p", cases[i].spec);
		fx_compile(f);
		assert_null(f->warnings);
		if (allows(f, "web", IN, "1.2.3.4", TCP, 80) != cases[i].allow_any ||
		    allows(f, "web", IN, "1.2.3.4", UDP, 53) != cases[i].allow_any ||
		    allows(f, "web", IN, "10.0.9.9", SCTP, 9) != cases[i].allow_any)
			fail_msg("case %zu %s: want %s", i, cases[i].spec, cases[i].allow_any ? "allow" : "deny");
		if (cases[i].allow_any) {
			/* One entry: any peer, every port and protocol. */
			assert_int_equal(count_trie(&f->st, local_id(f, "web"), IN, SL_POLICY_PREFIX_ALL_PORTS), 1);
			/* Even a protocol Kubernetes does not name (ICMP). */
			ALLOW(f, "web", IN, "1.2.3.4", IPPROTO_ICMP, 0);
		}
		fx_free(f);
	}
}

/* --- peers ---------------------------------------------------------------------------------------------- */

static void peers_world(struct fx *f)
{
	fx_ns(f, "a", "{team: x}");
	fx_ns(f, "b", "{team: x}");
	fx_ns(f, "c", "{team: y}");
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_pod(f, "a", "a-web", "{app: web}", "10.1.0.1", NULL);
	fx_pod(f, "a", "a-db", "{app: db}", "10.1.0.2", NULL);
	fx_pod(f, "b", "b-web", "{app: web}", "10.1.1.1", NULL);
	fx_pod(f, "b", "b-db", "{app: db}", "10.1.1.2", NULL);
	fx_pod(f, "c", "c-web", "{app: web}", "10.1.2.1", NULL);
	fx_pod(f, "d", "d-web", "{app: web}", "10.1.3.1", NULL); /* no Namespace object */
}

static void test_policy_peer_kinds(void **state)
{
	static const char *const ips[] = { "10.1.0.1", "10.1.0.2", "10.1.1.1", "10.1.1.2",
					   "10.1.2.1", "10.1.3.1", "192.0.2.1" };
	static const struct {
		const char *from;
		const char *want; /* per ips[]: 1 allowed */
	} cases[] = {
		{ "[{podSelector: {matchLabels: {app: web}}}]", "1000000" },
		{ "[{podSelector: {}}]", "1100000" },
		{ "[{namespaceSelector: {matchLabels: {team: x}}}]", "1111000" },
		{ "[{namespaceSelector: {}}]", "1111110" },
		{ "[{namespaceSelector: {}, podSelector: {}}]", "1111110" },
		{ "[{namespaceSelector: {matchLabels: {team: x}}, podSelector: {matchLabels: {app: web}}}]", "1010000" },
		/* two peers: OR */
		{ "[{namespaceSelector: {matchLabels: {team: x}}}, {podSelector: {matchLabels: {app: web}}}]", "1111000" },
		{ "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: d}}}]", "0000010" },
		{ "[{namespaceSelector: {matchExpressions: [{key: team, operator: DoesNotExist}]}}]", "0000010" },
		{ "[{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [x]}]},"
		  " podSelector: {matchLabels: {app: web}}}]",
		  "0000110" },
		{ "[{podSelector: {matchLabels: {app: nothing}}}]", "0000000" },
		{ "[{ipBlock: {cidr: 192.0.2.0/24}}]", "0000001" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new();
		char spec[1024];

		peers_world(f);
		snprintf(spec, sizeof(spec), "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: %s}]}",
			 cases[i].from);
		fx_policy(f, "a", "p", spec);
		fx_compile(f);
		if (f->warnings)
			fail_msg("case %zu: %s", i, f->warnings);
		for (size_t k = 0; k < sizeof(ips) / sizeof(ips[0]); k++) {
			bool want = cases[i].want[k] == '1';

			if (allows(f, "srv", IN, ips[k], TCP, 80) != want)
				fail_msg("case %zu from %s: %s %s, want %s", i, cases[i].from, ips[k],
					 want ? "denied" : "allowed", want ? "allowed" : "denied");
		}
		fx_free(f);
	}
}

static void test_policy_egress_peers_on_other_nodes(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	peers_world(f);
	fx_policy(f, "a", "p",
		  "{podSelector: {matchLabels: {app: srv}}, policyTypes: [Egress],"
		  " egress: [{to: [{namespaceSelector: {matchLabels: {team: x}}, podSelector: {matchLabels: {app: db}}}],"
		  " ports: [{port: 5432}]}]}");
	fx_compile(f);
	/* b-db runs elsewhere: it is in the ipcache from status.podIPs. */
	ALLOW(f, "srv", EG, "10.1.1.2", TCP, 5432);
	ALLOW(f, "srv", EG, "10.1.0.2", TCP, 5432);
	DENY(f, "srv", EG, "10.1.1.2", TCP, 5433);
	DENY(f, "srv", EG, "10.1.1.1", TCP, 5432);
	DENY(f, "srv", EG, "10.1.2.1", TCP, 5432);
	/* The ingress direction is untouched. */
	ALLOW(f, "srv", IN, "10.1.2.1", TCP, 1);
	fx_free(f);
}

/* --- ipBlock --------------------------------------------------------------------------------------------- */

static void test_policy_ipblock_except_and_pods_inside(void **state)
{
	struct fx *f = fx_new();
	const struct policy_ipcache_entry *e;
	uint32_t cls;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_pod(f, "a", "in-cidr", "{app: x}", "172.16.5.5", NULL);
	fx_pod(f, "a", "in-except", "{app: y}", "172.16.1.5", NULL);
	fx_pod(f, "a", "outside", "{app: z}", "10.9.9.9", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 172.16.0.0/16, except: [172.16.1.0/24]}}]}]}");
	fx_compile(f);
	/* Addresses */
	ALLOW(f, "srv", IN, "172.16.0.1", TCP, 80);
	ALLOW(f, "srv", IN, "172.16.255.255", UDP, 53);
	DENY(f, "srv", IN, "172.16.1.0", TCP, 80);
	DENY(f, "srv", IN, "172.16.1.255", TCP, 80);
	ALLOW(f, "srv", IN, "172.16.2.0", TCP, 80);
	DENY(f, "srv", IN, "172.17.0.0", TCP, 80);
	DENY(f, "srv", IN, "8.8.8.8", TCP, 80);
	/* Pods inside the block are allowed through their /32's class. */
	ALLOW(f, "srv", IN, "172.16.5.5", TCP, 80);
	DENY(f, "srv", IN, "172.16.1.5", TCP, 80);
	DENY(f, "srv", IN, "10.9.9.9", TCP, 80);
	e = ipc_lookup(&f->st, "172.16.5.5");
	cls = ipc_lookup(&f->st, "172.16.0.1")->val.identity;
	assert_true(cls >= SL_ID_FIRST_CIDR);
	assert_int_equal(e->key.prefixlen, SL_IPCACHE_KEY_BASE_BITS + 32);
	assert_true(e->val.identity >= SL_ID_FIRST_LABELS && e->val.identity < SL_ID_FIRST_CIDR);
	assert_int_equal(e->val.cidr_identity, cls);
	assert_int_equal(ipc_lookup(&f->st, "172.16.1.5")->val.cidr_identity,
			 ipc_lookup(&f->st, "172.16.1.1")->val.identity);
	assert_int_equal(ipc_lookup(&f->st, "10.9.9.9")->val.cidr_identity, 0);
	/* Entries: the marker and one class (the except's class is not allowed). */
	assert_int_equal(count_trie(&f->st, local_id(f, "srv"), IN, 0), 2);
	fx_free(f);
}

static void test_policy_ipblock_overlapping_cidrs(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_local_pod(f, "a", "other", "{app: other}", "10.0.0.2", NULL);
	/* Nested boundaries from several policies and peers. */
	fx_policy(f, "a", "p1",
		  "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8,"
		  " except: [10.1.0.0/16, 10.2.0.0/16]}}]}]}");
	fx_policy(f, "a", "p2",
		  "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{ipBlock: {cidr: 10.1.2.0/24}}],"
		  " ports: [{port: 443}]}]}");
	/* A policy of another subject adds boundaries inside p1's block. */
	fx_policy(f, "a", "p3",
		  "{podSelector: {matchLabels: {app: other}}, ingress: [{from: [{ipBlock: {cidr: 10.3.0.0/16,"
		  " except: [10.3.3.0/24]}}, {ipBlock: {cidr: 10.1.0.0/17}}]}]}");
	fx_compile(f);
	ALLOW(f, "srv", IN, "10.0.0.9", TCP, 80);
	ALLOW(f, "srv", IN, "10.3.0.1", TCP, 80);
	ALLOW(f, "srv", IN, "10.3.3.1", TCP, 80); /* p3's except is no except of p1 */
	DENY(f, "srv", IN, "10.1.0.1", TCP, 80);
	DENY(f, "srv", IN, "10.1.200.1", TCP, 80);
	DENY(f, "srv", IN, "10.2.0.1", TCP, 443);
	ALLOW(f, "srv", IN, "10.1.2.3", TCP, 443);
	DENY(f, "srv", IN, "10.1.2.3", TCP, 80);
	DENY(f, "srv", IN, "11.0.0.1", TCP, 80);
	ALLOW(f, "other", IN, "10.3.9.9", TCP, 1);
	DENY(f, "other", IN, "10.3.3.3", TCP, 1);
	ALLOW(f, "other", IN, "10.1.127.1", TCP, 1);
	DENY(f, "other", IN, "10.1.128.1", TCP, 1);
	/* 7 boundaries (10/8 10.1/16 10.2/16 10.1.2/24 10.3/16 10.3.3/24 10.1/17) + 2 pods + WORLD x2. */
	assert_int_equal(f->st.n_ipcache, 7 + 2 + 2);
	fx_free(f);
}

static void test_policy_ipblock_edge_cidrs(void **state)
{
	struct fx *f = fx_new();
	const struct policy_ipcache_entry *w;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_pod(f, "a", "peer", "{app: peer}", "10.0.0.5", NULL);
	fx_host(f, "192.168.1.10");
	fx_policy(f, "a", "p",
		  "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0,"
		  " except: [10.0.0.5/32, 192.168.1.0/24]}}], ports: [{port: 443}]},"
		  " {to: [{ipBlock: {cidr: 10.0.0.5/32}}], ports: [{port: 5432}]}]}");
	fx_compile(f);
	/* 0.0.0.0/0 is WORLD and carries the class of the /0 boundary. */
	w = ipc_lookup(&f->st, "8.8.8.8");
	assert_int_equal(w->key.prefixlen, SL_IPCACHE_KEY_BASE_BITS);
	assert_int_equal(w->val.identity, SL_ID_WORLD);
	assert_true(w->val.cidr_identity >= SL_ID_FIRST_CIDR);
	ALLOW(f, "srv", EG, "8.8.8.8", TCP, 443);
	DENY(f, "srv", EG, "8.8.8.8", TCP, 5432);
	/* A /32 boundary on a pod's address: the pod entry wins, carrying the class. */
	assert_int_equal(ipc_lookup(&f->st, "10.0.0.5")->key.prefixlen, SL_IPCACHE_KEY_BASE_BITS + 32);
	assert_true(ipc_lookup(&f->st, "10.0.0.5")->val.identity < SL_ID_FIRST_CIDR);
	DENY(f, "srv", EG, "10.0.0.5", TCP, 443);
	ALLOW(f, "srv", EG, "10.0.0.5", TCP, 5432);
	/* The node's own address: HOST, and subject to egress policy like any address. */
	assert_int_equal(ip_id(f, "192.168.1.10"), SL_ID_HOST);
	DENY(f, "srv", EG, "192.168.1.10", TCP, 443);
	ALLOW(f, "srv", EG, "10.0.0.1", TCP, 443); /* itself: a pod inside 0/0 */
	fx_free(f);
}

static void test_policy_ipblock_ipv6(void **state)
{
	struct fx *f = fx_new();
	const struct policy_ipcache_entry *e;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "fd00::1", NULL);
	fx_pod(f, "a", "v6peer", "{app: p}", "fd00:1::5", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 'fd00:1::/64', except: ['fd00:1::/120']}},"
		  " {ipBlock: {cidr: 10.0.0.0/8}}]}]}");
	fx_compile(f);
	ALLOW(f, "srv", IN, "fd00:1::1:0", TCP, 80);
	DENY(f, "srv", IN, "fd00:1::ff", TCP, 80);
	DENY(f, "srv", IN, "fd00:1::5", TCP, 80); /* a pod in the except */
	DENY(f, "srv", IN, "fd00:2::1", TCP, 80);
	ALLOW(f, "srv", IN, "10.1.1.1", TCP, 80);
	e = ipc_lookup(&f->st, "fd00:2::1");
	assert_int_equal(e->key.family, SL_FAMILY_IPV6);
	assert_int_equal(e->key.prefixlen, SL_IPCACHE_KEY_BASE_BITS); /* ::/0 */
	assert_int_equal(e->val.identity, SL_ID_WORLD);
	e = ipc_lookup(&f->st, "fd00:1::1:0");
	assert_int_equal(e->key.prefixlen, SL_IPCACHE_KEY_BASE_BITS + 64);
	fx_free(f);
}

/* --- ports ------------------------------------------------------------------------------------------------ */

static void test_policy_ports_and_protocols(void **state)
{
	static const struct {
		const char *ports;
		const char *allowed; /* "proto/port ..." that must pass */
		const char *denied;
	} cases[] = {
		{ "[{port: 80}]", "6/80", "6/81 6/79 17/80 132/80" },
		{ "[{port: 53, protocol: UDP}]", "17/53", "6/53 17/54" },
		{ "[{port: 9, protocol: SCTP}]", "132/9", "6/9 17/9" },
		{ "[{protocol: UDP}]", "17/1 17/53 17/65535", "6/53 132/53" },
		{ "[{}]", "6/1 6/65535", "17/53" },
		{ "[{port: 1000, endPort: 2000}]", "6/1000 6/1024 6/1999 6/2000", "6/999 6/2001 17/1500" },
		{ "[{port: 1, endPort: 65535, protocol: UDP}]", "17/1 17/65535 17/32768", "6/80" },
		{ "[{port: 65535, endPort: 65535}]", "6/65535", "6/65534" },
		{ "[{port: 80}, {port: 53, protocol: UDP}, {port: 8000, endPort: 8080, protocol: SCTP}]",
		  "6/80 17/53 132/8000 132/8080", "6/53 17/80 132/8081 6/8000" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char spec[512], list[128], *save = NULL;
		struct fx *f = fx_new();

		fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
		snprintf(spec, sizeof(spec), "{podSelector: {}, ingress: [{ports: %s}]}", cases[i].ports);
		fx_policy(f, "a", "p", spec);
		fx_compile(f);
		if (f->warnings)
			fail_msg("case %zu: %s", i, f->warnings);
		for (int pass = 0; pass < 2; pass++) {
			snprintf(list, sizeof(list), "%s", pass ? cases[i].denied : cases[i].allowed);
			for (char *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
				unsigned proto, port;

				assert_int_equal(sscanf(t, "%u/%u", &proto, &port), 2);
				if (allows(f, "srv", IN, "1.2.3.4", (uint8_t)proto, (uint16_t)port) != !pass)
					fail_msg("case %zu ports %s: %s %s", i, cases[i].ports, t,
						 pass ? "allowed, want denied" : "denied, want allowed");
			}
		}
		fx_free(f);
	}
}

static void test_policy_port_entry_shapes(void **state)
{
	struct fx *f = fx_new();
	uint32_t s;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {}, ingress: [{ports: [{port: 80}, {protocol: UDP}, {port: 1000, endPort: 2000,"
		  " protocol: SCTP}]}]}");
	fx_compile(f);
	s = local_id(f, "srv");
	assert_int_equal(count_trie(&f->st, s, IN, SL_POLICY_PREFIX_ISOLATED), 1);
	assert_int_equal(count_trie(&f->st, s, IN, SL_POLICY_PREFIX_FULL), 1 + 1); /* 80, and 2000 */
	assert_int_equal(count_trie(&f->st, s, IN, SL_POLICY_PREFIX_PROTO), 1);
	/* SCTP 1000-2000 as (port, bits): 1000/3 1008/4 1024/9 1536/8 1792/7 1920/6
	 * 1984/4 2000/0, each at prefix 128 - bits. */
	{
		static const struct port_block want[] = { { 1000, 3 }, { 1008, 4 }, { 1024, 9 }, { 1536, 8 },
							  { 1792, 7 }, { 1920, 6 }, { 1984, 4 }, { 2000, 0 } };
		size_t k = 0;

		for (size_t i = 0; i < f->st.n_trie; i++) {
			const struct sl_policy_key *key = &f->st.trie[i].key;

			if (key->subject != s || key->proto != SCTP)
				continue;
			assert_true(k < 8);
			assert_int_equal(ntohs(key->dport), want[k].port);
			assert_int_equal(key->prefixlen, SL_POLICY_PREFIX_FULL - want[k].bits);
			assert_int_equal(key->peer, SL_ID_ANY);
			k++;
		}
		assert_int_equal(k, 8);
	}
	assert_int_equal(count_trie(&f->st, s, IN, 0), 1 + 1 + 1 + 8);
	fx_free(f);
}

static void test_policy_named_ports_ingress(void **state)
{
	static const char web_ports_1[] = "[{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]";
	static const char web_ports_2[] = "[{name: http, containerPort: 9090}]";
	struct fx *f = fx_new();

	(void)state;
	/* Two local pods of one identity name "http" differently: the union. */
	fx_local_pod(f, "a", "web-1", "{app: web}", "10.0.0.1", web_ports_1);
	fx_local_pod(f, "a", "web-2", "{app: web}", "10.0.0.2", web_ports_2);
	/* A remote pod of the same identity does not widen this node's entries. */
	fx_pod(f, "a", "web-remote", "{app: web}", "10.0.5.5", "[{name: http, containerPort: 7070}]");
	fx_local_pod(f, "a", "noports", "{app: other}", "10.0.0.3", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: http},"
		  " {port: dns}, {port: dns, protocol: UDP}, {port: nope}]}]}");
	fx_compile(f);
	ALLOW(f, "web-1", IN, "1.2.3.4", TCP, 8080);
	ALLOW(f, "web-1", IN, "1.2.3.4", TCP, 9090);
	DENY(f, "web-1", IN, "1.2.3.4", TCP, 7070);
	DENY(f, "web-1", IN, "1.2.3.4", UDP, 8080);
	/* "dns" is UDP: the TCP rule for it matches nothing, the UDP one does. */
	DENY(f, "web-1", IN, "1.2.3.4", TCP, 53);
	ALLOW(f, "web-1", IN, "1.2.3.4", UDP, 53);
	/* Names that resolve nowhere allow nothing, but the pod is isolated. */
	DENY(f, "noports", IN, "1.2.3.4", TCP, 8080);
	assert_true(has_marker(f, "noports", IN));
	assert_int_equal(count_trie(&f->st, local_id(f, "noports"), IN, 0), 1);
	fx_free(f);
}

static void test_policy_named_ports_egress(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "a", "client", "{app: client}", "10.0.0.1", "[{name: http, containerPort: 1111}]");
	fx_pod(f, "a", "api-1", "{app: api}", "10.0.1.1", "[{name: http, containerPort: 8080}]");
	fx_pod(f, "a", "api-2", "{app: api}", "10.0.1.2", "[{name: http, containerPort: 8081}]");
	fx_pod(f, "b", "other", "{app: other}", "10.0.2.1", "[{name: http, containerPort: 9000}]");
	fx_policy(f, "a", "to-api",
		  "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: ["
		  " {to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: http}]},"
		  " {to: [{ipBlock: {cidr: 10.0.2.0/24}}], ports: [{port: http}]}]}");
	fx_compile(f);
	/* Resolved against the destination identity's pods (union over them). */
	ALLOW(f, "client", EG, "10.0.1.1", TCP, 8080);
	ALLOW(f, "client", EG, "10.0.1.2", TCP, 8081);
	ALLOW(f, "client", EG, "10.0.1.1", TCP, 8081);
	DENY(f, "client", EG, "10.0.1.1", TCP, 1111); /* the subject's own port is irrelevant */
	/* Towards an ipBlock a named port never matches. */
	DENY(f, "client", EG, "10.0.2.1", TCP, 9000);
	fx_free(f);
}

static void test_policy_named_ports_egress_any_peer(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "a", "client", "{app: client}", "10.0.0.1", NULL);
	fx_pod(f, "a", "api", "{app: api}", "10.0.1.1", "[{name: metrics, containerPort: 9100}]");
	fx_pod(f, "b", "db", "{app: db}", "10.0.2.1", "[{name: metrics, containerPort: 9187}]");
	fx_pod(f, "b", "none", "{app: none}", "10.0.3.1", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: ["
		  " {ports: [{port: metrics}, {port: 53, protocol: UDP}]}]}");
	fx_compile(f);
	ALLOW(f, "client", EG, "10.0.1.1", TCP, 9100);
	ALLOW(f, "client", EG, "10.0.2.1", TCP, 9187);
	DENY(f, "client", EG, "10.0.2.1", TCP, 9100);
	DENY(f, "client", EG, "10.0.3.1", TCP, 9100);
	DENY(f, "client", EG, "8.8.8.8", TCP, 9100);
	ALLOW(f, "client", EG, "8.8.8.8", UDP, 53);
	fx_free(f);
}

/* --- endPort decomposition ---------------------------------------------------------------------------------- */

static void check_blocks(unsigned lo, unsigned hi)
{
	static uint8_t seen[65536];
	struct port_block b[PORT_BLOCKS_MAX];
	size_t n = port_range_blocks((uint16_t)lo, (uint16_t)hi, b);
	uint64_t total = 0;

	if (n == 0 || n > 30)
		fail_msg("%u-%u: %zu blocks", lo, hi, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t start = b[i].port, size = 1u << b[i].bits;

		if (b[i].bits > 16 || start % size || start + size - 1 > 65535)
			fail_msg("%u-%u: block %zu (%u/%u) not aligned", lo, hi, i, start, b[i].bits);
		if (start < lo || start + size - 1 > hi)
			fail_msg("%u-%u: block %u+%u outside the range", lo, hi, start, size);
		for (uint32_t p = start; p < start + size; p++) {
			if (seen[p])
				fail_msg("%u-%u: port %u twice", lo, hi, p);
			seen[p] = 1;
		}
		total += size;
		/* Maximal: no block and its successor form an aligned block of twice the size. */
		if (i + 1 < n && b[i + 1].bits == b[i].bits && !(start % (size * 2)))
			fail_msg("%u-%u: blocks %u and %u could merge", lo, hi, start, b[i + 1].port);
	}
	if (total != hi - lo + 1)
		fail_msg("%u-%u: blocks cover %llu ports", lo, hi, (unsigned long long)total);
	for (size_t i = 0; i < n; i++)
		memset(seen + b[i].port, 0, 1u << b[i].bits);
}

static void test_policy_endport_blocks_exhaustive(void **state)
{
	static const unsigned edges[] = { 0,     1,     2,     3,     7,     8,     255,   256,   1023, 1024,
					  1025,  4095,  32767, 32768, 32769, 49151, 65532, 65533, 65534, 65535 };
	uint32_t x = 12345;

	(void)state;
	/* Every range within 0..511 ... */
	for (unsigned lo = 0; lo < 512; lo++)
		for (unsigned hi = lo; hi < 512; hi++)
			check_blocks(lo, hi);
	/* ... every pair of edge ports, including 0-65535 ... */
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		for (size_t k = i; k < sizeof(edges) / sizeof(edges[0]); k++)
			check_blocks(edges[i], edges[k]);
	/* ... and random ones (fixed seed). */
	for (int i = 0; i < 3000; i++) {
		unsigned a, b;

		x = x * 1103515245 + 12345;
		a = (x >> 8) & 0xffff;
		x = x * 1103515245 + 12345;
		b = (x >> 8) & 0xffff;
		check_blocks(a < b ? a : b, a < b ? b : a);
	}
	/* The worst case: 1-65534 needs 30 blocks. */
	{
		struct port_block b[PORT_BLOCKS_MAX];

		assert_int_equal(port_range_blocks(1, 65534, b), 30);
		assert_int_equal(port_range_blocks(0, 65535, b), 1);
		assert_int_equal(b[0].bits, 16);
	}
}

/* --- union, pruning, subjects ------------------------------------------------------------------------------- */

static void test_policy_union_of_policies(void **state)
{
	struct fx *f = fx_new();
	const struct policy_trie_entry *m;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv, tier: be}", "10.0.0.1", NULL);
	fx_pod(f, "a", "web", "{app: web}", "10.0.1.1", NULL);
	fx_pod(f, "a", "mon", "{app: mon}", "10.0.1.2", NULL);
	fx_policy(f, "a", "p1",
		  "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}],"
		  " ports: [{port: 80}]}]}");
	fx_policy(f, "a", "p2",
		  "{podSelector: {matchLabels: {tier: be}}, ingress: [{from: [{podSelector: {matchLabels: {app: mon}}}],"
		  " ports: [{port: 9100}]}]}");
	fx_policy(f, "a", "p3", "{podSelector: {matchLabels: {tier: fe}}, ingress: []}");
	fx_compile(f);
	ALLOW(f, "srv", IN, "10.0.1.1", TCP, 80);
	ALLOW(f, "srv", IN, "10.0.1.2", TCP, 9100);
	DENY(f, "srv", IN, "10.0.1.1", TCP, 9100);
	DENY(f, "srv", IN, "10.0.1.2", TCP, 80);
	/* One marker, pointing at the first policy's isolation text. */
	assert_int_equal(count_trie(&f->st, local_id(f, "srv"), IN, SL_POLICY_PREFIX_ISOLATED), 1);
	m = trie_lookup(&f->st, local_id(f, "srv"), IN, 999999, TCP, 1);
	assert_int_equal(m->val.action, SL_POLICY_DENY);
	assert_string_equal(f->st.rules[m->val.rule].policy_name, "p1");
	assert_int_equal(f->st.rules[m->val.rule].index, -1);
	/* p3 selects no local pod: no rules of it. */
	for (size_t i = 0; i < f->st.n_rules; i++)
		assert_string_not_equal(f->st.rules[i].policy_name, "p3");
	fx_free(f);
}

static void test_policy_redundant_entries_pruned(void **state)
{
	struct fx *f = fx_new();
	uint32_t s, web;

	(void)state;
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_pod(f, "a", "web", "{app: web}", "10.0.1.1", NULL);
	fx_policy(f, "a", "p1",
		  "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80},"
		  " {port: 1, endPort: 65535, protocol: UDP}, {port: 53, protocol: UDP}, {port: 70, endPort: 90}]}]}");
	fx_policy(f, "a", "p2",
		  "{podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: 80}]}]}");
	fx_compile(f);
	s = local_id(f, "srv");
	web = ip_id(f, "10.0.1.1");
	/* For peer web: TCP 70-90 holds 80 (blocks 70/1 72/3 80/3 88/1 90/0); UDP
	 * 1-65535 holds 53. p2's TCP 80 for web is a duplicate key: one entry. */
	for (size_t i = 0; i < f->st.n_trie; i++) {
		const struct sl_policy_key *k = &f->st.trie[i].key;

		if (k->subject != s || k->peer != web)
			continue;
		assert_false(k->proto == UDP && ntohs(k->dport) == 53 && k->prefixlen == SL_POLICY_PREFIX_FULL);
		assert_false(k->proto == TCP && ntohs(k->dport) == 80 && k->prefixlen == SL_POLICY_PREFIX_FULL);
	}
	ALLOW(f, "srv", IN, "10.0.1.1", TCP, 80);
	ALLOW(f, "srv", IN, "10.0.1.1", UDP, 53);
	ALLOW(f, "srv", IN, "10.0.1.1", TCP, 90);
	DENY(f, "srv", IN, "10.0.1.1", TCP, 91);
	/* The same key from two rules keeps the lowest rule number. */
	assert_string_equal(f->st.rules[trie_lookup(&f->st, s, IN, web, TCP, 70)->val.rule].policy_name, "p1");
	fx_free(f);
}

static void test_policy_only_local_subjects(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "a", "here", "{app: here}", "10.0.0.1", NULL);
	fx_pod(f, "a", "there", "{app: there}", "10.0.1.1", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {matchLabels: {app: there}}, ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16}}]}]}");
	fx_compile(f);
	/* Nothing for a policy of remote pods, not even its boundaries. */
	assert_int_equal(f->st.n_trie, 0);
	assert_int_equal(f->st.n_rules, 0);
	assert_int_equal(ipc_lookup(&f->st, "192.168.1.1")->val.identity, SL_ID_WORLD);
	fx_free(f);
}

/* --- the ipcache ----------------------------------------------------------------------------------------------- */

static void test_policy_ipcache_contents(void **state)
{
	struct fx *f = fx_new();
	const struct policy_ipcache_entry *e;
	uint32_t remote, local_same;

	(void)state;
	fx_local_pod(f, "a", "local", "{app: web}", "10.0.0.1", NULL);
	fx_pod(f, "a", "remote", "{app: web}", "10.0.9.1", NULL);
	fx_pod(f, "a", "remote-db", "{app: db}", "10.0.9.2", NULL);
	/* A local pod the store knows without an IP yet: the agent's IP counts. */
	fx_pod(f, "a", "fresh", "{app: db}", "", NULL);
	fx_local(f, "a", "fresh", "10.0.0.2");
	/* A hostNetwork pod has the node's address: no pod entry. */
	fx_apply(f, "{kind: Pod, metadata: {name: hn, namespace: a, labels: {app: hn}},"
		    " spec: {hostNetwork: true, containers: [{name: c}]}, status: {podIPs: [{ip: 192.168.0.7}]}}");
	fx_host(f, "192.168.0.5");
	fx_compile(f);
	e = ipc_lookup(&f->st, "10.0.0.1");
	assert_int_equal(e->key.prefixlen, 64);
	assert_int_equal(e->val.flags, SL_IPC_F_LOCAL);
	local_same = e->val.identity;
	remote = ip_id(f, "10.0.9.1");
	assert_int_equal(remote, local_same); /* same label set, same identity */
	assert_int_equal(ipc_lookup(&f->st, "10.0.9.1")->val.flags, 0);
	assert_int_equal(ipc_lookup(&f->st, "10.0.0.2")->val.flags, SL_IPC_F_LOCAL);
	assert_int_equal(ip_id(f, "10.0.0.2"), ip_id(f, "10.0.9.2"));
	assert_int_equal(ip_id(f, "10.0.0.2"), local_id(f, "fresh"));
	assert_int_equal(ip_id(f, "192.168.0.5"), SL_ID_HOST);
	assert_int_equal(ip_id(f, "192.168.0.7"), SL_ID_WORLD);
	assert_int_equal(ip_id(f, "8.8.8.8"), SL_ID_WORLD);
	assert_int_equal(ip_id(f, "2001:db8::1"), SL_ID_WORLD);
	/* 4 pods + host + 2 WORLD, sorted */
	assert_int_equal(f->st.n_ipcache, 7);
	for (size_t i = 1; i < f->st.n_ipcache; i++)
		assert_true(policy_ipcache_key_cmp(&f->st.ipcache[i - 1].key, &f->st.ipcache[i].key) < 0);
	fx_free(f);
}

static void test_policy_local_pod_without_object(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_ns(f, "a", "{team: x}");
	fx_local(f, "a", "ghost", "10.0.0.9");  /* not (or no longer) in the store */
	fx_local(f, "", "runc-pod", "10.0.0.8"); /* a pod of another runtime */
	fx_pod(f, "b", "client", "{app: client}", "10.0.1.1", NULL);
	fx_policy(f, "a", "default-deny", "{podSelector: {}, ingress: []}");
	fx_policy(f, "b", "to-team-x",
		  "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}}]}]}");
	fx_compile(f);
	/* ghost: an unlabeled pod of namespace a, still isolated by a's default deny. */
	assert_true(has_marker(f, "ghost", IN));
	DENY(f, "ghost", IN, "10.0.1.1", TCP, 80);
	/* runc-pod: no namespace, no policy. */
	ALLOW(f, "runc-pod", IN, "10.0.1.1", TCP, 80);
	assert_int_not_equal(local_id(f, "runc-pod"), local_id(f, "ghost"));
	fx_free(f);
}

/* --- invalid policies --------------------------------------------------------------------------------------------- */

static void test_policy_invalid_policies_skipped(void **state)
{
	static const struct {
		const char *spec;
		const char *why;
	} cases[] = {
		{ "{podSelector: {matchExpressions: [{key: app, operator: Equals, values: [x]}]}}",
		  "spec.podSelector: matchExpressions[0].operator: not a valid selector operator" },
		{ "{podSelector: [], ingress: []}", "spec.podSelector: must be an object" },
		{ "{ingress: [{ports: [{endPort: 90}]}]}", "spec.ingress[0].ports[0].endPort: may not be specified when `port` is not specified" },
		{ "{ingress: [{ports: [{port: http, endPort: 90}]}]}", "endPort: may not be specified when `port` is non-numeric" },
		{ "{ingress: [{ports: [{port: 90, endPort: 80}]}]}", "endPort: Invalid value: 80: must be greater than or equal to `port`" },
		{ "{ingress: [{ports: [{port: 90, endPort: 65536}]}]}", "endPort: Invalid value: 65536" },
		{ "{ingress: [{ports: [{port: 90, endPort: '100'}]}]}", "endPort: must be an integer" },
		{ "{ingress: [{ports: [{port: 0}]}]}", "ports[0].port: Invalid value: 0: must be between 1 and 65535" },
		{ "{ingress: [{ports: [{port: 65536}]}]}", "must be between 1 and 65535" },
		{ "{ingress: [{ports: [{port: '80'}]}]}", "must contain at least one letter" },
		{ "{ingress: [{ports: [{port: HTTP}]}]}", "port: Invalid value: \"HTTP\"" },
		{ "{ingress: [{ports: [{port: a-very-long-port-name}]}]}", "no more than 15" },
		{ "{ingress: [{ports: [{port: 1.5}]}]}", "must be an integer or a string" },
		{ "{ingress: [{ports: [{protocol: ICMP}]}]}", "protocol: Unsupported value: ICMP" },
		{ "{ingress: [{ports: [{protocol: tcp}]}]}", "Unsupported value: tcp" },
		{ "{ingress: [{ports: [80]}]}", "ports[0]: must be an object" },
		{ "{ingress: [{from: [{}]}]}", "spec.ingress[0].from[0]: Required value: must specify a peer" },
		{ "{egress: [{to: [{podSelector: null}]}]}", "spec.egress[0].to[0]: Required value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
		  "may not specify both ipBlock and another peer" },
		{ "{ingress: [{from: [{ipBlock: {}}]}]}", "from[0].ipBlock.cidr: Required value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: ''}}]}]}", "ipBlock.cidr: Required value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0}}]}]}", "must be a valid CIDR value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}", "must be a valid CIDR value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.256/8}}]}]}", "must be a valid CIDR value" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}",
		  "except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}", "strict subset" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/8]}}]}]}", "strict subset" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/64']}}]}]}", "strict subset" },
		{ "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, bad]}}]}]}",
		  "except[1]: Invalid value: \"bad\"" },
		{ "{ingress: [{from: [{namespaceSelector: {matchLabels: {'bad key!': x}}}]}]}",
		  "from[0].namespaceSelector: matchLabels: invalid key" },
		{ "{egress: [{to: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}]}",
		  "spec.egress[0].to[0].podSelector: matchExpressions[0].values: must be specified" },
		{ "{policyTypes: [Ingress, Egress, Ingress]}", "may not specify more than two policyTypes" },
		{ "{policyTypes: [Both]}", "spec.policyTypes[0]: Unsupported value: Both" },
		{ "{policyTypes: Ingress}", "spec.policyTypes: must be a list" },
		{ "{ingress: {}}", "spec.ingress: must be a list" },
		{ "{ingress: [{from: {}}]}", "spec.ingress[0].from: must be a list" },
		{ "{ingress: [[]]}", "spec.ingress[0]: must be an object" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new();
		char want[512];

		fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
		fx_policy(f, "a", "bad", cases[i].spec);
		fx_policy(f, "a", "good", "{podSelector: {}, policyTypes: [Egress]}");
		fx_compile(f);
		snprintf(want, sizeof(want), "NetworkPolicy a/bad: %s", cases[i].why);
		if (!f->warnings || !strstr(f->warnings, "NetworkPolicy a/bad: ") || !strstr(f->warnings, cases[i].why) ||
		    !strstr(f->warnings, "; policy skipped") || strchr(f->warnings, '\n'))
			fail_msg("case %zu %s: warning \"%s\", want \"%s\"", i, cases[i].spec,
				 f->warnings ? f->warnings : "(none)", want);
		/* The bad one is skipped, the good one applies. */
		assert_false(has_marker(f, "srv", IN));
		assert_true(has_marker(f, "srv", EG));
		fx_free(f);
	}
}

static void test_policy_lenient_syntax_accepted(void **state)
{
	/* What the API server's legacy parsers accept, so must we. */
	static const char *const specs[] = {
		"{ingress: [{from: [{ipBlock: {cidr: 10.1.2.3/8}}]}]}",       /* host bits set */
		"{ingress: [{from: [{ipBlock: {cidr: 010.001.0.0/016}}]}]}",  /* leading zeros */
		"{ingress: [{from: [{ipBlock: {cidr: '2001:DB8::/32'}}]}]}",  /* not canonical */
		"{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: null}}]}]}",
		"{ingress: [{ports: [{port: 80, endPort: 80}]}]}",
		"{ingress: [{ports: [{port: 80, protocol: null}]}]}",
		"{ingress: [{from: [{podSelector: {}, namespaceSelector: null}]}], egress: null}",
		"{ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: a, operator: Exists, values: null}]}}]}]}",
		"{unknownField: 1, ingress: [{alsoUnknown: true}]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct fx *f = fx_new();

		fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
		fx_policy(f, "a", "p", specs[i]);
		fx_compile(f);
		if (f->warnings)
			fail_msg("case %zu %s: %s", i, specs[i], f->warnings);
		assert_true(has_marker(f, "srv", IN));
		fx_free(f);
	}
	{
		struct fx *f = fx_new();

		fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
		fx_policy(f, "a", "p", "{ingress: [{from: [{ipBlock: {cidr: 010.001.0.0/016}}]}]}");
		fx_compile(f);
		ALLOW(f, "srv", IN, "10.1.200.1", TCP, 1);
		DENY(f, "srv", IN, "10.2.0.1", TCP, 1);
		fx_free(f);
	}
}

/* --- rule texts ------------------------------------------------------------------------------------------------------ */

static void test_policy_rule_texts(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_local_pod(f, "prod", "db", "{app: db}", "10.0.0.1", NULL);
	fx_policy(f, "prod", "db-access",
		  "{podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress, Egress],"
		  " ingress: [{from: [{podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {team: a}}},"
		  " {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/16]}}, {namespaceSelector: {}},"
		  " {podSelector: {matchExpressions: [{key: tier, operator: In, values: [fe, be]}]}}],"
		  " ports: [{port: 5432}, {port: 53, protocol: UDP}, {port: 8000, endPort: 8080}, {port: metrics},"
		  " {protocol: SCTP}]}, {}],"
		  " egress: [{to: [{podSelector: {}}]}]}");
	fx_compile(f);
	assert_int_equal(f->st.n_rules, 5);
	assert_string_equal(f->st.rules[0].policy_ns, "prod");
	assert_string_equal(f->st.rules[0].policy_name, "db-access");
	assert_int_equal(f->st.rules[0].direction, IN);
	assert_int_equal(f->st.rules[0].index, -1);
	assert_string_equal(f->st.rules[0].text, "isolates pods {app=db} for ingress");
	assert_int_equal(f->st.rules[1].index, 0);
	assert_string_equal(f->st.rules[1].text,
			    "from pods {app=web} in namespaces {team=a} or 10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16"
			    " or all pods in namespaces {} or pods {tier in (fe,be)};"
			    " TCP 5432, UDP 53, TCP 8000-8080, TCP metrics, SCTP any port");
	assert_string_equal(f->st.rules[2].text, "from any peer; any port and protocol");
	assert_int_equal(f->st.rules[3].direction, EG);
	assert_string_equal(f->st.rules[3].text, "isolates pods {app=db} for egress");
	assert_string_equal(f->st.rules[4].text, "to pods {}; any port and protocol");
	/* Every trie value points at a rule of its direction. */
	for (size_t i = 0; i < f->st.n_trie; i++) {
		assert_true(f->st.trie[i].val.rule < f->st.n_rules);
		assert_int_equal(f->st.rules[f->st.trie[i].val.rule].direction, f->st.trie[i].key.direction);
	}
	fx_free(f);
}

/* --- stability and the diff ------------------------------------------------------------------------------------------- */

struct ops_log {
	size_t ipc_put, ipc_del, trie_put, trie_del;
	int fail_at; /* stop with -EIO at this call (1-based), 0: never */
	int calls;
};

static int log_call(struct ops_log *l)
{
	return ++l->calls == l->fail_at ? -EIO : 0;
}

static int op_ipc_put(const struct policy_ipcache_entry *e, void *arg)
{
	(void)e;
	((struct ops_log *)arg)->ipc_put++;
	return log_call(arg);
}

static int op_ipc_del(const struct sl_ipcache_key *k, void *arg)
{
	(void)k;
	((struct ops_log *)arg)->ipc_del++;
	return log_call(arg);
}

static int op_trie_put(const struct policy_trie_entry *e, void *arg)
{
	(void)e;
	((struct ops_log *)arg)->trie_put++;
	return log_call(arg);
}

static int op_trie_del(const struct sl_policy_key *k, void *arg)
{
	(void)k;
	((struct ops_log *)arg)->trie_del++;
	return log_call(arg);
}

static const struct policy_diff_ops log_ops = { op_ipc_put, op_ipc_del, op_trie_put, op_trie_del };

static bool states_equal(const struct policy_state *a, const struct policy_state *b)
{
	return a->n_ipcache == b->n_ipcache && a->n_trie == b->n_trie &&
	       !memcmp(a->ipcache, b->ipcache, a->n_ipcache * sizeof(*a->ipcache)) &&
	       !memcmp(a->trie, b->trie, a->n_trie * sizeof(*a->trie));
}

static void diff_world(struct fx *f)
{
	fx_local_pod(f, "a", "srv", "{app: srv}", "10.0.0.1", NULL);
	fx_pod(f, "a", "web-1", "{app: web}", "10.0.1.1", NULL);
	fx_policy(f, "a", "p",
		  "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}],"
		  " ports: [{port: 80}]}]}");
}

static void test_policy_diff(void **state)
{
	struct fx *f = fx_new();
	struct policy_state prev, empty = { 0 };
	struct ops_log l = { 0 };

	(void)state;
	diff_world(f);
	fx_compile(f);
	/* From nothing: everything is put. */
	assert_int_equal(policy_state_diff(&empty, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.ipc_put, f->st.n_ipcache);
	assert_int_equal(l.trie_put, f->st.n_trie);
	assert_int_equal(l.ipc_del + l.trie_del, 0);
	/* Identical: nothing. Recompiling gives the identical state. */
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	fx_compile(f);
	assert_true(states_equal(&prev, &f->st));
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.calls, 0);
	/* A new pod of an existing label set: one ipcache entry, nothing else. */
	fx_pod(f, "a", "web-2", "{app: web}", "10.0.1.2", NULL);
	policy_state_free(&prev);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	fx_compile(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.ipc_put, 1);
	assert_int_equal(l.calls, 1);
	/* A port change: one put, one delete in the trie. */
	fx_policy(f, "a", "p",
		  "{podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}],"
		  " ports: [{port: 443}]}]}");
	policy_state_free(&prev);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	fx_compile(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.trie_put, 1);
	assert_int_equal(l.trie_del, 1);
	assert_int_equal(l.calls, 2);
	/* A changed value (a pod relabeled to another identity): a put, no delete. */
	fx_pod(f, "a", "web-2", "{app: web, v: '2'}", "10.0.1.2", NULL);
	policy_state_free(&prev);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	fx_compile(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.ipc_put, 1);
	assert_int_equal(l.trie_put, 1); /* the new identity is a web peer too */
	assert_int_equal(l.calls, 2);
	/* To nothing: everything is deleted. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&f->st, &empty, &log_ops, &l), 0);
	assert_int_equal(l.ipc_del, f->st.n_ipcache);
	assert_int_equal(l.trie_del, f->st.n_trie);
	/* The first error stops it. */
	memset(&l, 0, sizeof(l));
	l.fail_at = 2;
	assert_int_equal(policy_state_diff(&empty, &f->st, &log_ops, &l), -EIO);
	assert_int_equal(l.calls, 2);
	policy_state_free(&prev);
	fx_free(f);
}

/* Every value names a rule of its direction; markers name an isolation. */
static void check_rule_refs(const struct policy_state *st)
{
	for (size_t i = 0; i < st->n_trie; i++) {
		const struct policy_trie_entry *e = &st->trie[i];
		const struct policy_rule_info *r;

		assert_true(e->val.rule < st->n_rules);
		r = &st->rules[e->val.rule];
		assert_int_equal(r->direction, e->key.direction);
		assert_true((r->index == -1) == (e->key.prefixlen == SL_POLICY_PREFIX_ISOLATED));
		assert_non_null(r->text);
	}
}

static void add_chain_policies(struct fx *f, int n)
{
	for (int i = 0; i < n; i++) {
		char name[16], labels[32], ip[20], spec[256];

		snprintf(name, sizeof(name), "p%d", i);
		snprintf(labels, sizeof(labels), "{app: p%d}", i);
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		fx_local_pod(f, "a", name, labels, ip, NULL);
		snprintf(name, sizeof(name), "pol-%02d", i);
		snprintf(spec, sizeof(spec),
			 "{podSelector: {matchLabels: {app: p%d}}, ingress: [{from: [{podSelector: {matchLabels: {app: p%d}}}],"
			 " ports: [{port: 80}, {port: 443}]}]}",
			 i, (i + 1) % n);
		fx_policy(f, "a", name, spec);
	}
}

static void test_policy_rule_numbers_stable_with_prev(void **state)
{
	struct fx *f = fx_new();
	struct policy_state prev;
	struct ops_log l = { 0 };

	(void)state;
	add_chain_policies(f, 20);
	fx_compile(f);
	assert_int_equal(f->st.n_trie, 20 * 3);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	/* A policy that sorts before all others, with one new entry. */
	fx_policy(f, "a", "aaa", "{podSelector: {matchLabels: {app: p7}}, ingress: [{from: [{podSelector: {matchLabels: {app: p3}}}]}]}");
	/* Without prev every later rule moves: every entry is rewritten. */
	fx_compile(f);
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_true(l.trie_put >= 60);
	/* With prev: only the new entry. aaa's rules are appended, so p7's
	 * marker keeps pol-07's lower number. */
	fx_compile_prev(f, &prev);
	check_rule_refs(&f->st);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.trie_put, 1);
	assert_int_equal(l.calls, 1);
	assert_string_equal(f->st.rules[f->st.n_rules - 1].policy_name, "aaa");
	/* Deleting a policy: its entries go; the rules that fill its numbers move. */
	policy_state_free(&prev);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	assert_int_equal(k8s_store_delete(f->store, K8S_KIND_NETWORK_POLICY, "a", "pol-05", f), 0);
	fx_compile_prev(f, &prev);
	check_rule_refs(&f->st);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.trie_del, 3);  /* pol-05's marker and two ports */
	assert_true(l.trie_put <= 3);     /* aaa's rules renumbered into the gap */
	/* The same state again: nothing at all. */
	policy_state_free(&prev);
	prev = f->st;
	memset(&f->st, 0, sizeof(f->st));
	fx_compile_prev(f, &prev);
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_state_diff(&prev, &f->st, &log_ops, &l), 0);
	assert_int_equal(l.calls, 0);
	policy_state_free(&prev);
	fx_free(f);
}

static void test_policy_identities_stable_across_compiles(void **state)
{
	struct fx *f = fx_new(), *g = fx_new();
	uint32_t srv, web;

	(void)state;
	diff_world(f);
	fx_compile(f);
	srv = local_id(f, "srv");
	web = ip_id(f, "10.0.1.1");
	/* New label sets get new numbers; old ones keep theirs. */
	fx_pod(f, "a", "aaa", "{app: aaa}", "10.0.2.1", NULL);
	fx_compile(f);
	assert_int_equal(local_id(f, "srv"), srv);
	assert_int_equal(ip_id(f, "10.0.1.1"), web);
	/* A checkpointed table numbers a fresh agent's compile the same way. */
	{
		json_t *j = identity_table_to_json(f->ids);

		assert_int_equal(identity_table_from_json(g->ids, j), 0);
		json_decref(j);
	}
	fx_pod(g, "a", "aaa", "{app: aaa}", "10.0.2.1", NULL); /* another insertion order */
	diff_world(g);
	fx_compile(g);
	assert_true(states_equal(&f->st, &g->st));
	assert_int_equal(local_id(g, "srv"), srv);
	fx_free(g);
	fx_free(f);
}

static void test_policy_sorted_and_pads_zero(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	peers_world(f);
	fx_policy(f, "a", "p",
		  "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{from: [{namespaceSelector: {}}],"
		  " ports: [{port: 1, endPort: 1000}]}], egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}");
	fx_compile(f);
	for (size_t i = 0; i < f->st.n_trie; i++) {
		const struct sl_policy_key *k = &f->st.trie[i].key;
		const struct sl_policy_value *v = &f->st.trie[i].val;

		assert_true(!k->pad[0] && !k->pad[1] && !k->pad[2] && !k->pad2);
		assert_true(!v->pad[0] && !v->pad[1] && !v->pad[2]);
		if (i)
			assert_true(policy_trie_key_cmp(&f->st.trie[i - 1].key, k) < 0);
	}
	for (size_t i = 0; i < f->st.n_ipcache; i++) {
		const struct policy_ipcache_entry *e = &f->st.ipcache[i];
		static const uint8_t zero[16];

		assert_true(!e->key.pad[0] && !e->key.pad[1] && !e->key.pad[2] && !e->val.pad);
		if (e->key.family == SL_FAMILY_IPV4)
			assert_memory_equal(e->key.addr + 4, zero, 12);
	}
	fx_free(f);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_policy_no_policy_no_isolation),
	cmocka_unit_test(test_policy_types_defaulting),
	cmocka_unit_test(test_policy_isolation_per_subject_identity),
	cmocka_unit_test(test_policy_empty_lists),
	cmocka_unit_test(test_policy_peer_kinds),
	cmocka_unit_test(test_policy_egress_peers_on_other_nodes),
	cmocka_unit_test(test_policy_ipblock_except_and_pods_inside),
	cmocka_unit_test(test_policy_ipblock_overlapping_cidrs),
	cmocka_unit_test(test_policy_ipblock_edge_cidrs),
	cmocka_unit_test(test_policy_ipblock_ipv6),
	cmocka_unit_test(test_policy_ports_and_protocols),
	cmocka_unit_test(test_policy_port_entry_shapes),
	cmocka_unit_test(test_policy_named_ports_ingress),
	cmocka_unit_test(test_policy_named_ports_egress),
	cmocka_unit_test(test_policy_named_ports_egress_any_peer),
	cmocka_unit_test(test_policy_endport_blocks_exhaustive),
	cmocka_unit_test(test_policy_union_of_policies),
	cmocka_unit_test(test_policy_redundant_entries_pruned),
	cmocka_unit_test(test_policy_only_local_subjects),
	cmocka_unit_test(test_policy_ipcache_contents),
	cmocka_unit_test(test_policy_local_pod_without_object),
	cmocka_unit_test(test_policy_invalid_policies_skipped),
	cmocka_unit_test(test_policy_lenient_syntax_accepted),
	cmocka_unit_test(test_policy_rule_texts),
	cmocka_unit_test(test_policy_diff),
	cmocka_unit_test(test_policy_rule_numbers_stable_with_prev),
	cmocka_unit_test(test_policy_identities_stable_across_compiles),
	cmocka_unit_test(test_policy_sorted_and_pads_zero),
};

SL_TEST_MAIN(tests, NULL, NULL)
