// SPDX-License-Identifier: Apache-2.0
/*
 * The identity table: label set -> number, and ipBlock boundary -> CIDR
 * class number, both stable for as long as something uses them.
 *
 * Two chained hash tables share the entries: one by content (to find the
 * number of a label set), one by number (for lookups from map values). A
 * counter per range hands numbers out in increasing order, so a number
 * that gc forgot comes back only after the whole range wrapped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

struct id_ent {
	struct identity pub;
	struct id_ent *next_key, *next_id;
	uint64_t hash;
	bool used;
};

struct identity_table {
	struct id_ent **by_key, **by_id;
	size_t n_buckets, n;
	uint32_t next, next_cidr;
};

#define LABELS_LO SL_ID_FIRST_LABELS
#define LABELS_HI ((uint64_t)SL_ID_FIRST_CIDR) /* exclusive */
#define CIDR_LO SL_ID_FIRST_CIDR
#define CIDR_HI ((uint64_t)UINT32_MAX + 1)

static bool is_cidr_id(uint32_t id)
{
	return id >= SL_ID_FIRST_CIDR;
}

/* --- hashing and comparing -------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1);
}

static uint64_t hash_labels(uint64_t h, const struct k8s_labels *l)
{
	for (size_t i = 0; l && i < l->n; i++)
		h = fnv_str(fnv_str(h, l->v[i].key), l->v[i].value);
	return fnv(h, "\xff", 1);
}

static uint64_t hash_label_set(const char *ns, const struct k8s_labels *labels, const struct k8s_labels *ns_labels)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, "L", 1);

	h = fnv_str(h, ns ? ns : "");
	return hash_labels(hash_labels(h, labels), ns_labels);
}

static void prefix_canon(const struct sl_prefix *in, struct sl_prefix *out)
{
	unsigned bits = in->ip.family == SL_FAMILY_IPV4 ? 32 : 128;

	memset(out, 0, sizeof(*out));
	out->ip.family = in->ip.family;
	out->len = in->len > bits ? (uint8_t)bits : in->len;
	for (unsigned b = 0; b < out->len; b++)
		out->ip.addr[b / 8] |= in->ip.addr[b / 8] & (0x80 >> (b % 8));
}

static uint64_t hash_cidr(const struct sl_prefix *p)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, "C", 1);

	h = fnv(h, &p->ip.family, 1);
	h = fnv(h, p->ip.addr, sizeof(p->ip.addr));
	return fnv(h, &p->len, 1);
}

static bool labels_equal(const struct k8s_labels *a, const struct k8s_labels *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	}
	return true;
}

/* --- the tables ---------------------------------------------------------------- */

static size_t bucket(const struct identity_table *t, uint64_t h)
{
	return (size_t)(h & (t->n_buckets - 1));
}

static uint64_t id_hash(uint32_t id)
{
	return (uint64_t)id * 0x9e3779b97f4a7c15ull >> 17;
}

static struct id_ent *find_id(const struct identity_table *t, uint32_t id)
{
	if (!t->n_buckets)
		return NULL;
	for (struct id_ent *e = t->by_id[bucket(t, id_hash(id))]; e; e = e->next_id)
		if (e->pub.id == id)
			return e;
	return NULL;
}

static int grow(struct identity_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct id_ent **k = calloc(n, sizeof(*k)), **d = calloc(n, sizeof(*d));

	if (!k || !d) {
		free(k);
		free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct id_ent *e = t->by_key[i], *next; e; e = next) {
			next = e->next_key;
			e->next_key = k[e->hash & (n - 1)];
			k[e->hash & (n - 1)] = e;
		}
		for (struct id_ent *e = t->by_id[i], *next; e; e = next) {
			next = e->next_id;
			e->next_id = d[id_hash(e->pub.id) & (n - 1)];
			d[id_hash(e->pub.id) & (n - 1)] = e;
		}
	}
	free(t->by_key);
	free(t->by_id);
	t->by_key = k;
	t->by_id = d;
	t->n_buckets = n;
	return 0;
}

