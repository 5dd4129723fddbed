// SPDX-License-Identifier: Apache-2.0
/* The kube source against a fake API server (selftests/lib/fake_apiserver.py)
 * that each test starts on a free port in its own directory and stops by PID:
 * list + watch into the store, bookmarks, resumed and re-listed streams,
 * faults and back-off, a slow server, credentials from a kubeconfig and the
 * service account, paging, and the memory a 10,000-pod cluster costs. */
#include "lib/sl_test.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/kube.h"
#include "k8s/kube_stream.h"
#include "k8s/kubeconfig.h"
#include "k8s/store.h"

/* --- the fake API server ------------------------------------------------------- */

#define DIR_MAX 256 /* test directories: short, so paths built on them fit */

struct fake {
	pid_t pid;
	char dir[DIR_MAX];
	int port;
	char url[80], control[80];
};

static char group_dir[64], certs_dir[DIR_MAX], script[PATH_MAX];
/* Debian's python3 (a test dependency) rather than whatever PATH finds first:
 * a pyenv shim costs a second or more per start, and every test starts one. */
static const char *python = "python3";

/* Generous: the tests share machines with benchmarks. SLUICE_TEST_TIME_SCALE
 * multiplies it (under valgrind, 10). */
static unsigned time_scale = 1;
#define WAIT_MS (60000 * time_scale)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void find_script(void)
{
	const char *top = getenv("SLUICE_TOP");
	char exe[PATH_MAX - 64];
	ssize_t n;

	if (top && *top) {
		snprintf(script, sizeof(script), "%s/selftests/lib/fake_apiserver.py", top);
		if (!access(script, R_OK))
			return;
	}
	snprintf(script, sizeof(script), "selftests/lib/fake_apiserver.py");
	if (!access(script, R_OK))
		return;
	/* BUILD/selftests/unit/test_kube -> BUILD/../selftests/lib */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int i = 0; i < 4; i++)
			*strrchr(exe, '/') = '\0';
		snprintf(script, sizeof(script), "%s/selftests/lib/fake_apiserver.py", exe);
	}
}

/* Starts the server with extra arguments (NULL-terminated) in dir. */
static void fake_start_v(struct fake *f, const char *dir, const char *const *extra)
{
	const char *argv[32] = { python, script, "--dir", dir };
	char path[PATH_MAX], *text = NULL;
	size_t n = 4, len;
	json_t *info = NULL;
	uint64_t deadline;

	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/server.json", dir);
	unlink(path);
	if (!extra || !extra[0] || strcmp(extra[0], "--http")) {
		argv[n++] = "--certs";
		argv[n++] = certs_dir;
	}
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (!f->pid) {
		char log[PATH_MAX];
		FILE *out;

		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test leaves no server behind */
		snprintf(log, sizeof(log), "%s/server.log", dir);
		out = freopen(log, "a", stdout);
		if (out)
			dup2(fileno(out), 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	deadline = now_ms() + WAIT_MS;
	while (fs_read_all(path, 4096, &text, &len)) {
		int status;

		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			fail_msg("fake API server exited (%d) before it was ready; see %s/server.log", status, dir);
		}
		if (now_ms() > deadline)
			fail_msg("fake API server not ready after 60 s");
		usleep(20000);
	}
	info = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(info);
	f->port = (int)json_integer_value(json_object_get(info, "port"));
	snprintf(f->url, sizeof(f->url), "%s", json_string_value(json_object_get(info, "url")));
	snprintf(f->control, sizeof(f->control), "%s", json_string_value(json_object_get(info, "control_url")));
	json_decref(info);
}

#define fake_start(f, dir, ...) fake_start_v(f, dir, (const char *const[]){ __VA_ARGS__, NULL })

static void fake_stop(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	FILE *out = arg;

	return fwrite(data, size, n, out);
}

/* A control request; returns the answer's JSON (the caller decrefs). */
static json_t *ctl(const struct fake *f, const char *method, const char *path, json_t *body)
{
	char url[160], *text = NULL, *answer = NULL;
	size_t answer_len = 0;
	FILE *out = open_memstream(&answer, &answer_len);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	long status = 0;
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", f->control, path);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(text);
	fclose(out);
	if (status != 200)
		fail_msg("control %s %s: %ld %s", method, path, status, answer);
	j = json_loads(answer, 0, NULL);
	free(answer);
	assert_non_null(j);
	return j;
}

static void ctl_do(const struct fake *f, const char *path, json_t *body)
{
	json_decref(ctl(f, "POST", path, body));
}

/* An object change through the control endpoint. */
static void obj_op(const struct fake *f, const char *op, const char *res, json_t *obj, bool silent)
{
	ctl_do(f, "/objects", json_pack("{s:s, s:s, s:o, s:b}", "op", op, "resource", res, "object", obj,
					 "silent", silent));
}

static json_t *ns_json(const char *name, const char *team)
{
	return json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", name, "labels", "team", team);
}

static json_t *pod_json(const char *ns, const char *name, const char *app, const char *ip)
{
	return json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:[{s:s, s:i}]}]}, s:{s:s, s:[{s:s}]}}",
			 "metadata", "name", name, "namespace", ns, "labels", "app", app, "spec", "nodeName",
			 "n1", "containers", "name", "c", "ports", "name", "http", "containerPort", 80,
			 "status", "podIP", ip, "podIPs", "ip", ip);
}

static json_t *node_json(const char *name, const char *zone)
{
	return json_pack("{s:{s:s, s:{s:s}}, s:{s:s}, s:{s:[{s:s, s:s}, {s:s, s:s}]}}", "metadata", "name",
			 name, "labels", "topology.kubernetes.io/zone", zone, "spec", "providerID",
			 "ibm://acct///vsi-1", "status", "addresses", "type", "InternalIP", "address",
			 "192.168.0.1", "type", "Hostname", "address", name);
}

/* Requests of the server's log for a resource and verb, oldest first. */
static json_t *requests(const struct fake *f, const char *res, const char *verb)
{
	json_t *stats = ctl(f, "GET", "/stats", NULL), *out = json_array(), *r;
	size_t i;

	json_array_foreach(json_object_get(stats, "requests"), i, r) {
		if (!strcmp(json_string_value(json_object_get(r, "resource")), res) &&
		    !strcmp(json_string_value(json_object_get(r, "verb")), verb))
			json_array_append(out, r);
	}
	json_decref(stats);
	return out;
}

static int active_watches(const struct fake *f, const char *res)
{
	json_t *stats = ctl(f, "GET", "/stats", NULL);
	int n = (int)json_integer_value(json_object_get(json_object_get(stats, "active_watches"), res));

	json_decref(stats);
	return n;
}

/* --- the test's state ------------------------------------------------------------- */

static struct {
	char dir[DIR_MAX];
	struct fake fake;
	struct k8s_store *store;
	struct kube_source *src;
	struct kube_config cfg;
	char kubeconfig[PATH_MAX];
	unsigned node_changes;
	char node_zone[64];
} T;

static unsigned test_seq;

static int test_setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "%s/t%u", group_dir, ++test_seq);
	if (fs_mkdir_p(T.dir, 0755) || k8s_store_new(&T.store))
		return -1;
	T.cfg = (struct kube_config){
		.backoff_initial_ms = 50,
		.backoff_max_ms = 200,
		.request_timeout_s = 30 * time_scale,
		.watch_timeout_s = 30,
	};
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	kube_source_close(T.src);
	T.src = NULL;
	fake_stop(&T.fake);
	k8s_store_free(T.store);
	T.store = NULL;
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("KUBECONFIG");
	fs_remove_tree(T.dir);
	return 0;
}

