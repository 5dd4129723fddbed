/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for cloud APIs (IBM Cloud VPC, OpenStack), on libcurl: one request at
 * a time per handle, JSON bodies, and the retry discipline both clouds ask
 * for. Retried: 429 and 5xx except 501, connection failures and timeouts;
 * the server's Retry-After (seconds or HTTP date) is honoured, otherwise
 * exponential backoff with full jitter between base and max. Every attempt
 * counts in the stats (the agent reports cloud calls per pod churn) and, when
 * a budget is set, takes a token from it first (a token bucket that protects
 * the API: an empty bucket is -EAGAIN without any request).
 *
 * A final HTTP status of any value is a success of the call: resp->status
 * says what the server answered and the provider decides what it means.
 * Transport failures after the last retry are -ETIMEDOUT, -ECONNREFUSED or
 * -EIO (-EFBIG for an answer over 32 MiB, -EINVAL for a malformed URL).
 * Secrets in headers (Authorization, X-Auth-Token) are never logged; nor are
 * bodies, nor the URL's query or user info.
 *
 * Unless the caller gives its own, "Accept: application/json" is sent, and
 * "Content-Type: application/json" with a body. POST, PUT and PATCH without
 * a body send Content-Length: 0. No redirect is followed. Connections are
 * reused between calls on one handle.
 */
#ifndef SLUICE_CLOUD_HTTP_H
#define SLUICE_CLOUD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cloud_budget; /* token bucket, see cloud_budget_new */

struct cloud_http_opts {
	long timeout_ms;          /* one attempt, connect to last byte; 0: 30000 */
	unsigned max_retries;     /* 0: 5 */
	unsigned backoff_base_ms; /* 0: 200 */
	unsigned backoff_max_ms;  /* 0: 30000 */
	const char *ca_file;      /* NULL: the system's */
	bool insecure;            /* skip TLS verification (tests only) */
	const char *unix_socket;  /* talk HTTP over this socket instead of TCP (tests), or NULL */
	struct cloud_budget *budget; /* NULL: unlimited */
};

struct cloud_http_req {
	const char *method;          /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *url;
	const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;            /* NULL: none */
	size_t body_len;
	bool no_retry;               /* a request that must not be repeated: one attempt,
	                              * on a fresh connection (libcurl re-sends silently
	                              * when a reused one turns out closed) */
};

struct cloud_http_resp {
	long status;
	char *body;     /* NUL-terminated, malloc'ed (never NULL on success) */
	size_t len;
	char *headers;  /* raw response headers of the final attempt */
};

struct cloud_http_stats {
	uint64_t requests;   /* attempts sent */
	uint64_t retries;
	uint64_t throttled;  /* 429 answers */
	uint64_t budget_denied;
};

struct cloud_http;

int cloud_http_new(const struct cloud_http_opts *opts, struct cloud_http **out);
void cloud_http_free(struct cloud_http *h);
int cloud_http_do(struct cloud_http *h, const struct cloud_http_req *req, struct cloud_http_resp *resp);
/* Case-insensitive; the value without surrounding blanks, in a static
 * per-thread buffer; NULL when absent. */
const char *cloud_http_header(const struct cloud_http_resp *resp, const char *name);
void cloud_http_resp_free(struct cloud_http_resp *resp);
void cloud_http_stats(const struct cloud_http *h, struct cloud_http_stats *out);

/* A token bucket: `rate` tokens per second, at most `burst` stored. */
int cloud_budget_new(double rate, unsigned burst, struct cloud_budget **out);
void cloud_budget_free(struct cloud_budget *b);
bool cloud_budget_take(struct cloud_budget *b); /* false: none left now */
double cloud_budget_level(const struct cloud_budget *b);

#endif /* SLUICE_CLOUD_HTTP_H */
