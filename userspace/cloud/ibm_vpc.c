// SPDX-License-Identifier: Apache-2.0
/*
 * The IBM Cloud VPC request layer: every call as the API wants it (version
 * and generation=2 in the query, a bearer token), IBM error bodies turned
 * into log lines with their trace, and collections followed page by page.
 * See ibm_int.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ibm_int.h"
#include "common/log.h"

#define MAX_PAGES 1000
/* A GET whose 2xx answer is not JSON is asked again this many times. */
#define GARBAGE_RETRIES 2

static bool code_says_no_room(const char *code)
{
	static const char *const words[] = { "quota", "limit", "exhaust", "insufficient", "no_available" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strstr(code, words[i]))
			return true;
	}
	return false;
}

static int status_errno(long status, const char *code)
{
	switch (status) {
	case 400:
		return code_says_no_room(code) ? -ENOSPC : -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return code_says_no_room(code) ? -ENOSPC : -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 412:
		return -ESTALE;
	case 429:
		return -EAGAIN;
	case 501:
		return -EOPNOTSUPP;
	default:
		return status >= 500 ? -EAGAIN : -EIO;
	}
}

/* {"errors": [{"code", "message", "more_info", "target"}], "trace", "status_code"} */
static void log_error(const char *what, const struct cloud_http_resp *r, struct ibm_result *res)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL), *e;
	const char *code = NULL, *msg = NULL, *trace = NULL;
	enum log_level level = r->status == 404 ? LOG_DEBUG : LOG_WARN;

	if (j) {
		e = json_array_get(json_object_get(j, "errors"), 0);
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
		trace = json_string_value(json_object_get(j, "trace"));
	}
	if (!trace)
		trace = cloud_http_header(r, "X-Request-Id");
	snprintf(res->code, sizeof(res->code), "%s", code ? code : "");
	log_msg(level, "ibm: %s: HTTP %ld %s: %s (trace %s)", what, r->status, code ? code : "-",
		msg ? msg : j ? "no error message" : "body is not JSON", trace ? trace : "-");
	json_decref(j);
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!isspace((unsigned char)s[i]))
			return false;
	}
	return true;
}

int ibm_call(struct ibm *ibm, const char *what, const char *method, const char *path, const char *query,
	     json_t *body, struct ibm_result *res, json_t **out)
{
	struct ibm_result local;
	struct cloud_http_stats before, after;
	char *url = NULL, *text = NULL, *auth = NULL;
	const char *headers[2] = { NULL, NULL };
	struct cloud_http_req req = { .method = method };
	struct cloud_http_resp resp = { 0 };
	unsigned garbage = 0;
	int err = 0;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (out)
		*out = NULL;
	if (asprintf(&url, "%s%s?version=%s&generation=2%s%s", ibm->vpc_url, path, ibm->api_version,
		     query ? "&" : "", query ? query : "") < 0) {
		url = NULL;
		return -ENOMEM;
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			err = -ENOMEM;
			goto out;
		}
		req.body = text;
		req.body_len = strlen(text);
	}
	req.url = url;
	req.headers = headers;
	cloud_http_stats(ibm->http, &before);
	for (unsigned auth_try = 0;; auth_try++) {
		const char *token;

		err = ibm_iam_token(ibm->iam, &token);
		if (err) {
			pr_err("ibm: %s: no token: %s", what, strerror(-err));
			goto out;
		}
		free(auth);
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			err = -ENOMEM;
			goto out;
		}
		headers[0] = auth;
		cloud_http_resp_free(&resp);
		err = cloud_http_do(ibm->http, &req, &resp);
		cloud_http_stats(ibm->http, &after);
		res->sent = after.requests > before.requests;
		if (err) {
			pr_warn("ibm: %s: %s", what, strerror(-err));
			goto out;
		}
		res->status = resp.status;
		if (resp.status == 401 && auth_try == 0) {
			pr_info("ibm: %s: token refused, fetching a new one", what);
			ibm_iam_invalidate(ibm->iam);
			continue;
		}
		/* A body nobody reads cannot be wrong: a DELETE that answered 2xx happened. */
		if (resp.status >= 200 && resp.status <= 299 && out && !blank(resp.body, resp.len)) {
			json_t *j = json_loadb(resp.body, resp.len, 0, NULL);

			if (!j && !strcmp(method, "GET") && garbage++ < GARBAGE_RETRIES) {
				pr_debug("ibm: %s: answer is not JSON, asking again", what);
				continue;
			}
			if (!j) {
				pr_warn("ibm: %s: HTTP %ld with a body that is not JSON (%zu bytes)", what,
					resp.status, resp.len);
				err = -EIO;
			} else {
				*out = j;
			}
		} else if (resp.status < 200 || resp.status > 299) {
			log_error(what, &resp, res);
			err = status_errno(resp.status, res->code);
		}
		break;
	}
out:
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	cloud_http_resp_free(&resp);
	free(text);
	free(url);
	return err;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The `start` parameter of a next.href, still URL-encoded (it is sent back
 * as is), or NULL. */
static char *href_start(const char *href)
{
	const char *q = strchr(href, '?'), *p;

	for (p = q; p; p = strchr(p + 1, '&')) {
		if (!strncmp(p + 1, "start=", 6)) {
			const char *v = p + 7;
			size_t n = strcspn(v, "&#");
			char *s = strndup(v, n);

			/* Keep it encoded, but refuse what would break our own query. */
			for (size_t i = 0; s && s[i]; i++) {
				if (s[i] == '%' && (hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)) {
					free(s);
					return NULL;
				}
			}
			return s;
		}
	}
	return NULL;
}

int ibm_list(struct ibm *ibm, const char *what, const char *path, const char *query, const char *key,
	     json_t **items)
{
	json_t *all = json_array();
	char *start = NULL, *q = NULL;
	int err = 0;

	if (!all)
		return -ENOMEM;
	for (unsigned page = 0; page < MAX_PAGES; page++) {
		json_t *j = NULL, *arr, *next;
		const char *href;
		char *ns;

		free(q);
		if (asprintf(&q, "limit=100%s%s%s%s", query ? "&" : "", query ? query : "", start ? "&start=" : "",
			     start ? start : "") < 0) {
			q = NULL;
			err = -ENOMEM;
			break;
		}
		err = ibm_call(ibm, what, "GET", path, q, NULL, NULL, &j);
		if (err)
			break;
		arr = json_object_get(j, key);
		if (!json_is_array(arr)) {
			pr_warn("ibm: %s: answer without a \"%s\" array", what, key);
			json_decref(j);
			err = -EIO;
			break;
		}
		json_array_extend(all, arr);
		next = json_object_get(j, "next");
		href = json_string_value(json_object_get(next, "href"));
		ns = href ? href_start(href) : NULL;
		json_decref(j);
		if (!href) {
			free(start);
			free(q);
			*items = all;
			return 0;
		}
		if (!ns || (start && !strcmp(ns, start))) {
			pr_warn("ibm: %s: next.href without a new start token", what);
			free(ns);
			err = -EIO;
			break;
		}
		free(start);
		start = ns;
	}
	if (!err) {
		pr_warn("ibm: %s: more than %d pages", what, MAX_PAGES);
		err = -EIO;
	}
	free(start);
	free(q);
	json_decref(all);
	return err;
}