static int group_setup(void **state)
{
	const char *lvl = getenv("SLUICE_TEST_LOG");
	enum log_level level = LOG_ERR;
	char cmd[PATH_MAX * 2 + 64];

	(void)state;
	if (lvl)
		log_level_parse(lvl, &level);
	if (getenv("SLUICE_TEST_TIME_SCALE") && atoi(getenv("SLUICE_TEST_TIME_SCALE")) > 0)
		time_scale = (unsigned)atoi(getenv("SLUICE_TEST_TIME_SCALE"));
	log_init("test_kube", level, LOG_FORMAT_TEXT, stderr);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	find_script();
	if (!access("/usr/bin/python3", X_OK))
		python = "/usr/bin/python3";
	snprintf(group_dir, sizeof(group_dir), "/tmp/sluice-test-kube-XXXXXX");
	if (!mkdtemp(group_dir))
		return -1;
	snprintf(certs_dir, sizeof(certs_dir), "%s/certs", group_dir);
	snprintf(cmd, sizeof(cmd), "%s '%s' --gen-certs '%s'", python, script, certs_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	fs_remove_tree(group_dir);
	curl_global_cleanup();
	return 0;
}

static void write_file(const char *path, const char *text)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
}

static char *b64(const char *path)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char *in;
	size_t len, o = 0;
	char *out;

	assert_int_equal(fs_read_all(path, 1 << 20, (char **)&in, &len), 0);
	out = malloc(len / 3 * 4 + 8);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	free(in);
	return out;
}

/* A kubeconfig with one context "test" for the fake server; cluster and
 * user are YAML flow mappings' contents. */
static void write_kubeconfig(const char *cluster, const char *user)
{
	char text[16384];

	snprintf(T.kubeconfig, sizeof(T.kubeconfig), "%s/kubeconfig", T.dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
		 "contexts:\n- name: test\n  context: {cluster: fake, user: me}\n"
		 "clusters:\n- name: fake\n  cluster: {server: \"%s\"%s%s}\n"
		 "users:\n- name: me\n  user: {%s}\n",
		 T.fake.url, *cluster ? ", " : "", cluster, user);
	write_file(T.kubeconfig, text);
}

static void open_source(void)
{
	T.cfg.kubeconfig = T.kubeconfig[0] ? T.kubeconfig : NULL;
	assert_int_equal(kube_source_open(T.store, &T.cfg, &T.src), 0);
}

/* A server with a token, a kubeconfig with its CA file and the token. */
static void start_default(const char *node)
{
	char cluster[PATH_MAX + 64];

	fake_start(&T.fake, T.dir, "--token", "t1");
	snprintf(cluster, sizeof(cluster), "certificate-authority: %s/ca.crt", certs_dir);
	write_kubeconfig(cluster, "token: t1");
	T.cfg.node_name = node;
}

/* What the agent's loop does: wait for the fd, then process. */
static void pump(int ms)
{
	struct pollfd pfd = { .fd = kube_source_fd(T.src), .events = POLLIN };

	if (poll(&pfd, 1, ms) > 0)
		assert_int_equal(kube_source_process_events(T.src), 0);
}

/* What the source and the server say, for a test that timed out. */
static void dump_state(void)
{
	for (int i = 0; T.src && i < KUBE_RES_MAX; i++) {
		struct kube_resource_status s;

		kube_source_status(T.src, (enum kube_resource)i, &s);
		if (s.enabled)
			print_error("%s: synced %d rv %s lists %" PRIu64 " watches %" PRIu64 " events %" PRIu64
				    " errors %" PRIu64 " last error: %s\n",
				    kube_resource_name((enum kube_resource)i), s.synced, s.resource_version, s.lists,
				    s.watches, s.events, s.errors, s.last_error);
	}
	if (T.fake.pid > 0) {
		json_t *stats = ctl(&T.fake, "GET", "/stats", NULL);
		char *text;

		json_object_del(stats, "requests");
		text = json_dumps(stats, JSON_COMPACT);
		print_error("server: %s\n", text);
		free(text);
		json_decref(stats);
	}
}

#define WAIT_FOR(cond)                                                                  \
	do {                                                                            \
		uint64_t _deadline = now_ms() + WAIT_MS;                                \
		while (!(cond)) {                                                       \
			if (now_ms() > _deadline) {                                     \
				dump_state();                                           \
				fail_msg("timed out waiting for %s", #cond);            \
			}                                                               \
			pump(20);                                                       \
		}                                                                       \
	} while (0)

static struct kube_resource_status st(enum kube_resource res)
{
	struct kube_resource_status s;

	assert_int_equal(kube_source_status(T.src, res, &s), 0);
	return s;
}

static bool all_synced(void)
{
	for (int i = 0; i < KUBE_RES_MAX; i++)
		if (st((enum kube_resource)i).enabled && !kube_source_synced(T.src, (enum kube_resource)i))
			return false;
	return true;
}

static const char *pod_app(const char *ns, const char *name)
{
	const struct k8s_pod *p = k8s_store_pod(T.store, ns, name);

	return p ? k8s_labels_get(&p->obj.labels, "app") : NULL;
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s, part);
}

/* --- the stream splitter and the kubeconfig (no server) ------------------------------ */

struct seen {
	char text[16][256];
	char keys[16][32];
	int what[16];
	int n;
};

static int see(void *arg, enum kube_stream_what what, const char *key, const char *text, size_t len)
{
	struct seen *s = arg;

	assert_int_equal(strlen(text), len);
	if (s->n < 16) {
		snprintf(s->text[s->n], sizeof(s->text[0]), "%s", text);
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key ? key : "");
		s->what[s->n++] = what;
	}
	return 0;
}

static void feed(struct kube_stream *js, const char *text, bool bytewise)
{
	if (!bytewise) {
		assert_int_equal(kube_stream_feed(js, text, strlen(text)), 0);
		return;
	}
	for (const char *p = text; *p; p++)
		assert_int_equal(kube_stream_feed(js, p, 1), 0);
}

