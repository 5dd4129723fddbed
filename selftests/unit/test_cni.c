// SPDX-License-Identifier: Apache-2.0
/*
 * The sluice CNI plugin and its HTTP client, in-process: cni_run() with
 * injected environment and stdio, against a fake sluiced (a thread serving
 * canned HTTP answers on a unix socket in a temporary directory and
 * recording what it was sent).
 *
 * The plugin's objects are not in libsluice.a (its binary links cni/ and
 * common/ alone, to stay small), so its sources are compiled in here.
 */
#include "lib/sl_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/uds_http.h"

#include "../../cni/agent.c"
#include "../../cni/cni.c"
#include "../../cni/result.c"

/* --- the fake agent -------------------------------------------------------- */

static struct fake {
	char dir[64];
	char sock[128]; /* served */
	char dead[128]; /* bound, never listening: ECONNREFUSED */
	char nosuch[128]; /* does not exist: ENOENT */
	int lfd, dead_fd;
	pthread_t thr;
	atomic_bool stop, busy;
	pthread_mutex_t lock;
	/* The next answer: raw bytes, written in pieces of `piece` bytes. */
	char *answer;
	size_t answer_len, piece;
	int delay_ms;
	bool keep_open; /* leave the connection open after answering */
	/* What came in last. */
	char *req_head, *req_body;
	int requests;
} fk = { .lfd = -1, .dead_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads one request: head up to the empty line, then Content-Length bytes. */
static void fake_read_request(int fd, char **head, char **body)
{
	char buf[1 << 16];
	size_t len = 0, clen = 0;
	char *end = NULL;

	while (len < sizeof(buf) - 1) {
		ssize_t n;

		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");

			if (cl && cl < end)
				clen = strtoul(cl + 17, NULL, 10);
			if (len >= (size_t)(end + 4 - buf) + clen)
				break;
		}
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	end = strstr(buf, "\r\n\r\n");
	*head = end ? strndup(buf, (size_t)(end - buf)) : strdup(buf);
	*body = end ? strndup(end + 4, clen) : strdup("");
}

static void *fake_serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&fk.stop)) {
		struct pollfd pfd = { .fd = fk.lfd, .events = POLLIN };
		char *head, *body, *answer;
		size_t len, piece, off = 0;
		bool keep_open;
		int cfd, delay;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		atomic_store(&fk.busy, true);
		cfd = accept4(fk.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			atomic_store(&fk.busy, false);
			continue;
		}
		fake_read_request(cfd, &head, &body);

		pthread_mutex_lock(&fk.lock);
		free(fk.req_head);
		free(fk.req_body);
		fk.req_head = head;
		fk.req_body = body;
		fk.requests++;
		answer = fk.answer ? strndup(fk.answer, fk.answer_len) : NULL;
		len = fk.answer_len;
		piece = fk.piece ? fk.piece : len;
		delay = fk.delay_ms;
		keep_open = fk.keep_open;
		pthread_mutex_unlock(&fk.lock);

		for (int waited = 0; waited < delay && !atomic_load(&fk.stop); waited += 10)
			sleep_ms(10);
		while (answer && off < len) {
			size_t n = len - off < piece ? len - off : piece;

			if (send(cfd, answer + off, n, MSG_NOSIGNAL) < 0)
				break;
			off += n;
			if (off < len && fk.piece)
				sleep_ms(1);
		}
		free(answer);
		if (keep_open) {
			/* Until the client hangs up: it must not wait for us. */
			struct pollfd cp = { .fd = cfd, .events = POLLIN };
			char c;

			while (!atomic_load(&fk.stop) && poll(&cp, 1, 50) == 0)
				;
			(void)!recv(cfd, &c, 1, 0);
		}
		close(cfd);
		atomic_store(&fk.busy, false);
	}
	return NULL;
}

/* Waits until the agent has finished with every connection made so far (a
 * client that timed out leaves one behind), so tests do not see each other. */
static void fake_wait_idle(void)
{
	for (int quiet = 0; quiet < 2;) {
		struct pollfd pfd = { .fd = fk.lfd, .events = POLLIN };

		if (atomic_load(&fk.busy) || poll(&pfd, 1, 0) > 0) {
			quiet = 0;
			sleep_ms(10);
		} else {
			quiet++;
		}
	}
}

static void fake_behave(size_t piece, int delay_ms, bool keep_open)
{
	pthread_mutex_lock(&fk.lock);
	fk.piece = piece;
	fk.delay_ms = delay_ms;
	fk.keep_open = keep_open;
	pthread_mutex_unlock(&fk.lock);
}

static void fake_set_answer(const char *raw, size_t len)
{
	pthread_mutex_lock(&fk.lock);
	free(fk.answer);
	fk.answer = raw ? malloc(len + 1) : NULL;
	if (raw) {
		memcpy(fk.answer, raw, len);
		fk.answer[len] = '\0';
	}
	fk.answer_len = raw ? len : 0;
	pthread_mutex_unlock(&fk.lock);
}

static void fake_answer_raw(const char *raw)
{
	fake_set_answer(raw, strlen(raw));
}

static void fake_answer_json(int status, const char *body)
{
	char *raw;
	int n = asprintf(&raw,
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, strlen(body), body);

	assert_true(n > 0);
	fake_set_answer(raw, (size_t)n);
	free(raw);
}

