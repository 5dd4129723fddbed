// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile(): the store and the local pods in, the desired ipcache
 * and policy trie out.
 *
 * 1. Namespaces: every name a Namespace, Pod, policy or local pod uses,
 *    with its labels (or just kubernetes.io/metadata.name when the
 *    Namespace object is missing).
 * 2. Identities: one per label set of the pods (hostNetwork pods have
 *    none) and of the local pods, grouped by namespace, each with the named
 *    ports of its pods (all pods, for egress) and of its local pods (for
 *    ingress); and an index label -> identities, so that a selector with an
 *    In (or matchLabels) requirement visits only the identities with it.
 * 3. Policies: parsed and validated; those that select no local pod are
 *    dropped here, so their CIDRs cost nothing.
 * 4. Boundaries: every cidr and except of the remaining policies, each with
 *    a CIDR class identity.
 * 5. The ipcache: pod, node and boundary prefixes with their identity and
 *    the class of their most specific boundary; 0.0.0.0/0 and ::/0 WORLD.
 * 6. The trie: per policy, direction and subject an isolation marker, and
 *    per rule the product peers x ports; rules renumbered to keep their
 *    numbers from input.prev; then sorted, deduplicated (the lowest rule
 *    number wins) and pruned of allows a shorter allow of the same subject,
 *    direction and peer covers.
 *
 * Everything is sorted before use, so the output does not depend on the
 * store's hash order. The cost is O(pods + policies x matching identities
 * x ports + entries log entries); memory is the output plus a few hundred
 * bytes per pod while it runs (selftests/unit/test_policy_scale.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "policy/netpol.h"
#include "policy/policy.h"

#define NONE UINT32_MAX

static const char NS_NAME_LABEL[] = "kubernetes.io/metadata.name";

/* --- small containers ------------------------------------------------------------ */

#define VEC_PUSH(vec, n, cap, item)                                                           \
	({                                                                                    \
		int __err = 0;                                                                \
		if ((n) == (cap)) {                                                           \
			size_t __cap = (cap) ? (cap) * 2 : 4;                                  \
			void *__v = realloc((vec), __cap * sizeof(*(vec)));                     \
			if (__v) {                                                            \
				(vec) = __v;                                                  \
				(cap) = __cap;                                                \
			} else {                                                              \
				__err = -ENOMEM;                                              \
			}                                                                     \
		}                                                                             \
		if (!__err)                                                                   \
			(vec)[(n)++] = (item);                                                \
		__err;                                                                        \
	})

/* identity number -> index, open addressing; 0 is never an identity here. */
struct u32map {
	uint32_t *keys, *vals;
	size_t cap;
};

static size_t u32_slot(uint32_t k, size_t cap)
{
	return (size_t)(((uint64_t)k * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int u32map_init(struct u32map *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 1)
		m->cap *= 2;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, sizeof(*m->vals));
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void u32map_put(struct u32map *m, uint32_t k, uint32_t v)
{
	size_t i = u32_slot(k, m->cap);

	while (m->keys[i] && m->keys[i] != k)
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = k;
	m->vals[i] = v;
}

static uint32_t u32map_get(const struct u32map *m, uint32_t k)
{
	size_t i = u32_slot(k, m->cap);

	while (m->keys[i]) {
		if (m->keys[i] == k)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NONE;
}

static void u32map_free(struct u32map *m)
{
	free(m->keys);
	free(m->vals);
}

/* --- compile state ------------------------------------------------------------------ */

struct ns_info {
	const char *name;
	const struct k8s_labels *labels;
	struct k8s_label synth_label; /* when the Namespace object is missing */
	struct k8s_labels synth;
	uint32_t first_cid, n_cids; /* cids[] of this namespace */
};

struct named_port {
	const char *name;
	uint16_t port;
	uint8_t proto;
};

struct port_set {
	struct named_port *v;
	size_t n, cap;
};

/* An identity this compile uses. */
struct cid {
	uint32_t id;
	uint32_t ns; /* ns_info index; NONE: not a Kubernetes pod */
	const struct identity *ident;
	struct port_set ports;  /* named ports of all its pods */
	struct port_set lports; /* named ports of its local pods */
	bool local;
};

struct pod_ref {
	const struct k8s_pod *pod;
	uint32_t id;
};

struct bnd {
	struct sl_prefix p;
	uint32_t id;
};

struct cpol {
	const struct k8s_netpol *np;
	struct netpol spec;
	uint32_t *subjects; /* cid indices */
	size_t n_subjects;
};

struct peer_ref {
	uint32_t id;
	uint32_t cid; /* NONE: not a pod identity */
};

struct resolved {
	uint32_t peer;
	uint16_t port;
	uint8_t proto;
};

struct ipc_cand {
	struct policy_ipcache_entry e;
	uint32_t prio; /* lower wins on the same key */
	uint32_t seq;
};

/* The identities (cid indices, increasing) carrying one label key=value. */
struct posting {
	const char *key, *value;
	uint64_t hash;
	uint32_t *cids;
	size_t n, cap;
};

struct ctx {
	const struct policy_input *in;
	struct identity_table *ids;
	struct sbuf warn;

	const char **names;
	size_t n_names, cap_names;
	struct ns_info *ns;
	size_t n_ns;

	struct pod_ref *pods;
	size_t n_pods, cap_pods;
	uint32_t *local_id; /* [n_local] identity numbers */
	struct cid *cids;
	size_t n_cids, cap_cids;
	struct u32map id2cid;
	struct posting *post; /* open addressing by (key, value), n_post_slots a power of 2 */
	size_t n_post_slots;
	bool *ns_ok; /* [n_ns] scratch: namespaces a peer selects */

	struct cpol *pols;
	size_t n_pols, cap_pols;

	struct bnd *bnds; /* sorted by family, address, length */
	size_t n_bnds, cap_bnds;
	uint8_t lens[2][129]; /* per family (v4, v6): boundary lengths present, longest first */
	size_t n_lens[2];

	struct ipc_cand *ipc;
	size_t n_ipc, cap_ipc;
	struct policy_trie_entry *trie;
	size_t n_trie, cap_trie;
	struct policy_rule_info *rules;
	size_t n_rules, cap_rules;

	/* scratch */
	struct peer_ref *peers;
	size_t n_peers, cap_peers;
	struct resolved *res;
	size_t n_res, cap_res;
};

/* --- 1. namespaces ---------------------------------------------------------------------- */

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int collect_ns_name(const struct k8s_obj *o, void *arg)
{
	struct ctx *c = arg;

	return VEC_PUSH(c->names, c->n_names, c->cap_names, o->kind == K8S_KIND_NAMESPACE ? o->name : o->ns);
}

static uint32_t ns_find(const struct ctx *c, const char *name)
{
	size_t lo = 0, hi = c->n_ns;

	if (!name || !*name)
		return NONE;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(c->ns[mid].name, name);

		if (!r)
			return (uint32_t)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static int build_namespaces(struct ctx *c)
{
	const struct k8s_store *st = c->in->store;
	size_t n = 0;
	int err;

	if ((err = k8s_store_for_each(st, K8S_KIND_NAMESPACE, collect_ns_name, c)) ||
	    (err = k8s_store_for_each(st, K8S_KIND_POD, collect_ns_name, c)) ||
	    (err = k8s_store_for_each(st, K8S_KIND_NETWORK_POLICY, collect_ns_name, c)))
		return err;
	for (size_t i = 0; i < c->in->n_local; i++) {
		const char *ns = c->in->local[i].ns;

		if (ns && *ns && (err = VEC_PUSH(c->names, c->n_names, c->cap_names, ns)))
			return err;
	}
	if (!c->n_names)
		return 0;
	qsort(c->names, c->n_names, sizeof(*c->names), str_ptr_cmp);
	c->ns = calloc(c->n_names, sizeof(*c->ns));
	if (!c->ns)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_names; i++) {
		const struct k8s_namespace *obj;
		struct ns_info *ns;

		if (!*c->names[i] || (n && !strcmp(c->ns[n - 1].name, c->names[i])))
			continue;
		ns = &c->ns[n++];
		ns->name = c->names[i];
		obj = k8s_store_namespace(st, ns->name);
		if (obj) {
			ns->labels = &obj->obj.labels;
		} else {
			ns->synth_label.key = (char *)NS_NAME_LABEL;
			ns->synth_label.value = (char *)ns->name;
			ns->synth.v = &ns->synth_label;
			ns->synth.n = 1;
			ns->labels = &ns->synth;
		}
	}
	c->n_ns = n;
	return 0;
}

/* --- 2. identities ------------------------------------------------------------------------- */

static int collect_pod(const struct k8s_obj *o, void *arg)
{
	struct ctx *c = arg;
	const struct k8s_pod *pod = k8s_obj_pod(o);
	struct pod_ref r = { .pod = pod };

	if (!pod || pod->host_network)
		return 0;
	return VEC_PUSH(c->pods, c->n_pods, c->cap_pods, r);
}

static int pod_ref_cmp(const void *a, const void *b)
{
	const struct k8s_pod *x = ((const struct pod_ref *)a)->pod, *y = ((const struct pod_ref *)b)->pod;
	int r = strcmp(x->obj.ns, y->obj.ns);

	return r ? r : strcmp(x->obj.name, y->obj.name);
}

static const struct k8s_labels no_labels;

/* The identity of a label set in namespace ns_idx (NONE: no namespace). */
static int identify(struct ctx *c, uint32_t ns_idx, const struct k8s_labels *labels, uint32_t *out)
{
	const struct ns_info *ns = ns_idx == NONE ? NULL : &c->ns[ns_idx];
	struct cid cid = { .ns = ns_idx };
	uint32_t id = identity_table_get_or_add(c->ids, ns ? ns->name : "", labels, ns ? ns->labels : &no_labels);
	int err;

	if (!id)
		return identity_table_count(c->ids) >= SL_ID_FIRST_CIDR - SL_ID_FIRST_LABELS ? -ENOSPC : -ENOMEM;
	*out = id;
	if (u32map_get(&c->id2cid, id) != NONE)
		return 0;
	cid.id = id;
	cid.ident = identity_table_lookup(c->ids, id);
	if ((err = VEC_PUSH(c->cids, c->n_cids, c->cap_cids, cid)))
		return err;
	u32map_put(&c->id2cid, id, (uint32_t)(c->n_cids - 1));
	return 0;
}

static int port_set_add(struct port_set *s, const struct k8s_port *p)
{
	struct named_port np = { .name = p->name, .port = p->port, .proto = p->protocol };

	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].port == np.port && s->v[i].proto == np.proto && !strcmp(s->v[i].name, np.name))
			return 0;
	}
	return VEC_PUSH(s->v, s->n, s->cap, np);
}

static int add_ports(struct port_set *s, const struct k8s_pod *pod)
{
	int err;

	for (size_t i = 0; pod && i < pod->n_ports; i++) {
		if (pod->ports[i].name[0] && (err = port_set_add(s, &pod->ports[i])))
			return err;
	}
	return 0;
}

static int cid_cmp(const void *a, const void *b)
{
	const struct cid *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static const struct k8s_pod *local_pod_obj(const struct ctx *c, size_t i)
{
	const struct policy_local_pod *lp = &c->in->local[i];

	return lp->ns && *lp->ns && lp->name ? k8s_store_pod(c->in->store, lp->ns, lp->name) : NULL;
}

static int build_identities(struct ctx *c)
{
	size_t n_local = c->in->n_local;
	int err;

	if ((err = k8s_store_for_each(c->in->store, K8S_KIND_POD, collect_pod, c)))
		return err;
	if (c->n_pods)
		qsort(c->pods, c->n_pods, sizeof(*c->pods), pod_ref_cmp);
	if ((err = u32map_init(&c->id2cid, c->n_pods + n_local)))
		return err;
	if (n_local && !(c->local_id = calloc(n_local, sizeof(*c->local_id))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct k8s_pod *pod = c->pods[i].pod;

		if ((err = identify(c, ns_find(c, pod->obj.ns), &pod->obj.labels, &c->pods[i].id)))
			return err;
	}
	for (size_t i = 0; i < n_local; i++) {
		const struct k8s_pod *pod = local_pod_obj(c, i);

		err = identify(c, ns_find(c, c->in->local[i].ns), pod ? &pod->obj.labels : &no_labels, &c->local_id[i]);
		if (err)
			return err;
	}
	/* Group by namespace, then index by number. */
	if (c->n_cids)
		qsort(c->cids, c->n_cids, sizeof(*c->cids), cid_cmp);
	memset(c->id2cid.keys, 0, c->id2cid.cap * sizeof(*c->id2cid.keys));
	for (size_t i = 0; i < c->n_cids; i++) {
		struct cid *cid = &c->cids[i];

		u32map_put(&c->id2cid, cid->id, (uint32_t)i);
		if (cid->ns != NONE) {
			if (!c->ns[cid->ns].n_cids)
				c->ns[cid->ns].first_cid = (uint32_t)i;
			c->ns[cid->ns].n_cids++;
		}
	}
	for (size_t i = 0; i < c->n_pods; i++) {
		if ((err = add_ports(&c->cids[u32map_get(&c->id2cid, c->pods[i].id)].ports, c->pods[i].pod)))
			return err;
	}
	for (size_t i = 0; i < n_local; i++) {
		struct cid *cid = &c->cids[u32map_get(&c->id2cid, c->local_id[i])];

		cid->local = true;
		if ((err = add_ports(&cid->lports, local_pod_obj(c, i))))
			return err;
	}
	return 0;
}

static uint64_t kv_hash(const char *k, const char *v)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (; *v; v++)
		h = (h ^ (unsigned char)*v) * 0x100000001b3ull;
	return h;
}

static struct posting *posting_slot(const struct ctx *c, const char *k, const char *v, uint64_t h)
{
	size_t i = (size_t)h & (c->n_post_slots - 1);

	while (c->post[i].key && (c->post[i].hash != h || strcmp(c->post[i].key, k) || strcmp(c->post[i].value, v)))
		i = (i + 1) & (c->n_post_slots - 1);
	return &c->post[i];
}

/* Label key=value -> identities, for selectors with an In requirement. */
static int build_label_index(struct ctx *c)
{
	size_t n_labels = 0, slots = 16;
	int err;

	for (size_t i = 0; i < c->n_cids; i++)
		n_labels += c->cids[i].ident->labels.n;
	while (slots < 2 * n_labels + 1)
		slots *= 2;
	c->post = calloc(slots, sizeof(*c->post));
	c->ns_ok = calloc(c->n_ns + 1, sizeof(*c->ns_ok));
	if (!c->post || !c->ns_ok)
		return -ENOMEM;
	c->n_post_slots = slots;
	for (size_t i = 0; i < c->n_cids; i++) {
		const struct k8s_labels *l = &c->cids[i].ident->labels;

		for (size_t k = 0; k < l->n; k++) {
			uint64_t h = kv_hash(l->v[k].key, l->v[k].value);
			struct posting *p = posting_slot(c, l->v[k].key, l->v[k].value, h);

			p->key = l->v[k].key;
			p->value = l->v[k].value;
			p->hash = h;
			if ((err = VEC_PUSH(p->cids, p->n, p->cap, (uint32_t)i)))
				return err;
		}
	}
	return 0;
}

static const struct posting *posting_get(const struct ctx *c, const char *k, const char *v)
{
	const struct posting *p = posting_slot(c, k, v, kv_hash(k, v));

	return p->key ? p : NULL;
}

/* --- 3. policies ----------------------------------------------------------------------------- */

static int collect_netpol(const struct k8s_obj *o, void *arg)
{
	struct ctx *c = arg;
	struct cpol p = { .np = k8s_obj_netpol(o) };

	return p.np ? VEC_PUSH(c->pols, c->n_pols, c->cap_pols, p) : 0;
}

static int cpol_cmp(const void *a, const void *b)
{
	const struct k8s_obj *x = &((const struct cpol *)a)->np->obj, *y = &((const struct cpol *)b)->np->obj;
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->name, y->name);
}

static void cpol_free(struct cpol *p)
{
	netpol_free(&p->spec);
	free(p->subjects);
	p->subjects = NULL;
	p->n_subjects = 0;
}

static void warn(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sbuf_printf(&c->warn, "%s%s", c->warn.len ? "\n" : "", line);
}

static int build_policies(struct ctx *c)
{
	size_t kept = 0;
	int err;

	if ((err = k8s_store_for_each(c->in->store, K8S_KIND_NETWORK_POLICY, collect_netpol, c)))
		return err;
	if (c->n_pols)
		qsort(c->pols, c->n_pols, sizeof(*c->pols), cpol_cmp);
	for (size_t i = 0; i < c->n_pols; i++) {
		struct cpol p = c->pols[i];
		char why[NETPOL_ERR_MAX];
		uint32_t ns = ns_find(c, p.np->obj.ns);

		err = netpol_parse(p.np->spec, &p.spec, why);
		if (err == -EINVAL) {
			warn(c, "NetworkPolicy %s/%s: %s; policy skipped", p.np->obj.ns, p.np->obj.name, why);
			continue;
		}
		if (err)
			return err;
		for (uint32_t k = 0; ns != NONE && k < c->ns[ns].n_cids; k++) {
			uint32_t ci = c->ns[ns].first_cid + k;

			if (!c->cids[ci].local || !selector_match(&p.spec.pod_selector, &c->cids[ci].ident->labels))
				continue;
			if (!p.subjects && !(p.subjects = calloc(c->ns[ns].n_cids, sizeof(*p.subjects)))) {
				cpol_free(&p);
				return -ENOMEM;
			}
			p.subjects[p.n_subjects++] = ci;
		}
		if (!p.n_subjects) {
			cpol_free(&p);
			continue;
		}
		c->pols[kept++] = p;
	}
	c->n_pols = kept;
	return 0;
}

/* --- 4. boundaries ------------------------------------------------------------------------------ */

static int fam_idx(uint8_t family)
{
	return family == SL_FAMILY_IPV6;
}

static unsigned fam_bits(uint8_t family)
{
	return family == SL_FAMILY_IPV4 ? 32 : 128;
}

static int prefix_cmp(const struct sl_prefix *a, const struct sl_prefix *b)
{
	int r;

	if (a->ip.family != b->ip.family)
		return a->ip.family < b->ip.family ? -1 : 1;
	r = memcmp(a->ip.addr, b->ip.addr, sizeof(a->ip.addr));
	if (r)
		return r;
	return a->len < b->len ? -1 : a->len > b->len;
}

static int bnd_cmp(const void *a, const void *b)
{
	return prefix_cmp(&((const struct bnd *)a)->p, &((const struct bnd *)b)->p);
}

static int add_bnd(struct ctx *c, const struct sl_prefix *p)
{
	struct bnd b = { .p = *p };

	return VEC_PUSH(c->bnds, c->n_bnds, c->cap_bnds, b);
}

static int build_boundaries(struct ctx *c)
{
	size_t n = 0;
	int err;

	for (size_t i = 0; i < c->n_pols; i++) {
		const struct netpol *s = &c->pols[i].spec;

		for (int d = 0; d < NETPOL_NDIRS; d++) {
			for (size_t r = 0; s->types[d] && r < s->n_rules[d]; r++) {
				const struct netpol_rule *rule = &s->rules[d][r];

				for (size_t k = 0; k < rule->n_peers; k++) {
					const struct netpol_peer *p = &rule->peers[k];

					if (!p->is_ipblock)
						continue;
					if ((err = add_bnd(c, &p->cidr)))
						return err;
					for (size_t x = 0; x < p->n_except; x++)
						if ((err = add_bnd(c, &p->except[x])))
							return err;
				}
			}
		}
	}
	if (!c->n_bnds)
		return 0;
	qsort(c->bnds, c->n_bnds, sizeof(*c->bnds), bnd_cmp);
	for (size_t i = 0; i < c->n_bnds; i++) {
		struct bnd *b = &c->bnds[i];
		int f = fam_idx(b->p.ip.family);
		bool seen = false;

		if (n && !prefix_cmp(&c->bnds[n - 1].p, &b->p))
			continue;
		b->id = identity_table_get_or_add_cidr(c->ids, &b->p);
		if (!b->id)
			return -ENOMEM;
		c->bnds[n++] = *b;
		for (size_t k = 0; k < c->n_lens[f] && !seen; k++)
			seen = c->lens[f][k] == b->p.len;
		if (!seen)
			c->lens[f][c->n_lens[f]++] = b->p.len;
	}
	c->n_bnds = n;
	for (int f = 0; f < 2; f++) { /* longest first */
		for (size_t i = 1; i < c->n_lens[f]; i++)
			for (size_t k = i; k > 0 && c->lens[f][k - 1] < c->lens[f][k]; k--) {
				uint8_t t = c->lens[f][k];

				c->lens[f][k] = c->lens[f][k - 1];
				c->lens[f][k - 1] = t;
			}
	}
	return 0;
}

static const struct bnd *bnd_find(const struct ctx *c, const struct sl_prefix *p)
{
	size_t lo = 0, hi = c->n_bnds;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = prefix_cmp(&c->bnds[mid].p, p);

		if (!r)
			return &c->bnds[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void mask(struct sl_prefix *p)
{
	for (unsigned b = p->len; b < 128; b++)
		p->ip.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
}

/* The class of the most specific boundary holding ip/len (len: at most). */
static uint32_t class_of(const struct ctx *c, const struct sl_ip *ip, unsigned len)
{
	int f = fam_idx(ip->family);

	for (size_t k = 0; k < c->n_lens[f]; k++) {
		struct sl_prefix p = { .ip = *ip, .len = c->lens[f][k] };
		const struct bnd *b;

		if (p.len > len)
			continue;
		mask(&p);
		if ((b = bnd_find(c, &p)))
			return b->id;
	}
	return 0;
}

/* --- 5. the ipcache -------------------------------------------------------------------------------- */

enum { PRIO_LOCAL, PRIO_HOST, PRIO_POD, PRIO_WORLD, PRIO_BOUNDARY };

static int ipc_add(struct ctx *c, const struct sl_ip *ip, unsigned len, uint32_t identity, uint32_t flags,
		   uint32_t prio)
{
	struct ipc_cand k = { .prio = prio, .seq = (uint32_t)c->n_ipc };

	if (ip->family != SL_FAMILY_IPV4 && ip->family != SL_FAMILY_IPV6)
		return 0;
	k.e.key.prefixlen = SL_IPCACHE_KEY_BASE_BITS + len;
	k.e.key.family = ip->family;
	memcpy(k.e.key.addr, ip->addr, sl_ip_bytes(ip));
	k.e.val.identity = identity;
	k.e.val.cidr_identity = class_of(c, ip, len);
	k.e.val.flags = flags;
	return VEC_PUSH(c->ipc, c->n_ipc, c->cap_ipc, k);
}

int policy_ipcache_key_cmp(const struct sl_ipcache_key *a, const struct sl_ipcache_key *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (r)
		return r;
	return a->prefixlen < b->prefixlen ? -1 : a->prefixlen > b->prefixlen;
}

static int ipc_cand_cmp(const void *a, const void *b)
{
	const struct ipc_cand *x = a, *y = b;
	int r = policy_ipcache_key_cmp(&x->e.key, &y->e.key);

	if (r)
		return r;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int build_ipcache(struct ctx *c, struct policy_state *out)
{
	static const struct sl_ip any4 = { .family = SL_FAMILY_IPV4 }, any6 = { .family = SL_FAMILY_IPV6 };
	size_t n = c->in->n_local + c->in->n_host_addrs + c->n_bnds + 2;
	int err = 0;

	/* One allocation of the exact size. */
	for (size_t i = 0; i < c->n_pods; i++)
		n += c->pods[i].pod->n_ips;
	c->ipc = malloc(n * sizeof(*c->ipc));
	if (!c->ipc)
		return -ENOMEM;
	c->cap_ipc = n;
	n = 0;
	for (size_t i = 0; i < c->in->n_local && !err; i++) {
		const struct sl_ip *ip = &c->in->local[i].ip;

		err = ipc_add(c, ip, fam_bits(ip->family), c->local_id[i], SL_IPC_F_LOCAL, PRIO_LOCAL);
	}
	for (size_t i = 0; i < c->in->n_host_addrs && !err; i++) {
		const struct sl_ip *ip = &c->in->host_addrs[i];

		err = ipc_add(c, ip, fam_bits(ip->family), SL_ID_HOST, 0, PRIO_HOST);
	}
	for (size_t i = 0; i < c->n_pods && !err; i++) {
		const struct k8s_pod *pod = c->pods[i].pod;

		for (size_t k = 0; k < pod->n_ips && !err; k++)
			err = ipc_add(c, &pod->ips[k], fam_bits(pod->ips[k].family), c->pods[i].id, 0, PRIO_POD);
	}
	for (size_t i = 0; i < c->n_bnds && !err; i++)
		err = ipc_add(c, &c->bnds[i].p.ip, c->bnds[i].p.len, c->bnds[i].id, 0, PRIO_BOUNDARY);
	if (!err)
		err = ipc_add(c, &any4, 0, SL_ID_WORLD, 0, PRIO_WORLD);
	if (!err)
		err = ipc_add(c, &any6, 0, SL_ID_WORLD, 0, PRIO_WORLD);
	if (err)
		return err;
	qsort(c->ipc, c->n_ipc, sizeof(*c->ipc), ipc_cand_cmp);
	out->ipcache = calloc(c->n_ipc, sizeof(*out->ipcache));
	if (!out->ipcache)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_ipc; i++) {
		if (n && !policy_ipcache_key_cmp(&out->ipcache[n - 1].key, &c->ipc[i].e.key))
			continue;
		out->ipcache[n++] = c->ipc[i].e;
	}
	out->n_ipcache = n;
	return 0;
}

/* --- 6. the trie --------------------------------------------------------------------------------------- */

static int emit(struct ctx *c, uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto, uint16_t port,
		uint32_t prefixlen, uint8_t action, uint32_t rule)
{
	struct policy_trie_entry e;

	memset(&e, 0, sizeof(e));
	e.key.prefixlen = prefixlen;
	e.key.subject = subject;
	e.key.direction = dir;
	e.key.peer = peer;
	e.key.proto = proto;
	e.key.dport = htons(port);
	e.val.action = action;
	e.val.rule = rule;
	return VEC_PUSH(c->trie, c->n_trie, c->cap_trie, e);
}

static int add_rule_info(struct ctx *c, const struct cpol *p, enum netpol_dir d, int index, uint32_t *out)
{
	struct policy_rule_info ri = { .direction = d == NETPOL_INGRESS ? SL_POLICY_INGRESS : SL_POLICY_EGRESS,
				       .index = index };
	struct sbuf b = { 0 };
	int err;

	if (index < 0) {
		sbuf_puts(&b, "isolates pods ");
		selector_fmt(&p->spec.pod_selector, &b);
		sbuf_printf(&b, " for %s", d == NETPOL_INGRESS ? "ingress" : "egress");
	} else {
		netpol_rule_fmt(&p->spec.rules[d][index], d, &b);
	}
	ri.text = sbuf_take(&b);
	ri.policy_ns = strdup(p->np->obj.ns);
	ri.policy_name = strdup(p->np->obj.name);
	err = !ri.text || !ri.policy_ns || !ri.policy_name ? -ENOMEM
							   : VEC_PUSH(c->rules, c->n_rules, c->cap_rules, ri);
	if (err) {
		free(ri.text);
		free(ri.policy_ns);
		free(ri.policy_name);
		return err;
	}
	*out = (uint32_t)(c->n_rules - 1);
	return 0;
}

static int peer_add(struct ctx *c, uint32_t id, uint32_t cid)
{
	struct peer_ref r = { .id = id, .cid = cid };

	return VEC_PUSH(c->peers, c->n_peers, c->cap_peers, r);
}

static int peer_ref_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct peer_ref *)a)->id, y = ((const struct peer_ref *)b)->id;

	return x < y ? -1 : x > y;
}