static void test_stream_splits_lists_and_events(void **state)
{
	const char *list = "{\"kind\": \"PodList\", \"metadata\": {\"resourceVersion\": \"7\", \"continue\": \"x}\"},"
			   " \"n\": 12, \"items\": [ {\"a\": \"b]\\\"}\"}, {\"c\": [1, {\"d\": 2}]} ], \"z\": null }";
	const char *events = "{\"type\": \"ADDED\", \"object\": {\"s\": \"{\"}}\n{\"type\": \"BOOKMARK\"}\n";
	struct kube_stream js;
	struct seen s;

	(void)state;
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		memset(&s, 0, sizeof(s));
		kube_stream_init(&js, KUBE_STREAM_LIST, 1 << 20, see, &s);
		feed(&js, list, bytewise);
		assert_int_equal(kube_stream_finish(&js), 0);
		assert_int_equal(s.n, 6);
		assert_string_equal(s.keys[0], "kind");
		assert_string_equal(s.text[0], "\"PodList\"");
		assert_string_equal(s.keys[1], "metadata");
		assert_string_equal(s.text[1], "{\"resourceVersion\": \"7\", \"continue\": \"x}\"}");
		assert_string_equal(s.text[2], "12");
		assert_int_equal(s.what[3], KUBE_STREAM_ITEM);
		assert_string_equal(s.text[3], "{\"a\": \"b]\\\"}\"}");
		assert_string_equal(s.text[4], "{\"c\": [1, {\"d\": 2}]}");
		assert_string_equal(s.keys[5], "z");
		assert_string_equal(s.text[5], "null");
		kube_stream_free(&js);

		memset(&s, 0, sizeof(s));
		kube_stream_init(&js, KUBE_STREAM_VALUES, 1 << 20, see, &s);
		feed(&js, events, bytewise);
		assert_int_equal(kube_stream_finish(&js), 0);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.text[0], "{\"type\": \"ADDED\", \"object\": {\"s\": \"{\"}}");
		assert_string_equal(s.text[1], "{\"type\": \"BOOKMARK\"}");
		/* Cut mid-event: the end says so. */
		feed(&js, "{\"type\": \"ADD", bytewise);
		assert_int_equal(kube_stream_finish(&js), -EBADMSG);
		kube_stream_free(&js);
	}

	/* Garbage, an unclosed list, an item that is no object, a too long value. */
	kube_stream_init(&js, KUBE_STREAM_VALUES, 1 << 20, see, &s);
	assert_int_equal(kube_stream_feed(&js, "this is not JSON", 16), -EBADMSG);
	kube_stream_free(&js);
	kube_stream_init(&js, KUBE_STREAM_LIST, 1 << 20, see, &s);
	assert_int_equal(kube_stream_feed(&js, "{\"items\": [{}", 13), 0);
	assert_int_equal(kube_stream_finish(&js), -EBADMSG);
	kube_stream_reset(&js);
	assert_int_equal(kube_stream_feed(&js, "{\"items\": [1]}", 14), -EBADMSG);
	kube_stream_free(&js);
	kube_stream_init(&js, KUBE_STREAM_VALUES, 8, see, &s);
	assert_int_equal(kube_stream_feed(&js, "{\"a\": \"0123456789\"}", 19), -EMSGSIZE);
	kube_stream_free(&js);
}

static void test_kubeconfig_forms(void **state)
{
	char a[DIR_MAX + 32], b[DIR_MAX + 32], list[2 * DIR_MAX + 128], msg[512];
	struct kube_auth auth;

	(void)state;
	snprintf(a, sizeof(a), "%s/a.yaml", T.dir);
	snprintf(b, sizeof(b), "%s/sub/b.yaml", T.dir);
	assert_int_equal(fs_mkdir_p(b, 0755), 0);
	rmdir(b);
	/* a: the current context and a user; b: the clusters and the other user. */
	write_file(a, "current-context: one\n"
		      "contexts:\n"
		      "- {name: one, context: {cluster: c1, user: u1}}\n"
		      "- {name: two, context: {cluster: c2, user: u2}}\n"
		      "users:\n"
		      "- {name: u1, user: {token: secret, tokenFile: ignored}}\n");
	write_file(b, "clusters:\n"
		      "- {name: c1, cluster: {server: 'https://10.0.0.1:6443/', certificate-authority: ca.pem}}\n"
		      "- {name: c2, cluster: {server: 'https://k8s.example:443/prefix',"
		      " certificate-authority-data: aGVsbG8=, certificate-authority: ignored.pem,"
		      " insecure-skip-tls-verify: false}}\n"
		      "- {name: c3, cluster: {server: 'http://127.0.0.1:8080', insecure-skip-tls-verify: true}}\n"
		      "users:\n"
		      "- {name: u2, user: {client-certificate-data: Y2VydA, client-key: /abs/key.pem}}\n"
		      "- {name: u3, user: {tokenFile: tok}}\n"
		      "- {name: ex, user: {exec: {command: aws}}}\n"
		      "contexts:\n"
		      "- {name: three, context: {cluster: c3, user: u3}}\n"
		      "- {name: nouser, context: {cluster: c9, user: u1}}\n"
		      "- {name: execuser, context: {cluster: c1, user: ex}}\n"
		      "- {name: one, context: {cluster: c3, user: u3}}\n");
	snprintf(list, sizeof(list), "%s:/nonexistent/kubeconfig:%s", a, b);

	/* current-context from a; "one" from a (the first file naming it wins). */
	assert_int_equal(kube_auth_from_kubeconfig(list, NULL, &auth, msg, sizeof(msg)), 0);
	assert_string_equal(auth.server, "https://10.0.0.1:6443");
	assert_string_equal(auth.token, "secret");
	assert_null(auth.token_file); /* token wins over tokenFile */
	snprintf(msg, sizeof(msg), "%s/sub/ca.pem", T.dir); /* relative to b, which defines c1 */
	assert_string_equal(auth.ca_file, msg);
	assert_false(auth.insecure);
	kube_auth_free(&auth);

	/* An explicit context; -data wins over the file form. */
	assert_int_equal(kube_auth_from_kubeconfig(list, "two", &auth, msg, sizeof(msg)), 0);
	assert_string_equal(auth.server, "https://k8s.example:443/prefix");
	assert_int_equal(auth.ca_data.len, 5);
	assert_memory_equal(auth.ca_data.data, "hello", 5);
	assert_null(auth.ca_file);
	assert_int_equal(auth.cert_data.len, 4);
	assert_memory_equal(auth.cert_data.data, "cert", 4);
	assert_string_equal(auth.key_file, "/abs/key.pem");
	assert_null(auth.token);
	kube_auth_free(&auth);

	assert_int_equal(kube_auth_from_kubeconfig(b, "three", &auth, msg, sizeof(msg)), 0);
	assert_true(auth.insecure);
	snprintf(msg, sizeof(msg), "%s/sub/tok", T.dir);
	assert_string_equal(auth.token_file, msg);
	kube_auth_free(&auth);

	/* $KUBECONFIG is used when no path is given. */
	setenv("KUBECONFIG", list, 1);
	assert_int_equal(kube_auth_load(NULL, "two", NULL, &auth, msg, sizeof(msg)), 0);
	assert_string_equal(auth.server, "https://k8s.example:443/prefix");
	kube_auth_free(&auth);
	unsetenv("KUBECONFIG");

	/* Refusals name the file, the context and what is wrong. */
	assert_int_equal(kube_auth_from_kubeconfig(list, "nope", &auth, msg, sizeof(msg)), -EINVAL);
	assert_contains(msg, "context nope: no such context");
	assert_int_equal(kube_auth_from_kubeconfig(b, "nouser", &auth, msg, sizeof(msg)), -EINVAL);
	assert_contains(msg, "no cluster c9");
	assert_int_equal(kube_auth_from_kubeconfig(b, "execuser", &auth, msg, sizeof(msg)), -EINVAL);
	assert_contains(msg, "exec, auth-provider");
	assert_int_equal(kube_auth_from_kubeconfig(b, NULL, &auth, msg, sizeof(msg)), -EINVAL);
	assert_contains(msg, "no current-context");
	assert_int_equal(kube_auth_from_kubeconfig("/nonexistent/kubeconfig", NULL, &auth, msg, sizeof(msg)),
			 -ENOENT);
	write_file(a, "clusters: [{name: c, cluster: {server: 'https://x', certificate-authority-data: '%%%'}}]\n"
		      "contexts: [{name: c, context: {cluster: c}}]\ncurrent-context: c\n");
	assert_int_equal(kube_auth_from_kubeconfig(a, NULL, &auth, msg, sizeof(msg)), -EINVAL);
	assert_contains(msg, "certificate-authority-data: not base64");

	/* Neither a kubeconfig nor a cluster around. */
	assert_int_equal(kube_auth_load(NULL, NULL, T.dir, &auth, msg, sizeof(msg)), -ENOENT);
	assert_contains(msg, "not in a cluster");
}

