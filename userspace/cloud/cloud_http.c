// SPDX-License-Identifier: Apache-2.0
/*
 * The cloud HTTP client on libcurl, and the token bucket that guards it.
 * See cloud_http.h for the contract.
 *
 * Retry policy, from IBM's go-sdk-core (base_service.go) and what Nova and
 * Neutron document: retry transport failures, 429 and every 5xx but 501 (Not
 * Implemented will not get better); honour Retry-After (integer seconds or an
 * HTTP date) capped at backoff_max_ms, else sleep a "full jitter" backoff:
 * uniform in [base, min(max, base * 2^attempt)]. A request marked no_retry
 * goes out once, whatever happens.
 *
 * One easy handle per client: curl_easy_reset() between attempts keeps the
 * connection cache, so a burst of calls to one endpoint reuses one TCP/TLS
 * connection. Nothing here logs a header or a body: only the method, the URL
 * without its query (pagination tokens can be long, and some clouds put
 * credentials in query strings), the status and curl's error text.
 */
#include "cloud/cloud_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RETRIES 5
#define DEFAULT_BACKOFF_BASE_MS 200
#define DEFAULT_BACKOFF_MAX_MS 30000
#define MAX_BODY (32u << 20)
#define MAX_HEADERS (256u << 10)

struct buf {
	char *data;
	size_t len, cap;
	size_t max;
	bool too_big;
};

struct cloud_http {
	CURL *curl;
	struct cloud_http_opts opts; /* strings below are owned copies */
	char *ca_file;
	char *unix_socket;
	unsigned seed; /* jitter; rand_r state */
	struct cloud_http_stats stats; /* updated with __atomic builtins: read from other threads */
};

struct cloud_budget {
	pthread_mutex_t lock;
	double rate;
	double burst;
	double level;
	struct timespec last;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void stat_add(uint64_t *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* --- buffers ----------------------------------------------------------------- */

static bool buf_append(struct buf *b, const char *data, size_t len)
{
	if (b->len + len > b->max) {
		b->too_big = true;
		return false;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *n;

		while (cap < b->len + len + 1)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n)
			return false;
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

static void buf_reset(struct buf *b)
{
	b->len = 0;
	b->too_big = false;
	if (b->data)
		b->data[0] = '\0';
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;

	return buf_append(b, ptr, size * nmemb) ? size * nmemb : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t len = size * nmemb;

	/* A new status line (after a 100 Continue): keep only the final response's headers. */
	if (len >= 5 && !strncmp(ptr, "HTTP/", 5))
		buf_reset(b);
	return buf_append(b, ptr, len) ? len : 0;
}

/* --- client ------------------------------------------------------------------ */

int cloud_http_new(const struct cloud_http_opts *opts, struct cloud_http **out)
{
	struct cloud_http *h;
	unsigned seed = 0;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		pr_err("cloud http: curl_global_init: %s", curl_easy_strerror(curl_init_rc));
		return -EIO;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (opts)
		h->opts = *opts;
	if (!h->opts.timeout_ms)
		h->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!h->opts.max_retries)
		h->opts.max_retries = DEFAULT_MAX_RETRIES;
	if (!h->opts.backoff_base_ms)
		h->opts.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
	if (!h->opts.backoff_max_ms)
		h->opts.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (h->opts.backoff_max_ms < h->opts.backoff_base_ms)
		h->opts.backoff_max_ms = h->opts.backoff_base_ms;
	if ((h->opts.ca_file && !(h->ca_file = strdup(h->opts.ca_file))) ||
	    (h->opts.unix_socket && !(h->unix_socket = strdup(h->opts.unix_socket)))) {
		cloud_http_free(h);
		return -ENOMEM;
	}
	h->opts.ca_file = h->ca_file;
	h->opts.unix_socket = h->unix_socket;
	h->curl = curl_easy_init();
	if (!h->curl) {
		cloud_http_free(h);
		return -ENOMEM;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (unsigned)sl_now_ms() ^ (unsigned)(uintptr_t)h;
	h->seed = seed;
	*out = h;
	return 0;
}

void cloud_http_free(struct cloud_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h->unix_socket);
	free(h);
}

void cloud_http_stats(const struct cloud_http *h, struct cloud_http_stats *out)
{
	out->requests = __atomic_load_n(&h->stats.requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&h->stats.retries, __ATOMIC_RELAXED);
	out->throttled = __atomic_load_n(&h->stats.throttled, __ATOMIC_RELAXED);
	out->budget_denied = __atomic_load_n(&h->stats.budget_denied, __ATOMIC_RELAXED);
}

void cloud_http_resp_free(struct cloud_http_resp *resp)
{
	if (!resp)
		return;
	free(resp->body);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

/* "scheme://host/path" for logs: no user info, no query, no fragment. */
static const char *url_for_log(const char *url, char *buf, size_t len)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	const char *at = strchr(host, '@');
	const char *slash = strchr(host, '/');
	size_t n;

	if (at && (!slash || at < slash))
		host = at + 1;
	n = strcspn(host, "?#");
	snprintf(buf, len, "%.*s%.*s", scheme_end ? (int)(scheme_end + 3 - url) : 0, url, (int)n, host);
	return buf;
}

static bool has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; headers && headers[i]; i++) {
		if (!strncasecmp(headers[i], name, n) && headers[i][n] == ':')
			return true;
	}
	return false;
}