/* The requirement of a pod selector with the fewest candidate identities,
 * if it has an In (or matchLabels) one; *n is that count. */
static const struct selector_req *narrowest(const struct ctx *c, const struct selector *sel, size_t *n)
{
	const struct selector_req *best = NULL;

	for (size_t i = 0; i < sel->n; i++) {
		const struct selector_req *r = &sel->reqs[i];
		size_t cnt = 0;

		if (r->op != SELECTOR_IN)
			continue;
		for (size_t k = 0; k < r->n_values; k++) {
			const struct posting *p = posting_get(c, r->key, r->values[k]);

			cnt += p ? p->n : 0;
		}
		if (!best || cnt < *n) {
			best = r;
			*n = cnt;
		}
	}
	return best;
}

static int selector_peer_add(struct ctx *c, const struct netpol_peer *peer, uint32_t ci)
{
	const struct cid *cid = &c->cids[ci];

	if (cid->ns == NONE || !c->ns_ok[cid->ns] || (peer->has_pod && !selector_match(&peer->pod, &cid->ident->labels)))
		return 0;
	return peer_add(c, cid->id, ci);
}

static int selector_peers(struct ctx *c, const struct cpol *p, const struct netpol_peer *peer)
{
	uint32_t own = ns_find(c, p->np->obj.ns);
	const struct selector_req *req = NULL;
	size_t n_cand = 0, n_scan = 0;
	int err = 0;

	for (uint32_t ns = 0; ns < c->n_ns; ns++) {
		c->ns_ok[ns] = peer->has_ns ? selector_match(&peer->ns, c->ns[ns].labels) : ns == own;
		n_scan += c->ns_ok[ns] ? c->ns[ns].n_cids : 0;
	}
	if (peer->has_pod)
		req = narrowest(c, &peer->pod, &n_cand);
	if (req && n_cand < n_scan) {
		/* Only the identities with the label; a label has one value per
		 * identity, so the lists of the values are disjoint. */
		for (size_t k = 0; k < req->n_values && !err; k++) {
			const struct posting *pl = posting_get(c, req->key, req->values[k]);

			for (size_t i = 0; pl && i < pl->n && !err; i++)
				err = selector_peer_add(c, peer, pl->cids[i]);
		}
		return err;
	}
	for (uint32_t ns = 0; ns < c->n_ns && !err; ns++) {
		for (uint32_t k = 0; c->ns_ok[ns] && k < c->ns[ns].n_cids && !err; k++)
			err = selector_peer_add(c, peer, c->ns[ns].first_cid + k);
	}
	return err;
}

