/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests to the API server for one worker thread (the kube source's, the
 * node status writer's):
 * one libcurl easy handle (its connection kept between requests) driven by
 * its own multi handle, so that another thread can interrupt a request or a
 * back-off sleep at once with kube_http_wakeup() after setting the stop flag.
 *
 * The bearer token (struct kube_auth) is sent on every request; a token file
 * is re-read when its inode, size or mtime changed (kubelet rotates projected
 * tokens by swapping a symlink) and after a 401.
 *
 * A 2xx answer's body goes to the body callback as it arrives; any other
 * status's body (a Status object, cut at 64 KiB) is kept in the result. One
 * kube_http is used by one thread at a time; kube_http_wakeup from any.
 */
#ifndef SLUICE_K8S_KUBE_HTTP_H
#define SLUICE_K8S_KUBE_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8s/kubeconfig.h"

struct kube_http;

/* Returns 0 to go on, or a negative errno that aborts the request. */
typedef int (*kube_http_body_cb)(void *arg, const char *data, size_t len);

struct kube_http_result {
	long status;     /* HTTP status; 0 when no answer came */
	char *body;      /* a non-200 answer's body (NUL-terminated), or NULL */
	size_t body_len;
	char error[256]; /* what went wrong when the call failed */
};

/* auth and stop must outlive h. */
int kube_http_new(const struct kube_auth *auth, const atomic_bool *stop, struct kube_http **out);
void kube_http_free(struct kube_http *h);
/* Interrupts a request or sleep of h's thread (which then sees the stop flag). */
void kube_http_wakeup(struct kube_http *h);

/* GET server + path_query. timeout_s bounds the whole request (0: none).
 * Returns 0 when an answer came in full (any status, see res->status),
 * -ECANCELED when stopped, the body callback's error, or -ETIMEDOUT,
 * -ECONNREFUSED, -EPROTO (TLS), -ECONNRESET (cut off), -EIO, with
 * res->error saying what happened. The caller frees res->body. */
int kube_http_get(struct kube_http *h, const char *path_query, long timeout_s, kube_http_body_cb cb,
		  void *arg, struct kube_http_result *res);
/* Any method (kube_http_get is "GET" without a body): body, when not NULL,
 * is sent as application/json. A 2xx answer's body goes to cb. */
int kube_http_request(struct kube_http *h, const char *method, const char *path_query, const char *body,
		      long timeout_s, kube_http_body_cb cb, void *arg, struct kube_http_result *res);
/* Forces a re-read of the token file before the next request. */
void kube_http_token_stale(struct kube_http *h);
/* Sleeps ms milliseconds, or less when woken; -ECANCELED when stopped. */
int kube_http_sleep(struct kube_http *h, unsigned ms);

#endif /* SLUICE_K8S_KUBE_HTTP_H */
