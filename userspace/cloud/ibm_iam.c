// SPDX-License-Identifier: Apache-2.0
/*
 * IBM Cloud IAM and instance-identity tokens. See ibm_iam.h.
 */
#include "cloud/ibm_iam.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define IDENTITY_TOKEN_LIFETIME_S 300
#define GARBAGE_RETRIES 2

struct ibm_iam {
	struct cloud_http *http;
	char *iam_url;
	char *metadata_url;
	char *api_key;
	char *trusted_profile;
	time_t (*clock)(void);
	char *token;
	time_t expiration; /* absolute, seconds */
	long expires_in;   /* the lifetime IAM gave it */
	bool invalid;
	struct ibm_iam_stats stats;
};

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static char *dup_trim_slash(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (d) {
		n = strlen(d);
		while (n && d[n - 1] == '/')
			d[--n] = '\0';
	}
	return d;
}

int ibm_iam_new(const struct ibm_iam_config *cfg, struct cloud_http *http, struct ibm_iam **out)
{
	struct ibm_iam *iam = calloc(1, sizeof(*iam));

	if (!iam)
		return -ENOMEM;
	iam->http = http;
	iam->clock = cfg->clock ? cfg->clock : NULL;
	iam->iam_url = dup_trim_slash(cfg->iam_url ? cfg->iam_url : IBM_IAM_URL_DEFAULT);
	iam->metadata_url = dup_trim_slash(cfg->metadata_url ? cfg->metadata_url : IBM_METADATA_URL_DEFAULT);
	if (cfg->api_key && *cfg->api_key)
		iam->api_key = strdup(cfg->api_key);
	if (cfg->trusted_profile && *cfg->trusted_profile)
		iam->trusted_profile = strdup(cfg->trusted_profile);
	if (!iam->iam_url || !iam->metadata_url || (cfg->api_key && *cfg->api_key && !iam->api_key) ||
	    (cfg->trusted_profile && *cfg->trusted_profile && !iam->trusted_profile)) {
		ibm_iam_free(iam);
		return -ENOMEM;
	}
	*out = iam;
	return 0;
}

void ibm_iam_free(struct ibm_iam *iam)
{
	if (!iam)
		return;
	free(iam->iam_url);
	free(iam->metadata_url);
	free_secret(iam->api_key);
	free(iam->trusted_profile);
	free_secret(iam->token);
	free(iam);
}

static time_t now_s(const struct ibm_iam *iam)
{
	return iam->clock ? iam->clock() : time(NULL);
}

void ibm_iam_invalidate(struct ibm_iam *iam)
{
	iam->invalid = true;
}

void ibm_iam_get_stats(const struct ibm_iam *iam, struct ibm_iam_stats *out)
{
	*out = iam->stats;
}

/* application/x-www-form-urlencoded value. */
static char *form_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* IAM's errors are {"errorCode", "errorMessage", "context": {"requestId"}};
 * the metadata service answers with VPC-style {"errors": [...], "trace"}. */
static void log_token_error(const char *what, const struct cloud_http_resp *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL), *e;
	const char *code = NULL, *msg = NULL, *trace = NULL;

	if (j) {
		code = json_string_value(json_object_get(j, "errorCode"));
		msg = json_string_value(json_object_get(j, "errorMessage"));
		trace = json_string_value(json_object_get(json_object_get(j, "context"), "requestId"));
		e = json_array_get(json_object_get(j, "errors"), 0);
		if (e) {
			code = json_string_value(json_object_get(e, "code"));
			msg = json_string_value(json_object_get(e, "message"));
		}
		if (!trace)
			trace = json_string_value(json_object_get(j, "trace"));
	}
	pr_err("ibm: %s: HTTP %ld: %s: %s (trace %s)", what, r->status, code ? code : "-",
	       msg ? msg : "no error message", trace ? trace : "-");
	json_decref(j);
}

static int status_errno(long status)
{
	if (status == 400 || status == 401 || status == 403)
		return -EACCES;
	if (status == 429 || status >= 500)
		return -EAGAIN;
	return -EIO;
}

/* One token request; on 2xx the parsed body. */
static int token_call(struct ibm_iam *iam, const char *what, const char *method, const char *url,
		      const char *const *headers, const char *body, json_t **out)
{
	struct cloud_http_req req = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	struct cloud_http_resp resp;
	int err;

	*out = NULL;
	/* Asking for a token twice is harmless: an unreadable answer is asked again. */
	for (unsigned garbage = 0;; garbage++) {
		err = cloud_http_do(iam->http, &req, &resp);
		if (err) {
			pr_err("ibm: %s: %s", what, strerror(-err));
			return err;
		}
		if (resp.status < 200 || resp.status > 299) {
			log_token_error(what, &resp);
			err = status_errno(resp.status);
			break;
		}
		*out = json_loadb(resp.body, resp.len, 0, NULL);
		if (*out)
			break;
		if (garbage >= GARBAGE_RETRIES) {
			pr_err("ibm: %s: HTTP %ld with a body that is not JSON (%zu bytes)", what, resp.status,
			       resp.len);
			err = -EIO;
			break;
		}
		cloud_http_resp_free(&resp);
	}
	cloud_http_resp_free(&resp);
	return err;
}

/* PUT instance_identity/v1/token: a short-lived instance identity token. */
static int identity_token(struct ibm_iam *iam, char **out)
{
	static const char *const headers[] = { "Metadata-Flavor: ibm", NULL };
	char url[1024];
	char body[64];
	json_t *j = NULL;
	const char *tok;
	int err;

	snprintf(url, sizeof(url), "%s/instance_identity/v1/token?version=%s", iam->metadata_url,
		 IBM_METADATA_VERSION);
	snprintf(body, sizeof(body), "{\"expires_in\": %d}", IDENTITY_TOKEN_LIFETIME_S);
	err = token_call(iam, "metadata: instance identity token", "PUT", url, headers, body, &j);
	if (err)
		return err;
	tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok || !*tok) {
		pr_err("ibm: metadata: instance identity token: no access_token in the answer");
		err = -EIO;
	} else if (!(*out = strdup(tok))) {
		err = -ENOMEM;
	}
	json_decref(j);
	return err;
}