static bool within(const struct sl_prefix *inner, const struct sl_prefix *outer)
{
	return inner->ip.family == outer->ip.family && inner->len >= outer->len &&
	       sl_prefix_contains(outer, &inner->ip);
}

/* The classes of an ipBlock: boundaries inside cidr and inside no except.
 * Sorted by (address, length), the boundaries inside cidr follow it. */
static int ipblock_peers(struct ctx *c, const struct netpol_peer *peer)
{
	const struct bnd *b = bnd_find(c, &peer->cidr);
	int err;

	for (; b && b < c->bnds + c->n_bnds && within(&b->p, &peer->cidr); b++) {
		bool excepted = false;

		for (size_t x = 0; x < peer->n_except && !excepted; x++)
			excepted = within(&b->p, &peer->except[x]);
		if (!excepted && (err = peer_add(c, b->id, NONE)))
			return err;
	}
	return 0;
}

/* Every named port of set matching (name, proto), for peer. */
static int resolve(struct ctx *c, const struct port_set *set, const struct netpol_port *np, uint32_t peer)
{
	int err;

	for (size_t i = 0; i < set->n; i++) {
		struct resolved r = { .peer = peer, .port = set->v[i].port, .proto = np->proto };

		if (set->v[i].proto != np->proto || strcmp(set->v[i].name, np->name))
			continue;
		if ((err = VEC_PUSH(c->res, c->n_res, c->cap_res, r)))
			return err;
	}
	return 0;
}

