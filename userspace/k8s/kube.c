// SPDX-License-Identifier: Apache-2.0
#include "k8s/kube.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/log.h"
#include "k8s/kube_http.h"
#include "k8s/kube_stream.h"
#include "k8s/kubeconfig.h"

#define DEFAULT_PAGE_LIMIT 500
#define DEFAULT_REQUEST_TIMEOUT_S 60
#define DEFAULT_BACKOFF_INITIAL_MS 500
#define DEFAULT_BACKOFF_MAX_MS 30000
#define WATCH_TIMEOUT_MIN_S 300 /* client-go's reflector: 5 to 10 minutes */
#define WATCH_GRACE_S 30        /* past timeoutSeconds, the server is hung */
#define VALUE_MAX (16u << 20)   /* one object; etcd's limit is 1.5 MiB */
#define QUEUE_MAX_OPS 65536     /* workers wait beyond this (the agent is behind) */
#define LIST_RESTARTS 3         /* expired continue tokens before giving up a list */

static const struct res_def {
	const char *name;
	const char *path;
	const char *kind;
	enum k8s_kind store_kind; /* NONE for the Node */
} defs[KUBE_RES_MAX] = {
	[KUBE_RES_NAMESPACES] = { "namespaces", "/api/v1/namespaces", "Namespace", K8S_KIND_NAMESPACE },
	[KUBE_RES_PODS] = { "pods", "/api/v1/pods", "Pod", K8S_KIND_POD },
	[KUBE_RES_NETWORK_POLICIES] = { "networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies",
					"NetworkPolicy", K8S_KIND_NETWORK_POLICY },
	[KUBE_RES_NODE] = { "nodes", "/api/v1/nodes", "Node", K8S_KIND_NONE },
};

enum op_type { OP_PUT, OP_DELETE, OP_REPLACE, OP_NODE };

/* A change for the agent's thread to apply. */
struct op {
	struct op *next;
	enum op_type type;
	struct kube_res *r;
	bool sync;             /* the resource is synced once this is applied */
	struct k8s_obj *obj;   /* OP_PUT */
	char *ns, *name;       /* OP_DELETE: name is in ns's allocation */
	struct k8s_obj **objs; /* OP_REPLACE: the whole list, sorted by namespace and name */
	size_t n, done;
	bool swept;
	struct kube_node *node; /* OP_NODE: NULL when gone */
};

struct kube_res {
	struct kube_source *src;
	enum kube_resource id;
	const struct res_def *def;
	bool enabled;
	pthread_t thread;
	bool started;
	struct kube_http *http;
	/* the worker's own */
	char rv[64];
	unsigned backoff_ms;
	unsigned seed;
	char selector[300]; /* fieldSelector, "" for none */
	/* under src->lock */
	struct kube_resource_status st;
	/* the agent's (under its lock) */
	bool synced;
};

struct kube_source {
	struct k8s_store *store;
	struct kube_auth auth;
	struct kube_config cfg;
	char *node_name;
	int efd;
	atomic_bool stop;
	bool curl_init;
	pthread_mutex_t lock;
	pthread_cond_t space;
	struct op *head, **tail;
	size_t n_ops;
	struct kube_res res[KUBE_RES_MAX];
	struct kube_node *node;
	kube_node_cb node_cb;
	void *node_cb_arg;
};

const char *kube_resource_name(enum kube_resource res)
{
	return res < KUBE_RES_MAX ? defs[res].name : "?";
}

enum kube_resource kube_resource_of_kind(enum k8s_kind kind)
{
	for (int i = 0; i < KUBE_RES_MAX; i++)
		if (kind != K8S_KIND_NONE && defs[i].store_kind == kind)
			return (enum kube_resource)i;
	return KUBE_RES_MAX;
}

/* --- the Node ------------------------------------------------------------------ */

static void node_free(struct kube_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->labels.n; i++)
		free(n->labels.v[i].key);
	free(n->labels.v);
	for (size_t i = 0; i < n->n_addresses; i++)
		free(n->addresses[i].type);
	free(n->addresses);
	free(n->provider_id);
	free(n->name);
	free(n);
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

/* Two strings in one allocation, as the store keeps labels. */
static char *pair_dup(const char *a, const char *b, char **second)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la + 1);
	memcpy(p + la + 1, b, lb + 1);
	*second = p + la + 1;
	return p;
}