static void labels_free(struct k8s_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void ent_free(struct id_ent *e)
{
	if (!e)
		return;
	free(e->pub.ns);
	labels_free(&e->pub.labels);
	labels_free(&e->pub.ns_labels);
	free(e);
}

static int labels_copy(struct k8s_labels *dst, const struct k8s_labels *src)
{
	if (!src || !src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		size_t kl = strlen(src->v[i].key), vl = strlen(src->v[i].value);
		char *kv = malloc(kl + vl + 2);

		if (!kv)
			return -ENOMEM;
		memcpy(kv, src->v[i].key, kl + 1);
		memcpy(kv + kl + 1, src->v[i].value, vl + 1);
		dst->v[i].key = kv;
		dst->v[i].value = kv + kl + 1;
		dst->n++;
	}
	return 0;
}

/* Links e (hash and id set) into both tables. */
static int link_ent(struct identity_table *t, struct id_ent *e)
{
	size_t b;

	if (t->n >= t->n_buckets && grow(t))
		return -ENOMEM;
	b = bucket(t, e->hash);
	e->next_key = t->by_key[b];
	t->by_key[b] = e;
	b = bucket(t, id_hash(e->pub.id));
	e->next_id = t->by_id[b];
	t->by_id[b] = e;
	t->n++;
	return 0;
}

static uint32_t alloc_number(const struct identity_table *t, uint32_t *next, uint64_t lo, uint64_t hi)
{
	for (uint64_t tries = 0; tries < hi - lo; tries++) {
		uint32_t id = *next;

		if (id < lo || id >= hi)
			id = (uint32_t)lo;
		*next = (uint64_t)id + 1 >= hi ? (uint32_t)lo : id + 1;
		if (!find_id(t, id))
			return id;
	}
	return 0;
}

int identity_table_new(struct identity_table **out)
{
	struct identity_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->next = LABELS_LO;
	t->next_cidr = CIDR_LO;
	*out = t;
	return 0;
}

static void clear(struct identity_table *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct id_ent *e = t->by_key[i], *next; e; e = next) {
			next = e->next_key;
			ent_free(e);
		}
	}
	free(t->by_key);
	free(t->by_id);
	t->by_key = t->by_id = NULL;
	t->n_buckets = t->n = 0;
	t->next = LABELS_LO;
	t->next_cidr = CIDR_LO;
}

void identity_table_free(struct identity_table *t)
{
	if (!t)
		return;
	clear(t);
	free(t);
}

static struct id_ent *find_label_set(const struct identity_table *t, uint64_t h, const char *ns,
				     const struct k8s_labels *labels, const struct k8s_labels *ns_labels)
{
	if (!t->n_buckets)
		return NULL;
	for (struct id_ent *e = t->by_key[bucket(t, h)]; e; e = e->next_key) {
		if (e->hash == h && !is_cidr_id(e->pub.id) && !strcmp(e->pub.ns, ns) &&
		    labels_equal(&e->pub.labels, labels) && labels_equal(&e->pub.ns_labels, ns_labels))
			return e;
	}
	return NULL;
}

static struct id_ent *find_cidr(const struct identity_table *t, uint64_t h, const struct sl_prefix *p)
{
	if (!t->n_buckets)
		return NULL;
	for (struct id_ent *e = t->by_key[bucket(t, h)]; e; e = e->next_key) {
		if (e->hash == h && is_cidr_id(e->pub.id) && e->pub.cidr.len == p->len &&
		    sl_ip_equal(&e->pub.cidr.ip, &p->ip))
			return e;
	}
	return NULL;
}

/* Adds a label set under a given number (id 0: allocate one). */
static int add_label_set(struct identity_table *t, uint32_t id, const char *ns, const struct k8s_labels *labels,
			 const struct k8s_labels *ns_labels, struct id_ent **out)
{
	struct id_ent *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	e->hash = hash_label_set(ns, labels, ns_labels);
	e->pub.ns = strdup(ns ? ns : "");
	err = !e->pub.ns ? -ENOMEM : labels_copy(&e->pub.labels, labels);
	if (!err)
		err = labels_copy(&e->pub.ns_labels, ns_labels);
	if (!err && !id && !(id = alloc_number(t, &t->next, LABELS_LO, LABELS_HI)))
		err = -ENOSPC;
	if (!err) {
		e->pub.id = id;
		err = link_ent(t, e);
	}
	if (err) {
		ent_free(e);
		return err;
	}
	*out = e;
	return 0;
}

static int add_cidr(struct identity_table *t, uint32_t id, const struct sl_prefix *p, struct id_ent **out)
{
	struct id_ent *e = calloc(1, sizeof(*e));
	int err = 0;

	if (!e)
		return -ENOMEM;
	e->pub.cidr = *p;
	e->hash = hash_cidr(p);
	e->pub.ns = strdup("");
	if (!e->pub.ns)
		err = -ENOMEM;
	if (!err && !id && !(id = alloc_number(t, &t->next_cidr, CIDR_LO, CIDR_HI)))
		err = -ENOSPC;
	if (!err) {
		e->pub.id = id;
		err = link_ent(t, e);
	}
	if (err) {
		ent_free(e);
		return err;
	}
	*out = e;
	return 0;
}

