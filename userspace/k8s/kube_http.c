// SPDX-License-Identifier: Apache-2.0
#include "k8s/kube_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "common/fsutil.h"

#define ERR_BODY_MAX 65536
#define TOKEN_MAX 65536
#define CONNECT_TIMEOUT_S 10

struct kube_http {
	const struct kube_auth *auth;
	const atomic_bool *stop;
	CURLM *multi;
	CURL *easy;
	/* the token file's content and identity when last read */
	char *token;
	struct stat token_st;
	bool token_stale;
	char errbuf[CURL_ERROR_SIZE];
	/* the request under way */
	kube_http_body_cb cb;
	void *cb_arg;
	int cb_err;
	long status;
	struct kube_http_result *res;
};

static bool stopped(const struct kube_http *h)
{
	return atomic_load(h->stop);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct kube_http *h = arg;
	struct kube_http_result *res = h->res;
	size_t len = size * n;

	if (!h->status)
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status);
	if (stopped(h)) {
		h->cb_err = -ECANCELED;
		return 0;
	}
	if (h->status >= 200 && h->status < 300) {
		h->cb_err = h->cb ? h->cb(h->cb_arg, data, len) : 0;
		return h->cb_err ? 0 : len;
	}
	if (res->body_len < ERR_BODY_MAX) {
		size_t take = len < ERR_BODY_MAX - res->body_len ? len : ERR_BODY_MAX - res->body_len;
		char *body = realloc(res->body, res->body_len + take + 1);

		if (!body) {
			h->cb_err = -ENOMEM;
			return 0;
		}
		memcpy(body + res->body_len, data, take);
		res->body = body;
		res->body_len += take;
		body[res->body_len] = '\0';
	}
	return len;
}

static int blob_opt(CURL *e, CURLoption opt, const struct kube_blob *b)
{
	struct curl_blob blob = { .data = b->data, .len = b->len, .flags = CURL_BLOB_COPY };

	return curl_easy_setopt(e, opt, &blob) == CURLE_OK ? 0 : -EINVAL;
}

static int setup_tls(struct kube_http *h)
{
	const struct kube_auth *a = h->auth;
	CURL *e = h->easy;
	int err = 0;

	if (a->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (a->ca_data.data) {
		err = blob_opt(e, CURLOPT_CAINFO_BLOB, &a->ca_data);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL); /* only the cluster's CA */
	} else if (a->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (!err && a->cert_data.data)
		err = blob_opt(e, CURLOPT_SSLCERT_BLOB, &a->cert_data);
	else if (!err && a->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, a->cert_file);
	if (!err && a->key_data.data)
		err = blob_opt(e, CURLOPT_SSLKEY_BLOB, &a->key_data);
	else if (!err && a->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, a->key_file);
	curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	return err;
}

int kube_http_new(const struct kube_auth *auth, const atomic_bool *stop, struct kube_http **out)
{
	struct kube_http *h = calloc(1, sizeof(*h));
	int err = -ENOMEM;

	if (!h)
		return -ENOMEM;
	h->auth = auth;
	h->stop = stop;
	h->token_stale = true;
	h->multi = curl_multi_init();
	h->easy = curl_easy_init();
	if (!h->multi || !h->easy)
		goto out;
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(h->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h->easy, CURLOPT_ACCEPT_ENCODING, ""); /* big lists come gzipped */
	curl_easy_setopt(h->easy, CURLOPT_USERAGENT, "sluiced");
	curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
	err = setup_tls(h);
	if (err)
		goto out;
	*out = h;
	return 0;
out:
	kube_http_free(h);
	return err;
}

void kube_http_free(struct kube_http *h)
{
	if (!h)
		return;
	if (h->easy)
		curl_easy_cleanup(h->easy);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->token);
	free(h);
}

void kube_http_wakeup(struct kube_http *h)
{
	curl_multi_wakeup(h->multi);
}

void kube_http_token_stale(struct kube_http *h)
{
	h->token_stale = true;
}