static int node_from_json(const json_t *j, struct kube_node **out)
{
	json_t *meta = json_object_get(j, "metadata"), *labels = json_object_get(meta, "labels");
	json_t *addrs = json_object_get(json_object_get(j, "status"), "addresses"), *v;
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *pid = json_string_value(json_object_get(json_object_get(j, "spec"), "providerID"));
	struct kube_node *n;
	const char *key;
	size_t i;

	if (!name || !*name)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name)) || (pid && *pid && !(n->provider_id = strdup(pid))))
		goto nomem;
	if (json_object_size(labels)) {
		n->labels.v = calloc(json_object_size(labels), sizeof(*n->labels.v));
		if (!n->labels.v)
			goto nomem;
		json_object_foreach(labels, key, v) {
			struct k8s_label *l = &n->labels.v[n->labels.n];

			if (!json_is_string(v))
				continue;
			if (!(l->key = pair_dup(key, json_string_value(v), &l->value)))
				goto nomem;
			n->labels.n++;
		}
		qsort(n->labels.v, n->labels.n, sizeof(*n->labels.v), label_cmp);
	}
	if (json_array_size(addrs)) {
		n->addresses = calloc(json_array_size(addrs), sizeof(*n->addresses));
		if (!n->addresses)
			goto nomem;
		json_array_foreach(addrs, i, v) {
			struct kube_node_address *a = &n->addresses[n->n_addresses];
			const char *type = json_string_value(json_object_get(v, "type"));
			const char *addr = json_string_value(json_object_get(v, "address"));

			if (!type || !addr)
				continue;
			if (!(a->type = pair_dup(type, addr, &a->address)))
				goto nomem;
			n->n_addresses++;
		}
	}
	*out = n;
	return 0;
nomem:
	node_free(n);
	return -ENOMEM;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool node_equal(const struct kube_node *a, const struct kube_node *b)
{
	if (!a || !b)
		return a == b;
	if (strcmp(a->name, b->name) || !str_eq(a->provider_id, b->provider_id) ||
	    a->labels.n != b->labels.n || a->n_addresses != b->n_addresses)
		return false;
	for (size_t i = 0; i < a->labels.n; i++)
		if (strcmp(a->labels.v[i].key, b->labels.v[i].key) ||
		    strcmp(a->labels.v[i].value, b->labels.v[i].value))
			return false;
	for (size_t i = 0; i < a->n_addresses; i++)
		if (strcmp(a->addresses[i].type, b->addresses[i].type) ||
		    strcmp(a->addresses[i].address, b->addresses[i].address))
			return false;
	return true;
}

const char *kube_node_label(const struct kube_node *node, const char *key)
{
	return node ? k8s_labels_get(&node->labels, key) : NULL;
}

/* --- the queue ------------------------------------------------------------------ */

static void op_free(struct op *op)
{
	if (!op)
		return;
	k8s_obj_free(op->obj);
	free(op->ns);
	for (size_t i = op->done; i < op->n; i++)
		k8s_obj_free(op->objs[i]);
	free(op->objs);
	node_free(op->node);
	free(op);
}