/* --- list and watch ---------------------------------------------------------------- */

static void on_node(void *arg, const struct kube_node *old, const struct kube_node *cur)
{
	const char *zone = kube_node_label(cur, "topology.kubernetes.io/zone");

	(void)arg;
	(void)old;
	T.node_changes++;
	snprintf(T.node_zone, sizeof(T.node_zone), "%s", zone ? zone : "");
}

static void populate(void)
{
	json_t *web = pod_json("a", "web", "web", "10.0.0.1"), *db;
	json_t *spec = json_object_get(web, "spec"), *c0;

	/* web: two containers' ports, both families; db: host network, no IP. */
	c0 = json_array_get(json_object_get(spec, "containers"), 0);
	json_array_append_new(json_object_get(c0, "ports"),
			      json_pack("{s:s, s:i, s:s}", "name", "dns", "containerPort", 53, "protocol", "UDP"));
	json_array_append_new(json_object_get(spec, "containers"),
			      json_pack("{s:s, s:[{s:i, s:s}]}", "name", "side", "ports", "containerPort", 9090,
					"protocol", "SCTP"));
	json_array_append_new(json_object_get(json_object_get(web, "status"), "podIPs"),
			      json_pack("{s:s}", "ip", "fd00::1"));
	db = json_pack("{s:{s:s, s:s}, s:{s:b, s:[{s:s}]}}", "metadata", "name", "db", "namespace", "b", "spec",
		       "hostNetwork", 1, "containers", "name", "c");
	ctl_do(&T.fake, "/objects",
	       json_pack("{s:[{s:s, s:s, s:o}, {s:s, s:s, s:o}, {s:s, s:s, s:o}, {s:s, s:s, s:o},"
			 " {s:s, s:s, s:o}, {s:s, s:s, s:o}, {s:s, s:s, s:o}]}",
			 "ops", "op", "add", "resource", "namespaces", "object", ns_json("a", "x"), "op", "add",
			 "resource", "namespaces", "object", ns_json("b", "y"), "op", "add", "resource", "pods",
			 "object", web, "op", "add", "resource", "pods", "object", db, "op", "add", "resource",
			 "networkpolicies", "object",
			 json_pack("{s:{s:s, s:s}, s:{s:{}, s:[s]}}", "metadata", "name", "deny", "namespace", "a",
				   "spec", "podSelector", "policyTypes", "Ingress"),
			 "op", "add", "resource", "nodes", "object", node_json("n1", "z1"), "op", "add", "resource",
			 "nodes", "object", node_json("n2", "z2")));
}

static void test_list_watch_fills_store(void **state)
{
	const struct k8s_pod *web, *db;
	const struct k8s_netpol *np;
	const struct kube_node *node;
	json_t *reqs, *q;
	char ip[SL_IP_STRLEN];

	(void)state;
	start_default("n1");
	populate();
	open_source();
	kube_source_set_node_callback(T.src, on_node, NULL);
	assert_false(kube_source_synced(T.src, KUBE_RES_PODS));
	WAIT_FOR(all_synced());

	assert_int_equal(k8s_store_count(T.store, K8S_KIND_NAMESPACE), 2);
	assert_string_equal(k8s_labels_get(&k8s_store_namespace(T.store, "a")->obj.labels, "team"), "x");
	assert_string_equal(k8s_labels_get(&k8s_store_namespace(T.store, "b")->obj.labels,
					   "kubernetes.io/metadata.name"),
			    "b");
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), 2);
	web = k8s_store_pod(T.store, "a", "web");
	assert_non_null(web);
	assert_string_equal(k8s_labels_get(&web->obj.labels, "app"), "web");
	assert_string_equal(web->node_name, "n1");
	assert_false(web->host_network);
	assert_int_equal(web->n_ports, 3);
	assert_string_equal(web->ports[0].name, "http");
	assert_int_equal(web->ports[0].port, 80);
	assert_int_equal(web->ports[0].protocol, IPPROTO_TCP);
	assert_int_equal(web->ports[1].protocol, IPPROTO_UDP);
	assert_int_equal(web->ports[2].port, 9090);
	assert_int_equal(web->ports[2].protocol, IPPROTO_SCTP);
	assert_int_equal(web->n_ips, 2);
	assert_string_equal(sl_ip_fmt(&web->ips[0], ip), "10.0.0.1");
	assert_string_equal(sl_ip_fmt(&web->ips[1], ip), "fd00::1");
	db = k8s_store_pod(T.store, "b", "db");
	assert_non_null(db);
	assert_true(db->host_network);
	assert_int_equal(db->n_ips, 0);
	np = k8s_store_netpol(T.store, "a", "deny");
	assert_non_null(np);
	assert_string_equal(json_string_value(json_array_get(json_object_get(np->spec, "policyTypes"), 0)),
			    "Ingress");

	/* Only this node, with what later work needs. */
	node = kube_source_node(T.src);
	assert_non_null(node);
	assert_string_equal(node->name, "n1");
	assert_string_equal(node->provider_id, "ibm://acct///vsi-1");
	assert_string_equal(kube_node_label(node, "topology.kubernetes.io/zone"), "z1");
	assert_int_equal(node->n_addresses, 2);
	assert_string_equal(node->addresses[0].type, "InternalIP");
	assert_string_equal(node->addresses[0].address, "192.168.0.1");
	assert_int_equal(T.node_changes, 1);

	for (int i = 0; i < KUBE_RES_MAX; i++) {
		struct kube_resource_status s = st((enum kube_resource)i);

		assert_true(s.enabled && s.synced);
		assert_int_equal(s.lists, 1);
		assert_int_equal(s.relists, 0);
		assert_int_equal(s.errors, 0);
		assert_string_equal(s.last_error, "");
	}
	assert_string_equal(kube_source_origin(T.src) + strlen(kube_source_origin(T.src)) - 12, "context test");

	/* On the wire: a paged list, then a watch from its resourceVersion with
	 * bookmarks; the Node by field selector. */
	reqs = requests(&T.fake, "pods", "list");
	q = json_object_get(json_array_get(reqs, 0), "query");
	assert_string_equal(json_string_value(json_object_get(q, "limit")), "500");
	json_decref(reqs);
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	reqs = requests(&T.fake, "pods", "watch");
	q = json_object_get(json_array_get(reqs, 0), "query");
	assert_string_equal(json_string_value(json_object_get(q, "allowWatchBookmarks")), "true");
	assert_string_equal(json_string_value(json_object_get(q, "timeoutSeconds")), "30");
	assert_string_equal(json_string_value(json_object_get(q, "resourceVersion")),
			    st(KUBE_RES_PODS).resource_version);
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")), "token:t1");
	json_decref(reqs);
	reqs = requests(&T.fake, "nodes", "list");
	q = json_object_get(json_array_get(reqs, 0), "query");
	assert_string_equal(json_string_value(json_object_get(q, "fieldSelector")), "metadata.name=n1");
	json_decref(reqs);
}