/* The token to send, re-read from its file when that changed. */
static int current_token(struct kube_http *h, const char **out, char *error, size_t error_len)
{
	struct stat st;
	char *buf;
	size_t len;
	int err;

	*out = h->auth->token;
	if (*out || !h->auth->token_file)
		return 0;
	if (stat(h->auth->token_file, &st)) {
		err = -errno;
		goto fail;
	}
	if (h->token_stale || !h->token || st.st_ino != h->token_st.st_ino ||
	    st.st_dev != h->token_st.st_dev || st.st_size != h->token_st.st_size ||
	    st.st_mtim.tv_sec != h->token_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != h->token_st.st_mtim.tv_nsec) {
		err = fs_read_all(h->auth->token_file, TOKEN_MAX, &buf, &len);
		if (err)
			goto fail;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		free(h->token);
		h->token = buf;
		h->token_st = st;
		h->token_stale = false;
	}
	*out = h->token;
	return 0;
fail:
	snprintf(error, error_len, "read token file %s: %s", h->auth->token_file, strerror(-err));
	return err;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return -EPROTO;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int kube_http_get(struct kube_http *h, const char *path_query, long timeout_s, kube_http_body_cb cb,
		  void *arg, struct kube_http_result *res)
{
	return kube_http_request(h, "GET", path_query, NULL, timeout_s, cb, arg, res);
}

int kube_http_request(struct kube_http *h, const char *method, const char *path_query, const char *body,
		      long timeout_s, kube_http_body_cb cb, void *arg, struct kube_http_result *res)
{
	struct curl_slist *headers = NULL, *hl;
	char *url = NULL, *auth = NULL;
	const char *token;
	CURLcode cc = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left, err;

	memset(res, 0, sizeof(*res));
	err = current_token(h, &token, res->error, sizeof(res->error));
	if (err)
		return err;
	if (asprintf(&url, "%s%s", h->auth->server, path_query) < 0) {
		url = NULL;
		err = -ENOMEM;
		goto out;
	}
	if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		auth = NULL;
		err = -ENOMEM;
		goto out;
	}
	headers = curl_slist_append(NULL, "Accept: application/json");
	hl = headers;
	if (hl && body)
		hl = curl_slist_append(headers, "Content-Type: application/json");
	if (hl && auth)
		hl = curl_slist_append(headers, auth);
	if (!hl) {
		err = -ENOMEM;
		goto out;
	}
	h->cb = cb;
	h->cb_arg = arg;
	h->cb_err = 0;
	h->status = 0;
	h->res = res;
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->easy, CURLOPT_URL, url);
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT, timeout_s);
	if (body) {
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	/* The handle is reused: every request says its method. */
	curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
	if (!body)
		curl_easy_setopt(h->easy, CURLOPT_HTTPGET, 1L);
	if (curl_multi_add_handle(h->multi, h->easy) != CURLM_OK) {
		err = -ENOMEM;
		goto out;
	}
	while (running) {
		if (stopped(h)) {
			h->cb_err = -ECANCELED;
			break;
		}
		if (curl_multi_perform(h->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(h->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			cc = msg->data.result;
	if (!h->status)
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status);
	curl_multi_remove_handle(h->multi, h->easy);
	res->status = h->status;
	if (h->cb_err) {
		err = h->cb_err;
		snprintf(res->error, sizeof(res->error), "%s", strerror(-err));
	} else if (running) {
		err = -EIO;
		snprintf(res->error, sizeof(res->error), "curl multi failed");
	} else if (cc != CURLE_OK) {
		err = curl_errno(cc);
		snprintf(res->error, sizeof(res->error), "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
	}
	if (res->status == 401)
		h->token_stale = true;
out:
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	free(url);
	free(auth);
	h->res = NULL;
	if (err && err != -ECANCELED && !res->error[0])
		snprintf(res->error, sizeof(res->error), "%s", strerror(-err));
	return err;
}

int kube_http_sleep(struct kube_http *h, unsigned ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long elapsed;

		if (stopped(h))
			return -ECANCELED;
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= (long)ms)
			return 0;
		curl_multi_poll(h->multi, NULL, 0, (int)(ms - elapsed), NULL);
	}
}