static void signal_fd(struct kube_source *src)
{
	uint64_t one = 1;

	if (write(src->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("kube: eventfd write: %s", strerror(errno));
}

/* Queues op (taken in every case) and publishes rv as the worker's position. */
static int push(struct kube_res *r, struct op *op, const char *rv)
{
	struct kube_source *src = r->src;
	bool was_empty;

	op->r = r;
	pthread_mutex_lock(&src->lock);
	while (src->n_ops >= QUEUE_MAX_OPS && !atomic_load(&src->stop))
		pthread_cond_wait(&src->space, &src->lock);
	if (atomic_load(&src->stop)) {
		pthread_mutex_unlock(&src->lock);
		op_free(op);
		return -ECANCELED;
	}
	was_empty = !src->head;
	*src->tail = op;
	src->tail = &op->next;
	src->n_ops++;
	if (rv)
		snprintf(r->st.resource_version, sizeof(r->st.resource_version), "%s", rv);
	pthread_mutex_unlock(&src->lock);
	if (was_empty)
		signal_fd(src);
	return 0;
}

static int obj_cmp(const void *a, const void *b)
{
	const struct k8s_obj *x = *(struct k8s_obj *const *)a, *y = *(struct k8s_obj *const *)b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

/* --- applying changes (the agent's thread) ------------------------------------------ */

struct victims {
	const struct op *op;
	char **v; /* "ns\0name" */
	size_t n, cap;
	int err;
};

static int collect_victim(const struct k8s_obj *o, void *arg)
{
	struct victims *vs = arg;
	const struct k8s_obj *key = o;
	char *second;

	if (vs->op->n && bsearch(&key, vs->op->objs, vs->op->n, sizeof(*vs->op->objs), obj_cmp))
		return 0;
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 64;
		char **v = realloc(vs->v, cap * sizeof(*v));

		if (!v)
			return vs->err = -ENOMEM;
		vs->v = v;
		vs->cap = cap;
	}
	if (!(vs->v[vs->n] = pair_dup(o->ns, o->name, &second)))
		return vs->err = -ENOMEM;
	vs->n++;
	return 0;
}

/* A relist replaces the resource's set: what the new list lacks goes. Only
 * this source's objects are deleted (the store refuses others with -EPERM). */
static int sweep(struct kube_source *src, struct op *op)
{
	enum k8s_kind kind = op->r->def->store_kind;
	struct victims vs = { .op = op };
	size_t gone = 0;

	k8s_store_for_each(src->store, kind, collect_victim, &vs);
	for (size_t i = 0; i < vs.n; i++) {
		const char *ns = vs.v[i], *name = ns + strlen(ns) + 1;

		gone += k8s_store_delete(src->store, kind, ns, name, op->r) == 0;
		free(vs.v[i]);
	}
	free(vs.v);
	if (gone)
		pr_info("kube: %s: %zu objects gone from the new list, deleted", op->r->def->name, gone);
	return vs.err;
}

static int store_put(struct kube_source *src, struct kube_res *r, struct k8s_obj *obj)
{
	enum k8s_kind kind = obj->kind;
	char key[600];
	int err;

	snprintf(key, sizeof(key), "%s%s%s", obj->ns, *obj->ns ? "/" : "", obj->name);
	err = k8s_store_put(src->store, obj, r);
	if (err == -EEXIST) {
		pr_debug("kube: %s %s is held by another source; not replaced", k8s_kind_name(kind), key);
		pthread_mutex_lock(&src->lock);
		r->st.rejected++;
		pthread_mutex_unlock(&src->lock);
		return 0;
	}
	return err;
}

static void set_node(struct kube_source *src, struct kube_node *node)
{
	struct kube_node *old = src->node;

	if (node_equal(old, node)) {
		node_free(node);
		return;
	}
	src->node = node;
	if (src->node_cb)
		src->node_cb(src->node_cb_arg, old, node);
	node_free(old);
}

/* Applies op within *budget objects; true when op is done. */
static bool apply(struct kube_source *src, struct op *op, size_t *budget, int *err)
{
	struct kube_res *r = op->r;
	int e = 0;

	switch (op->type) {
	case OP_PUT:
		e = store_put(src, r, op->obj);
		op->obj = NULL;
		(*budget)--;
		break;
	case OP_DELETE:
		k8s_store_delete(src->store, r->def->store_kind, op->ns, op->name, r);
		(*budget)--;
		break;
	case OP_NODE:
		set_node(src, op->node);
		op->node = NULL;
		(*budget)--;
		break;
	case OP_REPLACE:
		if (!op->swept) {
			e = sweep(src, op);
			op->swept = true;
		}
		while (!e && op->done < op->n && *budget) {
			e = store_put(src, r, op->objs[op->done]);
			op->objs[op->done++] = NULL;
			(*budget)--;
		}
		if (op->done < op->n && !e)
			return false;
		break;
	}
	if (e && !*err)
		*err = e;
	if (op->sync && !r->synced) {
		r->synced = true;
		if (r->id == KUBE_RES_NODE)
			pr_info("kube: node %s %s", src->node_name, src->node ? "synced" : "synced: not found");
		else
			pr_info("kube: %s synced: %zu objects", r->def->name,
				k8s_store_count(src->store, r->def->store_kind));
	}
	return true;
}

int kube_source_process_events(struct kube_source *src)
{
	size_t budget = KUBE_APPLY_BUDGET, left = 0;
	struct op *batch, *op, **last;
	uint64_t count;
	int err = 0;

	/* Nothing signalled, nothing queued: a worker signals when it queues
	 * onto an empty queue, and a partial apply below signals again. An
	 * idle call takes no lock a worker might hold. */
	if (read(src->efd, &count, sizeof(count)) < 0)
		return errno == EAGAIN ? 0 : -errno;
	pthread_mutex_lock(&src->lock);
	batch = src->head;
	src->head = NULL;
	src->tail = &src->head;
	src->n_ops = 0;
	pthread_cond_broadcast(&src->space);
	pthread_mutex_unlock(&src->lock);

	while (batch && budget) {
		op = batch;
		if (!apply(src, op, &budget, &err))
			break;
		batch = op->next;
		op_free(op);
	}
	if (!batch)
		return err;
	/* Over budget: the rest goes back in front of what came meanwhile. */
	for (last = &batch; *last; last = &(*last)->next)
		left++;
	pthread_mutex_lock(&src->lock);
	*last = src->head;
	if (!src->head)
		src->tail = last;
	src->head = batch;
	src->n_ops += left;
	pthread_mutex_unlock(&src->lock);
	signal_fd(src);
	return err;
}

/* --- the workers ------------------------------------------------------------------ */

static bool stopping(const struct kube_res *r)
{
	return atomic_load(&r->src->stop);
}

__attribute__((format(printf, 3, 4))) static void record_error(struct kube_res *r, int err, const char *fmt, ...)
{
	struct kube_source *src = r->src;
	char msg[sizeof(r->st.last_error)];
	bool news;
	va_list ap;

	if (err == -ECANCELED || stopping(r))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&src->lock);
	news = strcmp(msg, r->st.last_error) != 0;
	r->st.errors++;
	snprintf(r->st.last_error, sizeof(r->st.last_error), "%s", msg);
	r->st.last_error_time = time(NULL);
	pthread_mutex_unlock(&src->lock);
	/* A server that fails the same way for an hour logs it once. */
	log_msg(news ? LOG_WARN : LOG_DEBUG, "kube: %s", msg);
}

static void backoff(struct kube_res *r)
{
	const struct kube_config *cfg = &r->src->cfg;
	unsigned d = r->backoff_ms ? r->backoff_ms : cfg->backoff_initial_ms;

	/* Half fixed, half random: many nodes restarted together spread out. */
	kube_http_sleep(r->http, d / 2 + (unsigned)rand_r(&r->seed) % (d / 2 + 1));
	r->backoff_ms = d * 2 < cfg->backoff_max_ms ? d * 2 : cfg->backoff_max_ms;
}

/* The errno of an API error status, and a message from its Status body. */
static int status_error(struct kube_res *r, const char *what, const struct kube_http_result *res)
{
	json_t *st = res->body ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));
	const char *reason = json_string_value(json_object_get(st, "reason"));
	int err = res->status == 401   ? -EACCES
		  : res->status == 403 ? -EPERM
		  : res->status == 410 ? -ESTALE
		  : res->status == 429 ? -EAGAIN
				       : -EIO;

	record_error(r, err, "%s %s: HTTP %ld%s%s%s%s", what, r->def->name, res->status, reason ? " " : "",
		     reason ? reason : "", msg ? ": " : "", msg ? msg : "");
	json_decref(st);
	return err;
}

