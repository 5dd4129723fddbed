// SPDX-License-Identifier: Apache-2.0
/* The object store and the dir:PATH source: objects reduced to what Sluice
 * uses, lookups, generations and callbacks, a directory loaded, a bad file
 * keeping its last good objects, and inotify-driven reloads. */
#include "lib/sl_test.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/dir_source.h"
#include "k8s/manifest.h"
#include "k8s/store.h"
#include "k8s/yaml_json.h"

/* --- helpers ------------------------------------------------------------------ */

static struct k8s_obj *obj_from_yaml(const char *text)
{
	struct yaml_json_error yerr;
	struct k8s_obj *o = NULL;
	json_t *docs;

	assert_int_equal(yaml_json_parse(text, strlen(text), &docs, &yerr), 0);
	assert_int_equal(k8s_obj_from_json(json_array_get(docs, 0), &o), 0);
	json_decref(docs);
	return o;
}

static struct k8s_obj *pod(const char *ns, const char *name, const char *app)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{kind: Pod, metadata: {name: %s, namespace: %s, labels: {app: %s}},"
		 " spec: {containers: [{name: c}]}}",
		 name, ns, app);
	return obj_from_yaml(text);
}

struct events {
	unsigned added, updated, deleted;
	char last_old_app[32], last_new_app[32];
};

static void record(void *arg, const struct k8s_obj *old, const struct k8s_obj *cur)
{
	struct events *ev = arg;
	const char *a;

	if (!old)
		ev->added++;
	else if (!cur)
		ev->deleted++;
	else
		ev->updated++;
	a = old ? k8s_labels_get(&old->labels, "app") : NULL;
	snprintf(ev->last_old_app, sizeof(ev->last_old_app), "%s", a ? a : "");
	a = cur ? k8s_labels_get(&cur->labels, "app") : NULL;
	snprintf(ev->last_new_app, sizeof(ev->last_new_app), "%s", a ? a : "");
}

static char tmpdir[64];

static int group_setup(void **state)
{
	(void)state;
	log_init("test_k8s_store", LOG_ERR, LOG_FORMAT_TEXT, stderr); /* rejected files warn */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-test-k8s-store-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return fs_remove_tree(tmpdir);
}