static int emit_ports(struct ctx *c, uint32_t subject, uint8_t dir, uint32_t peer, const struct netpol_rule *r,
		      uint32_t rule)
{
	int err = 0;

	if (!r->n_ports)
		return emit(c, subject, dir, peer, 0, 0, SL_POLICY_PREFIX_ALL_PORTS, SL_POLICY_ALLOW, rule);
	for (size_t i = 0; i < r->n_ports && !err; i++) {
		const struct netpol_port *np = &r->ports[i];
		struct port_block blocks[PORT_BLOCKS_MAX];
		size_t n;

		if (np->name)
			continue;
		if (np->any_port) {
			err = emit(c, subject, dir, peer, np->proto, 0, SL_POLICY_PREFIX_PROTO, SL_POLICY_ALLOW, rule);
			continue;
		}
		n = port_range_blocks(np->port, np->end_port, blocks);
		for (size_t k = 0; k < n && !err; k++)
			err = emit(c, subject, dir, peer, np->proto, blocks[k].port,
				   SL_POLICY_PREFIX_FULL - blocks[k].bits, SL_POLICY_ALLOW, rule);
	}
	return err;
}

static bool has_named(const struct netpol_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].name)
			return true;
	return false;
}

static int compile_rule(struct ctx *c, const struct cpol *p, enum netpol_dir d, const struct netpol_rule *r,
			uint32_t rule)
{
	uint8_t dir = d == NETPOL_INGRESS ? SL_POLICY_INGRESS : SL_POLICY_EGRESS;
	bool named = has_named(r);
	size_t n = 0;
	int err = 0;

	c->n_peers = 0;
	c->n_res = 0;
	if (!r->n_peers)
		err = peer_add(c, SL_ID_ANY, NONE);
	for (size_t i = 0; i < r->n_peers && !err; i++)
		err = r->peers[i].is_ipblock ? ipblock_peers(c, &r->peers[i]) : selector_peers(c, p, &r->peers[i]);
	if (err)
		return err;
	if (c->n_peers > 1) {
		qsort(c->peers, c->n_peers, sizeof(*c->peers), peer_ref_cmp);
		for (size_t i = 0; i < c->n_peers; i++)
			if (!n || c->peers[n - 1].id != c->peers[i].id)
				c->peers[n++] = c->peers[i];
		c->n_peers = n;
	}
	/* Egress named ports resolve per destination identity, the same for
	 * every subject: "any peer" stands for every pod identity here. */
	if (named && d == NETPOL_EGRESS) {
		for (size_t i = 0; i < r->n_ports && !err; i++) {
			if (!r->ports[i].name)
				continue;
			if (!r->n_peers) {
				for (size_t k = 0; k < c->n_cids && !err; k++)
					err = resolve(c, &c->cids[k].ports, &r->ports[i], c->cids[k].id);
				continue;
			}
			for (size_t k = 0; k < c->n_peers && !err; k++)
				if (c->peers[k].cid != NONE)
					err = resolve(c, &c->cids[c->peers[k].cid].ports, &r->ports[i], c->peers[k].id);
		}
	}
	for (size_t s = 0; s < p->n_subjects && !err; s++) {
		const struct cid *subj = &c->cids[p->subjects[s]];

		for (size_t k = 0; k < c->n_peers && !err; k++)
			err = emit_ports(c, subj->id, dir, c->peers[k].id, r, rule);
		if (named && d == NETPOL_INGRESS) {
			c->n_res = 0;
			for (size_t i = 0; i < r->n_ports && !err; i++)
				if (r->ports[i].name)
					err = resolve(c, &subj->lports, &r->ports[i], 0);
			for (size_t k = 0; k < c->n_peers && !err; k++)
				for (size_t i = 0; i < c->n_res && !err; i++)
					err = emit(c, subj->id, dir, c->peers[k].id, c->res[i].proto, c->res[i].port,
						   SL_POLICY_PREFIX_FULL, SL_POLICY_ALLOW, rule);
		} else {
			for (size_t i = 0; i < c->n_res && !err; i++)
				err = emit(c, subj->id, dir, c->res[i].peer, c->res[i].proto, c->res[i].port,
					   SL_POLICY_PREFIX_FULL, SL_POLICY_ALLOW, rule);
		}
	}
	return err;
}

