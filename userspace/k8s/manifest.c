// SPDX-License-Identifier: Apache-2.0
#include "k8s/manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/fsutil.h"
#include "k8s/yaml_json.h"

#define NS_LABEL "kubernetes.io/metadata.name"

/* One line per error, the first MANIFEST_MAX_ERRORS kept. */
struct errlist {
	char *buf;
	size_t len, cap;
	unsigned n;
	bool oom;
};

__attribute__((format(printf, 2, 0))) static void errlist_vadd(struct errlist *e, const char *fmt,
							     va_list ap)
{
	va_list copy;
	int n;

	if (e->n++ >= MANIFEST_MAX_ERRORS || e->oom)
		return;
	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if (e->len + (size_t)n + 2 > e->cap) {
		size_t cap = (e->len + (size_t)n + 2) * 2;
		char *grown = realloc(e->buf, cap);

		if (!grown) {
			e->oom = true;
			return;
		}
		e->buf = grown;
		e->cap = cap;
	}
	if (e->len)
		e->buf[e->len++] = '\n';
	vsnprintf(e->buf + e->len, (size_t)n + 1, fmt, ap);
	e->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void errlist_add(struct errlist *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errlist_vadd(e, fmt, ap);
	va_end(ap);
}

/* Hands the text to the caller (or frees it). */
static void errlist_finish(struct errlist *e, char **errmsg)
{
	if (e->n > MANIFEST_MAX_ERRORS) {
		unsigned more = e->n - MANIFEST_MAX_ERRORS;

		e->n = 0; /* let this line through */
		errlist_add(e, "... and %u more error%s", more, more == 1 ? "" : "s");
	}
	if (e->oom) {
		free(e->buf);
		e->buf = NULL;
	}
	if (errmsg)
		*errmsg = e->buf;
	else
		free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* Where in the input an object came from, for messages. */
struct vctx {
	const char *source;
	unsigned doc;
	int item;
	char who[160]; /* "Pod default/web", once known */
	struct errlist *errs;
	unsigned n_err;
};

__attribute__((format(printf, 3, 4))) static void verr(struct vctx *v, const char *field,
						       const char *fmt, ...)
{
	char reason[512], item[32] = "", who[170] = "", fld[K8S_LABEL_KEY_MAX + 48] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (v->item >= 0)
		snprintf(item, sizeof(item), ": items[%d]", v->item);
	if (v->who[0])
		snprintf(who, sizeof(who), ": %s", v->who);
	if (field)
		snprintf(fld, sizeof(fld), ": %s", field);
	errlist_add(v->errs, "%s: document %u%s%s%s: %s", v->source, v->doc, item, who, fld, reason);
	v->n_err++;
}

static const char *type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* The value of key in obj, treating an explicit null as absent. */
static json_t *get(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static bool want_type(struct vctx *v, const char *field, const json_t *j, json_type type,
		      const char *want)
{
	if (json_typeof(j) == type || (type == JSON_TRUE && json_is_boolean(j)))
		return true;
	verr(v, field, "must be %s, not %s", want, type_name(j));
	return false;
}

static void check_labels(struct vctx *v, json_t *meta)
{
	json_t *labels = get(meta, "labels"), *val;
	const char *key, *why;
	char field[K8S_LABEL_KEY_MAX + 40];

	if (!labels)
		return;
	if (!want_type(v, "metadata.labels", labels, JSON_OBJECT, "a map of strings"))
		return;
	json_object_foreach(labels, key, val) {
		snprintf(field, sizeof(field), "metadata.labels[\"%.*s\"]", K8S_LABEL_KEY_MAX, key);
		if ((why = k8s_valid_label_key(key))) {
			verr(v, field, "invalid label key: %s", why);
			continue;
		}
		if (!json_is_string(val)) {
			verr(v, field, "label values must be strings, not %s (quote it)", type_name(val));
			continue;
		}
		if ((why = k8s_valid_label_value(json_string_value(val))))
			verr(v, field, "invalid label value \"%.*s\": %s", 80, json_string_value(val), why);
	}
}

static int set_string(json_t *obj, const char *key, const char *val)
{
	return json_object_set_new(obj, key, json_string(val)) ? -ENOMEM : 0;
}

/* metadata: name, namespace (defaulted or dropped), labels, uid. */
static int check_metadata(struct vctx *v, enum k8s_kind kind, json_t *obj)
{
	json_t *meta = get(obj, "metadata"), *name, *ns, *uid;
	const char *why;

	if (!meta) {
		verr(v, "metadata", "is required");
		return 0;
	}
	if (!want_type(v, "metadata", meta, JSON_OBJECT, "an object"))
		return 0;
	name = get(meta, "name");
	if (!name) {
		verr(v, "metadata.name", "is required%s",
		     get(meta, "generateName") ? " (generateName is not supported)" : "");
	} else if (want_type(v, "metadata.name", name, JSON_STRING, "a string")) {
		why = kind == K8S_KIND_NAMESPACE ? k8s_valid_dns1123_label(json_string_value(name))
						 : k8s_valid_dns1123_subdomain(json_string_value(name));
		if (why)
			verr(v, "metadata.name", "\"%.*s\" is invalid: a lowercase RFC 1123 %s %s", 80,
			     json_string_value(name),
			     kind == K8S_KIND_NAMESPACE ? "label" : "subdomain", why);
	}
	if (!k8s_kind_namespaced(kind)) {
		json_object_del(meta, "namespace"); /* as the API server clears it */
	} else {
		ns = get(meta, "namespace");
		if (!ns || (json_is_string(ns) && !*json_string_value(ns))) {
			if (set_string(meta, "namespace", "default"))
				return -ENOMEM;
		} else if (want_type(v, "metadata.namespace", ns, JSON_STRING, "a string") &&
			   (why = k8s_valid_dns1123_label(json_string_value(ns)))) {
			verr(v, "metadata.namespace", "\"%.*s\" is invalid: a lowercase RFC 1123 label %s",
			     80, json_string_value(ns), why);
		}
	}
	uid = get(meta, "uid");
	if (uid)
		want_type(v, "metadata.uid", uid, JSON_STRING, "a string");
	check_labels(v, meta);

	/* The API server sets this label on every Namespace, overriding the user. */
	if (kind == K8S_KIND_NAMESPACE && json_is_string(name)) {
		json_t *labels = get(meta, "labels");

		if (labels && !json_is_object(labels))
			return 0; /* reported above */
		if (!labels) {
			labels = json_object();
			if (!labels || json_object_set_new(meta, "labels", labels))
				return -ENOMEM;
		}
		if (set_string(labels, NS_LABEL, json_string_value(name)))
			return -ENOMEM;
	}
	return 0;
}

static int check_port(struct vctx *v, const char *at, json_t *port, json_t *names)
{
	char field[128];
	json_t *num, *name, *proto;
	const char *why;

	if (!want_type(v, at, port, JSON_OBJECT, "an object"))
		return 0;
	snprintf(field, sizeof(field), "%s.containerPort", at);
	num = get(port, "containerPort");
	if (!num)
		verr(v, field, "is required");
	else if (!json_is_integer(num))
		verr(v, field, "must be an integer, not %s", type_name(num));
	else if (json_integer_value(num) < 1 || json_integer_value(num) > 65535)
		verr(v, field, "must be between 1 and 65535, got %lld",
		     (long long)json_integer_value(num));

	snprintf(field, sizeof(field), "%s.name", at);
	name = get(port, "name");
	if (name && want_type(v, field, name, JSON_STRING, "a string")) {
		const char *s = json_string_value(name);

		if ((why = k8s_valid_port_name(s)))
			verr(v, field, "\"%.*s\" is invalid: %s", 40, s, why);
		else if (json_object_get(names, s))
			verr(v, field, "duplicate port name \"%s\"", s);
		else if (json_object_set(names, s, json_true()))
			return -ENOMEM;
	}

	snprintf(field, sizeof(field), "%s.protocol", at);
	proto = get(port, "protocol");
	if (!proto)
		return set_string(port, "protocol", "TCP");
	if (want_type(v, field, proto, JSON_STRING, "a string") &&
	    strcmp(json_string_value(proto), "TCP") && strcmp(json_string_value(proto), "UDP") &&
	    strcmp(json_string_value(proto), "SCTP"))
		verr(v, field, "unsupported value \"%.*s\": must be TCP, UDP or SCTP", 40,
		     json_string_value(proto));
	return 0;
}

static int check_container(struct vctx *v, size_t idx, json_t *c, json_t *cnames)
{
	char at[64], field[96];
	json_t *name, *ports, *names, *port;
	const char *why;
	size_t i;
	int err = 0;

	snprintf(at, sizeof(at), "spec.containers[%zu]", idx);
	if (!want_type(v, at, c, JSON_OBJECT, "an object"))
		return 0;
	snprintf(field, sizeof(field), "%s.name", at);
	name = get(c, "name");
	if (!name) {
		verr(v, field, "is required");
	} else if (want_type(v, field, name, JSON_STRING, "a string")) {
		const char *s = json_string_value(name);

		if ((why = k8s_valid_dns1123_label(s)))
			verr(v, field, "\"%.*s\" is invalid: a lowercase RFC 1123 label %s", 80, s, why);
		else if (json_object_get(cnames, s))
			verr(v, field, "duplicate container name \"%s\"", s);
		else if (json_object_set(cnames, s, json_true()))
			return -ENOMEM;
	}
	snprintf(field, sizeof(field), "%s.ports", at);
	ports = get(c, "ports");
	if (!ports || !want_type(v, field, ports, JSON_ARRAY, "a list"))
		return 0;
	names = json_object();
	if (!names)
		return -ENOMEM;
	json_array_foreach(ports, i, port) {
		snprintf(field, sizeof(field), "%s.ports[%zu]", at, i);
		err = check_port(v, field, port, names);
		if (err)
			break;
	}
	json_decref(names);
	return err;
}

static void check_ip(struct vctx *v, const char *field, const json_t *ip)
{
	struct sl_ip parsed;

	if (want_type(v, field, ip, JSON_STRING, "a string") &&
	    sl_ip_parse(json_string_value(ip), &parsed))
		verr(v, field, "\"%.*s\" is not an IP address", 60, json_string_value(ip));
}

static void check_pod_status(struct vctx *v, const json_t *status)
{
	json_t *ip, *ips, *e;
	char field[64];
	size_t i;

	if (!want_type(v, "status", status, JSON_OBJECT, "an object"))
		return;
	if ((ip = get(status, "podIP")))
		check_ip(v, "status.podIP", ip);
	ips = get(status, "podIPs");
	if (!ips || !want_type(v, "status.podIPs", ips, JSON_ARRAY, "a list"))
		return;
	json_array_foreach(ips, i, e) {
		snprintf(field, sizeof(field), "status.podIPs[%zu]", i);
		if (!want_type(v, field, e, JSON_OBJECT, "an object"))
			continue;
		snprintf(field, sizeof(field), "status.podIPs[%zu].ip", i);
		if (!(ip = get(e, "ip")))
			verr(v, field, "is required");
		else
			check_ip(v, field, ip);
	}
}

static int check_pod(struct vctx *v, json_t *obj)
{
	json_t *spec = get(obj, "spec"), *containers, *c, *cnames, *node, *hostnet, *status;
	const char *why;
	size_t i;
	int err = 0;

	if (!spec) {
		verr(v, "spec", "is required");
		return 0;
	}
	if (!want_type(v, "spec", spec, JSON_OBJECT, "an object"))
		return 0;
	node = get(spec, "nodeName");
	if (node && want_type(v, "spec.nodeName", node, JSON_STRING, "a string") &&
	    *json_string_value(node) && (why = k8s_valid_dns1123_subdomain(json_string_value(node))))
		verr(v, "spec.nodeName", "\"%.*s\" is invalid: %s", 80, json_string_value(node), why);
	hostnet = get(spec, "hostNetwork");
	if (hostnet)
		want_type(v, "spec.hostNetwork", hostnet, JSON_TRUE, "a boolean");
	status = get(obj, "status");
	if (status)
		check_pod_status(v, status);

	containers = get(spec, "containers");
	if (!containers || (json_is_array(containers) && !json_array_size(containers))) {
		verr(v, "spec.containers", "must have at least one container");
		return 0;
	}
	if (!want_type(v, "spec.containers", containers, JSON_ARRAY, "a list"))
		return 0;
	cnames = json_object();
	if (!cnames)
		return -ENOMEM;
	json_array_foreach(containers, i, c) {
		err = check_container(v, i, c, cnames);
		if (err)
			break;
	}
	json_decref(cnames);
	return err;
}

static int check_netpol(struct vctx *v, json_t *obj)
{
	json_t *spec = get(obj, "spec"), *sel, *types, *t;
	size_t i;

	if (!spec) {
		spec = json_object();
		if (!spec || json_object_set_new(obj, "spec", spec))
			return -ENOMEM;
	}
	if (!want_type(v, "spec", spec, JSON_OBJECT, "an object"))
		return 0;
	sel = get(spec, "podSelector");
	if (sel)
		want_type(v, "spec.podSelector", sel, JSON_OBJECT, "an object");
	types = get(spec, "policyTypes");
	if (!types || !want_type(v, "spec.policyTypes", types, JSON_ARRAY, "a list"))
		return 0;
	json_array_foreach(types, i, t) {
		if (!json_is_string(t) ||
		    (strcmp(json_string_value(t), "Ingress") && strcmp(json_string_value(t), "Egress"))) {
			char field[48];

			snprintf(field, sizeof(field), "spec.policyTypes[%zu]", i);
			verr(v, field, "must be \"Ingress\" or \"Egress\"");
		}
	}
	return 0;
}

static bool is_list_kind(const char *kind)
{
	size_t len = strlen(kind);

	return len >= 4 && !strcmp(kind + len - 4, "List");
}

static int add_obj(struct manifest *m, size_t *cap, const struct vctx *v, enum k8s_kind kind,
		   json_t *obj)
{
	struct manifest_obj *o;
	json_t *meta = json_object_get(obj, "metadata");

	if (m->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;

		o = realloc(m->objs, ncap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		m->objs = o;
		*cap = ncap;
	}
	o = &m->objs[m->n++];
	o->kind = kind;
	o->json = json_incref(obj);
	o->name = json_string_value(json_object_get(meta, "name"));
	o->ns = k8s_kind_namespaced(kind) ? json_string_value(json_object_get(meta, "namespace")) : "";
	o->doc = v->doc;
	o->item = v->item;
	return 0;
}

/* "Pod default/web" from whatever the object holds, valid or not. */
static void set_who(struct vctx *v, enum k8s_kind kind, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));

	v->who[0] = '\0';
	if (!name)
		return;
	if (!k8s_kind_namespaced(kind))
		snprintf(v->who, sizeof(v->who), "%s %.100s", k8s_kind_name(kind), name);
	else
		snprintf(v->who, sizeof(v->who), "%s %.40s/%.100s", k8s_kind_name(kind),
			 ns && *ns ? ns : "default", name);
}

static int check_object(struct vctx *v, json_t *obj, bool in_list, struct manifest *m, size_t *cap);

static int check_list(struct vctx *v, json_t *list, const char *kind, struct manifest *m, size_t *cap)
{
	json_t *items = get(list, "items"), *item;
	/* "PodList" items may leave out what the list says for them. */
	char item_kind[64];
	size_t i;
	int err = 0;

	if (!items)
		return 0;
	if (!want_type(v, "items", items, JSON_ARRAY, "a list"))
		return 0;
	snprintf(item_kind, sizeof(item_kind), "%.*s", (int)(strlen(kind) - 4), kind);
	json_array_foreach(items, i, item) {
		v->item = (int)i;
		v->who[0] = '\0';
		if (json_is_object(item) && item_kind[0] && !get(item, "kind")) {
			json_t *api = get(list, "apiVersion");

			if (set_string(item, "kind", item_kind) ||
			    (json_is_string(api) && !get(item, "apiVersion") &&
			     json_object_set(item, "apiVersion", api)))
				return -ENOMEM;
		}
		err = check_object(v, item, true, m, cap);
		if (err)
			break;
	}
	v->item = -1;
	return err;
}

static int check_object(struct vctx *v, json_t *obj, bool in_list, struct manifest *m, size_t *cap)
{
	json_t *kind_j, *api;
	const char *kind_s, *want;
	enum k8s_kind kind;
	unsigned errs_before = v->n_err;
	int err;

	if (!json_is_object(obj)) {
		verr(v, NULL, "expected a Kubernetes object, got %s", type_name(obj));
		return 0;
	}
	kind_j = get(obj, "kind");
	if (!kind_j) {
		verr(v, "kind", "is required");
		return 0;
	}
	if (!want_type(v, "kind", kind_j, JSON_STRING, "a string"))
		return 0;
	kind_s = json_string_value(kind_j);
	kind = k8s_kind_parse(kind_s);
	if (kind == K8S_KIND_NONE && is_list_kind(kind_s)) {
		if (in_list) {
			verr(v, "kind", "a %.60s inside a List is not supported", kind_s);
			return 0;
		}
		return check_list(v, obj, kind_s, m, cap);
	}
	if (kind == K8S_KIND_NONE) {
		verr(v, "kind", "unknown kind \"%.60s\" (Sluice reads Namespace, Pod and NetworkPolicy)",
		     kind_s);
		return 0;
	}
	set_who(v, kind, obj);
	api = get(obj, "apiVersion");
	want = k8s_kind_api_version(kind);
	if (!api)
		verr(v, "apiVersion", "is required (\"%s\")", want);
	else if (want_type(v, "apiVersion", api, JSON_STRING, "a string") &&
		 strcmp(json_string_value(api), want))
		verr(v, "apiVersion", "\"%.60s\" does not serve kind %s (want \"%s\")",
		     json_string_value(api), k8s_kind_name(kind), want);

	err = check_metadata(v, kind, obj);
	if (!err && kind == K8S_KIND_POD)
		err = check_pod(v, obj);
	else if (!err && kind == K8S_KIND_NETWORK_POLICY)
		err = check_netpol(v, obj);
	if (!err && v->n_err == errs_before)
		err = add_obj(m, cap, v, kind, obj);
	return err;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		json_decref(m->objs[i].json);
	free(m->objs);
	free(m->source);
	free(m);
}

int manifest_parse_buf(const char *source, const char *buf, size_t len, struct manifest **out,
		       char **errmsg)
{
	struct errlist errs = { 0 };
	struct yaml_json_error yerr;
	struct manifest *m = NULL;
	json_t *docs = NULL, *doc;
	size_t cap = 0, i, n_docs = 0;
	char pos[400];
	int err;

	if (errmsg)
		*errmsg = NULL;
	if (!source)
		source = MANIFEST_STDIN_NAME;
	err = yaml_json_parse(buf, len, &docs, &yerr);
	if (err) {
		errlist_add(&errs, "%s: document %u: %s", source, yerr.doc,
			    yaml_json_error_fmt(&yerr, pos, sizeof(pos)));
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->source = strdup(source))) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(docs, i, doc) {
		struct vctx v = { .source = source, .doc = (unsigned)i + 1, .item = -1, .errs = &errs };

		if (json_is_null(doc))
			continue; /* "---" with nothing after it, as kubectl skips */
		n_docs++;
		err = check_object(&v, doc, false, m, &cap);
		if (err)
			goto out;
	}
	if (!errs.n && !n_docs)
		errlist_add(&errs, "%s: no objects: the input holds no YAML or JSON document", source);
	if (errs.n)
		err = -EINVAL;
out:
	json_decref(docs);
	if (err == -ENOMEM && !errs.n)
		errlist_add(&errs, "%s: out of memory", source);
	if (err) {
		manifest_free(m);
		errlist_finish(&errs, errmsg);
		return err;
	}
	errlist_finish(&errs, NULL);
	*out = m;
	return 0;
}

static int read_stdin(size_t max, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (used == cap) {
			char *grown;

			if (cap >= max) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 > max ? max : cap * 2;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				return -ENOMEM;
			}
			buf = grown;
		}
		n = read(STDIN_FILENO, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
}

__attribute__((format(printf, 2, 3))) static void set_errmsg(char **errmsg, const char *fmt, ...)
{
	va_list ap;

	if (!errmsg)
		return;
	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
}

int manifest_parse_file(const char *path, struct manifest **out, char **errmsg)
{
	bool is_stdin = !strcmp(path, "-");
	const char *source = is_stdin ? MANIFEST_STDIN_NAME : path;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (errmsg)
		*errmsg = NULL;
	err = is_stdin ? read_stdin(MANIFEST_MAX_BYTES, &buf, &len)
		       : fs_read_all(path, MANIFEST_MAX_BYTES, &buf, &len);
	if (err == -EFBIG) {
		set_errmsg(errmsg, "%s: larger than %u MiB", source, MANIFEST_MAX_BYTES >> 20);
		return err;
	}
	if (err) {
		set_errmsg(errmsg, "%s: cannot read: %s", source, strerror(-err));
		return err;
	}
	err = manifest_parse_buf(source, buf, len, out, errmsg);
	free(buf);
	return err;
}

static bool safe_name(const char *s)
{
	if (!s || *s == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

int manifest_filename(enum k8s_kind kind, const char *ns, const char *name,
		      char buf[MANIFEST_FILENAME_MAX])
{
	char full[16 + K8S_DNS1123_LABEL_MAX + K8S_DNS1123_SUBDOMAIN_MAX + 8], prefix[16];
	const char *kn = k8s_kind_name(kind);
	size_t len, i;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	if (kind <= K8S_KIND_NONE || kind >= K8S_KIND_MAX || !safe_name(name) || !*name ||
	    strlen(name) > K8S_DNS1123_SUBDOMAIN_MAX)
		return -EINVAL;
	for (i = 0; kn[i] && i < sizeof(prefix) - 1; i++)
		prefix[i] = (char)(kn[i] >= 'A' && kn[i] <= 'Z' ? kn[i] - 'A' + 'a' : kn[i]);
	prefix[i] = '\0';
	if (k8s_kind_namespaced(kind)) {
		if (!safe_name(ns) || !*ns || strlen(ns) > K8S_DNS1123_LABEL_MAX)
			return -EINVAL;
		snprintf(full, sizeof(full), "%s_%s_%s", prefix, ns, name);
	} else {
		snprintf(full, sizeof(full), "%s_%s", prefix, name);
	}
	len = strlen(full);
	if (len + strlen(".json") <= NAME_MAX) {
		snprintf(buf, MANIFEST_FILENAME_MAX, "%s.json", full);
		return 0;
	}
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)full[i];
		h *= 0x100000001b3ull;
	}
	/* 255 = kept + '~' + 16 hex digits + ".json" */
	snprintf(buf, MANIFEST_FILENAME_MAX, "%.*s~%016llx.json",
		 (int)(NAME_MAX - 1 - 16 - strlen(".json")), full, (unsigned long long)h);
	return 0;
}

static int obj_path(const char *dir, const struct manifest_obj *o, char *path, size_t len)
{
	char file[MANIFEST_FILENAME_MAX];
	int err = manifest_filename(o->kind, o->ns, o->name, file);

	if (err)
		return err;
	if (snprintf(path, len, "%s/%s", dir, file) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* Pretty-printed, ending in a newline like any text file. */
static int write_json(const char *path, const json_t *obj)
{
	char *text = json_dumps(obj, JSON_INDENT(2));
	size_t n;
	char *grown;
	int err;

	if (!text)
		return -ENOMEM;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (!grown) {
		free(text);
		return -ENOMEM;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	err = fs_write_atomic(path, grown, n + 1, 0644);
	free(grown);
	return err;
}

int manifest_write_dir(const struct manifest *m, const char *dir, char **errmsg)
{
	char path[PATH_MAX];
	int err;

	if (errmsg)
		*errmsg = NULL;
	err = fs_mkdir_p(dir, 0755);
	if (err) {
		set_errmsg(errmsg, "create %s: %s", dir, strerror(-err));
		return err;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_obj *o = &m->objs[i];

		err = obj_path(dir, o, path, sizeof(path));
		if (err) {
			set_errmsg(errmsg, "%s: document %u: %s %s/%s: no file name: %s", m->source,
				   o->doc, k8s_kind_name(o->kind), o->ns, o->name, strerror(-err));
			return err;
		}
		err = write_json(path, o->json);
		if (err) {
			set_errmsg(errmsg, "write %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

int manifest_delete_dir(const struct manifest *m, const char *dir, size_t *removed, char **errmsg)
{
	char path[PATH_MAX];
	size_t n = 0;
	int err = 0;

	if (errmsg)
		*errmsg = NULL;
	for (size_t i = 0; i < m->n && !err; i++) {
		err = obj_path(dir, &m->objs[i], path, sizeof(path));
		if (err) {
			set_errmsg(errmsg, "%s: document %u: no file name: %s", m->source, m->objs[i].doc,
				   strerror(-err));
			break;
		}
		if (!unlink(path))
			n++;
		else if (errno != ENOENT) {
			err = -errno;
			set_errmsg(errmsg, "remove %s: %s", path, strerror(-err));
		}
	}
	if (removed)
		*removed = n;
	return err;
}