/* A fresh directory per test, under the group's temporary directory. */
static void test_dir(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "%s/%s", tmpdir, name);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static void rm_file(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/* What the agent's loop does: wait for the fd, then process. */
static void wait_and_process(struct k8s_dir_source *src)
{
	struct pollfd pfd = { .fd = k8s_dir_source_fd(src), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(k8s_dir_source_process_events(src), 0);
}

struct file_status {
	const char *want;
	size_t n_objs;
	char error[1024];
	bool found;
};

static int find_file(const char *file, size_t n_objs, const char *error, void *arg)
{
	struct file_status *st = arg;

	if (strcmp(file, st->want))
		return 0;
	st->found = true;
	st->n_objs = n_objs;
	snprintf(st->error, sizeof(st->error), "%s", error ? error : "");
	return 1;
}

static int count_files(const char *file, size_t n_objs, const char *error, void *arg)
{
	(void)file, (void)n_objs, (void)error;
	(*(size_t *)arg)++;
	return 0;
}

static struct file_status file_status(struct k8s_dir_source *src, const char *name)
{
	struct file_status st = { .want = name };

	k8s_dir_source_for_each_file(src, find_file, &st);
	return st;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static const char *pod_app(const struct k8s_store *s, const char *ns, const char *name)
{
	const struct k8s_pod *p = k8s_store_pod(s, ns, name);

	return p ? k8s_labels_get(&p->obj.labels, "app") : NULL;
}

#define POD_YAML(name, app)                                                            \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n  labels: {app: " app "}\n" \
	"spec:\n  containers: [{name: c}]\n"

/* --- objects ------------------------------------------------------------------ */

static void test_obj_from_json_pod(void **state)
{
	struct k8s_obj *o;
	const struct k8s_pod *p;
	char buf[SL_IP_STRLEN];

	(void)state;
	o = obj_from_yaml("apiVersion: v1\n"
			  "kind: Pod\n"
			  "metadata:\n"
			  "  name: web-0\n"
			  "  namespace: shop\n"
			  "  uid: 1f2e\n"
			  "  labels: {tier: front, app: web, z: \"\"}\n"
			  "  annotations: {big: not kept}\n"
			  "spec:\n"
			  "  nodeName: node-1\n"
			  "  containers:\n"
			  "  - name: a\n"
			  "    image: x\n"
			  "    ports:\n"
			  "    - {containerPort: 8080, name: http}\n"
			  "    - {containerPort: 53, protocol: UDP, name: dns}\n"
			  "  - name: b\n"
			  "    ports: [{containerPort: 9000, protocol: SCTP}]\n"
			  "status:\n"
			  "  podIP: 198.18.16.5\n"
			  "  podIPs: [{ip: 198.18.16.5}, {ip: \"fd00::5\"}]\n");
	p = k8s_obj_pod(o);
	assert_non_null(p);
	assert_null(k8s_obj_namespace(o));
	assert_string_equal(o->ns, "shop");
	assert_string_equal(o->name, "web-0");
	assert_string_equal(p->uid, "1f2e");
	assert_string_equal(p->node_name, "node-1");
	assert_false(p->host_network);
	assert_int_equal(o->labels.n, 3);
	assert_string_equal(o->labels.v[0].key, "app"); /* sorted */
	assert_string_equal(k8s_labels_get(&o->labels, "tier"), "front");
	assert_string_equal(k8s_labels_get(&o->labels, "z"), "");
	assert_null(k8s_labels_get(&o->labels, "missing"));
	assert_int_equal(p->n_ports, 3);
	assert_string_equal(p->ports[0].name, "http");
	assert_int_equal(p->ports[0].port, 8080);
	assert_int_equal(p->ports[0].protocol, IPPROTO_TCP);
	assert_int_equal(p->ports[1].protocol, IPPROTO_UDP);
	assert_string_equal(p->ports[2].name, "");
	assert_int_equal(p->ports[2].protocol, IPPROTO_SCTP);
	assert_int_equal(p->n_ips, 2); /* podIP is podIPs[0]: not twice */
	assert_string_equal(sl_ip_fmt(&p->ips[0], buf), "198.18.16.5");
	assert_string_equal(sl_ip_fmt(&p->ips[1], buf), "fd00::5");
	k8s_obj_free(o);

	o = obj_from_yaml("{kind: Pod, metadata: {name: bare}, spec: {hostNetwork: true, containers: [{name: c}]}}");
	p = k8s_obj_pod(o);
	assert_string_equal(o->ns, "default");
	assert_null(p->uid);
	assert_null(p->node_name);
	assert_true(p->host_network);
	assert_int_equal(p->n_ports + p->n_ips + o->labels.n, 0);
	k8s_obj_free(o);
}

static void test_obj_from_json_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"{kind: Service, metadata: {name: x}}",
		"{kind: Pod, metadata: {namespace: x}, spec: {}}",
		"{kind: Pod, metadata: {name: x}}",
		"{kind: Pod, metadata: {name: x, labels: {a: 1}}, spec: {}}",
		"{kind: Pod, metadata: {name: x}, spec: {containers: [{ports: [{containerPort: 0}]}]}}",
		"{kind: Pod, metadata: {name: x}, spec: {containers: [{ports: [{containerPort: 1, protocol: ICMP}]}]}}",
		"{kind: Pod, metadata: {name: x}, spec: {}, status: {podIP: nope}}",
		"{kind: NetworkPolicy, metadata: {name: x}, spec: 5}",
		"[1, 2]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct yaml_json_error yerr;
		struct k8s_obj *o = NULL;
		json_t *docs;

		assert_int_equal(yaml_json_parse(bad[i], strlen(bad[i]), &docs, &yerr), 0);
		if (k8s_obj_from_json(json_array_get(docs, 0), &o) != -EINVAL)
			fail_msg("case %zu (%s) not rejected", i, bad[i]);
		assert_null(o);
		json_decref(docs);
	}
}

static void test_obj_namespace_and_netpol(void **state)
{
	struct k8s_obj *ns, *np;

	(void)state;
	ns = obj_from_yaml("{kind: Namespace, metadata: {name: prod, namespace: x, labels: {env: prod}}}");
	assert_non_null(k8s_obj_namespace(ns));
	assert_string_equal(ns->ns, ""); /* cluster-scoped */
	np = obj_from_yaml("{kind: NetworkPolicy, metadata: {name: deny, namespace: prod},"
			   " spec: {podSelector: {}, policyTypes: [Ingress]}}");
	assert_non_null(k8s_obj_netpol(np));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(k8s_obj_netpol(np)->spec, "policyTypes"), 0)),
			    "Ingress");
	k8s_obj_free(ns);
	k8s_obj_free(np);
}

