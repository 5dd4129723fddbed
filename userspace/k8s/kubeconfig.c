// SPDX-License-Identifier: Apache-2.0
#include "k8s/kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/yaml_json.h"

__attribute__((format(printf, 3, 4))) static void note(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
}

#define fail(msg, len, ...) (note(msg, len, __VA_ARGS__), -EINVAL)

void kube_auth_free(struct kube_auth *a)
{
	free(a->server);
	free(a->token);
	free(a->token_file);
	free(a->ca_file);
	free(a->ca_data.data);
	free(a->cert_file);
	free(a->cert_data.data);
	free(a->key_file);
	free(a->key_data.data);
	free(a->origin);
	memset(a, 0, sizeof(*a));
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int kube_base64_decode(const char *s, struct kube_blob *out)
{
	size_t n = strlen(s), len = 0, pad = 0;
	unsigned char *buf = malloc(n / 4 * 3 + 3);
	unsigned acc = 0, bits = 0;

	if (!buf)
		return -ENOMEM;
	for (const char *p = s; *p; p++) {
		int v;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		v = b64_value(*p);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[len++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6) /* a lone trailing character is not base64 */
		goto bad;
	out->data = buf;
	out->len = len;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

static int dup_str(const char *s, char **out)
{
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -ENOMEM : 0;
}

/* --- in-cluster ------------------------------------------------------------- */

int kube_auth_in_cluster(const char *sa_dir, struct kube_auth *out, char *msg, size_t msg_len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube_auth a = { 0 };
	int err;

	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	if (!host || !*host || !port || !*port) {
		note(msg, msg_len, "no kubeconfig and not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)");
		return -ENOENT;
	}
	if (asprintf(&a.server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0 ||
	    asprintf(&a.token_file, "%s/token", sa_dir) < 0 || asprintf(&a.ca_file, "%s/ca.crt", sa_dir) < 0 ||
	    !(a.origin = strdup("in-cluster"))) {
		err = -ENOMEM;
		goto out;
	}
	if (access(a.token_file, R_OK)) {
		err = -errno;
		note(msg, msg_len, "in-cluster: service account token %s: %s", a.token_file,
			 strerror(errno));
		goto out;
	}
	if (access(a.ca_file, R_OK)) {
		/* As client-go: the system's CAs then, not a refusal. */
		pr_warn("kube: in-cluster CA %s: %s; using the system's CAs", a.ca_file, strerror(errno));
		free(a.ca_file);
		a.ca_file = NULL;
	}
	*out = a;
	return 0;
out:
	kube_auth_free(&a);
	return err;
}

/* --- kubeconfig --------------------------------------------------------------- */

struct kfile {
	char *path;
	char dir[PATH_MAX];
	json_t *doc;
};

struct kfiles {
	struct kfile *v;
	size_t n;
};

static void kfiles_free(struct kfiles *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].path);
		json_decref(f->v[i].doc);
	}
	free(f->v);
}

static int kfile_load(struct kfiles *files, const char *path, bool must_exist, char *msg, size_t msg_len)
{
	struct yaml_json_error yerr;
	struct kfile *f;
	char *buf = NULL, ebuf[300];
	size_t len;
	json_t *docs = NULL, *doc;
	int err;

	err = fs_read_all(path, KUBECONFIG_MAX_BYTES, &buf, &len);
	if (err == -ENOENT && !must_exist)
		return 0;
	if (err) {
		note(msg, msg_len, "kubeconfig %s: %s", path, strerror(-err));
		return err;
	}
	err = yaml_json_parse(buf, len, &docs, &yerr);
	free(buf);
	if (err) {
		if (err == -EINVAL)
			note(msg, msg_len, "kubeconfig %s: %s", path, yaml_json_error_fmt(&yerr, ebuf, sizeof(ebuf)));
		return err;
	}
	doc = json_array_get(docs, 0);
	if (!json_is_object(doc)) {
		json_decref(docs);
		return fail(msg, msg_len, "kubeconfig %s: not a mapping", path);
	}
	f = realloc(files->v, (files->n + 1) * sizeof(*f));
	if (!f) {
		json_decref(docs);
		return -ENOMEM;
	}
	files->v = f;
	f = &files->v[files->n];
	f->doc = json_incref(doc);
	json_decref(docs);
	f->path = strdup(path);
	if (!f->path) {
		json_decref(f->doc);
		return -ENOMEM;
	}
	snprintf(f->dir, sizeof(f->dir), "%s", path);
	{
		char *slash = strrchr(f->dir, '/');

		if (slash)
			slash[slash == f->dir] = '\0';
		else
			snprintf(f->dir, sizeof(f->dir), ".");
	}
	files->n++;
	return 0;
}

/* The `key` of the entry named `name` in the `list` of the first file that
 * has one ("contexts", "ctx" -> its "context"); *fi is that file. */
static json_t *kfind(const struct kfiles *files, const char *list, const char *key, const char *name,
		     size_t *fi)
{
	for (size_t i = 0; i < files->n; i++) {
		json_t *arr = json_object_get(files->v[i].doc, list), *e;
		size_t j;

		json_array_foreach(arr, j, e) {
			if (json_is_string(json_object_get(e, "name")) &&
			    !strcmp(json_string_value(json_object_get(e, "name")), name)) {
				*fi = i;
				return json_object_get(e, key);
			}
		}
	}
	return NULL;
}

static const char *str_field(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

/* A path of the kubeconfig, made absolute against the file's directory. */
static int kpath(const struct kfile *f, const char *p, char **out)
{
	if (!p) {
		*out = NULL;
		return 0;
	}
	if (p[0] == '/')
		*out = strdup(p);
	else if (asprintf(out, "%s/%s", f->dir, p) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static int kdata(const char *origin, const json_t *o, const char *key, struct kube_blob *out, char *msg,
		 size_t msg_len)
{
	const char *s = str_field(o, key);
	int err;

	if (!s)
		return 0;
	err = kube_base64_decode(s, out);
	if (err == -EINVAL)
		return fail(msg, msg_len, "%s: %s: not base64", origin, key);
	return err;
}

static int from_kubeconfig(const struct kfiles *files, const char *context, struct kube_auth *a,
			   char *msg, size_t msg_len)
{
	const char *cname, *uname, *server, *p;
	json_t *ctx = NULL, *cluster, *user, *ins;
	size_t ci = 0, cli = 0, ui = 0;
	char origin[PATH_MAX + 300];
	int err;

	if (!context) {
		for (size_t i = 0; i < files->n && !context; i++)
			context = str_field(files->v[i].doc, "current-context");
		if (!context)
			return fail(msg, msg_len, "kubeconfig %s: no current-context", files->v[0].path);
	}
	ctx = kfind(files, "contexts", "context", context, &ci);
	snprintf(origin, sizeof(origin), "kubeconfig %s, context %s", files->v[ci].path, context);
	if (!json_is_object(ctx))
		return fail(msg, msg_len, "%s: no such context", origin);
	cname = str_field(ctx, "cluster");
	uname = str_field(ctx, "user");
	if (!cname)
		return fail(msg, msg_len, "%s: context has no cluster", origin);
	cluster = kfind(files, "clusters", "cluster", cname, &cli);
	if (!json_is_object(cluster))
		return fail(msg, msg_len, "%s: no cluster %s", origin, cname);
	user = uname ? kfind(files, "users", "user", uname, &ui) : NULL;
	if (uname && !json_is_object(user))
		return fail(msg, msg_len, "%s: no user %s", origin, uname);

	server = str_field(cluster, "server");
	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7)))
		return fail(msg, msg_len, "%s: cluster %s: server must be an http:// or https:// URL",
			    origin, cname);
	if (str_field(cluster, "tls-server-name") || str_field(cluster, "proxy-url"))
		return fail(msg, msg_len, "%s: cluster %s: tls-server-name and proxy-url are not supported",
			    origin, cname);
	ins = json_object_get(cluster, "insecure-skip-tls-verify");
	if (ins && !json_is_boolean(ins))
		return fail(msg, msg_len, "%s: cluster %s: insecure-skip-tls-verify must be true or false",
			    origin, cname);
	a->insecure = json_is_true(ins);
	if (!(a->server = strdup(server)) || !(a->origin = strdup(origin)))
		return -ENOMEM;
	for (size_t n = strlen(a->server); n > 8 && a->server[n - 1] == '/'; n--)
		a->server[n - 1] = '\0';
	if ((err = kdata(origin, cluster, "certificate-authority-data", &a->ca_data, msg, msg_len)))
		return err;
	if (!a->ca_data.data &&
	    (err = kpath(&files->v[cli], str_field(cluster, "certificate-authority"), &a->ca_file)))
		return err;
	if (!user)
		return 0;
	if (json_object_get(user, "exec") || json_object_get(user, "auth-provider") ||
	    str_field(user, "username") || str_field(user, "password") || json_object_get(user, "as"))
		return fail(msg, msg_len,
			    "%s: user %s: exec, auth-provider, basic auth and impersonation are not supported; use a token, tokenFile or a client certificate",
			    origin, uname);
	if ((err = dup_str(str_field(user, "token"), &a->token)))
		return err;
	if (!a->token && (p = str_field(user, "tokenFile")) && (err = kpath(&files->v[ui], p, &a->token_file)))
		return err;
	if ((err = kdata(origin, user, "client-certificate-data", &a->cert_data, msg, msg_len)) ||
	    (err = kdata(origin, user, "client-key-data", &a->key_data, msg, msg_len)))
		return err;
	if (!a->cert_data.data &&
	    (err = kpath(&files->v[ui], str_field(user, "client-certificate"), &a->cert_file)))
		return err;
	if (!a->key_data.data && (err = kpath(&files->v[ui], str_field(user, "client-key"), &a->key_file)))
		return err;
	if ((a->cert_data.data || a->cert_file) != (a->key_data.data || a->key_file))
		return fail(msg, msg_len, "%s: user %s: a client certificate needs its key and the other way round",
			    origin, uname);
	return 0;
}

int kube_auth_from_kubeconfig(const char *paths, const char *context, struct kube_auth *out, char *msg,
			      size_t msg_len)
{
	struct kfiles files = { 0 };
	struct kube_auth a = { 0 };
	bool list = strchr(paths, ':') != NULL;
	char *copy = strdup(paths), *save = NULL;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	/* Like kubectl: files of a $KUBECONFIG list may be missing, a single one not. */
	for (char *p = strtok_r(copy, ":", &save); p && !err; p = strtok_r(NULL, ":", &save))
		err = kfile_load(&files, p, !list, msg, msg_len);
	free(copy);
	if (!err && !files.n)
		err = fail(msg, msg_len, "kubeconfig %s: none of the files exists", paths);
	if (!err)
		err = from_kubeconfig(&files, context, &a, msg, msg_len);
	kfiles_free(&files);
	if (err) {
		kube_auth_free(&a);
		return err;
	}
	*out = a;
	return 0;
}

int kube_auth_load(const char *kubeconfig, const char *context, const char *sa_dir, struct kube_auth *out,
		   char *msg, size_t msg_len)
{
	const char *env = getenv("KUBECONFIG");

	if (kubeconfig && *kubeconfig)
		return kube_auth_from_kubeconfig(kubeconfig, context, out, msg, msg_len);
	if (env && *env)
		return kube_auth_from_kubeconfig(env, context, out, msg, msg_len);
	return kube_auth_in_cluster(sa_dir, out, msg, msg_len);
}