uint32_t identity_table_get_or_add(struct identity_table *t, const char *ns, const struct k8s_labels *labels,
				   const struct k8s_labels *ns_labels)
{
	uint64_t h;
	struct id_ent *e;

	ns = ns ? ns : "";
	h = hash_label_set(ns, labels, ns_labels);
	e = find_label_set(t, h, ns, labels, ns_labels);
	if (!e && add_label_set(t, 0, ns, labels, ns_labels, &e))
		return 0;
	e->used = true;
	return e->pub.id;
}

uint32_t identity_table_get_or_add_cidr(struct identity_table *t, const struct sl_prefix *p)
{
	struct sl_prefix c;
	struct id_ent *e;
	uint64_t h;

	if (p->ip.family != SL_FAMILY_IPV4 && p->ip.family != SL_FAMILY_IPV6)
		return 0;
	prefix_canon(p, &c);
	h = hash_cidr(&c);
	e = find_cidr(t, h, &c);
	if (!e && add_cidr(t, 0, &c, &e))
		return 0;
	e->used = true;
	return e->pub.id;
}

const struct identity *identity_table_lookup(const struct identity_table *t, uint32_t id)
{
	struct id_ent *e = find_id(t, id);

	return e ? &e->pub : NULL;
}

size_t identity_table_count(const struct identity_table *t)
{
	return t->n;
}

static int id_cmp(const void *a, const void *b)
{
	uint32_t x = (*(const struct id_ent *const *)a)->pub.id, y = (*(const struct id_ent *const *)b)->pub.id;

	return x < y ? -1 : x > y;
}

/* Every entry, by id; NULL with *n 0 when empty or on -ENOMEM (*err). */
static struct id_ent **sorted(const struct identity_table *t, int *err)
{
	struct id_ent **v;
	size_t k = 0;

	*err = 0;
	if (!t->n)
		return NULL;
	v = malloc(t->n * sizeof(*v));
	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < t->n_buckets; i++)
		for (struct id_ent *e = t->by_id[i]; e; e = e->next_id)
			v[k++] = e;
	qsort(v, k, sizeof(*v), id_cmp);
	return v;
}

int identity_table_for_each(const struct identity_table *t, int (*fn)(const struct identity *id, void *arg),
			    void *arg)
{
	int err, ret = 0;
	struct id_ent **v = sorted(t, &err);

	if (err)
		return err;
	for (size_t i = 0; i < t->n && !ret; i++)
		ret = fn(&v[i]->pub, arg);
	free(v);
	return ret;
}

static void unlink_id(struct identity_table *t, struct id_ent *e)
{
	struct id_ent **pe = &t->by_id[bucket(t, id_hash(e->pub.id))];

	while (*pe != e)
		pe = &(*pe)->next_id;
	*pe = e->next_id;
}

size_t identity_table_gc(struct identity_table *t)
{
	size_t forgot = 0;

	for (size_t i = 0; i < t->n_buckets; i++) {
		struct id_ent **pe = &t->by_key[i];

		while (*pe) {
			struct id_ent *e = *pe;

			if (e->used) {
				e->used = false;
				pe = &e->next_key;
				continue;
			}
			*pe = e->next_key;
			unlink_id(t, e);
			ent_free(e);
			t->n--;
			forgot++;
		}
	}
	return forgot;
}

/* --- JSON -------------------------------------------------------------------------- */