/* body in chunks of `chunk` bytes, with an extension and a trailer. */
static void fake_answer_chunked(const char *body, size_t chunk)
{
	size_t len = strlen(body), cap = len * 2 + 256 + (len / chunk + 1) * 16, off = 0;
	char *raw = malloc(cap);
	int n = snprintf(raw, cap,
			 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");

	for (size_t i = 0; i < len; i += chunk) {
		size_t c = len - i < chunk ? len - i : chunk;

		n += snprintf(raw + n, cap - (size_t)n, "%zx%s\r\n", c, off++ == 0 ? ";ext=1" : "");
		memcpy(raw + n, body + i, c);
		n += (int)c;
		n += snprintf(raw + n, cap - (size_t)n, "\r\n");
	}
	n += snprintf(raw + n, cap - (size_t)n, "0\r\nX-Trailer: yes\r\n\r\n");
	fake_set_answer(raw, (size_t)n);
	free(raw);
}

static json_t *fake_request_json(void)
{
	json_t *j;

	pthread_mutex_lock(&fk.lock);
	j = fk.req_body ? json_loads(fk.req_body, 0, NULL) : NULL;
	pthread_mutex_unlock(&fk.lock);
	return j;
}

static int bind_unix(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (do_listen && listen(fd, 16) < 0)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(fk.dir, sizeof(fk.dir), "/tmp/sluice-test-cni.XXXXXX");
	if (!mkdtemp(fk.dir))
		return -1;
	snprintf(fk.sock, sizeof(fk.sock), "%s/sluiced.sock", fk.dir);
	snprintf(fk.dead, sizeof(fk.dead), "%s/dead.sock", fk.dir);
	snprintf(fk.nosuch, sizeof(fk.nosuch), "%s/nosuch.sock", fk.dir);
	fk.lfd = bind_unix(fk.sock, true);
	fk.dead_fd = bind_unix(fk.dead, false);
	if (fk.lfd < 0 || fk.dead_fd < 0)
		return -1;
	return pthread_create(&fk.thr, NULL, fake_serve, NULL) ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	atomic_store(&fk.stop, true);
	pthread_join(fk.thr, NULL);
	close(fk.lfd);
	close(fk.dead_fd);
	free(fk.answer);
	free(fk.req_head);
	free(fk.req_body);
	return fs_remove_tree(fk.dir);
}

/* Before each test: a well-behaved agent answering {"result": {}}. */
static int fake_reset(void **state)
{
	(void)state;
	fake_wait_idle();
	fake_answer_json(200, "{\"result\": {}}");
	fake_behave(0, 0, false);
	pthread_mutex_lock(&fk.lock);
	free(fk.req_head);
	free(fk.req_body);
	fk.req_head = fk.req_body = NULL;
	fk.requests = 0;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_requests(void)
{
	int n;

	pthread_mutex_lock(&fk.lock);
	n = fk.requests;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

/* --- uds_http ---------------------------------------------------------------- */

static void test_http_content_length(void **state)
{
	struct uds_http_response r;

	(void)state;
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/healthz", NULL, 0, 2000, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 2);
	assert_string_equal(r.body, "ok");
	uds_http_response_free(&r);
	assert_non_null(strstr(fk.req_head, "GET /healthz HTTP/1.1\r\n"));
	assert_non_null(strcasestr(fk.req_head, "\r\nConnection: close"));
	assert_non_null(strcasestr(fk.req_head, "\r\nHost: "));
	assert_null(strcasestr(fk.req_head, "Content-Length"));
}

static void test_http_post_json_body(void **state)
{
	const char *body = "{\"a\": 1}";
	struct uds_http_response r;

	(void)state;
	fake_answer_json(201, "{}");
	assert_int_equal(uds_http_request(fk.sock, "POST", "/v1/cni", body, strlen(body), 2000, &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{}");
	uds_http_response_free(&r);
	assert_non_null(strstr(fk.req_head, "POST /v1/cni HTTP/1.1\r\n"));
	assert_non_null(strcasestr(fk.req_head, "\r\nContent-Type: application/json"));
	assert_non_null(strcasestr(fk.req_head, "\r\nContent-Length: 8"));
	assert_string_equal(fk.req_body, body);
}

static void test_http_chunked(void **state)
{
	struct uds_http_response r;
	char *big = malloc(1 << 20);

	(void)state;
	/* Small chunks trickled one byte at a time: every state boundary is
	 * crossed between two reads. */
	fake_answer_chunked("{\"result\": {\"x\": \"chunked\"}}", 5);
	fake_behave(1, 0, false);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/v1/status", NULL, 0, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"result\": {\"x\": \"chunked\"}}");
	uds_http_response_free(&r);

	/* 1 MiB in 4000-byte chunks, at once. */
	memset(big, 'a', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	fake_answer_chunked(big, 4000);
	fake_behave(0, 0, false);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/big", NULL, 0, 5000, &r), 0);
	assert_int_equal(r.len, (1 << 20) - 1);
	assert_memory_equal(r.body, big, r.len);
	assert_int_equal(r.body[r.len], '\0');
	uds_http_response_free(&r);
	free(big);
}

static void test_http_eof_framing_and_lf(void **state)
{
	struct uds_http_response r;

	(void)state;
	/* No length, no chunking: the body ends when the server closes. Bare
	 * LF line endings are tolerated (RFC 9112 2.2). */
	fake_answer_raw("HTTP/1.0 503 Service Unavailable\nX-A: b\n\nnot ready\n");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/readyz", NULL, 0, 2000, &r), 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "not ready\n");
	uds_http_response_free(&r);
}

static void test_http_interim_and_no_body(void **state)
{
	struct uds_http_response r;

	(void)state;
	fake_answer_raw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 2000, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "yes");
	uds_http_response_free(&r);

	fake_answer_raw("HTTP/1.1 204 No Content\r\n\r\n");
	fake_behave(0, 0, true); /* 204 has no body: nothing to wait for */
	assert_int_equal(uds_http_request(fk.sock, "DELETE", "/x", NULL, 0, 2000, &r), 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	assert_string_equal(r.body, "");
	uds_http_response_free(&r);
}

static void test_http_server_keeps_connection(void **state)
{
	struct uds_http_response r;
	struct timespec t0;

	(void)state;
	/* A complete response ends the exchange even if the server ignores
	 * "Connection: close". */
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	fake_behave(0, 0, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 5000, &r), 0);
	assert_true(elapsed_ms(&t0) < 1000);
	assert_string_equal(r.body, "hello");
	uds_http_response_free(&r);
}

static void test_http_malformed(void **state)
{
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", /* closed early */
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", /* conflicting */
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\na",
		"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", /* no last chunk */
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", /* head never ends */
		"", /* closed without a word */
	};
	struct uds_http_response r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		fake_answer_raw(bad[i]);
		rc = uds_http_request(fk.sock, "GET", "/", NULL, 0, 2000, &r);
		if (rc != -EPROTO)
			fail_msg("answer %zu (%.40s): %d != -EPROTO", i, bad[i], rc);
		assert_null(r.body);
	}
}

static void test_http_too_large(void **state)
{
	struct uds_http_response r;

	(void)state;
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 2000, &r), -EFBIG);
	fake_answer_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000001\r\n");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 2000, &r), -EFBIG);
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n");
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 2000, &r), -EFBIG);
}