static char *query_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *copy;

	if (!e)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}

/* Sets "kind" on an object of a list (the API server leaves it out of items). */
static int set_kind(struct kube_res *r, json_t *o)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));

	if (kind)
		return strcmp(kind, r->def->kind) ? -EINVAL : 0;
	return json_object_set_new(o, "kind", json_string(r->def->kind)) ? -ENOMEM : 0;
}

static void bad_object(struct kube_res *r, const json_t *o, int err)
{
	json_t *meta = json_object_get(o, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	pr_warn("kube: %s: skipping unreadable object %s%s%s: %s", r->def->name, ns ? ns : "", ns ? "/" : "",
		name ? name : "?", strerror(-err));
	pthread_mutex_lock(&r->src->lock);
	r->st.bad_objects++;
	pthread_mutex_unlock(&r->src->lock);
}

struct list_state {
	struct kube_res *r;
	struct kube_stream js;
	struct k8s_obj **objs;
	size_t n, cap;
	struct kube_node *node;
	char rv[64];
	char *cont; /* the continue token of the page just read, NULL at the end */
	char why[256];
};

static void list_clear(struct list_state *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		k8s_obj_free(ls->objs[i]);
	free(ls->objs);
	ls->objs = NULL;
	ls->n = ls->cap = 0;
	node_free(ls->node);
	ls->node = NULL;
	free(ls->cont);
	ls->cont = NULL;
}

static int list_item(struct list_state *ls, json_t *item)
{
	struct kube_res *r = ls->r;
	struct k8s_obj *o;
	int err = set_kind(r, item);

	if (!err && r->id == KUBE_RES_NODE) {
		struct kube_node *n;

		err = node_from_json(item, &n);
		if (!err) {
			node_free(ls->node);
			ls->node = n;
		}
	} else if (!err) {
		err = k8s_obj_from_json(item, &o);
		if (!err && ls->n == ls->cap) {
			size_t cap = ls->cap ? ls->cap * 2 : 256;
			struct k8s_obj **objs = realloc(ls->objs, cap * sizeof(*objs));

			if (!objs) {
				k8s_obj_free(o);
				return -ENOMEM;
			}
			ls->objs = objs;
			ls->cap = cap;
		}
		if (!err)
			ls->objs[ls->n++] = o;
	}
	if (err == -EINVAL) {
		bad_object(r, item, err);
		err = 0;
	}
	return err;
}

static int list_cb(void *arg, enum kube_stream_what what, const char *key, const char *text, size_t len)
{
	struct list_state *ls = arg;
	json_error_t jerr;
	json_t *j;
	int err = 0;

	if (what == KUBE_STREAM_MEMBER && strcmp(key, "metadata"))
		return 0; /* kind, apiVersion: nothing Sluice needs */
	j = json_loadb(text, len, 0, &jerr);
	if (!j) {
		snprintf(ls->why, sizeof(ls->why), "%.64s: %.160s", what == KUBE_STREAM_ITEM ? "items" : key,
			 jerr.text);
		return -EBADMSG;
	}
	if (what == KUBE_STREAM_ITEM) {
		err = list_item(ls, j);
	} else if (!strcmp(key, "metadata")) {
		const char *rv = json_string_value(json_object_get(j, "resourceVersion"));
		const char *cont = json_string_value(json_object_get(j, "continue"));

		snprintf(ls->rv, sizeof(ls->rv), "%s", rv ? rv : "");
		free(ls->cont);
		ls->cont = cont && *cont ? strdup(cont) : NULL;
		if (cont && *cont && !ls->cont)
			err = -ENOMEM;
	}
	json_decref(j);
	return err;
}

static int list_body(void *arg, const char *data, size_t len)
{
	struct list_state *ls = arg;
	int err = kube_stream_feed(&ls->js, data, len);

	if (err == -EBADMSG && !ls->why[0])
		snprintf(ls->why, sizeof(ls->why), "not a JSON list");
	return err;
}

/* Lists every page, then queues the whole set for the agent. */
static int do_list(struct kube_res *r)
{
	const struct kube_config *cfg = &r->src->cfg;
	struct list_state ls = { .r = r };
	struct kube_http_result res;
	char *cont = NULL, *path = NULL, *esc;
	unsigned restarts = 0;
	struct op *op;
	int err;

	kube_stream_init(&ls.js, KUBE_STREAM_LIST, VALUE_MAX, list_cb, &ls);
	for (;;) {
		esc = cont ? query_escape(cont) : NULL;
		if ((cont && !esc) ||
		    asprintf(&path, "%s?limit=%u%s%s%s%s", r->def->path, cfg->page_limit, esc ? "&continue=" : "",
			     esc ? esc : "", *r->selector ? "&fieldSelector=" : "", r->selector) < 0) {
			free(esc);
			err = -ENOMEM;
			goto out;
		}
		free(esc);
		free(cont);
		cont = NULL;
		free(ls.cont);
		ls.cont = NULL;
		ls.rv[0] = ls.why[0] = '\0';
		kube_stream_reset(&ls.js);
		err = kube_http_get(r->http, path, cfg->request_timeout_s, list_body, &ls, &res);
		free(path);
		path = NULL;
		if (!err && res.status == 200 && (err = kube_stream_finish(&ls.js)))
			snprintf(ls.why, sizeof(ls.why), "answer cut off");
		if (!err && res.status == 200 && !ls.rv[0]) {
			err = -EBADMSG;
			snprintf(ls.why, sizeof(ls.why), "no metadata.resourceVersion");
		}
		if (!err && res.status != 200) {
			err = status_error(r, "LIST", &res);
			if (err == -ESTALE && restarts++ < LIST_RESTARTS) {
				/* The continue token expired: start over from the first page. */
				list_clear(&ls);
				free(res.body);
				continue;
			}
		} else if (err) {
			record_error(r, err, "LIST %s: %s", r->def->name, ls.why[0] ? ls.why : res.error);
		}
		free(res.body);
		if (err)
			goto out;
		if (!ls.cont)
			break;
		cont = ls.cont;
		ls.cont = NULL;
	}

	op = calloc(1, sizeof(*op));
	if (!op) {
		err = -ENOMEM;
		goto out;
	}
	op->sync = true;
	if (r->id == KUBE_RES_NODE) {
		op->type = OP_NODE;
		op->node = ls.node;
		ls.node = NULL;
	} else {
		op->type = OP_REPLACE;
		if (ls.n)
			qsort(ls.objs, ls.n, sizeof(*ls.objs), obj_cmp);
		op->objs = ls.objs;
		op->n = ls.n;
		ls.objs = NULL;
		ls.n = ls.cap = 0;
	}
	pthread_mutex_lock(&r->src->lock);
	r->st.relists += r->st.lists > 0;
	r->st.lists++;
	pthread_mutex_unlock(&r->src->lock);
	pr_debug("kube: %s listed: %zu objects, resourceVersion %s", r->def->name,
		 op->type == OP_REPLACE ? op->n : (size_t)(op->node != NULL), ls.rv);
	snprintf(r->rv, sizeof(r->rv), "%s", ls.rv);
	err = push(r, op, ls.rv);
out:
	free(cont);
	list_clear(&ls);
	kube_stream_free(&ls.js);
	return err;
}

struct watch_state {
	struct kube_res *r;
	struct kube_stream js;
	uint64_t events;
	char why[256];
};

static int watch_object(struct watch_state *ws, const char *type, json_t *obj)
{
	struct kube_res *r = ws->r;
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	bool deleted = !strcmp(type, "DELETED");
	struct op *op;
	int err;

	if (!json_is_object(obj) || set_kind(r, obj)) {
		snprintf(ws->why, sizeof(ws->why), "%s event without a %s", type, r->def->kind);
		return -EBADMSG;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	if (r->id == KUBE_RES_NODE) {
		op->type = OP_NODE;
		err = deleted ? 0 : node_from_json(obj, &op->node);
	} else if (deleted) {
		json_t *meta = json_object_get(obj, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		const char *name = json_string_value(json_object_get(meta, "name"));

		op->type = OP_DELETE;
		if (!k8s_kind_namespaced(r->def->store_kind) || !ns || !*ns)
			ns = k8s_kind_namespaced(r->def->store_kind) ? "default" : "";
		err = !name ? -EINVAL : (op->ns = pair_dup(ns, name, &op->name)) ? 0 : -ENOMEM;
	} else {
		op->type = OP_PUT;
		err = k8s_obj_from_json(obj, &op->obj);
	}
	if (err) {
		op_free(op);
		if (err != -EINVAL)
			return err;
		bad_object(r, obj, err);
		return 0; /* the watch goes on; a relist will settle it */
	}
	ws->events++;
	pthread_mutex_lock(&r->src->lock);
	r->st.events++;
	pthread_mutex_unlock(&r->src->lock);
	if (rv)
		snprintf(r->rv, sizeof(r->rv), "%s", rv);
	return push(r, op, rv);
}

static int watch_cb(void *arg, enum kube_stream_what what, const char *key, const char *text, size_t len)
{
	struct watch_state *ws = arg;
	struct kube_res *r = ws->r;
	json_error_t jerr;
	json_t *ev = json_loadb(text, len, 0, &jerr), *obj;
	const char *type;
	int err = 0;

	(void)what;
	(void)key;
	if (!ev) {
		snprintf(ws->why, sizeof(ws->why), "event: %s", jerr.text);
		return -EBADMSG;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (!type) {
		snprintf(ws->why, sizeof(ws->why), "event without a type");
		err = -EBADMSG;
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")) {
		err = watch_object(ws, type, obj);
	} else if (!strcmp(type, "BOOKMARK")) {
		const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

		if (rv && *rv) {
			snprintf(r->rv, sizeof(r->rv), "%s", rv);
			pthread_mutex_lock(&r->src->lock);
			r->st.bookmarks++;
			snprintf(r->st.resource_version, sizeof(r->st.resource_version), "%s", rv);
			pthread_mutex_unlock(&r->src->lock);
		}
	} else if (!strcmp(type, "ERROR")) {
		json_t *code = json_object_get(obj, "code");
		const char *msg = json_string_value(json_object_get(obj, "message"));

		snprintf(ws->why, sizeof(ws->why), "ERROR event %lld%s%s", (long long)json_integer_value(code),
			 msg ? ": " : "", msg ? msg : "");
		err = json_integer_value(code) == 410 ? -ESTALE : -EREMOTEIO;
	} else {
		snprintf(ws->why, sizeof(ws->why), "unknown event type %.32s", type);
		err = -EBADMSG;
	}
	json_decref(ev);
	return err;
}

static int watch_body(void *arg, const char *data, size_t len)
{
	struct watch_state *ws = arg;
	int err = kube_stream_feed(&ws->js, data, len);

	if (err == -EBADMSG && !ws->why[0])
		snprintf(ws->why, sizeof(ws->why), "not a stream of JSON events");
	return err;
}

/* One WATCH from r->rv. 0 when it ended well (resume at once), -ESTALE when
 * the resourceVersion is gone (relist), another error to back off. */
static int do_watch(struct kube_res *r)
{
	const struct kube_config *cfg = &r->src->cfg;
	struct watch_state ws = { .r = r };
	struct kube_http_result res;
	unsigned timeout = cfg->watch_timeout_s ? cfg->watch_timeout_s
						: WATCH_TIMEOUT_MIN_S + (unsigned)rand_r(&r->seed) % WATCH_TIMEOUT_MIN_S;
	char *path = NULL, *rv = query_escape(r->rv), from[80];
	time_t start = time(NULL);
	int err;

	if (!rv || asprintf(&path, "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u%s%s",
			    r->def->path, rv, timeout, *r->selector ? "&fieldSelector=" : "", r->selector) < 0) {
		free(rv);
		return -ENOMEM;
	}
	free(rv);
	snprintf(from, sizeof(from), "from %s", r->rv);
	pthread_mutex_lock(&r->src->lock);
	r->st.watches++;
	pthread_mutex_unlock(&r->src->lock);
	kube_stream_init(&ws.js, KUBE_STREAM_VALUES, VALUE_MAX, watch_cb, &ws);
	err = kube_http_get(r->http, path, timeout + WATCH_GRACE_S, watch_body, &ws, &res);
	free(path);
	if (!err && res.status == 200 && kube_stream_finish(&ws.js)) {
		err = -ECONNRESET;
		snprintf(ws.why, sizeof(ws.why), "stream ended mid-event");
	}
	if (!err && res.status != 200) {
		err = status_error(r, "WATCH", &res);
	} else if (err == -ESTALE) {
		record_error(r, err, "WATCH %s %s: %s", r->def->name, from, ws.why);
	} else if (err) {
		record_error(r, err, "WATCH %s %s: %s", r->def->name, from, ws.why[0] ? ws.why : res.error);
	} else if (!ws.events && time(NULL) - start < 1) {
		/* Accepted and closed at once with nothing in it: do not spin. */
		err = -ECONNRESET;
		record_error(r, err, "WATCH %s %s: closed at once", r->def->name, from);
	}
	free(res.body);
	kube_stream_free(&ws.js);
	if (!err || ws.events)
		r->backoff_ms = 0;
	return err;
}

static void *worker(void *arg)
{
	struct kube_res *r = arg;

	while (!stopping(r)) {
		int err = do_list(r);

		if (err) {
			if (err == -ECANCELED)
				break;
			backoff(r);
			continue;
		}
		r->backoff_ms = 0;
		while (!stopping(r)) {
			err = do_watch(r);
			if (err == -ECANCELED)
				break;
			if (err == -ESTALE) {
				pr_info("kube: %s: resourceVersion %s is gone; listing again", r->def->name, r->rv);
				break;
			}
			if (err)
				backoff(r);
		}
	}
	return NULL;
}

/* --- the source ------------------------------------------------------------------ */

static void cfg_defaults(struct kube_config *c)
{
	if (!c->page_limit)
		c->page_limit = DEFAULT_PAGE_LIMIT;
	if (!c->request_timeout_s)
		c->request_timeout_s = DEFAULT_REQUEST_TIMEOUT_S;
	if (!c->backoff_initial_ms)
		c->backoff_initial_ms = DEFAULT_BACKOFF_INITIAL_MS;
	if (!c->backoff_max_ms)
		c->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (c->backoff_max_ms < c->backoff_initial_ms)
		c->backoff_max_ms = c->backoff_initial_ms;
}

int kube_source_open(struct k8s_store *store, const struct kube_config *cfg, struct kube_source **out)
{
	struct kube_source *src;
	char msg[512] = "", names[128] = "";
	bool node = cfg->node_name && *cfg->node_name;
	unsigned mask = cfg->resources ? cfg->resources : KUBE_RES_ALL & ~(node ? 0 : 1u << KUBE_RES_NODE);
	int err;

	if ((mask & ~KUBE_RES_ALL) || ((mask & (1u << KUBE_RES_NODE)) && !node)) {
		pr_err("kube: the Node can only be watched with a node name");
		return -EINVAL;
	}
	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	src->store = store;
	src->efd = -1;
	src->cfg = *cfg;
	cfg_defaults(&src->cfg);
	src->head = NULL;
	src->tail = &src->head;
	pthread_mutex_init(&src->lock, NULL);
	pthread_cond_init(&src->space, NULL);
	if (node && !(src->node_name = strdup(cfg->node_name))) {
		err = -ENOMEM;
		goto out;
	}
	/* Only the node name is used after open; the caller's strings need not live on. */
	src->cfg.node_name = src->node_name;
	src->cfg.kubeconfig = src->cfg.context = src->cfg.sa_dir = NULL;
	err = kube_auth_load(cfg->kubeconfig, cfg->context, cfg->sa_dir, &src->auth, msg, sizeof(msg));
	if (err) {
		pr_err("kube: %s", msg[0] ? msg : strerror(-err));
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		err = -ENOMEM;
		goto out;
	}
	src->curl_init = true;
	src->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (src->efd < 0) {
		err = -errno;
		pr_err("kube: eventfd: %s", strerror(-err));
		goto out;
	}
	for (int i = 0; i < KUBE_RES_MAX; i++) {
		struct kube_res *r = &src->res[i];

		r->src = src;
		r->id = (enum kube_resource)i;
		r->def = &defs[i];
		r->enabled = mask & (1u << i);
		r->st.enabled = r->enabled;
		r->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(i * 0x9e3779b9u);
		if (i == KUBE_RES_NODE && r->enabled) {
			char *esc = query_escape(src->node_name);

			if (!esc) {
				err = -ENOMEM;
				goto out;
			}
			/* "metadata.name=" escaped too: '=' is %3D in a query value. */
			snprintf(r->selector, sizeof(r->selector), "metadata.name%%3D%s", esc);
			free(esc);
		}
	}
	for (int i = 0; i < KUBE_RES_MAX; i++) {
		struct kube_res *r = &src->res[i];

		if (!r->enabled)
			continue;
		err = kube_http_new(&src->auth, &src->stop, &r->http);
		if (err) {
			pr_err("kube: %s: TLS setup from %s: %s", r->def->name, src->auth.origin, strerror(-err));
			goto out;
		}
		err = -pthread_create(&r->thread, NULL, worker, r);
		if (err) {
			pr_err("kube: %s: thread: %s", r->def->name, strerror(-err));
			goto out;
		}
		r->started = true;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? ", " : "",
			 r->def->name);
	}
	pr_info("kube: API server %s (%s): watching %s%s%s", src->auth.server, src->auth.origin, names,
		node ? " of node " : "", node ? src->node_name : "");
	*out = src;
	return 0;
out:
	kube_source_close(src);
	return err;
}

void kube_source_close(struct kube_source *src)
{
	struct op *op, *next;

	if (!src)
		return;
	atomic_store(&src->stop, true);
	pthread_mutex_lock(&src->lock);
	pthread_cond_broadcast(&src->space);
	pthread_mutex_unlock(&src->lock);
	for (int i = 0; i < KUBE_RES_MAX; i++)
		if (src->res[i].http)
			kube_http_wakeup(src->res[i].http);
	for (int i = 0; i < KUBE_RES_MAX; i++) {
		if (src->res[i].started)
			pthread_join(src->res[i].thread, NULL);
		kube_http_free(src->res[i].http);
	}
	for (op = src->head; op; op = next) {
		next = op->next;
		op_free(op);
	}
	node_free(src->node);
	kube_auth_free(&src->auth);
	if (src->efd >= 0)
		close(src->efd);
	if (src->curl_init)
		curl_global_cleanup();
	pthread_cond_destroy(&src->space);
	pthread_mutex_destroy(&src->lock);
	free(src->node_name);
	free(src);
}

int kube_source_fd(const struct kube_source *src)
{
	return src->efd;
}

bool kube_source_synced(const struct kube_source *src, enum kube_resource res)
{
	return res < KUBE_RES_MAX && src->res[res].synced;
}

const struct kube_node *kube_source_node(const struct kube_source *src)
{
	return src->node;
}

void kube_source_set_node_callback(struct kube_source *src, kube_node_cb cb, void *arg)
{
	src->node_cb = cb;
	src->node_cb_arg = arg;
}

int kube_source_status(const struct kube_source *src, enum kube_resource res, struct kube_resource_status *out)
{
	struct kube_source *s = (struct kube_source *)src; /* the lock is not part of the value */

	if (res >= KUBE_RES_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	*out = src->res[res].st;
	pthread_mutex_unlock(&s->lock);
	out->synced = src->res[res].synced;
	return 0;
}

const char *kube_source_server(const struct kube_source *src)
{
	return src->auth.server;
}

const char *kube_source_origin(const struct kube_source *src)
{
	return src->auth.origin;
}