/* --- the store ------------------------------------------------------------------ */

static int count_cb(const struct k8s_obj *o, void *arg)
{
	(void)o;
	(*(size_t *)arg)++;
	return 0;
}

static void test_store_put_get_delete(void **state)
{
	struct k8s_store *s;
	struct events ev = { 0 };
	const void *owner;
	int a, b; /* two owners */
	size_t n = 0;

	(void)state;
	assert_int_equal(k8s_store_new(&s), 0);
	k8s_store_set_callback(s, record, &ev);
	assert_int_equal(k8s_store_generation(s), 0);

	assert_int_equal(k8s_store_put(s, pod("shop", "web", "v1"), &a), 0);
	assert_int_equal(k8s_store_generation(s), 1);
	assert_int_equal(ev.added, 1);
	assert_string_equal(ev.last_new_app, "v1");
	assert_string_equal(pod_app(s, "shop", "web"), "v1");
	assert_null(k8s_store_pod(s, "default", "web"));
	assert_non_null(k8s_store_get(s, K8S_KIND_POD, "shop", "web", &owner));
	assert_ptr_equal(owner, &a);

	/* The same content again is no change. */
	assert_int_equal(k8s_store_put(s, pod("shop", "web", "v1"), &a), 0);
	assert_int_equal(k8s_store_generation(s), 1);
	assert_int_equal(ev.updated, 0);

	assert_int_equal(k8s_store_put(s, pod("shop", "web", "v2"), &a), 0);
	assert_int_equal(k8s_store_generation(s), 2);
	assert_int_equal(ev.updated, 1);
	assert_string_equal(ev.last_old_app, "v1");
	assert_string_equal(ev.last_new_app, "v2");

	/* Another owner may neither replace nor delete it. */
	assert_int_equal(k8s_store_put(s, pod("shop", "web", "v3"), &b), -EEXIST);
	assert_int_equal(k8s_store_delete(s, K8S_KIND_POD, "shop", "web", &b), -EPERM);
	assert_string_equal(pod_app(s, "shop", "web"), "v2");
	assert_int_equal(k8s_store_generation(s), 2);

	assert_int_equal(k8s_store_put(s, obj_from_yaml("{kind: Namespace, metadata: {name: shop}}"), &b), 0);
	assert_non_null(k8s_store_namespace(s, "shop"));
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 1);
	assert_int_equal(k8s_store_count(s, K8S_KIND_NAMESPACE), 1);
	assert_int_equal(k8s_store_count(s, K8S_KIND_NETWORK_POLICY), 0);
	assert_int_equal(k8s_store_for_each(s, K8S_KIND_POD, count_cb, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(k8s_store_delete(s, K8S_KIND_POD, "shop", "web", &a), 0);
	assert_int_equal(ev.deleted, 1);
	assert_string_equal(ev.last_old_app, "v2");
	assert_int_equal(k8s_store_generation(s), 4);
	assert_null(k8s_store_pod(s, "shop", "web"));
	assert_int_equal(k8s_store_delete(s, K8S_KIND_POD, "shop", "web", &a), -ENOENT);
	k8s_store_free(s);
}

static int stop_at_three(const struct k8s_obj *o, void *arg)
{
	(void)o;
	return ++*(size_t *)arg == 3 ? 42 : 0;
}

static void test_store_many_pods(void **state)
{
	struct k8s_store *s;
	char name[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(k8s_store_new(&s), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "pod-%d", i);
		assert_int_equal(k8s_store_put(s, pod(i % 2 ? "a" : "b", name, "x"), NULL), 0);
	}
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 10000);
	assert_int_equal(k8s_store_generation(s), 10000);
	assert_non_null(k8s_store_pod(s, "a", "pod-9999"));
	assert_null(k8s_store_pod(s, "b", "pod-9999"));
	assert_int_equal(k8s_store_for_each(s, K8S_KIND_POD, stop_at_three, &n), 42);
	for (int i = 0; i < 10000; i += 2) {
		snprintf(name, sizeof(name), "pod-%d", i);
		assert_int_equal(k8s_store_delete(s, K8S_KIND_POD, "b", name, NULL), 0);
	}
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 5000);
	assert_null(k8s_store_pod(s, "b", "pod-0"));
	assert_non_null(k8s_store_pod(s, "a", "pod-1"));
	k8s_store_free(s); /* frees what is left */
}