static void test_http_timeout(void **state)
{
	struct uds_http_response r;
	struct timespec t0;

	(void)state;
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	fake_behave(0, 600, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 150, &r), -ETIMEDOUT);
	assert_true(elapsed_ms(&t0) < 500);
	assert_null(r.body);
	/* A response that starts in time but does not finish is late too. */
	fake_wait_idle();
	fake_answer_raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok");
	fake_behave(0, 0, true);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 150, &r), -ETIMEDOUT);
}

static void test_http_connect_errors(void **state)
{
	char longpath[200];
	struct uds_http_response r;

	(void)state;
	assert_int_equal(uds_http_request(fk.nosuch, "GET", "/", NULL, 0, 1000, &r), -ENOENT);
	assert_int_equal(uds_http_request(fk.dead, "GET", "/", NULL, 0, 1000, &r), -ECONNREFUSED);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(uds_http_request(longpath, "GET", "/", NULL, 0, 1000, &r), -ENAMETOOLONG);
	assert_int_equal(uds_http_request(fk.sock, "GET", "nopath", NULL, 0, 1000, &r), -EINVAL);
	assert_int_equal(uds_http_request(fk.sock, "GET /x", "/", NULL, 0, 1000, &r), -EINVAL);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/a\r\nX: y", NULL, 0, 1000, &r), -EINVAL);
	assert_int_equal(uds_http_request(fk.sock, "GET", "/", NULL, 0, 0, &r), -EINVAL);
	assert_int_equal(fake_requests(), 0);
}

/* --- running the plugin -------------------------------------------------------- */

struct run {
	int rc;
	char *out, *err;
	size_t out_len, err_len;
	json_t *json; /* stdout parsed, when it is JSON */
};

static void run_cni(const char *const env[], const char *in_text, struct run *r)
{
	FILE *in = tmpfile(), *out, *err;

	memset(r, 0, sizeof(*r));
	assert_non_null(in);
	fputs(in_text ? in_text : "", in);
	rewind(in);
	out = open_memstream(&r->out, &r->out_len);
	err = open_memstream(&r->err, &r->err_len);
	assert_non_null(out);
	assert_non_null(err);
	r->rc = cni_run(env, in, out, err);
	fclose(in);
	fclose(out);
	fclose(err);
	log_init("test_cni", LOG_INFO, LOG_FORMAT_TEXT, NULL);
	r->json = json_loads(r->out, 0, NULL);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	json_decref(r->json);
}

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Asserts r printed the spec's error JSON with code and returned it. */
static void assert_cni_error(const struct run *r, int code, const char *version, const char *msg_has)
{
	const char *key;
	json_t *v;
	int i = 0;
	static const char *const keys[] = { "cniVersion", "code", "msg", "details" };

	if (!r->json)
		fail_msg("stdout is not JSON: %s (stderr: %s)", r->out, r->err);
	if (r->rc != code || json_integer_value(json_object_get(r->json, "code")) != code)
		fail_msg("rc %d, printed %s != code %d", r->rc, r->out, code);
	/* Exactly the four keys of SPEC.md section 5 "Error", in that order. */
	json_object_foreach(r->json, key, v) {
		assert_true(i < 4);
		assert_string_equal(key, keys[i++]);
	}
	assert_int_equal(i, 4);
	assert_true(json_is_integer(json_object_get(r->json, "code")));
	assert_true(json_is_string(json_object_get(r->json, "msg")));
	assert_true(json_is_string(json_object_get(r->json, "details")));
	assert_string_equal(jstr(r->json, "cniVersion"), version);
	if (msg_has && !strstr(jstr(r->json, "msg"), msg_has) && !strstr(jstr(r->json, "details"), msg_has))
		fail_msg("\"%s\" not in %s", msg_has, r->out);
}

static char cfg_buf[8192];

/* A plugin config at version, on socket, with extra members appended. */
static const char *config(const char *version, const char *socket, const char *extra)
{
	snprintf(
		cfg_buf, sizeof(cfg_buf),
		"{\"cniVersion\": \"%s\", \"name\": \"sluice\", \"type\": \"sluice\", \"agentSocket\": \"%s\"%s%s}",
		version, socket, extra ? ", " : "", extra ? extra : "");
	return cfg_buf;
}

#define PREV_RESULT                                                                                   \
	"\"prevResult\": {\"cniVersion\": \"1.1.0\", \"interfaces\": [{\"name\": \"eth0\", \"mac\": " \
	"\"02:00:00:00:00:02\", \"sandbox\": \"/var/run/netns/pod-x\"}], \"ips\": [{\"address\": "    \
	"\"198.18.16.5/32\", \"interface\": 0}]}"

static const char *const env_add[] = { "CNI_COMMAND=ADD",
				       "CNI_CONTAINERID=3f2a-pod_1.x",
				       "CNI_NETNS=/var/run/netns/pod-x",
				       "CNI_IFNAME=eth0",
				       "CNI_ARGS=K8S_POD_NAMESPACE=a;K8S_POD_NAME=b",
				       "CNI_PATH=/opt/cni/bin",
				       NULL };
static const char *const env_del[] = {
	"CNI_COMMAND=DEL", "CNI_CONTAINERID=3f2a",  "CNI_NETNS=/var/run/netns/pod-x",
	"CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin", NULL,
};
static const char *const env_check[] = {
	"CNI_COMMAND=CHECK", "CNI_CONTAINERID=3f2a",  "CNI_NETNS=/var/run/netns/pod-x",
	"CNI_IFNAME=eth0",   "CNI_PATH=/opt/cni/bin", NULL,
};
static const char *const env_status[] = { "CNI_COMMAND=STATUS", "CNI_PATH=/opt/cni/bin", NULL };
static const char *const env_gc[] = { "CNI_COMMAND=GC", "CNI_PATH=/opt/cni/bin", NULL };

/* env without the variable `name` (or with it set to "" when empty). */
static void env_without(const char *const *env, const char *name, bool empty, const char **out, char *buf)
{
	size_t n = strlen(name), j = 0;

	for (; *env; env++) {
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') {
			if (empty) {
				sprintf(buf, "%s=", name);
				out[j++] = buf;
			}
			continue;
		}
		out[j++] = *env;
	}
	out[j] = NULL;
}

/* --- CNI: environment and verb table ------------------------------------------ */