struct counts {
	unsigned added, updated, deleted;
};

static void count_changes(void *arg, const struct k8s_obj *old, const struct k8s_obj *cur)
{
	struct counts *c = arg;

	if (!old)
		c->added++;
	else if (!cur)
		c->deleted++;
	else
		c->updated++;
}

static void test_watch_modify_delete(void **state)
{
	struct counts c = { 0 };

	(void)state;
	start_default("n1");
	populate();
	open_source();
	kube_source_set_node_callback(T.src, on_node, NULL);
	WAIT_FOR(all_synced());
	k8s_store_set_callback(T.store, count_changes, &c);

	obj_op(&T.fake, "add", "pods", pod_json("a", "new", "v1", "10.0.0.9"), false);
	WAIT_FOR(pod_app("a", "new") != NULL);
	assert_string_equal(pod_app("a", "new"), "v1");
	obj_op(&T.fake, "modify", "pods", pod_json("a", "new", "v2", "10.0.0.9"), false);
	WAIT_FOR(pod_app("a", "new") && !strcmp(pod_app("a", "new"), "v2"));
	obj_op(&T.fake, "delete", "pods", pod_json("a", "new", "v2", "10.0.0.9"), false);
	WAIT_FOR(!k8s_store_pod(T.store, "a", "new"));

	obj_op(&T.fake, "modify", "namespaces", ns_json("b", "z"), false);
	WAIT_FOR(!strcmp(k8s_labels_get(&k8s_store_namespace(T.store, "b")->obj.labels, "team"), "z"));
	obj_op(&T.fake, "delete", "networkpolicies",
	       json_pack("{s:{s:s, s:s}}", "metadata", "name", "deny", "namespace", "a"), false);
	WAIT_FOR(!k8s_store_netpol(T.store, "a", "deny"));
	assert_int_equal(c.added, 1);
	assert_int_equal(c.updated, 2);
	assert_int_equal(c.deleted, 2);

	/* The other node changes nothing here; this one calls back. */
	obj_op(&T.fake, "modify", "nodes", node_json("n2", "elsewhere"), false);
	obj_op(&T.fake, "modify", "nodes", node_json("n1", "z9"), false);
	WAIT_FOR(T.node_changes == 2);
	assert_string_equal(T.node_zone, "z9");
	obj_op(&T.fake, "delete", "nodes", node_json("n1", "z9"), false);
	WAIT_FOR(kube_source_node(T.src) == NULL);
	assert_int_equal(T.node_changes, 3);
	assert_int_equal(st(KUBE_RES_PODS).events, 3);
	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
}

static void test_bookmark_advances_rv(void **state)
{
	char rv0[64];
	uint64_t gen;
	json_t *r;

	(void)state;
	start_default(NULL);
	populate();
	T.cfg.resources = 1u << KUBE_RES_PODS;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	snprintf(rv0, sizeof(rv0), "%s", st(KUBE_RES_PODS).resource_version);
	gen = k8s_store_generation(T.store);

	r = ctl(&T.fake, "POST", "/bookmark", json_object());
	WAIT_FOR(st(KUBE_RES_PODS).bookmarks == 1);
	assert_string_equal(st(KUBE_RES_PODS).resource_version,
			    json_string_value(json_object_get(r, "resourceVersion")));
	assert_string_not_equal(st(KUBE_RES_PODS).resource_version, rv0);
	json_decref(r);
	assert_int_equal(k8s_store_generation(T.store), gen);
	assert_int_equal(st(KUBE_RES_PODS).events, 0);

	/* The next watch resumes from the bookmark. */
	ctl_do(&T.fake, "/drop", json_pack("{s:s}", "resource", "pods"));
	WAIT_FOR(st(KUBE_RES_PODS).watches == 2 && active_watches(&T.fake, "pods") == 1);
	r = requests(&T.fake, "pods", "watch");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(r, 1), "query"),
							      "resourceVersion")),
			    st(KUBE_RES_PODS).resource_version);
	json_decref(r);
	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
}

static void test_dropped_stream_resumes_without_relist(void **state)
{
	char rv0[64];
	json_t *r;
	size_t n;

	(void)state;
	start_default(NULL);
	populate();
	T.cfg.resources = 1u << KUBE_RES_PODS;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	snprintf(rv0, sizeof(rv0), "%s", st(KUBE_RES_PODS).resource_version);

	/* The next watch dies in the middle of its first event. */
	ctl_do(&T.fake, "/faults", json_pack("{s:s, s:s, s:i}", "resource", "pods", "verb", "watch", "drop_after", 0));
	ctl_do(&T.fake, "/drop", json_pack("{s:s, s:b}", "resource", "pods", "abrupt", 1));
	WAIT_FOR(st(KUBE_RES_PODS).watches >= 2 && active_watches(&T.fake, "pods") == 1);
	obj_op(&T.fake, "add", "pods", pod_json("a", "x", "x", "10.0.0.7"), false);
	WAIT_FOR(k8s_store_pod(T.store, "a", "x") != NULL);

	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
	assert_int_equal(st(KUBE_RES_PODS).relists, 0);
	assert_true(st(KUBE_RES_PODS).errors >= 1);
	assert_true(st(KUBE_RES_PODS).watches >= 3);
	/* Every watch resumed from the list's resourceVersion (x came after it). */
	r = requests(&T.fake, "pods", "watch");
	n = json_array_size(r);
	assert_true(n >= 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(r, n - 1), "query"),
							      "resourceVersion")),
			    rv0);
	json_decref(r);
}

static void gone_relists(const char *how)
{
	struct counts c = { 0 };

	start_default(NULL);
	ctl_do(&T.fake, "/config", json_pack("{s:s}", "gone", how));
	ctl_do(&T.fake, "/objects",
	       json_pack("{s:[{s:s, s:s, s:o}, {s:s, s:s, s:o}, {s:s, s:s, s:o}]}", "ops", "op", "add", "resource",
			 "pods", "object", pod_json("default", "a", "a", "10.0.0.1"), "op", "add", "resource",
			 "pods", "object", pod_json("default", "b", "b", "10.0.0.2"), "op", "add", "resource",
			 "pods", "object", pod_json("default", "c", "c", "10.0.0.3")));
	T.cfg.resources = 1u << KUBE_RES_PODS;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), 3);
	k8s_store_set_callback(T.store, count_changes, &c);

	/* Changes the watch never sees, then history is compacted away. */
	obj_op(&T.fake, "delete", "pods", pod_json("default", "b", "b", "10.0.0.2"), true);
	obj_op(&T.fake, "add", "pods", pod_json("default", "d", "d", "10.0.0.4"), true);
	obj_op(&T.fake, "modify", "pods", pod_json("default", "c", "c2", "10.0.0.3"), true);
	ctl_do(&T.fake, "/compact", json_object());
	ctl_do(&T.fake, "/drop", json_pack("{s:s}", "resource", "pods"));

	WAIT_FOR(st(KUBE_RES_PODS).relists == 1 && c.added == 1 && c.deleted == 1 && c.updated == 1);
	assert_int_equal(st(KUBE_RES_PODS).lists, 2);
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), 3);
	assert_null(k8s_store_pod(T.store, "default", "b"));
	assert_string_equal(pod_app("default", "c"), "c2");
	assert_string_equal(pod_app("default", "d"), "d");
	assert_string_equal(pod_app("default", "a"), "a");
	assert_true(kube_source_synced(T.src, KUBE_RES_PODS));
	assert_contains(st(KUBE_RES_PODS).last_error, "410");
}