static int build_trie(struct ctx *c)
{
	int err;

	for (size_t i = 0; i < c->n_pols; i++) {
		const struct cpol *p = &c->pols[i];

		for (int d = 0; d < NETPOL_NDIRS; d++) {
			uint8_t dir = d == NETPOL_INGRESS ? SL_POLICY_INGRESS : SL_POLICY_EGRESS;
			uint32_t iso, rule;

			if (!p->spec.types[d])
				continue;
			if ((err = add_rule_info(c, p, (enum netpol_dir)d, -1, &iso)))
				return err;
			for (size_t s = 0; s < p->n_subjects; s++) {
				err = emit(c, c->cids[p->subjects[s]].id, dir, 0, 0, 0, SL_POLICY_PREFIX_ISOLATED,
					   SL_POLICY_DENY, iso);
				if (err)
					return err;
			}
			for (size_t r = 0; r < p->spec.n_rules[d]; r++) {
				if ((err = add_rule_info(c, p, (enum netpol_dir)d, (int)r, &rule)) ||
				    (err = compile_rule(c, p, (enum netpol_dir)d, &p->spec.rules[d][r], rule)))
					return err;
			}
		}
	}
	return 0;
}

int policy_trie_key_cmp(const struct sl_policy_key *a, const struct sl_policy_key *b)
{
#define CMP(f)                                          \
	if (a->f != b->f)                               \
		return a->f < b->f ? -1 : 1;
	CMP(subject)
	CMP(direction)
	CMP(peer)
	CMP(proto)
	if (a->dport != b->dport)
		return ntohs(a->dport) < ntohs(b->dport) ? -1 : 1;
	CMP(prefixlen)
#undef CMP
	return 0;
}