/* --- the dir source ------------------------------------------------------------ */

static void test_dir_source_loads_dir(void **state)
{
	struct k8s_store *s;
	struct k8s_dir_source *src;
	char dir[256], sub[PATH_MAX + 16];
	size_t n = 0;

	(void)state;
	test_dir(dir, sizeof(dir), "load");
	put_file(dir, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
	put_file(dir, "pods.yml", POD_YAML("a", "web") "---\n" POD_YAML("b", "db"));
	put_file(dir, "policy.json",
		 "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
		 " \"metadata\": {\"name\": \"deny\", \"namespace\": \"shop\"},"
		 " \"spec\": {\"podSelector\": {}}}\n");
	put_file(dir, "README.md", "not a manifest\n");
	put_file(dir, ".hidden.yaml", "garbage: [\n");
	put_file(dir, "pods.yaml.tmp.123", "garbage: [\n");
	snprintf(sub, sizeof(sub), "%s/sub.yaml", dir); /* a directory: not read */
	assert_int_equal(fs_mkdir_p(sub, 0755), 0);

	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	assert_int_equal(k8s_store_count(s, K8S_KIND_NAMESPACE), 1);
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 2);
	assert_int_equal(k8s_store_count(s, K8S_KIND_NETWORK_POLICY), 1);
	assert_string_equal(k8s_labels_get(&k8s_store_namespace(s, "shop")->obj.labels,
					   "kubernetes.io/metadata.name"),
			    "shop");
	assert_string_equal(pod_app(s, "default", "a"), "web");
	assert_string_equal(pod_app(s, "default", "b"), "db");
	assert_non_null(k8s_store_netpol(s, "shop", "deny"));
	assert_int_equal(file_status(src, "pods.yml").n_objs, 2);
	k8s_dir_source_for_each_file(src, count_files, &n);
	assert_int_equal(n, 3);
	k8s_dir_source_close(src);
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 2); /* close leaves the objects */
	k8s_store_free(s);

	/* A missing directory is created, and empty. */
	snprintf(sub, sizeof(sub), "%s/new/dir", dir);
	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, sub, &src), 0);
	assert_int_equal(k8s_store_generation(s), 0);
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

static void test_dir_source_bad_file_keeps_last_good(void **state)
{
	struct k8s_store *s;
	struct k8s_dir_source *src;
	struct file_status st;
	char dir[256];

	(void)state;
	test_dir(dir, sizeof(dir), "bad");
	put_file(dir, "a.yaml", POD_YAML("a", "v1") "---\n" POD_YAML("a2", "v1"));
	put_file(dir, "b.yaml", POD_YAML("b", "v1"));
	put_file(dir, "broken.yaml", "kind: [\n");
	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 3);
	st = file_status(src, "broken.yaml");
	assert_true(st.found);
	assert_int_equal(st.n_objs, 0);
	assert_contains(st.error, "/broken.yaml: document 1: line 2, column 1:");

	/* a.yaml goes bad while b.yaml changes: a's objects stay as they were. */
	put_file(dir, "a.yaml", POD_YAML("a", "v2") "---\n" POD_YAML("a2", "-v2"));
	put_file(dir, "b.yaml", POD_YAML("b", "v2"));
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "a"), "v1");
	assert_string_equal(pod_app(s, "default", "a2"), "v1");
	assert_string_equal(pod_app(s, "default", "b"), "v2");
	st = file_status(src, "a.yaml");
	assert_int_equal(st.n_objs, 2);
	assert_contains(st.error, "/a.yaml: document 2: Pod default/a2: metadata.labels[\"app\"]: invalid label value \"-v2\"");
	assert_string_equal(file_status(src, "b.yaml").error, "");

	/* Fixed: its new content replaces the old, a pod it dropped is deleted. */
	put_file(dir, "a.yaml", POD_YAML("a", "v3"));
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "a"), "v3");
	assert_null(k8s_store_pod(s, "default", "a2"));
	assert_string_equal(file_status(src, "a.yaml").error, "");

	/* Deleting a bad file removes the objects it last loaded. */
	put_file(dir, "a.yaml", "apiVersion: v1\nkind: Pod\n");
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "a"), "v3");
	rm_file(dir, "a.yaml");
	wait_and_process(src);
	assert_null(k8s_store_pod(s, "default", "a"));
	assert_false(file_status(src, "a.yaml").found);
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