static void test_gone_status_relists_and_deletes_vanished(void **state)
{
	(void)state;
	gone_relists("status");
}

static void test_gone_event_relists_and_deletes_vanished(void **state)
{
	(void)state;
	gone_relists("event");
}

static double req_time(json_t *reqs, size_t i)
{
	return json_real_value(json_object_get(json_array_get(reqs, i), "time"));
}

static void test_errors_back_off_and_recover(void **state)
{
	json_t *reqs;

	(void)state;
	start_default("n1");
	populate();
	ctl_do(&T.fake, "/faults",
	       json_pack("[{s:s, s:s, s:i, s:i}, {s:s, s:s, s:i, s:i}, {s:s, s:s, s:i, s:i},"
			 " {s:s, s:s, s:b, s:i}]",
			 "resource", "namespaces", "verb", "list", "status", 401, "count", 3, "resource", "pods",
			 "verb", "list", "status", 403, "count", 2, "resource", "networkpolicies", "verb", "list",
			 "status", 500, "count", 2, "resource", "nodes", "verb", "list", "garbage", 1, "count", 2));
	open_source();
	WAIT_FOR(all_synced());
	assert_int_equal(st(KUBE_RES_NAMESPACES).errors, 3);
	assert_contains(st(KUBE_RES_NAMESPACES).last_error, "LIST namespaces: HTTP 401 Unauthorized");
	assert_int_equal(st(KUBE_RES_PODS).errors, 2);
	assert_contains(st(KUBE_RES_PODS).last_error, "HTTP 403 Forbidden");
	assert_int_equal(st(KUBE_RES_NETWORK_POLICIES).errors, 2);
	assert_contains(st(KUBE_RES_NETWORK_POLICIES).last_error, "HTTP 500");
	assert_int_equal(st(KUBE_RES_NODE).errors, 2);
	assert_contains(st(KUBE_RES_NODE).last_error, "LIST nodes: items");
	for (int i = 0; i < KUBE_RES_MAX; i++)
		assert_int_equal(st((enum kube_resource)i).lists, 1);
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), 2);
	assert_non_null(kube_source_node(T.src));

	/* Back-off: 50 ms then 100 ms, each at least half of it (jitter). */
	reqs = requests(&T.fake, "namespaces", "list");
	assert_int_equal(json_array_size(reqs), 4);
	assert_true(req_time(reqs, 1) - req_time(reqs, 0) >= 0.025);
	assert_true(req_time(reqs, 2) - req_time(reqs, 1) >= 0.050);
	assert_true(req_time(reqs, 3) - req_time(reqs, 2) >= 0.100);
	json_decref(reqs);

	/* Garbage in a watch stream and an ERROR event: resume, no relist. */
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	ctl_do(&T.fake, "/faults",
	       json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:i}]", "resource", "pods", "verb", "watch", "garbage", 1,
			 "resource", "pods", "verb", "watch", "error_event", 500));
	ctl_do(&T.fake, "/drop", json_pack("{s:s}", "resource", "pods"));
	WAIT_FOR(st(KUBE_RES_PODS).watches >= 4 && active_watches(&T.fake, "pods") == 1);
	obj_op(&T.fake, "add", "pods", pod_json("a", "after", "after", "10.0.0.8"), false);
	WAIT_FOR(pod_app("a", "after") != NULL);
	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
	assert_true(st(KUBE_RES_PODS).errors >= 4);
}

static void test_connection_refused_then_recovers(void **state)
{
	char port[16];
	uint64_t errors;

	(void)state;
	start_default(NULL);
	populate();
	snprintf(port, sizeof(port), "%d", T.fake.port);
	fake_stop(&T.fake);
	T.cfg.resources = 1u << KUBE_RES_NAMESPACES;
	open_source();
	WAIT_FOR(st(KUBE_RES_NAMESPACES).errors >= 2);
	assert_contains(st(KUBE_RES_NAMESPACES).last_error, "LIST namespaces: Failed to connect");
	/* Backing off, not spinning: at most one attempt per 100 ms at 200 ms max. */
	errors = st(KUBE_RES_NAMESPACES).errors;
	for (uint64_t end = now_ms() + 1000; now_ms() < end;)
		pump(20);
	assert_true(st(KUBE_RES_NAMESPACES).errors - errors <= 12);
	assert_false(kube_source_synced(T.src, KUBE_RES_NAMESPACES));

	/* Back on the same port (the source may list it before populate: the
	 * namespaces then come by the watch). */
	fake_start(&T.fake, T.dir, "--token", "t1", "--port", port);
	populate();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_NAMESPACES) &&
		 k8s_store_count(T.store, K8S_KIND_NAMESPACE) == 2);
}

static void test_timeout_then_recovers(void **state)
{
	(void)state;
	start_default(NULL);
	populate();
	ctl_do(&T.fake, "/faults",
	       json_pack("{s:s, s:s, s:i}", "resource", "namespaces", "verb", "list", "delay", 4 * time_scale));
	T.cfg.resources = 1u << KUBE_RES_NAMESPACES;
	T.cfg.request_timeout_s = 2 * time_scale;
	open_source();
	WAIT_FOR(st(KUBE_RES_NAMESPACES).errors >= 1);
	assert_contains(st(KUBE_RES_NAMESPACES).last_error, "LIST namespaces: Operation timed out");
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_NAMESPACES));
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_NAMESPACE), 2);
}

static uint64_t thread_switches(bool voluntary)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)(voluntary ? ru.ru_nvcsw : ru.ru_nivcsw);
}

static void test_slow_server_does_not_block(void **state)
{
	uint64_t worst = 0, calls = 0, preempted = 0, t0;

	(void)state;
	start_default(NULL);
	populate();
	ctl_do(&T.fake, "/faults",
	       json_pack("{s:s, s:s, s:i, s:i}", "resource", "*", "verb", "list", "delay", 3 * time_scale, "count",
			 -1));
	t0 = now_ms();
	open_source();
	assert_true(now_ms() - t0 < 3000 * time_scale); /* did not wait for the server */
	/* For a second the server answers nothing: every call returns at once.
	 * A call that took 10 ms or more must not have blocked (no voluntary
	 * context switch): only then was it this busy machine's scheduler. */
	while (now_ms() - t0 < 1000) {
		struct pollfd pfd = { .fd = kube_source_fd(T.src), .events = POLLIN };
		struct timespec a, b;
		uint64_t us, vol, invol;

		poll(&pfd, 1, 5);
		vol = thread_switches(true);
		invol = thread_switches(false);
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(kube_source_process_events(T.src), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		us = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000);
		/* Under valgrind every thread waits for valgrind's own lock. */
		if (us >= 10000 && time_scale == 1) {
			if (thread_switches(true) != vol || thread_switches(false) == invol)
				fail_msg("process_events took %" PRIu64 " us and blocked, with a slow server", us);
			preempted++;
		}
		worst = us > worst ? us : worst;
		calls++;
	}
	assert_false(kube_source_synced(T.src, KUBE_RES_PODS));
	assert_true(calls >= 3);
	printf("# kube: slow server: %" PRIu64 " process_events calls, the longest %" PRIu64
	       " us, %" PRIu64 " over 10 ms by preemption\n",
	       calls, worst, preempted);
	WAIT_FOR(all_synced());
	json_decref(ctl(&T.fake, "DELETE", "/faults", NULL));

	/* Closing while a request hangs on the server does not wait for it. */
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	ctl_do(&T.fake, "/faults",
	       json_pack("{s:s, s:s, s:i, s:i}", "resource", "pods", "verb", "watch", "delay", 30, "count", -1));
	ctl_do(&T.fake, "/drop", json_pack("{s:s}", "resource", "pods"));
	WAIT_FOR(st(KUBE_RES_PODS).watches >= 2);
	usleep(100000);
	t0 = now_ms();
	kube_source_close(T.src);
	T.src = NULL;
	printf("# kube: close with a request hanging for 30 s took %" PRIu64 " ms\n", now_ms() - t0);
	if (now_ms() - t0 > 5000)
		fail_msg("close took %" PRIu64 " ms", now_ms() - t0);
}