static int trie_entry_cmp(const void *a, const void *b)
{
	const struct policy_trie_entry *x = a, *y = b;
	int r = policy_trie_key_cmp(&x->key, &y->key);

	if (r)
		return r;
	return x->val.rule < y->val.rule ? -1 : x->val.rule > y->val.rule;
}

/* Rule numbers: where input.prev had a rule of the same policy, direction
 * and index, it keeps that number (if it is still within rules[]); the
 * others fill the free numbers in order. Values are rewritten to match. */
static uint64_t rule_key_hash(const struct policy_rule_info *r)
{
	uint64_t h = kv_hash(r->policy_ns, r->policy_name);

	return (h ^ ((uint64_t)r->direction << 32 | (uint32_t)r->index)) * 0x9e3779b97f4a7c15ull;
}

static bool rule_key_equal(const struct policy_rule_info *a, const struct policy_rule_info *b)
{
	return a->direction == b->direction && a->index == b->index && !strcmp(a->policy_ns, b->policy_ns) &&
	       !strcmp(a->policy_name, b->policy_name);
}

static int renumber_rules(struct ctx *c, const struct policy_state *prev)
{
	size_t n = c->n_rules, slots = 16, next_free = 0;
	uint32_t *perm = NULL, *table = NULL;
	struct policy_rule_info *rules = NULL;
	bool *taken = NULL;
	int err = -ENOMEM;

	if (!prev || !prev->n_rules || !n)
		return 0;
	while (slots < 2 * prev->n_rules)
		slots *= 2;
	perm = malloc(n * sizeof(*perm));
	taken = calloc(n, sizeof(*taken));
	table = malloc(slots * sizeof(*table)); /* prev rule numbers, NONE: empty */
	rules = malloc(n * sizeof(*rules));
	if (!perm || !taken || !table || !rules)
		goto out;
	memset(table, 0xff, slots * sizeof(*table));
	for (uint32_t i = 0; i < prev->n_rules; i++) {
		size_t k = (size_t)rule_key_hash(&prev->rules[i]) & (slots - 1);

		while (table[k] != NONE)
			k = (k + 1) & (slots - 1);
		table[k] = i;
	}
	for (size_t r = 0; r < n; r++) {
		size_t k = (size_t)rule_key_hash(&c->rules[r]) & (slots - 1);

		perm[r] = NONE;
		for (; table[k] != NONE; k = (k + 1) & (slots - 1)) {
			uint32_t p = table[k];

			if (rule_key_equal(&prev->rules[p], &c->rules[r])) {
				if (p < n && !taken[p]) {
					perm[r] = p;
					taken[p] = true;
				}
				break;
			}
		}
	}
	for (size_t r = 0; r < n; r++) {
		if (perm[r] != NONE)
			continue;
		while (taken[next_free])
			next_free++;
		perm[r] = (uint32_t)next_free;
		taken[next_free] = true;
	}
	for (size_t r = 0; r < n; r++)
		rules[perm[r]] = c->rules[r];
	free(c->rules);
	c->rules = rules;
	c->cap_rules = n;
	rules = NULL;
	for (size_t i = 0; i < c->n_trie; i++)
		c->trie[i].val.rule = perm[c->trie[i].val.rule];
	err = 0;
out:
	free(perm);
	free(taken);
	free(table);
	free(rules);
	return err;
}