static int build_headers(const struct cloud_http_req *req, struct curl_slist **out)
{
	struct curl_slist *list = NULL, *n;
	const char *extra[4];
	size_t ne = 0;

	/* curl would send "Expect: 100-continue" for large bodies: one more round trip. */
	extra[ne++] = "Expect:";
	if (!has_header(req->headers, "Accept"))
		extra[ne++] = "Accept: application/json";
	if (req->body && !has_header(req->headers, "Content-Type"))
		extra[ne++] = "Content-Type: application/json";
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		n = curl_slist_append(list, req->headers[i]);
		if (!n)
			goto nomem;
		list = n;
	}
	for (size_t i = 0; i < ne; i++) {
		n = curl_slist_append(list, extra[i]);
		if (!n)
			goto nomem;
		list = n;
	}
	*out = list;
	return 0;
nomem:
	curl_slist_free_all(list);
	return -ENOMEM;
}

static int curl_errno(CURLcode rc, bool too_big)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		return too_big ? -EFBIG : -EIO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Failures where the server may answer next time. */
static bool curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long status)
{
	return status == 429 || (status >= 500 && status != 501);
}

static int perform(struct cloud_http *h, const struct cloud_http_req *req, struct curl_slist *headers,
		   struct buf *body, struct buf *hdrs, long *status, CURLcode *rc)
{
	CURL *c = h->curl;
	const char *method = req->method ? req->method : "GET";

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->opts.timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->opts.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->opts.ca_file);
	if (h->opts.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (h->opts.unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->opts.unix_socket);
	/* libcurl silently sends a request again when a reused connection turns
	 * out closed before any answer: not for one that must go out once. */
	if (req->no_retry)
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	if (!strcmp(method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		/* POST/PUT/PATCH always carry a body (Content-Length: 0 when empty);
		 * DELETE only when given one. */
		if (req->body || strcmp(method, "DELETE")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(req->body ? req->body_len : 0));
		}
	}
	buf_reset(body);
	buf_reset(hdrs);
	*rc = curl_easy_perform(c);
	if (*rc != CURLE_OK)
		return curl_errno(*rc, body->too_big || hdrs->too_big);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* Retry-After in ms, or -1 when absent or unreadable. */
static long retry_after_ms(const struct cloud_http_resp *r)
{
	const char *v = cloud_http_header(r, "Retry-After");
	char *end;
	long secs;
	time_t when;

	if (!v || !*v)
		return -1;
	secs = strtol(v, &end, 10);
	if (*end == '\0' && end != v)
		return secs < 0 ? 0 : secs > 86400 ? 86400000L : secs * 1000;
	when = curl_getdate(v, NULL);
	if (when == -1)
		return -1;
	when -= time(NULL);
	return when <= 0 ? 0 : when > 86400 ? 86400000L : (long)when * 1000;
}

static unsigned backoff_ms(struct cloud_http *h, unsigned attempt)
{
	uint64_t base = h->opts.backoff_base_ms, max = h->opts.backoff_max_ms, cap = base;

	for (unsigned i = 0; i < attempt && cap < max; i++)
		cap *= 2;
	if (cap > max)
		cap = max;
	return (unsigned)(base + (cap > base ? (uint64_t)rand_r(&h->seed) % (cap - base + 1) : 0));
}

int cloud_http_do(struct cloud_http *h, const struct cloud_http_req *req, struct cloud_http_resp *resp)
{
	struct buf body = { .max = MAX_BODY }, hdrs = { .max = MAX_HEADERS };
	struct curl_slist *headers = NULL;
	const char *method = req->method ? req->method : "GET";
	char url[512];
	long status = 0;
	CURLcode rc = CURLE_OK;
	unsigned attempt;
	int err;

	memset(resp, 0, sizeof(*resp));
	if (!req->url)
		return -EINVAL;
	url_for_log(req->url, url, sizeof(url));
	err = build_headers(req, &headers);
	if (err)
		return err;
	for (attempt = 0;; attempt++) {
		struct cloud_http_resp view = { 0 };
		long wait = -1;
		bool again;

		if (h->opts.budget && !cloud_budget_take(h->opts.budget)) {
			stat_add(&h->stats.budget_denied);
			pr_debug("cloud http: %s %s: call budget spent", method, url);
			err = -EAGAIN;
			break;
		}
		stat_add(&h->stats.requests);
		err = perform(h, req, headers, &body, &hdrs, &status, &rc);
		if (err) {
			again = curl_retryable(rc);
		} else {
			if (status == 429)
				stat_add(&h->stats.throttled);
			again = status_retryable(status);
			view.headers = hdrs.data;
			wait = retry_after_ms(&view);
		}
		if (!again || req->no_retry || attempt >= h->opts.max_retries) {
			if (err)
				pr_warn("cloud http: %s %s: %s (after %u attempts)", method, url,
					curl_easy_strerror(rc), attempt + 1);
			break;
		}
		if (wait < 0)
			wait = backoff_ms(h, attempt);
		else if (wait > (long)h->opts.backoff_max_ms)
			wait = h->opts.backoff_max_ms;
		if (err)
			pr_debug("cloud http: %s %s: %s, retry %u/%u in %ld ms", method, url,
				 curl_easy_strerror(rc), attempt + 1, h->opts.max_retries, wait);
		else
			pr_debug("cloud http: %s %s: HTTP %ld, retry %u/%u in %ld ms", method, url, status,
				 attempt + 1, h->opts.max_retries, wait);
		stat_add(&h->stats.retries);
		sl_sleep_ms((unsigned)wait);
	}
	curl_slist_free_all(headers);
	if (!err && !body.data && !buf_append(&body, "", 0))
		err = -ENOMEM;
	if (!err && !hdrs.data && !buf_append(&hdrs, "", 0))
		err = -ENOMEM;
	if (err) {
		free(body.data);
		free(hdrs.data);
		return err;
	}
	resp->status = status;
	resp->body = body.data;
	resp->len = body.len;
	resp->headers = hdrs.data;
	return 0;
}

const char *cloud_http_header(const struct cloud_http_resp *resp, const char *name)
{
	static __thread char value[1024];
	size_t n = strlen(name);
	const char *line;

	if (!resp || !resp->headers)
		return NULL;
	for (line = resp->headers; *line; line += strcspn(line, "\n"), line += *line == '\n') {
		const char *v, *end;

		if (strncasecmp(line, name, n) || line[n] != ':')
			continue;
		v = line + n + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = v + strcspn(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
		return value;
	}
	return NULL;
}

/* --- budget ------------------------------------------------------------------ */

int cloud_budget_new(double rate, unsigned burst, struct cloud_budget **out)
{
	struct cloud_budget *b;

	if (rate < 0 || burst == 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->rate = rate;
	b->burst = burst;
	b->level = burst;
	clock_gettime(CLOCK_MONOTONIC, &b->last);
	*out = b;
	return 0;
}

void cloud_budget_free(struct cloud_budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Adds what accrued since the last refill; lock held. */
static void budget_refill(struct cloud_budget *b)
{
	struct timespec now;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - b->last.tv_sec) + (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
	b->last = now;
	if (dt > 0)
		b->level += dt * b->rate;
	if (b->level > b->burst)
		b->level = b->burst;
}

bool cloud_budget_take(struct cloud_budget *b)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	budget_refill(b);
	ok = b->level >= 1.0;
	if (ok)
		b->level -= 1.0;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

double cloud_budget_level(const struct cloud_budget *cb)
{
	struct cloud_budget *b = (struct cloud_budget *)cb; /* the refill is bookkeeping */
	double level;

	pthread_mutex_lock(&b->lock);
	budget_refill(b);
	level = b->level;
	pthread_mutex_unlock(&b->lock);
	return level;
}