static void sa_token_version(const char *sa, const char *version, const char *token)
{
	char path[PATH_MAX], link[PATH_MAX], tmp[PATH_MAX];

	/* As kubelet does: a new ..TIMESTAMP directory, then ..data swapped. */
	snprintf(path, sizeof(path), "%s/..%s", sa, version);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/..%s/token", sa, version);
	write_file(path, token);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", sa);
	snprintf(link, sizeof(link), "..%s", version);
	assert_int_equal(symlink(link, tmp), 0);
	snprintf(path, sizeof(path), "%s/..data", sa);
	assert_int_equal(rename(tmp, path), 0);
}

static void test_token_file_rotation(void **state)
{
	char sa[DIR_MAX + 8], path[PATH_MAX], ca[PATH_MAX], port[16];
	char *text;
	size_t len;
	json_t *reqs;

	(void)state;
	fake_start(&T.fake, T.dir, "--token", "t1");
	populate();
	snprintf(sa, sizeof(sa), "%s/sa", T.dir);
	assert_int_equal(fs_mkdir_p(sa, 0755), 0);
	sa_token_version(sa, "v1", "t1\n");
	snprintf(path, sizeof(path), "%s/token", sa);
	assert_int_equal(symlink("..data/token", path), 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs_dir);
	assert_int_equal(fs_read_all(ca, 1 << 20, &text, &len), 0);
	snprintf(path, sizeof(path), "%s/ca.crt", sa);
	write_file(path, text);
	free(text);
	snprintf(port, sizeof(port), "%d", T.fake.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	unsetenv("KUBECONFIG");
	T.cfg.sa_dir = sa;
	T.cfg.resources = 1u << KUBE_RES_PODS;
	open_source();
	assert_string_equal(kube_source_origin(T.src), "in-cluster");
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);

	/* The server now only takes t2: the next watch is refused... */
	ctl_do(&T.fake, "/config", json_pack("{s:[s]}", "tokens", "t2"));
	ctl_do(&T.fake, "/drop", json_pack("{s:s}", "resource", "pods"));
	WAIT_FOR(strstr(st(KUBE_RES_PODS).last_error, "401") != NULL);
	/* ...until kubelet rotates the token. */
	sa_token_version(sa, "v2", "t2");
	WAIT_FOR(active_watches(&T.fake, "pods") == 1);
	obj_op(&T.fake, "add", "pods", pod_json("a", "rotated", "r", "10.0.0.5"), false);
	WAIT_FOR(pod_app("a", "rotated") != NULL);
	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
	reqs = requests(&T.fake, "pods", "watch");
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, json_array_size(reqs) - 1),
							       "auth")),
			    "token:t2");
	json_decref(reqs);
}

static void kubeconfig_syncs(const char *cluster, const char *user, const char *want_auth)
{
	json_t *reqs;

	write_kubeconfig(cluster, user);
	populate();
	T.cfg.resources = 1u << KUBE_RES_NAMESPACES;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_NAMESPACES));
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_NAMESPACE), 2);
	assert_int_equal(st(KUBE_RES_NAMESPACES).errors, 0);
	reqs = requests(&T.fake, "namespaces", "list");
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")), want_auth);
	json_decref(reqs);
}

static void test_kubeconfig_token_and_ca_file(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], *text;
	size_t len;

	(void)state;
	fake_start(&T.fake, T.dir, "--token", "t1");
	/* A relative certificate-authority: next to the kubeconfig. */
	snprintf(src, sizeof(src), "%s/ca.crt", certs_dir);
	snprintf(dst, sizeof(dst), "%s/cluster-ca.crt", T.dir);
	assert_int_equal(fs_read_all(src, 1 << 20, &text, &len), 0);
	write_file(dst, text);
	free(text);
	kubeconfig_syncs("certificate-authority: cluster-ca.crt", "token: t1", "token:t1");
}

static void test_kubeconfig_client_cert_and_ca_data(void **state)
{
	char path[PATH_MAX], cluster[8192], user[16384];
	char *ca, *crt, *key;

	(void)state;
	fake_start(&T.fake, T.dir, "--client-cn", "sluice-test");
	snprintf(path, sizeof(path), "%s/ca.crt", certs_dir);
	ca = b64(path);
	snprintf(path, sizeof(path), "%s/client.crt", certs_dir);
	crt = b64(path);
	snprintf(path, sizeof(path), "%s/client.key", certs_dir);
	key = b64(path);
	snprintf(cluster, sizeof(cluster), "certificate-authority-data: %s", ca);
	snprintf(user, sizeof(user), "client-certificate-data: %s, client-key-data: %s", crt, key);
	free(ca);
	free(crt);
	free(key);
	kubeconfig_syncs(cluster, user, "cert:sluice-test");
}

static void test_kubeconfig_client_cert_files(void **state)
{
	char user[2 * PATH_MAX + 64];

	(void)state;
	fake_start(&T.fake, T.dir, "--client-cn", "sluice-test");
	snprintf(user, sizeof(user), "client-certificate: %s/client.crt, client-key: %s/client.key", certs_dir,
		 certs_dir);
	kubeconfig_syncs("insecure-skip-tls-verify: true", user, "cert:sluice-test");
}

static void test_kubeconfig_insecure(void **state)
{
	(void)state;
	fake_start(&T.fake, T.dir, "--token", "t1");
	kubeconfig_syncs("insecure-skip-tls-verify: true", "token: t1", "token:t1");
}

static void test_kubeconfig_wrong_ca_is_refused(void **state)
{
	char other[DIR_MAX + 16], cluster[DIR_MAX + 64], cmd[PATH_MAX + DIR_MAX + 64];

	(void)state;
	snprintf(other, sizeof(other), "%s/other-certs", T.dir);
	snprintf(cmd, sizeof(cmd), "%s '%s' --gen-certs '%s'", python, script, other);
	assert_int_equal(system(cmd), 0);
	fake_start(&T.fake, T.dir, "--token", "t1");
	snprintf(cluster, sizeof(cluster), "certificate-authority: %s/ca.crt", other);
	write_kubeconfig(cluster, "token: t1");
	T.cfg.resources = 1u << KUBE_RES_NAMESPACES;
	open_source();
	WAIT_FOR(st(KUBE_RES_NAMESPACES).errors >= 1);
	assert_contains(st(KUBE_RES_NAMESPACES).last_error, "certificate");
	assert_false(kube_source_synced(T.src, KUBE_RES_NAMESPACES));
}