/* The 32 bits after the peer (proto, pad2, port) and how many of them the
 * entry fixes. */
static uint32_t tail_bits(const struct sl_policy_key *k)
{
	return (uint32_t)k->proto << 24 | ntohs(k->dport);
}

static bool covers(const struct sl_policy_key *c, const struct sl_policy_key *e)
{
	uint32_t n = c->prefixlen - SL_POLICY_PREFIX_ALL_PORTS, m;

	if (c->subject != e->subject || c->direction != e->direction || c->peer != e->peer ||
	    c->prefixlen > e->prefixlen)
		return false;
	m = n ? ~0u << (32 - n) : 0;
	return (tail_bits(c) & m) == (tail_bits(e) & m);
}

static void trie_finish(struct ctx *c)
{
	const struct policy_trie_entry *cover = NULL;
	size_t n = 0;

	if (!c->n_trie)
		return;
	qsort(c->trie, c->n_trie, sizeof(*c->trie), trie_entry_cmp);
	for (size_t i = 0; i < c->n_trie; i++) {
		struct policy_trie_entry *e = &c->trie[i];

		if (n && !policy_trie_key_cmp(&c->trie[n - 1].key, &e->key))
			continue; /* same key: the lowest rule number came first */
		if (e->key.prefixlen == SL_POLICY_PREFIX_ISOLATED) {
			c->trie[n++] = *e;
			cover = NULL;
			continue;
		}
		/* Aligned blocks nest or are disjoint, and a block sorts before
		 * what it holds: the last kept allow is the only candidate. */
		if (cover && covers(&cover->key, &e->key))
			continue;
		c->trie[n] = *e;
		cover = &c->trie[n++];
	}
	c->n_trie = n;
}