static void test_cni_version(void **state)
{
	static const char *const env[] = { "CNI_COMMAND=VERSION", NULL };
	struct run r;
	json_t *list;

	(void)state;
	/* Echoes the version it was given (SPEC.md section 5, "Version"). */
	run_cni(env, "{\"cniVersion\": \"0.4.0\"}", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(r.json);
	assert_string_equal(jstr(r.json, "cniVersion"), "0.4.0");
	list = json_object_get(r.json, "supportedVersions");
	assert_int_equal(json_array_size(list), 4);
	assert_string_equal(json_string_value(json_array_get(list, 0)), "0.3.1");
	assert_string_equal(json_string_value(json_array_get(list, 1)), "0.4.0");
	assert_string_equal(json_string_value(json_array_get(list, 2)), "1.0.0");
	assert_string_equal(json_string_value(json_array_get(list, 3)), "1.1.0");
	assert_int_equal(json_object_size(r.json), 2);
	run_free(&r);

	/* No input at all: our version; never the agent. */
	run_cni(env, "", &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(jstr(r.json, "cniVersion"), "1.1.0");
	run_free(&r);
	assert_int_equal(fake_requests(), 0);
}

static void test_cni_env_required_per_verb(void **state)
{
	/* SPEC.md section 2, each verb's "Required environment parameters". */
	static const struct {
		const char *const *env;
		const char *required[4];
		const char *optional[4];
	} verbs[] = {
		{ env_add,
		  { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME" },
		  { "CNI_ARGS", "CNI_PATH" } },
		{ env_del,
		  { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME" },
		  { "CNI_NETNS", "CNI_ARGS", "CNI_PATH" } },
		{ env_check,
		  { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME" },
		  { "CNI_ARGS", "CNI_PATH" } },
		{ env_status, { "CNI_COMMAND" }, { "CNI_PATH" } },
		{ env_gc, { "CNI_COMMAND", "CNI_PATH" }, { NULL } },
	};
	const char *env[16];
	char buf[64];
	struct run r;

	(void)state;
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		const char *in = config("1.1.0", fk.sock, PREV_RESULT);

		/* Complete: reaches the agent. */
		run_cni(verbs[v].env, in, &r);
		if (r.rc != 0)
			fail_msg("%s: %s", verbs[v].env[0], r.out);
		run_free(&r);
		for (int i = 0; i < 4 && verbs[v].required[i]; i++) {
			for (int empty = 0; empty < 2; empty++) {
				env_without(verbs[v].env, verbs[v].required[i], empty, env, buf);
				run_cni(env, in, &r);
				assert_cni_error(&r, 4, "1.1.0", verbs[v].required[i]);
				assert_non_null(strstr(jstr(r.json, "msg"), verbs[v].required[i]));
				run_free(&r);
			}
		}
		for (int i = 0; i < 4 && verbs[v].optional[i]; i++) {
			env_without(verbs[v].env, verbs[v].optional[i], false, env, buf);
			run_cni(env, in, &r);
			if (r.rc != 0)
				fail_msg("%s without %s: %s", verbs[v].env[0], verbs[v].optional[i], r.out);
			run_free(&r);
		}
	}

	/* Every missing one is named at once. */
	{
		static const char *const bare[] = { "CNI_COMMAND=ADD", NULL };

		run_cni(bare, config("1.1.0", fk.sock, NULL), &r);
		assert_cni_error(&r, 4, "1.1.0", NULL);
		assert_string_equal(jstr(r.json, "msg"),
				    "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing");
		run_free(&r);
	}
}

static void test_cni_env_invalid_values(void **state)
{
	static const struct {
		const char *var, *value;
	} bad[] = {
		{ "CNI_CONTAINERID", "-leading-dash" },
		{ "CNI_CONTAINERID", "has space" },
		{ "CNI_CONTAINERID", "a/b" },
		{ "CNI_IFNAME", "eth0123456789abc" }, /* 16 characters */
		{ "CNI_IFNAME", "a/b" },
		{ "CNI_IFNAME", "a:b" },
		{ "CNI_IFNAME", "a b" },
		{ "CNI_IFNAME", ".." },
		{ "CNI_ARGS", "NOEQUALS" },
		{ "CNI_ARGS", "A=1;=2" },
		{ "CNI_NETNS", "/x\xff" }, /* not UTF-8: cannot be forwarded in JSON */
	};
	const char *env[16];
	char buf[64], kv[64];
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env_without(env_add, bad[i].var, false, env, buf);
		snprintf(kv, sizeof(kv), "%s=%s", bad[i].var, bad[i].value);
		for (int j = 0;; j++) {
			if (!env[j]) {
				env[j] = kv;
				env[j + 1] = NULL;
				break;
			}
		}
		run_cni(env, config("1.1.0", fk.sock, NULL), &r);
		assert_cni_error(&r, 4, "1.1.0", bad[i].var);
		run_free(&r);
	}
	/* The longest valid name and a trailing ';' in CNI_ARGS pass. */
	{
		static const char *const ok[] = { "CNI_COMMAND=ADD",  "CNI_CONTAINERID=a",
						  "CNI_NETNS=/n",     "CNI_IFNAME=eth012345678901",
						  "CNI_ARGS=A=1;B=;", NULL };

		fake_answer_json(200, "{\"result\": {\"interfaces\": [], \"ips\": []}}");
		run_cni(ok, config("1.1.0", fk.sock, NULL), &r);
		assert_int_equal(r.rc, 0);
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 1);
}

static void test_cni_unknown_command(void **state)
{
	static const char *const lower[] = { "CNI_COMMAND=add", "CNI_CONTAINERID=a", "CNI_NETNS=/n",
					     "CNI_IFNAME=eth0", NULL };
	static const char *const prefix[] = { "CNI_COMMAND=VERS", NULL };
	static const char *const none[] = { "CNI_PATH=/opt/cni/bin", NULL };
	struct run r;

	(void)state;
	/* Exact keyword matching: no case folding, no prefixes. */
	run_cni(lower, config("1.1.0", fk.sock, NULL), &r);
	assert_cni_error(&r, 4, "1.1.0", "CNI_COMMAND");
	run_free(&r);
	run_cni(prefix, "", &r);
	assert_cni_error(&r, 4, "1.1.0", "CNI_COMMAND");
	run_free(&r);
	run_cni(none, "", &r);
	assert_cni_error(&r, 4, "1.1.0", "CNI_COMMAND");
	assert_non_null(strstr(r.err, "versions supported: 0.3.1, 0.4.0, 1.0.0, 1.1.0"));
	run_free(&r);
	assert_int_equal(fake_requests(), 0);
}

/* --- CNI: network configuration ------------------------------------------------ */

static void test_cni_error_json_format(void **state)
{
	struct run r;

	(void)state;
	/* cniVersion of an error is the config's, when that is supported. */
	fake_answer_json(200, "{\"error\": {\"code\": 101, \"msg\": \"no IP available\"}}");
	run_cni(env_add, config("0.4.0", fk.sock, NULL), &r);
	assert_cni_error(&r, 101, "0.4.0", "no IP available");
	assert_string_equal(jstr(r.json, "details"), "");
	assert_non_null(strstr(r.err, "no IP available")); /* logged on stderr too */
	run_free(&r);
	/* ... and ours when it is not. */
	run_cni(env_add, config("9.9.9", fk.sock, NULL), &r);
	assert_cni_error(&r, 1, "1.1.0", "9.9.9");
	run_free(&r);
}

static void test_cni_malformed_json(void **state)
{
	static const char *const bad[] = { "",
					   "{",
					   "{\"cniVersion\": \"1.1.0\",}",
					   "[1, 2]",
					   "\"str\"",
					   "{\"a\": 1} trailing",
					   "{\"a\": \"\\u0000\"}" };
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_cni(env_add, bad[i], &r);
		assert_cni_error(&r, 6, "1.1.0", NULL);
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 0);
}

static void test_cni_bad_config(void **state)
{
	char sock_too_long[200], long_sock_cfg[400];
	const char *bad[] = {
		"{\"cniVersion\": \"1.1.0\", \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": 5, \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"\", \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"-net\", \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"a/b\", \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"../sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": [\"sluice\"]}",
		"{\"name\": \"sluice\", \"type\": \"sluice\"}",
		"{\"cniVersion\": 1.1, \"name\": \"sluice\", \"type\": \"sluice\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"agentSocket\": \"rel.sock\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"agentSocket\": 7}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"timeoutSeconds\": \"5\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"timeoutSeconds\": 0}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"timeoutSeconds\": 3601}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"timeoutSeconds\": 2.5}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"runtimeConfig\": []}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"prevResult\": \"x\"}",
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"args\": 1}",
		long_sock_cfg,
	};
	struct run r;

	(void)state;
	memset(sock_too_long, 'a', sizeof(sock_too_long) - 1);
	sock_too_long[0] = '/';
	sock_too_long[sizeof(sock_too_long) - 1] = '\0';
	snprintf(
		long_sock_cfg, sizeof(long_sock_cfg),
		"{\"cniVersion\": \"1.1.0\", \"name\": \"sluice\", \"type\": \"sluice\", \"agentSocket\": \"%s\"}",
		sock_too_long);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_cni(env_add, bad[i], &r);
		if (r.rc != 7)
			fail_msg("config %zu %.80s: rc %d: %s", i, bad[i], r.rc, r.out);
		assert_cni_error(&r, 7, "1.1.0", NULL);
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 0);
}

static void test_cni_unsupported_version(void **state)
{
	static const char *const versions[] = { "0.1.0", "0.2.0", "0.3.0",  "1.2.0",
						"2.0.0", "1.1",	  "v1.1.0", "" };
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		run_cni(env_add, config(versions[i], fk.sock, NULL), &r);
		assert_cni_error(&r, 1, "1.1.0", "incompatible");
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 0);
}