static void test_dir_source_inotify_reload(void **state)
{
	struct k8s_store *s;
	struct k8s_dir_source *src;
	struct events ev = { 0 };
	struct manifest *m;
	char dir[256], path[PATH_MAX + 32], *msg = NULL;
	uint64_t gen;

	(void)state;
	test_dir(dir, sizeof(dir), "inotify");
	assert_int_equal(k8s_store_new(&s), 0);
	k8s_store_set_callback(s, record, &ev);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	assert_int_equal(k8s_dir_source_process_events(src), 0); /* nothing yet */

	put_file(dir, "web.yaml", POD_YAML("web", "v1"));
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "web"), "v1");
	assert_int_equal(ev.added, 1);

	/* Rewritten with the same content: reloaded, but nothing changes. */
	gen = k8s_store_generation(s);
	put_file(dir, "web.yaml", POD_YAML("web", "v1"));
	wait_and_process(src);
	assert_int_equal(k8s_store_generation(s), gen);

	/* Written in place (not renamed), as an editor or `cat >` does. */
	snprintf(path, sizeof(path), "%s/web.yaml", dir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(POD_YAML("web", "v2"), f);
		fclose(f);
	}
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "web"), "v2");
	assert_int_equal(ev.updated, 1);

	/* Renamed away and back. */
	snprintf(path, sizeof(path), "%s/web.yaml", dir);
	{
		char away[PATH_MAX + 32];

		snprintf(away, sizeof(away), "%s/web.yaml.off", dir);
		assert_int_equal(rename(path, away), 0);
		wait_and_process(src);
		assert_null(k8s_store_pod(s, "default", "web"));
		assert_int_equal(rename(away, path), 0);
		wait_and_process(src);
		assert_non_null(k8s_store_pod(s, "default", "web"));
	}

	rm_file(dir, "web.yaml");
	wait_and_process(src);
	assert_null(k8s_store_pod(s, "default", "web"));
	assert_int_equal(ev.deleted, 2);

	/* What `sluicectl lab apply` and `lab delete` do, seen by the agent. */
	snprintf(path, sizeof(path), "%s/../apply.yaml", dir);
	put_file(dir, "../apply.yaml",
		 "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: cart, namespace: shop}\n"
		 "spec: {containers: [{name: c, ports: [{containerPort: 80, name: http}]}]}\n");
	assert_int_equal(manifest_parse_file(path, &m, &msg), 0);
	assert_int_equal(manifest_write_dir(m, dir, &msg), 0);
	wait_and_process(src);
	assert_non_null(k8s_store_namespace(s, "shop"));
	assert_int_equal(k8s_store_pod(s, "shop", "cart")->ports[0].protocol, IPPROTO_TCP);
	assert_string_equal(file_status(src, "pod_shop_cart.json").error, "");
	assert_int_equal(manifest_delete_dir(m, dir, NULL, &msg), 0);
	wait_and_process(src);
	assert_null(k8s_store_namespace(s, "shop"));
	assert_null(k8s_store_pod(s, "shop", "cart"));
	manifest_free(m);
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