/* --- the whole ------------------------------------------------------------------------------------------------ */

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; i < c->n_cids; i++) {
		free(c->cids[i].ports.v);
		free(c->cids[i].lports.v);
	}
	for (size_t i = 0; i < c->n_pols; i++)
		cpol_free(&c->pols[i]);
	for (size_t i = 0; i < c->n_rules; i++) {
		free(c->rules[i].policy_ns);
		free(c->rules[i].policy_name);
		free(c->rules[i].text);
	}
	free(c->rules);
	free(c->names);
	free(c->ns);
	free(c->pods);
	free(c->local_id);
	free(c->cids);
	u32map_free(&c->id2cid);
	for (size_t i = 0; i < c->n_post_slots; i++)
		free(c->post[i].cids);
	free(c->post);
	free(c->ns_ok);
	free(c->pols);
	free(c->bnds);
	free(c->ipc);
	free(c->trie);
	free(c->peers);
	free(c->res);
	sbuf_free(&c->warn);
}

int policy_compile(const struct policy_input *in, struct policy_state *out, char **warnings)
{
	struct ctx c = { .in = in, .ids = in->ids };
	struct policy_state s = { 0 };
	int err;

	memset(out, 0, sizeof(*out));
	if (warnings)
		*warnings = NULL;
	if ((err = build_namespaces(&c)) || (err = build_identities(&c)) || (err = build_label_index(&c)) ||
	    (err = build_policies(&c)) ||
	    (err = build_boundaries(&c)) || (err = build_ipcache(&c, &s)) || (err = build_trie(&c)) ||
	    (err = renumber_rules(&c, in->prev)))
		goto out;
	trie_finish(&c);
	if (in->n_local && !(s.local_identity = malloc(in->n_local * sizeof(*s.local_identity)))) {
		err = -ENOMEM;
		goto out;
	}
	if (in->n_local)
		memcpy(s.local_identity, c.local_id, in->n_local * sizeof(*s.local_identity));
	s.n_local = in->n_local;
	/* Hand the arrays over, trimmed (a failed trim keeps the larger one). */
	if (c.n_trie) {
		void *t = realloc(c.trie, c.n_trie * sizeof(*c.trie));

		if (t)
			c.trie = t;
	}
	s.trie = c.trie;
	s.n_trie = c.n_trie;
	c.trie = NULL;
	c.n_trie = 0;
	s.rules = c.rules;
	s.n_rules = c.n_rules;
	c.rules = NULL;
	c.n_rules = 0;
	if ((err = sbuf_err(&c.warn)))
		goto out;
	if (c.warn.len) {
		if (warnings) {
			*warnings = sbuf_take(&c.warn);
		} else {
			for (char *line = strtok(c.warn.s, "\n"); line; line = strtok(NULL, "\n"))
				pr_warn("policy: %s", line);
		}
	}
out:
	ctx_free(&c);
	if (err) {
		policy_state_free(&s);
		return err;
	}
	*out = s;
	return 0;
}

void policy_state_free(struct policy_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_rules; i++) {
		free(s->rules[i].policy_ns);
		free(s->rules[i].policy_name);
		free(s->rules[i].text);
	}
	free(s->rules);
	free(s->ipcache);
	free(s->trie);
	free(s->local_identity);
	memset(s, 0, sizeof(*s));
}
