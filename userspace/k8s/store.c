// SPDX-License-Identifier: Apache-2.0
#include "k8s/store.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* --- objects ------------------------------------------------------------------ */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

const char *k8s_labels_get(const struct k8s_labels *labels, const char *key)
{
	struct k8s_label want = { .key = (char *)key }, *hit;

	if (!labels->n)
		return NULL;
	hit = bsearch(&want, labels->v, labels->n, sizeof(*labels->v), label_cmp);
	return hit ? hit->value : NULL;
}

static void labels_free(struct k8s_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int labels_from_json(const json_t *j, struct k8s_labels *out)
{
	const char *key;
	json_t *val;
	size_t n = 0;

	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return -EINVAL;
	if (!json_object_size(j))
		return 0;
	out->v = calloc(json_object_size(j), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_object_foreach((json_t *)j, key, val) {
		size_t klen = strlen(key), vlen;
		char *kv;

		if (!json_is_string(val))
			return -EINVAL;
		vlen = json_string_length(val);
		kv = malloc(klen + vlen + 2);
		if (!kv)
			return -ENOMEM;
		memcpy(kv, key, klen + 1);
		memcpy(kv + klen + 1, json_string_value(val), vlen + 1);
		out->v[n].key = kv;
		out->v[n].value = kv + klen + 1;
		out->n = ++n;
	}
	qsort(out->v, out->n, sizeof(*out->v), label_cmp);
	return 0;
}

static int protocol_parse(const char *s, uint8_t *out)
{
	if (!s || !strcmp(s, "TCP"))
		*out = IPPROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*out = IPPROTO_UDP;
	else if (!strcmp(s, "SCTP"))
		*out = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static int strdup_opt(const json_t *j, char **out)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_string(j))
		return -EINVAL;
	*out = strdup(json_string_value(j));
	return *out ? 0 : -ENOMEM;
}

static int pod_ports(const json_t *spec, struct k8s_pod *pod)
{
	json_t *containers = json_object_get(spec, "containers"), *c, *ports, *p;
	size_t i, j, n = 0;

	json_array_foreach(containers, i, c)
		n += json_array_size(json_object_get(c, "ports"));
	if (!n)
		return 0;
	pod->ports = calloc(n, sizeof(*pod->ports));
	if (!pod->ports)
		return -ENOMEM;
	json_array_foreach(containers, i, c) {
		ports = json_object_get(c, "ports");
		json_array_foreach(ports, j, p) {
			struct k8s_port *out = &pod->ports[pod->n_ports];
			json_t *num = json_object_get(p, "containerPort");
			json_t *name = json_object_get(p, "name");
			json_t *proto = json_object_get(p, "protocol");

			if (!json_is_integer(num) || json_integer_value(num) < 1 ||
			    json_integer_value(num) > 65535)
				return -EINVAL;
			if (name && !json_is_null(name) &&
			    (!json_is_string(name) || json_string_length(name) >= sizeof(out->name)))
				return -EINVAL;
			if (proto && !json_is_null(proto) && !json_is_string(proto))
				return -EINVAL;
			if (protocol_parse(json_string_value(proto), &out->protocol))
				return -EINVAL;
			out->port = (uint16_t)json_integer_value(num);
			if (json_is_string(name))
				memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
			pod->n_ports++;
		}
	}
	return 0;
}

static int pod_add_ip(struct k8s_pod *pod, const json_t *j, size_t cap)
{
	struct sl_ip ip;

	if (!json_is_string(j) || sl_ip_parse(json_string_value(j), &ip))
		return -EINVAL;
	for (size_t i = 0; i < pod->n_ips; i++)
		if (sl_ip_equal(&pod->ips[i], &ip))
			return 0;
	if (pod->n_ips < cap)
		pod->ips[pod->n_ips++] = ip;
	return 0;
}

static int pod_ips(const json_t *status, struct k8s_pod *pod)
{
	json_t *ip = json_object_get(status, "podIP"), *ips = json_object_get(status, "podIPs"), *e;
	size_t cap = json_array_size(ips) + 1, i;
	int err;

	if ((!ip || json_is_null(ip)) && !json_array_size(ips))
		return 0;
	pod->ips = calloc(cap, sizeof(*pod->ips));
	if (!pod->ips)
		return -ENOMEM;
	/* podIPs[0] is podIP when both are set; podIP alone comes from old writers. */
	json_array_foreach(ips, i, e) {
		if ((err = pod_add_ip(pod, json_object_get(e, "ip"), cap)))
			return err;
	}
	if (ip && !json_is_null(ip) && (err = pod_add_ip(pod, ip, cap)))
		return err;
	return 0;
}

static int pod_from_json(const json_t *json, const json_t *meta, struct k8s_pod *pod)
{
	json_t *spec = json_object_get(json, "spec"), *status = json_object_get(json, "status");
	json_t *hostnet = json_object_get(spec, "hostNetwork");
	int err;

	if (!json_is_object(spec))
		return -EINVAL;
	if ((err = strdup_opt(json_object_get(meta, "uid"), &pod->uid)) ||
	    (err = strdup_opt(json_object_get(spec, "nodeName"), &pod->node_name)))
		return err;
	if (pod->node_name && !*pod->node_name) {
		free(pod->node_name);
		pod->node_name = NULL;
	}
	pod->host_network = json_is_true(hostnet);
	if ((err = pod_ports(spec, pod)))
		return err;
	if (json_is_object(status) && (err = pod_ips(status, pod)))
		return err;
	return 0;
}

int k8s_obj_from_json(const json_t *json, struct k8s_obj **out)
{
	json_t *meta = json_object_get(json, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	enum k8s_kind kind = k8s_kind_parse(json_string_value(json_object_get(json, "kind")));
	struct k8s_obj *o;
	size_t size;
	int err;

	if (kind == K8S_KIND_NONE || !name || !*name)
		return -EINVAL;
	size = kind == K8S_KIND_POD		   ? sizeof(struct k8s_pod)
	       : kind == K8S_KIND_NETWORK_POLICY ? sizeof(struct k8s_netpol)
						 : sizeof(struct k8s_namespace);
	o = calloc(1, size);
	if (!o)
		return -ENOMEM;
	o->kind = kind;
	if (!k8s_kind_namespaced(kind))
		ns = "";
	else if (!ns || !*ns)
		ns = "default";
	o->ns = strdup(ns);
	o->name = strdup(name);
	err = !o->ns || !o->name ? -ENOMEM : labels_from_json(json_object_get(meta, "labels"), &o->labels);
	if (!err && kind == K8S_KIND_POD) {
		err = pod_from_json(json, meta, (struct k8s_pod *)o);
	} else if (!err && kind == K8S_KIND_NETWORK_POLICY) {
		json_t *spec = json_object_get(json, "spec");

		if (spec && !json_is_object(spec))
			err = -EINVAL;
		else if (!(((struct k8s_netpol *)o)->spec = spec ? json_deep_copy(spec) : json_object()))
			err = -ENOMEM;
	}
	if (err) {
		k8s_obj_free(o);
		return err;
	}
	*out = o;
	return 0;
}

void k8s_obj_free(struct k8s_obj *o)
{
	if (!o)
		return;
	if (o->kind == K8S_KIND_POD) {
		struct k8s_pod *pod = (struct k8s_pod *)o;

		free(pod->uid);
		free(pod->node_name);
		free(pod->ports);
		free(pod->ips);
	} else if (o->kind == K8S_KIND_NETWORK_POLICY) {
		json_decref(((struct k8s_netpol *)o)->spec);
	}
	labels_free(&o->labels);
	free(o->ns);
	free(o->name);
	free(o);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool k8s_obj_equal(const struct k8s_obj *a, const struct k8s_obj *b)
{
	if (a->kind != b->kind || !str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) ||
	    a->labels.n != b->labels.n)
		return false;
	for (size_t i = 0; i < a->labels.n; i++)
		if (strcmp(a->labels.v[i].key, b->labels.v[i].key) ||
		    strcmp(a->labels.v[i].value, b->labels.v[i].value))
			return false;
	if (a->kind == K8S_KIND_POD) {
		const struct k8s_pod *pa = (const void *)a, *pb = (const void *)b;

		if (!str_eq(pa->uid, pb->uid) || !str_eq(pa->node_name, pb->node_name) ||
		    pa->host_network != pb->host_network || pa->n_ports != pb->n_ports ||
		    pa->n_ips != pb->n_ips)
			return false;
		for (size_t i = 0; i < pa->n_ports; i++)
			if (pa->ports[i].port != pb->ports[i].port ||
			    pa->ports[i].protocol != pb->ports[i].protocol ||
			    strcmp(pa->ports[i].name, pb->ports[i].name))
				return false;
		for (size_t i = 0; i < pa->n_ips; i++)
			if (!sl_ip_equal(&pa->ips[i], &pb->ips[i]))
				return false;
	} else if (a->kind == K8S_KIND_NETWORK_POLICY) {
		return json_equal(((const struct k8s_netpol *)a)->spec, ((const struct k8s_netpol *)b)->spec);
	}
	return true;
}

/* --- the store ------------------------------------------------------------------ */

struct entry {
	struct entry *next;
	uint64_t hash;
	const void *owner;
	struct k8s_obj *obj;
};

/* Chained, power-of-two buckets, grown at one entry per bucket. */
struct table {
	struct entry **buckets;
	size_t n_buckets, n;
};

struct k8s_store {
	struct table t[K8S_KIND_MAX];
	uint64_t generation;
	k8s_store_cb cb;
	void *cb_arg;
};

static uint64_t key_hash(const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over ns '\0' name */

	for (const char *p = ns;; p++) {
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
		if (!*p)
			break;
	}
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

static struct entry **find(const struct table *t, uint64_t h, const char *ns, const char *name)
{
	struct entry **pe;

	if (!t->n_buckets)
		return NULL;
	for (pe = &t->buckets[h & (t->n_buckets - 1)]; *pe; pe = &(*pe)->next)
		if ((*pe)->hash == h && !strcmp((*pe)->obj->name, name) && !strcmp((*pe)->obj->ns, ns))
			return pe;
	return NULL;
}

static int grow(struct table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

int k8s_store_new(struct k8s_store **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void k8s_store_free(struct k8s_store *s)
{
	if (!s)
		return;
	for (int k = 0; k < K8S_KIND_MAX; k++) {
		for (size_t i = 0; i < s->t[k].n_buckets; i++) {
			struct entry *e = s->t[k].buckets[i], *next;

			for (; e; e = next) {
				next = e->next;
				k8s_obj_free(e->obj);
				free(e);
			}
		}
		free(s->t[k].buckets);
	}
	free(s);
}

void k8s_store_set_callback(struct k8s_store *s, k8s_store_cb cb, void *arg)
{
	s->cb = cb;
	s->cb_arg = arg;
}

uint64_t k8s_store_generation(const struct k8s_store *s)
{
	return s->generation;
}

static void changed(struct k8s_store *s, const struct k8s_obj *old, const struct k8s_obj *cur)
{
	s->generation++;
	if (s->cb)
		s->cb(s->cb_arg, old, cur);
}

int k8s_store_put(struct k8s_store *s, struct k8s_obj *obj, const void *owner)
{
	struct table *t;
	struct entry **pe, *e;
	struct k8s_obj *old;
	uint64_t h;

	if (!obj || obj->kind <= K8S_KIND_NONE || obj->kind >= K8S_KIND_MAX) {
		k8s_obj_free(obj);
		return -EINVAL;
	}
	t = &s->t[obj->kind];
	h = key_hash(obj->ns, obj->name);
	pe = find(t, h, obj->ns, obj->name);
	if (pe) {
		e = *pe;
		if (e->owner != owner) {
			k8s_obj_free(obj);
			return -EEXIST;
		}
		if (k8s_obj_equal(e->obj, obj)) {
			k8s_obj_free(obj);
			return 0;
		}
		old = e->obj;
		e->obj = obj;
		changed(s, old, obj);
		k8s_obj_free(old);
		return 0;
	}
	if (t->n >= t->n_buckets && grow(t)) {
		k8s_obj_free(obj);
		return -ENOMEM;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		k8s_obj_free(obj);
		return -ENOMEM;
	}
	e->hash = h;
	e->owner = owner;
	e->obj = obj;
	e->next = t->buckets[h & (t->n_buckets - 1)];
	t->buckets[h & (t->n_buckets - 1)] = e;
	t->n++;
	changed(s, NULL, obj);
	return 0;
}

int k8s_store_delete(struct k8s_store *s, enum k8s_kind kind, const char *ns, const char *name,
		     const void *owner)
{
	struct entry **pe, *e;

	if (kind <= K8S_KIND_NONE || kind >= K8S_KIND_MAX || !name)
		return -EINVAL;
	if (!ns || !k8s_kind_namespaced(kind))
		ns = "";
	pe = find(&s->t[kind], key_hash(ns, name), ns, name);
	if (!pe)
		return -ENOENT;
	e = *pe;
	if (e->owner != owner)
		return -EPERM;
	*pe = e->next;
	s->t[kind].n--;
	changed(s, e->obj, NULL);
	k8s_obj_free(e->obj);
	free(e);
	return 0;
}

const struct k8s_obj *k8s_store_get(const struct k8s_store *s, enum k8s_kind kind, const char *ns,
				    const char *name, const void **owner)
{
	struct entry **pe;

	if (kind <= K8S_KIND_NONE || kind >= K8S_KIND_MAX || !name)
		return NULL;
	if (!ns || !k8s_kind_namespaced(kind))
		ns = "";
	pe = find(&s->t[kind], key_hash(ns, name), ns, name);
	if (owner)
		*owner = pe ? (*pe)->owner : NULL;
	return pe ? (*pe)->obj : NULL;
}

const struct k8s_pod *k8s_store_pod(const struct k8s_store *s, const char *ns, const char *name)
{
	return k8s_obj_pod(k8s_store_get(s, K8S_KIND_POD, ns, name, NULL));
}

const struct k8s_namespace *k8s_store_namespace(const struct k8s_store *s, const char *name)
{
	return k8s_obj_namespace(k8s_store_get(s, K8S_KIND_NAMESPACE, "", name, NULL));
}

const struct k8s_netpol *k8s_store_netpol(const struct k8s_store *s, const char *ns, const char *name)
{
	return k8s_obj_netpol(k8s_store_get(s, K8S_KIND_NETWORK_POLICY, ns, name, NULL));
}

size_t k8s_store_count(const struct k8s_store *s, enum k8s_kind kind)
{
	return kind > K8S_KIND_NONE && kind < K8S_KIND_MAX ? s->t[kind].n : 0;
}

int k8s_store_for_each(const struct k8s_store *s, enum k8s_kind kind,
		       int (*fn)(const struct k8s_obj *o, void *arg), void *arg)
{
	const struct table *t;

	if (kind <= K8S_KIND_NONE || kind >= K8S_KIND_MAX)
		return -EINVAL;
	t = &s->t[kind];
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (const struct entry *e = t->buckets[i]; e; e = e->next) {
			int ret = fn(e->obj, arg);

			if (ret)
				return ret;
		}
	}
	return 0;
}