static json_t *labels_to_json(const struct k8s_labels *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++) {
		if (json_object_set_new(o, l->v[i].key, json_string(l->v[i].value))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *identity_table_to_json(const struct identity_table *t)
{
	json_t *root, *ids, *cidrs;
	struct id_ent **v;
	int err;

	v = sorted(t, &err);
	if (err)
		return NULL;
	root = json_pack("{s:i, s:I, s:I, s:[], s:[]}", "version", 1, "next", (json_int_t)t->next, "nextCidr",
			 (json_int_t)t->next_cidr, "identities", "cidrs");
	ids = json_object_get(root, "identities");
	cidrs = json_object_get(root, "cidrs");
	for (size_t i = 0; root && i < t->n; i++) {
		const struct identity *id = &v[i]->pub;
		char buf[SL_PREFIX_STRLEN];
		json_t *l = NULL, *nl = NULL;

		if (is_cidr_id(id->id)) {
			err = json_array_append_new(cidrs, json_pack("{s:I, s:s}", "id", (json_int_t)id->id, "cidr",
								     sl_prefix_fmt(&id->cidr, buf)));
		} else if (!(l = labels_to_json(&id->labels)) || !(nl = labels_to_json(&id->ns_labels))) {
			json_decref(l);
			err = -1;
		} else {
			/* "o" steals l and nl, even when the pack fails. */
			err = json_array_append_new(ids, json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)id->id,
								   "namespace", id->ns, "labels", l,
								   "namespaceLabels", nl));
		}
		if (err) {
			json_decref(root);
			root = NULL;
		}
	}
	free(v);
	return root;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

/* Borrowed strings from j, sorted as the store sorts them. */
static int labels_from_json(const json_t *j, struct k8s_labels *out)
{
	const char *key;
	json_t *v;

	out->v = NULL;
	out->n = 0;
	if (!j)
		return 0;
	if (!json_is_object(j))
		return -EINVAL;
	if (!json_object_size(j))
		return 0;
	out->v = calloc(json_object_size(j), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_object_foreach((json_t *)j, key, v) {
		if (!json_is_string(v))
			return -EINVAL;
		out->v[out->n].key = (char *)key;
		out->v[out->n].value = (char *)json_string_value(v);
		out->n++;
	}
	qsort(out->v, out->n, sizeof(*out->v), label_cmp);
	return 0;
}

static bool id_in(const json_t *j, uint64_t lo, uint64_t hi, uint32_t *out)
{
	json_int_t v;

	if (!json_is_integer(j))
		return false;
	v = json_integer_value(j);
	if (v < 0 || (uint64_t)v < lo || (uint64_t)v >= hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int load_label_set(struct identity_table *t, const json_t *o)
{
	const json_t *ns = json_object_get(o, "namespace");
	struct k8s_labels labels = { 0 }, ns_labels = { 0 };
	struct id_ent *e;
	uint32_t id;
	int err;

	if (!json_is_object(o) || !id_in(json_object_get(o, "id"), LABELS_LO, LABELS_HI, &id) ||
	    (ns && !json_is_string(ns)))
		return -EINVAL;
	err = labels_from_json(json_object_get(o, "labels"), &labels);
	if (!err)
		err = labels_from_json(json_object_get(o, "namespaceLabels"), &ns_labels);
	if (!err && find_id(t, id))
		err = -EINVAL;
	if (!err && find_label_set(t, hash_label_set(json_string_value(ns), &labels, &ns_labels),
				   ns ? json_string_value(ns) : "", &labels, &ns_labels))
		err = -EINVAL;
	if (!err)
		err = add_label_set(t, id, json_string_value(ns), &labels, &ns_labels, &e);
	free(labels.v);
	free(ns_labels.v);
	return err;
}

static int load_cidr(struct identity_table *t, const json_t *o)
{
	struct sl_prefix p;
	struct id_ent *e;
	uint32_t id;

	if (!json_is_object(o) || !id_in(json_object_get(o, "id"), CIDR_LO, CIDR_HI, &id) ||
	    sl_prefix_parse(json_string_value(json_object_get(o, "cidr")), true, &p) ||
	    !strchr(json_string_value(json_object_get(o, "cidr")), '/'))
		return -EINVAL;
	if (find_id(t, id) || find_cidr(t, hash_cidr(&p), &p))
		return -EINVAL;
	return add_cidr(t, id, &p, &e);
}

int identity_table_from_json(struct identity_table *t, const json_t *j)
{
	const json_t *ids = json_object_get(j, "identities"), *cidrs = json_object_get(j, "cidrs"), *o;
	const json_t *next = json_object_get(j, "next"), *next_cidr = json_object_get(j, "nextCidr");
	int err = 0;
	size_t i;

	if (t->n)
		return -EEXIST;
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1 ||
	    (ids && !json_is_array(ids)) || (cidrs && !json_is_array(cidrs)) ||
	    (next && !id_in(next, LABELS_LO, LABELS_HI, &t->next)) ||
	    (next_cidr && !id_in(next_cidr, CIDR_LO, CIDR_HI, &t->next_cidr)))
		err = -EINVAL;
	json_array_foreach(ids, i, o) {
		if (err)
			break;
		err = load_label_set(t, o);
	}
	json_array_foreach(cidrs, i, o) {
		if (err)
			break;
		err = load_cidr(t, o);
	}
	if (err) {
		clear(t);
		return err == -ENOMEM ? err : -EINVAL;
	}
	/* Without the counters (an older writer), continue past the highest. */
	for (size_t b = 0; b < t->n_buckets; b++) {
		for (const struct id_ent *e = t->by_id[b]; e; e = e->next_id) {
			uint32_t *ctr = is_cidr_id(e->pub.id) ? &t->next_cidr : &t->next;
			bool given = is_cidr_id(e->pub.id) ? next_cidr != NULL : next != NULL;

			if (!given && e->pub.id >= *ctr && e->pub.id != UINT32_MAX && e->pub.id + 1 != SL_ID_FIRST_CIDR)
				*ctr = e->pub.id + 1;
		}
	}
	return 0;
}