static int fetch_apikey(struct ibm_iam *iam, json_t **out)
{
	static const char *const headers[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
	char url[1024];
	char *key, *body;
	size_t len;
	int err;

	key = form_escape(iam->api_key);
	if (!key)
		return -ENOMEM;
	len = strlen(key) + 128;
	body = malloc(len);
	if (!body) {
		free_secret(key);
		return -ENOMEM;
	}
	snprintf(body, len, "grant_type=urn%%3Aibm%%3Aparams%%3Aoauth%%3Agrant-type%%3Aapikey&apikey=%s"
		 "&response_type=cloud_iam", key);
	snprintf(url, sizeof(url), "%s/identity/token", iam->iam_url);
	err = token_call(iam, "IAM: API key to token", "POST", url, headers, body, out);
	free_secret(key);
	free_secret(body);
	return err;
}

static int fetch_metadata(struct ibm_iam *iam, json_t **out)
{
	char url[1024], auth[4096], *idt = NULL, *body = NULL;
	const char *headers[] = { auth, NULL };
	int err;

	err = identity_token(iam, &idt);
	if (err)
		return err;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", idt);
	if (iam->trusted_profile) {
		json_t *b = json_pack("{s:{s:s}}", "trusted_profile", "id", iam->trusted_profile);

		body = b ? json_dumps(b, JSON_COMPACT) : NULL;
		json_decref(b);
		if (!body) {
			err = -ENOMEM;
			goto out;
		}
	}
	snprintf(url, sizeof(url), "%s/instance_identity/v1/iam_token?version=%s", iam->metadata_url,
		 IBM_METADATA_VERSION);
	err = token_call(iam, "metadata: IAM token", "POST", url, headers, body ? body : "{}", out);
out:
	explicit_bzero(auth, sizeof(auth));
	free_secret(idt);
	free(body);
	return err;
}

static int fetch(struct ibm_iam *iam)
{
	json_t *j = NULL;
	const char *tok;
	json_int_t expires_in, expiration;
	time_t now = now_s(iam);
	int err;

	err = iam->api_key ? fetch_apikey(iam, &j) : fetch_metadata(iam, &j);
	if (err)
		goto out;
	tok = json_string_value(json_object_get(j, "access_token"));
	expires_in = json_integer_value(json_object_get(j, "expires_in"));
	/* IAM gives `expiration` (absolute); the metadata service `expires_at`
	 * (a date): derive the absolute time from expires_in there. */
	expiration = json_integer_value(json_object_get(j, "expiration"));
	if (!tok || !*tok || expires_in <= 0) {
		pr_err("ibm: token answer without access_token or expires_in");
		err = -EIO;
		goto out;
	}
	if (expiration <= 0)
		expiration = (json_int_t)now + expires_in;
	free_secret(iam->token);
	iam->token = strdup(tok);
	if (!iam->token) {
		err = -ENOMEM;
		goto out;
	}
	iam->expires_in = (long)expires_in;
	iam->expiration = (time_t)expiration;
	iam->invalid = false;
	iam->stats.fetches++;
	pr_debug("ibm: new %s token, expires in %lld s", iam->api_key ? "IAM" : "metadata",
		 (long long)(iam->expiration - now));
out:
	if (err)
		iam->stats.failures++;
	json_decref(j);
	return err;
}

int ibm_iam_token(struct ibm_iam *iam, const char **token)
{
	time_t now = now_s(iam);
	bool valid, stale;
	int err;

	valid = iam->token && !iam->invalid && now < iam->expiration - IBM_IAM_EXPIRY_MARGIN_S;
	stale = !valid || (double)now >= (double)iam->expiration - 0.2 * (double)iam->expires_in;
	if (stale) {
		err = fetch(iam);
		if (err && !valid)
			return err;
		if (err)
			pr_warn("ibm: token refresh failed (%s); the current token is valid for %lld s",
				strerror(-err), (long long)(iam->expiration - now));
	}
	*token = iam->token;
	return 0;
}

int ibm_iam_instance_id(struct ibm_iam *iam, char *buf, size_t len)
{
	struct cloud_http_resp resp;
	char url[1024], auth[4096], *idt = NULL;
	const char *headers[] = { auth, NULL };
	struct cloud_http_req req = { .method = "GET", .url = url, .headers = headers };
	const char *id;
	json_t *j = NULL;
	int err;

	err = identity_token(iam, &idt);
	if (err)
		return err;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", idt);
	snprintf(url, sizeof(url), "%s/metadata/v1/instance?version=%s", iam->metadata_url,
		 IBM_METADATA_VERSION);
	err = cloud_http_do(iam->http, &req, &resp);
	explicit_bzero(auth, sizeof(auth));
	free_secret(idt);
	if (err) {
		pr_err("ibm: metadata: get instance: %s", strerror(-err));
		return err;
	}
	if (resp.status != 200) {
		log_token_error("metadata: get instance", &resp);
		err = status_errno(resp.status);
		goto out;
	}
	j = json_loadb(resp.body, resp.len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (!id || !*id || strlen(id) >= len) {
		pr_err("ibm: metadata: get instance: no usable id in the answer");
		err = -EIO;
		goto out;
	}
	snprintf(buf, len, "%s", id);
out:
	json_decref(j);
	cloud_http_resp_free(&resp);
	return err;
}