static void test_dir_source_conflict_between_files(void **state)
{
	struct k8s_store *s;
	struct k8s_dir_source *src;
	struct file_status st;
	char dir[256];

	(void)state;
	test_dir(dir, sizeof(dir), "conflict");
	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	put_file(dir, "one.yaml", POD_YAML("web", "one"));
	wait_and_process(src);
	put_file(dir, "two.yaml", POD_YAML("web", "two") "---\n" POD_YAML("other", "two"));
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "web"), "one");
	assert_null(k8s_store_pod(s, "default", "other")); /* all or nothing per file */
	st = file_status(src, "two.yaml");
	assert_contains(st.error, "/two.yaml: document 1: Pod default/web: already defined by one.yaml");

	/* Once one.yaml lets go of it, two.yaml loads. */
	rm_file(dir, "one.yaml");
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "web"), "two");
	assert_string_equal(pod_app(s, "default", "other"), "two");
	assert_string_equal(file_status(src, "two.yaml").error, "");
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

/* A ConfigMap volume: files are links into ..data, which is swapped whole. */
static void test_dir_source_configmap_swap_and_rescan(void **state)
{
	struct k8s_store *s;
	struct k8s_dir_source *src;
	char dir[256], path[PATH_MAX + 32], target[PATH_MAX + 32];

	(void)state;
	test_dir(dir, sizeof(dir), "configmap");
	snprintf(path, sizeof(path), "%s/..v1", dir);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	put_file(path, "pods.yaml", POD_YAML("web", "v1"));
	snprintf(path, sizeof(path), "%s/..data", dir);
	assert_int_equal(symlink("..v1", path), 0);
	snprintf(path, sizeof(path), "%s/pods.yaml", dir);
	assert_int_equal(symlink("..data/pods.yaml", path), 0);

	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	assert_string_equal(pod_app(s, "default", "web"), "v1");

	snprintf(path, sizeof(path), "%s/..v2", dir);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	put_file(path, "pods.yaml", POD_YAML("web", "v2"));
	snprintf(path, sizeof(path), "%s/..data_tmp", dir);
	assert_int_equal(symlink("..v2", path), 0);
	snprintf(target, sizeof(target), "%s/..data", dir);
	assert_int_equal(rename(path, target), 0);
	wait_and_process(src);
	assert_string_equal(pod_app(s, "default", "web"), "v2");

	/* A rescan (what an inotify overflow triggers) finds the same state. */
	assert_int_equal(k8s_dir_source_rescan(src), 0);
	assert_string_equal(pod_app(s, "default", "web"), "v2");
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 1);
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

static void test_dir_source_garbage_files(void **state)
{
	static const char binary[] = "\x7f" "ELF\x02\x01\x01\x00\xff\xfe\x00\x01";
	struct k8s_store *s;
	struct k8s_dir_source *src;
	char dir[256], path[PATH_MAX + 32], *deep;
	size_t n = 100000;

	(void)state;
	test_dir(dir, sizeof(dir), "garbage");
	snprintf(path, sizeof(path), "%s/bin.yaml", dir);
	assert_int_equal(fs_write_atomic(path, binary, sizeof(binary) - 1, 0644), 0);
	put_file(dir, "empty.yaml", "");
	deep = malloc(2 * n + 1);
	assert_non_null(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	put_file(dir, "deep.json", deep);
	free(deep);
	put_file(dir, "good.yaml", POD_YAML("ok", "v1"));

	assert_int_equal(k8s_store_new(&s), 0);
	assert_int_equal(k8s_dir_source_open(s, dir, &src), 0);
	assert_int_equal(k8s_store_count(s, K8S_KIND_POD), 1);
	assert_contains(file_status(src, "bin.yaml").error, "control characters are not allowed");
	assert_contains(file_status(src, "empty.yaml").error, "/empty.yaml: no objects");
	assert_contains(file_status(src, "deep.json").error, "nested deeper than 100 levels");
	k8s_dir_source_close(src);
	k8s_store_free(s);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_obj_from_json_pod),
	cmocka_unit_test(test_obj_from_json_rejects_malformed),
	cmocka_unit_test(test_obj_namespace_and_netpol),
	cmocka_unit_test(test_store_put_get_delete),
	cmocka_unit_test(test_store_many_pods),
	cmocka_unit_test(test_dir_source_loads_dir),
	cmocka_unit_test(test_dir_source_bad_file_keeps_last_good),
	cmocka_unit_test(test_dir_source_inotify_reload),
	cmocka_unit_test(test_dir_source_conflict_between_files),
	cmocka_unit_test(test_dir_source_configmap_swap_and_rescan),
	cmocka_unit_test(test_dir_source_garbage_files),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