static void test_cni_check_needs_040(void **state)
{
	struct run r;

	(void)state;
	/* CHECK came with spec 0.4.0. */
	run_cni(env_check, config("0.3.1", fk.sock, PREV_RESULT), &r);
	assert_cni_error(&r, 1, "0.3.1", "CHECK");
	run_free(&r);
	assert_int_equal(fake_requests(), 0);
	for (size_t i = 1; cni_supported_versions[i]; i++) {
		run_cni(env_check, config(cni_supported_versions[i], fk.sock, PREV_RESULT), &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.out_len, 0);
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 3);
}

static void test_cni_status_gc_need_110(void **state)
{
	const char *const *envs[] = { env_status, env_gc };
	struct run r;

	(void)state;
	for (int e = 0; e < 2; e++) {
		for (size_t i = 0; i < 3; i++) {
			run_cni(envs[e], config(cni_supported_versions[i], fk.sock, NULL), &r);
			assert_cni_error(&r, 1, cni_supported_versions[i],
					 envs[e][0] + strlen("CNI_COMMAND="));
			run_free(&r);
		}
		run_cni(envs[e], config("1.1.0", fk.sock, NULL), &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.out_len, 0);
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 2);
}

static void test_cni_check_requires_prev_result(void **state)
{
	struct run r;

	(void)state;
	run_cni(env_check, config("1.1.0", fk.sock, NULL), &r);
	assert_cni_error(&r, 7, "1.1.0", "prevResult");
	run_free(&r);
	assert_int_equal(fake_requests(), 0);
}

static void test_cni_gc_attachments(void **state)
{
	static const char *const bad[] = {
		"\"cni.dev/valid-attachments\": {}",
		"\"cni.dev/valid-attachments\": [{\"containerID\": \"a\"}]",
		"\"cni.dev/valid-attachments\": [\"a\"]",
		"\"cni.dev/attachments\": [{\"containerID\": \"a\", \"ifname\": 0}]",
	};
	const char *good = "\"cni.dev/valid-attachments\": [{\"containerID\": \"a\", \"ifname\": \"eth0\"}]";
	struct run r;
	json_t *req, *in;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_cni(env_gc, config("1.1.0", fk.sock, bad[i]), &r);
		assert_cni_error(&r, 7, "1.1.0", "attachments");
		run_free(&r);
	}
	assert_int_equal(fake_requests(), 0);

	run_cni(env_gc, config("1.1.0", fk.sock, good), &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out_len, 0);
	run_free(&r);
	/* GC has no attachment parameters (section 3): none are sent. */
	req = fake_request_json();
	assert_non_null(req);
	assert_string_equal(jstr(req, "command"), "GC");
	assert_null(json_object_get(req, "containerID"));
	assert_null(json_object_get(req, "netns"));
	assert_null(json_object_get(req, "ifName"));
	assert_string_equal(jstr(req, "path"), "/opt/cni/bin");
	in = json_loads(config("1.1.0", fk.sock, good), 0, NULL);
	assert_true(json_equal(json_object_get(req, "config"), in));
	json_decref(in);
	json_decref(req);
}