static void test_kubeconfig_current_context(void **state)
{
	char text[8192];
	json_t *reqs;

	(void)state;
	fake_start(&T.fake, T.dir, "--token", "good");
	populate();
	snprintf(T.kubeconfig, sizeof(T.kubeconfig), "%s/kubeconfig", T.dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: right\n"
		 "contexts:\n- name: wrong\n  context: {cluster: fake, user: bad}\n"
		 "- name: right\n  context: {cluster: fake, user: good, namespace: kube-system}\n"
		 "clusters:\n- name: fake\n  cluster: {server: \"%s\", certificate-authority: %s/ca.crt}\n"
		 "users:\n- name: bad\n  user: {token: bad}\n- name: good\n  user: {token: good}\n",
		 T.fake.url, certs_dir);
	write_file(T.kubeconfig, text);
	T.cfg.resources = 1u << KUBE_RES_NAMESPACES;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_NAMESPACES));
	assert_int_equal(st(KUBE_RES_NAMESPACES).errors, 0);
	kube_source_close(T.src);
	T.src = NULL;

	/* The other context, by name: its user is refused. */
	T.cfg.context = "wrong";
	open_source();
	WAIT_FOR(st(KUBE_RES_NAMESPACES).errors >= 1);
	assert_contains(st(KUBE_RES_NAMESPACES).last_error, "401");
	reqs = requests(&T.fake, "namespaces", "list");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, json_array_size(reqs) - 1),
							    "status")),
			 401);
	json_decref(reqs);
}

static void test_plain_http(void **state)
{
	(void)state;
	fake_start(&T.fake, T.dir, "--http");
	kubeconfig_syncs("", "", "anonymous");
}

static void test_paging_with_continue(void **state)
{
	json_t *ops = json_array(), *reqs;
	char name[32];

	(void)state;
	start_default(NULL);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		json_array_append_new(ops, json_pack("{s:s, s:s, s:o}", "op", "add", "resource", "pods", "object",
						     pod_json("default", name, name, "10.1.0.1")));
	}
	ctl_do(&T.fake, "/objects", json_pack("{s:o}", "ops", ops));
	/* The second page's continue token has expired once: start over. */
	ctl_do(&T.fake, "/faults",
	       json_pack("{s:s, s:s, s:b, s:i}", "resource", "pods", "verb", "list", "continue", 1, "status", 410));
	T.cfg.resources = 1u << KUBE_RES_PODS;
	T.cfg.page_limit = 3;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), 10);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_string_equal(pod_app("default", name), name);
	}
	reqs = requests(&T.fake, "pods", "list");
	/* page 1, page 2 (410), then pages 1-4 */
	assert_int_equal(json_array_size(reqs), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *q = json_object_get(json_array_get(reqs, i), "query");

		assert_string_equal(json_string_value(json_object_get(q, "limit")), "3");
		assert_int_equal(json_object_get(q, "continue") != NULL, i == 1 || i >= 3);
	}
	json_decref(reqs);
	assert_int_equal(st(KUBE_RES_PODS).lists, 1);
	assert_int_equal(st(KUBE_RES_PODS).errors, 1);
}

static void test_object_of_another_source_is_kept(void **state)
{
	static const int other_owner;
	struct k8s_obj *o;
	json_t *j = pod_json("a", "web", "mine", "10.9.9.9");
	const void *owner;

	(void)state;
	json_object_set_new(j, "kind", json_string("Pod"));
	assert_int_equal(k8s_obj_from_json(j, &o), 0);
	json_decref(j);
	assert_int_equal(k8s_store_put(T.store, o, &other_owner), 0);
	start_default(NULL);
	populate();
	T.cfg.resources = 1u << KUBE_RES_PODS;
	open_source();
	WAIT_FOR(kube_source_synced(T.src, KUBE_RES_PODS));
	assert_string_equal(pod_app("a", "web"), "mine");
	k8s_store_get(T.store, K8S_KIND_POD, "a", "web", &owner);
	assert_ptr_equal(owner, &other_owner);
	assert_int_equal(st(KUBE_RES_PODS).rejected, 1);
	assert_non_null(k8s_store_pod(T.store, "b", "db"));
}

static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return kb;
}

static void test_10k_pods_rss(void **state)
{
	const int n = 10000;
	long rss0, rss1, hwm;
	uint64_t t0, t_sync, calls = 0, worst = 0;
	int fd;

	(void)state;
	start_default(NULL);
	ctl_do(&T.fake, "/generate", json_pack("{s:s, s:i, s:s}", "resource", "pods", "count", n, "node", "n1"));
	T.cfg.resources = 1u << KUBE_RES_PODS;
	malloc_trim(0);
	/* Reset the peak: writing 5 to clear_refs clears VmHWM. */
	fd = open("/proc/self/clear_refs", O_WRONLY);
	if (fd >= 0) {
		assert_int_equal(write(fd, "5", 1), 1);
		close(fd);
	}
	rss0 = status_kb("VmRSS:");
	t0 = now_ms();
	open_source();
	while (!kube_source_synced(T.src, KUBE_RES_PODS)) {
		struct pollfd pfd = { .fd = kube_source_fd(T.src), .events = POLLIN };
		uint64_t a;

		if (now_ms() - t0 > 4 * WAIT_MS)
			fail_msg("10k pods not synced after %u s", 4 * WAIT_MS / 1000);
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		a = now_ms();
		assert_int_equal(kube_source_process_events(T.src), 0);
		worst = now_ms() - a > worst ? now_ms() - a : worst;
		calls++;
	}
	t_sync = now_ms() - t0;
	assert_int_equal(k8s_store_count(T.store, K8S_KIND_POD), n);
	assert_true(calls >= (uint64_t)(n / KUBE_APPLY_BUDGET)); /* applied in slices */
	rss1 = status_kb("VmRSS:");
	hwm = status_kb("VmHWM:");
	printf("# kube: %d pods (about 4 KiB of JSON each) synced in %" PRIu64 " ms, %" PRIu64
	       " process_events calls, the longest %" PRIu64 " ms\n",
	       n, t_sync, calls, worst);
	printf("# kube: RSS %ld -> %ld KiB (+%ld KiB, %ld bytes per pod), peak %ld KiB\n", rss0, rss1, rss1 - rss0,
	       (rss1 - rss0) * 1024 / n, hwm);
	fflush(stdout);
	/* The store keeps a few hundred bytes per pod; the JSON is never held
	 * whole. (Not under valgrind, whose shadow memory is RSS too.) */
	if (time_scale > 1)
		return;
	assert_true(rss1 - rss0 < 16 * 1024);
	assert_true(hwm - rss0 < 32 * 1024);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_stream_splits_lists_and_events, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_forms, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_list_watch_fills_store, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_watch_modify_delete, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_bookmark_advances_rv, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_dropped_stream_resumes_without_relist, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_gone_status_relists_and_deletes_vanished, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_gone_event_relists_and_deletes_vanished, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_errors_back_off_and_recover, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_connection_refused_then_recovers, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_timeout_then_recovers, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_slow_server_does_not_block, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_token_file_rotation, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_token_and_ca_file, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_client_cert_and_ca_data, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_client_cert_files, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_insecure, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_wrong_ca_is_refused, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_kubeconfig_current_context, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_plain_http, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_paging_with_continue, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_object_of_another_source_is_kept, test_setup, test_teardown),
	cmocka_unit_test_setup_teardown(test_10k_pods_rss, test_setup, test_teardown),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