/* --- CNI: the agent ---------------------------------------------------------- */

static void test_cni_agent_unreachable(void **state)
{
	const char *const *envs[] = { env_add, env_del, env_check, env_gc, env_status };
	const char *socks[] = { fk.nosuch, fk.dead };
	struct run r;

	(void)state;
	for (int s = 0; s < 2; s++) {
		for (int e = 0; e < 5; e++) {
			int code = envs[e] == env_status ? 50 : 11;

			run_cni(envs[e], config("1.1.0", socks[s], PREV_RESULT), &r);
			assert_cni_error(&r, code, "1.1.0", socks[s]);
			assert_non_null(strstr(jstr(r.json, "details"), socks[s]));
			assert_non_null(strstr(jstr(r.json, "msg"),
					       code == 50 ? "plugin not available" : "try again later"));
			run_free(&r);
		}
	}
}

static void test_cni_agent_slow(void **state)
{
	struct run r;
	struct timespec t0;

	(void)state;
	fake_answer_json(200, "{\"result\": {}}");
	fake_behave(0, 1600, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_cni(env_del, config("1.1.0", fk.sock, "\"timeoutSeconds\": 1"), &r);
	assert_cni_error(&r, 11, "1.1.0", "1000 ms");
	assert_true(elapsed_ms(&t0) < 1500);
	run_free(&r);
	assert_int_equal(fake_requests(), 1);
}

static void test_cni_agent_garbage(void **state)
{
	static const struct {
		int status;
		const char *body; /* NULL: raw below */
		const char *raw;
	} answers[] = {
		{ 200, "not json", NULL },
		{ 200, "{\"result\": 5}", NULL },
		{ 200, "{\"foo\": {}}", NULL },
		{ 200, "{\"result\": {}, \"error\": {\"code\": 7, \"msg\": \"x\"}}", NULL },
		{ 200, "{\"error\": {\"code\": \"7\", \"msg\": \"x\"}}", NULL },
		{ 200, "{\"error\": {\"code\": 0, \"msg\": \"x\"}}", NULL },
		{ 200, "{\"error\": {\"code\": 7}}", NULL },
		{ 500, "<html>\xff oops</html>", NULL },
		{ 404, "{\"result\": {}}", NULL },
		{ 0, NULL, "this is not http\r\n\r\n" },
		{ 0, NULL, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"result\": {}}" },
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		if (answers[i].body)
			fake_answer_json(answers[i].status, answers[i].body);
		else
			fake_answer_raw(answers[i].raw);
		run_cni(env_del, config("1.1.0", fk.sock, NULL), &r);
		assert_cni_error(&r, 11, "1.1.0", "unexpected answer");
		assert_non_null(strstr(jstr(r.json, "details"), "sluiced.sock"));
		run_free(&r);
		/* STATUS: the agent cannot serve ADD either. */
		run_cni(env_status, config("1.1.0", fk.sock, NULL), &r);
		assert_cni_error(&r, 50, "1.1.0", "unexpected answer");
		run_free(&r);
	}
}

static void test_cni_agent_error_passthrough(void **state)
{
	struct run r;

	(void)state;
	fake_answer_json(200, "{\"error\": {\"code\": 100, \"msg\": \"CHECK mismatch\", \"details\": "
			      "\"eth0 has no address 198.18.16.5/32\"}}");
	run_cni(env_check, config("1.0.0", fk.sock, PREV_RESULT), &r);
	assert_cni_error(&r, 100, "1.0.0", NULL);
	assert_string_equal(jstr(r.json, "msg"), "CHECK mismatch");
	assert_string_equal(jstr(r.json, "details"), "eth0 has no address 198.18.16.5/32");
	run_free(&r);

	/* A request the API could not read: HTTP 400 with code 6. */
	fake_answer_json(400, "{\"error\": {\"code\": 6, \"msg\": \"undecodable\", \"details\": \"é\"}}");
	run_cni(env_add, config("1.1.0", fk.sock, NULL), &r);
	assert_cni_error(&r, 6, "1.1.0", "undecodable");
	assert_string_equal(jstr(r.json, "details"), "é");
	run_free(&r);

	/* STATUS: the agent's own 51 goes through as it is. */
	fake_answer_json(200, "{\"error\": {\"code\": 51, \"msg\": \"datapath not loaded\"}}");
	run_cni(env_status, config("1.1.0", fk.sock, NULL), &r);
	assert_cni_error(&r, 51, "1.1.0", "datapath not loaded");
	run_free(&r);
}

#define ADD_RESULT                                                                                              \
	"{\"result\": {\"interfaces\": [{\"name\": \"sl1a2b3c4d5e6f\", \"mac\": \"02:00:00:00:00:01\", "        \
	"\"mtu\": 9000}, {\"name\": \"eth0\", \"mac\": \"02:00:00:00:00:02\", \"sandbox\": "                    \
	"\"/var/run/netns/pod-x\", \"pciID\": \"0000:00:01.0\"}], \"ips\": [{\"address\": \"198.18.16.5/32\", " \
	"\"gateway\": \"169.254.1.1\", \"interface\": 1}, {\"address\": \"fd00::5/128\", \"interface\": 1}], "  \
	"\"routes\": [{\"dst\": \"0.0.0.0/0\", \"gw\": \"169.254.1.1\", \"mtu\": 1500, \"table\": 0}], "        \
	"\"dns\": {\"nameservers\": [\"198.18.0.10\"], \"search\": [\"svc.cluster.local\"]}, "                  \
	"\"futureKey\": 1}}"

static void test_cni_add_forwarding(void **state)
{
	const char *extra =
		"\"args\": {\"cni\": {\"ips\": [\"198.18.16.5\"]}}, \"runtimeConfig\": {\"portMappings\": "
		"[{\"hostPort\": 8080, \"containerPort\": 80, \"protocol\": \"tcp\"}]}, "
		"\"capabilities\": {\"portMappings\": true}, \"custom\": [1, \"two\", null], " PREV_RESULT;
	json_t *req, *in, *ifaces;
	const char *text;
	struct run r;

	(void)state;
	fake_answer_json(200, ADD_RESULT);
	text = config("1.1.0", fk.sock, extra);
	run_cni(env_add, text, &r);
	if (r.rc)
		fail_msg("ADD: %s", r.out);

	/* The request: docs/agent-api.md, POST /v1/cni. */
	assert_non_null(strstr(fk.req_head, "POST /v1/cni HTTP/1.1\r\n"));
	req = fake_request_json();
	assert_non_null(req);
	assert_string_equal(jstr(req, "command"), "ADD");
	assert_string_equal(jstr(req, "containerID"), "3f2a-pod_1.x");
	assert_string_equal(jstr(req, "netns"), "/var/run/netns/pod-x");
	assert_string_equal(jstr(req, "ifName"), "eth0");
	assert_string_equal(jstr(req, "args"), "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b");
	assert_string_equal(jstr(req, "path"), "/opt/cni/bin");
	in = json_loads(text, 0, NULL);
	assert_non_null(in);
	assert_true(json_equal(json_object_get(req, "config"), in)); /* forwarded unchanged */
	assert_int_equal(json_object_size(req), 7);
	json_decref(in);
	json_decref(req);

	/* The output: the agent's result with cniVersion, in 1.1.0 shape. */
	assert_non_null(r.json);
	assert_string_equal(json_object_iter_key(json_object_iter(r.json)), "cniVersion");
	assert_string_equal(jstr(r.json, "cniVersion"), "1.1.0");
	ifaces = json_object_get(r.json, "interfaces");
	assert_int_equal(json_array_size(ifaces), 2);
	assert_string_equal(jstr(json_array_get(ifaces, 1), "sandbox"), "/var/run/netns/pod-x");
	assert_string_equal(jstr(json_array_get(ifaces, 1), "mac"), "02:00:00:00:00:02");
	assert_null(json_object_get(r.json, "futureKey"));
	assert_null(json_object_get(json_object_get(r.json, "dns"), "domain"));
	assert_int_equal(r.err_len, 0);
	run_free(&r);
}

/* One ADD per supported version: what each spec's result looks like. */
static void test_cni_add_version_conversion(void **state)
{
	struct run r;

	(void)state;
	fake_answer_json(200, ADD_RESULT);
	for (size_t i = 0; cni_supported_versions[i]; i++) {
		const char *ver = cni_supported_versions[i];
		bool v1 = ver[0] == '1', v11 = strcmp(ver, "1.1.0") == 0;
		json_t *ips, *ifaces, *route, *dns;

		run_cni(env_add, config(ver, fk.sock, NULL), &r);
		if (r.rc)
			fail_msg("ADD %s: %s", ver, r.out);
		assert_string_equal(jstr(r.json, "cniVersion"), ver);
		ifaces = json_object_get(r.json, "interfaces");
		ips = json_object_get(r.json, "ips");
		route = json_array_get(json_object_get(r.json, "routes"), 0);
		dns = json_object_get(r.json, "dns");
		assert_int_equal(json_array_size(ifaces), 2);
		assert_int_equal(json_array_size(ips), 2);
		for (size_t k = 0; k < 2; k++) /* podman wants a MAC on every interface */
			assert_non_null(jstr(json_array_get(ifaces, k), "mac"));
		/* 0.3.x/0.4.0: "version" in every IP; 1.0.0 removed it. */
		if (v1) {
			assert_null(json_object_get(json_array_get(ips, 0), "version"));
			assert_null(json_object_get(json_array_get(ips, 1), "version"));
		} else {
			assert_string_equal(jstr(json_array_get(ips, 0), "version"), "4");
			assert_string_equal(jstr(json_array_get(ips, 1), "version"), "6");
		}
		assert_string_equal(jstr(json_array_get(ips, 0), "address"), "198.18.16.5/32");
		assert_string_equal(jstr(json_array_get(ips, 0), "gateway"), "169.254.1.1");
		assert_int_equal(json_integer_value(json_object_get(json_array_get(ips, 0), "interface")), 1);
		/* mtu, pciID and the route attributes are 1.1.0's. */
		assert_int_equal(json_object_get(json_array_get(ifaces, 0), "mtu") != NULL, v11);
		assert_int_equal(json_object_get(json_array_get(ifaces, 1), "pciID") != NULL, v11);
		assert_int_equal(json_object_get(route, "mtu") != NULL, v11);
		assert_int_equal(json_object_get(route, "table") != NULL, v11);
		assert_string_equal(jstr(route, "gw"), "169.254.1.1");
		assert_string_equal(json_string_value(json_array_get(json_object_get(dns, "nameservers"), 0)),
				    "198.18.0.10");
		run_free(&r);
	}
}

static void test_cni_add_chunked_answer(void **state)
{
	struct run r;

	(void)state;
	fake_answer_chunked(ADD_RESULT, 7);
	run_cni(env_add, config("1.1.0", fk.sock, NULL), &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(json_object_get(r.json, "interfaces")), 2);
	run_free(&r);
}

static void test_cni_add_bad_result(void **state)
{
	static const char *const bad[] = {
		/* no MAC */
		"{\"result\": {\"interfaces\": [{\"name\": \"eth0\"}]}}",
		"{\"result\": {\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"zz\"}]}}",
		"{\"result\": {\"interfaces\": [{\"mac\": \"02:00:00:00:00:01\"}]}}",
		"{\"result\": {\"interfaces\": {}}}",
		"{\"result\": {\"ips\": [{\"address\": \"198.18.16.5\"}]}}",
		"{\"result\": {\"ips\": [{\"address\": \"198.18.16.5/32\", \"interface\": 0}]}}",
		"{\"result\": {\"ips\": [{\"address\": \"198.18.16.5/32\", \"gateway\": \"x\"}]}}",
		"{\"result\": {\"routes\": [{\"gw\": \"1.2.3.4\"}]}}",
		"{\"result\": {\"dns\": {\"nameservers\": \"1.1.1.1\"}}}",
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_answer_json(200, bad[i]);
		run_cni(env_add, config("1.1.0", fk.sock, NULL), &r);
		assert_cni_error(&r, 11, "1.1.0", "unexpected answer");
		run_free(&r);
	}
}

static void test_cni_del_without_netns(void **state)
{
	const char *env[16];
	char buf[64];
	struct run r;
	json_t *req;

	(void)state;
	for (int empty = 0; empty < 2; empty++) {
		env_without(env_del, "CNI_NETNS", empty, env, buf);
		run_cni(env, config("1.1.0", fk.sock, NULL), &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.out_len, 0); /* DEL prints nothing on success */
		run_free(&r);
		req = fake_request_json();
		assert_string_equal(jstr(req, "command"), "DEL");
		assert_string_equal(jstr(req, "netns"), "");
		assert_string_equal(jstr(req, "containerID"), "3f2a");
		assert_string_equal(jstr(req, "ifName"), "eth0");
		assert_string_equal(jstr(req, "args"), "");
		json_decref(req);
	}
}

static void test_cni_quiet_verbs(void **state)
{
	const char *const *envs[] = { env_del, env_check, env_status, env_gc };
	static const char *const names[] = { "DEL", "CHECK", "STATUS", "GC" };
	struct run r;

	(void)state;
	for (int e = 0; e < 4; e++) {
		json_t *req;

		run_cni(envs[e], config("1.1.0", fk.sock, PREV_RESULT), &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.out_len, 0);
		run_free(&r);
		req = fake_request_json();
		assert_string_equal(jstr(req, "command"), names[e]);
		assert_non_null(json_object_get(json_object_get(req, "config"), "prevResult"));
		json_decref(req);
	}
	assert_int_equal(fake_requests(), 4);
}

static void test_cni_result_convert_direct(void **state)
{
	struct cni_error e;
	json_t *in, *out;

	(void)state;
	assert_int_equal(cni_version_num("1.1.0"), 10100);
	assert_int_equal(cni_version_num("0.3.1"), 301);
	assert_int_equal(cni_version_num("1.1"), -1);
	assert_int_equal(cni_version_num("01.1.0"), -1);
	assert_int_equal(cni_version_num("1.1.0-rc1"), -1);
	assert_true(cni_version_supported("0.4.0"));
	assert_false(cni_version_supported("0.3.0"));

	/* Empty: every key of the result is still there. */
	in = json_object();
	assert_int_equal(cni_result_convert(in, "0.3.1", &out, &e), 0);
	assert_int_equal(json_object_size(out), 5);
	assert_int_equal(json_array_size(json_object_get(out, "interfaces")), 0);
	assert_true(json_is_object(json_object_get(out, "dns")));
	json_decref(out);
	json_decref(in);

	in = json_loads("[]", 0, NULL);
	assert_int_equal(cni_result_convert(in, "1.1.0", &out, &e), 11);
	assert_null(out);
	json_decref(in);
}

/* The sample config, fed to the plugin the way a runtime derives a plugin's
 * request config from a list (SPEC.md section 3): cniVersion and name of the
 * list, then the plugin's own keys. */
static void test_cni_sample_conflist(void **state)
{
	const char *top = getenv("SLUICE_TOP");
	json_t *list, *plugin, *req_cfg;
	char path[512], *text;
	struct run r;

	(void)state;
	snprintf(path, sizeof(path), "%s/cni/10-sluice.conflist", top ? top : ".");
	list = json_load_file(path, 0, NULL);
	assert_non_null(list);
	assert_string_equal(jstr(list, "cniVersion"), "1.1.0");
	assert_string_equal(jstr(list, "name"), "sluice");
	assert_int_equal(json_array_size(json_object_get(list, "plugins")), 1);
	plugin = json_array_get(json_object_get(list, "plugins"), 0);
	assert_string_equal(jstr(plugin, "type"), "sluice");
	assert_string_equal(jstr(plugin, "agentSocket"), CNI_DEFAULT_AGENT_SOCKET);

	req_cfg = json_pack("{s:O, s:O}", "cniVersion", json_object_get(list, "cniVersion"), "name",
			    json_object_get(list, "name"));
	json_object_update(req_cfg, plugin);
	json_object_set_new(req_cfg, "agentSocket", json_string(fk.sock));
	text = json_dumps(req_cfg, 0);
	run_cni(env_status, text, &r);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	free(text);
	json_decref(req_cfg);
	json_decref(list);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup(test_http_content_length, fake_reset),
	cmocka_unit_test_setup(test_http_post_json_body, fake_reset),
	cmocka_unit_test_setup(test_http_chunked, fake_reset),
	cmocka_unit_test_setup(test_http_eof_framing_and_lf, fake_reset),
	cmocka_unit_test_setup(test_http_interim_and_no_body, fake_reset),
	cmocka_unit_test_setup(test_http_server_keeps_connection, fake_reset),
	cmocka_unit_test_setup(test_http_malformed, fake_reset),
	cmocka_unit_test_setup(test_http_too_large, fake_reset),
	cmocka_unit_test_setup(test_http_timeout, fake_reset),
	cmocka_unit_test_setup(test_http_connect_errors, fake_reset),
	cmocka_unit_test_setup(test_cni_version, fake_reset),
	cmocka_unit_test_setup(test_cni_env_required_per_verb, fake_reset),
	cmocka_unit_test_setup(test_cni_env_invalid_values, fake_reset),
	cmocka_unit_test_setup(test_cni_unknown_command, fake_reset),
	cmocka_unit_test_setup(test_cni_error_json_format, fake_reset),
	cmocka_unit_test_setup(test_cni_malformed_json, fake_reset),
	cmocka_unit_test_setup(test_cni_bad_config, fake_reset),
	cmocka_unit_test_setup(test_cni_unsupported_version, fake_reset),
	cmocka_unit_test_setup(test_cni_check_needs_040, fake_reset),
	cmocka_unit_test_setup(test_cni_status_gc_need_110, fake_reset),
	cmocka_unit_test_setup(test_cni_check_requires_prev_result, fake_reset),
	cmocka_unit_test_setup(test_cni_gc_attachments, fake_reset),
	cmocka_unit_test_setup(test_cni_agent_unreachable, fake_reset),
	cmocka_unit_test_setup(test_cni_agent_slow, fake_reset),
	cmocka_unit_test_setup(test_cni_agent_garbage, fake_reset),
	cmocka_unit_test_setup(test_cni_agent_error_passthrough, fake_reset),
	cmocka_unit_test_setup(test_cni_add_forwarding, fake_reset),
	cmocka_unit_test_setup(test_cni_add_version_conversion, fake_reset),
	cmocka_unit_test_setup(test_cni_add_chunked_answer, fake_reset),
	cmocka_unit_test_setup(test_cni_add_bad_result, fake_reset),
	cmocka_unit_test_setup(test_cni_del_without_netns, fake_reset),
	cmocka_unit_test_setup(test_cni_quiet_verbs, fake_reset),
	cmocka_unit_test_setup(test_cni_result_convert_direct, fake_reset),
	cmocka_unit_test_setup(test_cni_sample_conflist, fake_reset),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
