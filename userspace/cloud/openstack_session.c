// SPDX-License-Identifier: Apache-2.0
/*
 * The Keystone v3 session of the openstack provider: the token (from the
 * X-Subject-Token header), its renewal before expiry and after a 401, the
 * catalog's endpoints, and OpenStack error bodies turned into log lines and
 * -errno. See openstack_int.h.
 *
 * The token's lifetime is expires_at - issued_at as Keystone states both, and
 * the renewal time is counted on the monotonic clock from the moment the
 * token arrived: a node whose clock is off does not matter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloud/openstack_int.h"
#include "common/log.h"

#define OS_DEFAULT_MARGIN_S 300

static bool set(const char *s)
{
	return s && *s;
}

char *os_url_join(const char *base, const char *suffix)
{
	size_t bl = strlen(base);
	char *out;

	while (bl && base[bl - 1] == '/')
		bl--;
	while (*suffix == '/')
		suffix++;
	if (asprintf(&out, "%.*s%s%s", (int)bl, base, *suffix ? "/" : "", suffix) < 0)
		return NULL;
	return out;
}

/* --- errors ------------------------------------------------------------------ */

static void copy_str(char *dst, size_t len, const char *src)
{
	size_t j = 0;

	if (!len)
		return;
	/* One line: newlines and tabs in messages would break log lines. */
	for (size_t i = 0; src && src[i] && j + 1 < len; i++)
		dst[j++] = (src[i] == '\n' || src[i] == '\r' || src[i] == '\t') ? ' ' : src[i];
	dst[j] = '\0';
}

void os_error_parse(const char *body, char *type, size_t tlen, char *msg, size_t mlen)
{
	json_t *root = body && *body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
	json_t *v;
	const char *key;

	copy_str(type, tlen, "");
	copy_str(msg, mlen, "");
	if (!root) {
		/* A proxy's HTML, webob's plain text: the first line says enough. */
		const char *start = body ? body + strspn(body, " \r\n\t") : "";
		char line[256];

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(start, "\r\n"), start);
		copy_str(msg, mlen, line);
		return;
	}
	if (json_is_object(root) && (v = json_object_get(root, "NeutronError"))) {
		/* {"NeutronError": {"type", "message", "detail"}} (or a bare string) */
		if (json_is_string(v)) {
			copy_str(msg, mlen, json_string_value(v));
		} else {
			copy_str(type, tlen, json_string_value(json_object_get(v, "type")));
			copy_str(msg, mlen, json_string_value(json_object_get(v, "message")));
		}
	} else if (json_is_object(root) && json_object_size(root) == 1) {
		/* Keystone {"error": {"code", "title", "message"}}; Nova
		 * {"<faultName>": {"code", "message"}} */
		json_object_foreach(root, key, v) {
			const char *title = json_string_value(json_object_get(v, "title"));

			copy_str(type, tlen, strcmp(key, "error") == 0 && title ? title : key);
			copy_str(msg, mlen, json_string_value(json_object_get(v, "message")));
		}
	} else if (json_is_object(root)) {
		copy_str(msg, mlen, json_string_value(json_object_get(root, "message")));
	}
	json_decref(root);
}

int os_error_errno(long status, const char *type)
{
	bool space = type && (strstr(type, "IpAddressGenerationFailure") || strstr(type, "OverQuota") ||
			      strstr(type, "PortLimitExceeded") || strstr(type, "NoMoreFixedIps"));

	if (status < 400)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return space ? -ENOSPC : -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return space ? -ENOSPC : -EBUSY;
	case 412:
		return -ESTALE;
	case 413:
	case 429:
	case 503:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int os_resp_fail(const char *what, const struct os_resp *r)
{
	if (r->garbage && r->status < 400) {
		pr_warn("openstack: %s: HTTP %ld with an unreadable body", what, r->status);
		return -EIO;
	}
	pr_warn("openstack: %s: HTTP %ld%s%s%s%s", what, r->status, r->type[0] ? " " : "", r->type,
		r->msg[0] ? ": " : "", r->msg);
	return r->status < 400 ? -EIO : os_error_errno(r->status, r->type);
}

void os_resp_free(struct os_resp *r)
{
	json_decref(r->json);
	cloud_http_resp_free(&r->raw);
	memset(r, 0, sizeof(*r));
}

/* --- Keystone ------------------------------------------------------------------ */

static json_t *domain_ref(const char *id, const char *name)
{
	if (set(id))
		return json_pack("{s:s}", "id", id);
	return json_pack("{s:s}", "name", set(name) ? name : "Default");
}

static json_t *user_ref(const struct openstack_config *cfg)
{
	if (set(cfg->user_id))
		return json_pack("{s:s}", "id", cfg->user_id);
	if (!set(cfg->username))
		return NULL;
	return json_pack("{s:s, s:o}", "name", cfg->username, "domain",
			 domain_ref(cfg->user_domain_id, cfg->user_domain_name));
}

int os_auth_body(const struct openstack_config *cfg, char **out)
{
	const char *type = set(cfg->auth_type) ? cfg->auth_type : "password";
	json_t *identity = NULL, *auth = NULL, *user;
	int err = 0;

	if (!strcmp(type, "v3applicationcredential") || !strcmp(type, "application_credential") ||
	    !strcmp(type, "v3applicationcredentials")) {
		json_t *ac;

		if (!set(cfg->app_cred_secret) || (!set(cfg->app_cred_id) && !set(cfg->app_cred_name))) {
			pr_err("openstack: application credential auth needs an id (or a name and a user) and a secret");
			return -EINVAL;
		}
		if (set(cfg->app_cred_id)) {
			ac = json_pack("{s:s, s:s}", "id", cfg->app_cred_id, "secret", cfg->app_cred_secret);
		} else {
			user = user_ref(cfg);
			if (!user) {
				pr_err("openstack: application credential %s: a name needs a user",
				       cfg->app_cred_name);
				return -EINVAL;
			}
			ac = json_pack("{s:s, s:s, s:o}", "name", cfg->app_cred_name, "secret",
				       cfg->app_cred_secret, "user", user);
		}
		/* The credential's project is the scope: no "scope" block. */
		identity = json_pack("{s:[s], s:o}", "methods", "application_credential",
				     "application_credential", ac);
		auth = json_pack("{s:{s:o}}", "auth", "identity", identity);
	} else if (!strcmp(type, "password") || !strcmp(type, "v3password")) {
		json_t *project;

		user = user_ref(cfg);
		if (!user || !set(cfg->password)) {
			json_decref(user);
			pr_err("openstack: password auth needs a user (name or id) and a password");
			return -EINVAL;
		}
		if (set(cfg->project_id)) {
			project = json_pack("{s:s}", "id", cfg->project_id);
		} else if (set(cfg->project_name)) {
			project = json_pack("{s:s, s:o}", "name", cfg->project_name, "domain",
					    domain_ref(cfg->project_domain_id, cfg->project_domain_name));
		} else {
			json_decref(user);
			pr_err("openstack: password auth needs a project (name or id): ports live in one");
			return -EINVAL;
		}
		json_object_set_new(user, "password", json_string(cfg->password));
		identity = json_pack("{s:[s], s:{s:o}}", "methods", "password", "password", "user", user);
		auth = json_pack("{s:{s:o, s:{s:o}}}", "auth", "identity", identity, "scope", "project", project);
	} else {
		pr_err("openstack: auth type '%s' is not supported (password, v3applicationcredential)", type);
		return -EINVAL;
	}
	if (!auth)
		return -ENOMEM;
	*out = json_dumps(auth, JSON_COMPACT);
	if (!*out)
		err = -ENOMEM;
	json_decref(auth);
	return err;
}

static const char *norm_interface(const char *s)
{
	if (!set(s) || !strncmp(s, "public", 6))
		return "public";
	if (!strncmp(s, "internal", 8))
		return "internal";
	if (!strncmp(s, "admin", 5))
		return "admin";
	return s;
}

int os_catalog_find(const json_t *catalog, const char *type, const char *interface, const char *region,
		    const char **url)
{
	const char *want = norm_interface(interface);
	size_t i, j;
	json_t *svc, *ep;

	json_array_foreach(catalog, i, svc) {
		if (!json_is_string(json_object_get(svc, "type")) ||
		    strcmp(json_string_value(json_object_get(svc, "type")), type))
			continue;
		json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
			const char *ifc = json_string_value(json_object_get(ep, "interface"));
			const char *rid = json_string_value(json_object_get(ep, "region_id"));
			const char *rname = json_string_value(json_object_get(ep, "region"));
			const char *u = json_string_value(json_object_get(ep, "url"));

			if (!ifc || !u || strcmp(ifc, want))
				continue;
			if (set(region) && !(rid && !strcmp(rid, region)) && !(rname && !strcmp(rname, region)))
				continue;
			*url = u;
			return 0;
		}
	}
	return -ENOENT;
}

int os_parse_time(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *rest;

	if (!s)
		return -EINVAL;
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -EINVAL;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	if (*rest && strcmp(rest, "Z") && strcmp(rest, "+00:00") && strcmp(rest, "+0000"))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static void mono_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static bool token_due(const struct os_session *s)
{
	struct timespec now;

	if (!s->token)
		return true;
	mono_now(&now);
	return now.tv_sec > s->refresh_at.tv_sec ||
	       (now.tv_sec == s->refresh_at.tv_sec && now.tv_nsec >= s->refresh_at.tv_nsec);
}

static int set_endpoint(struct os_session *s, const json_t *catalog, const char *type, const char *override,
			char **dst)
{
	const char *url = override;
	char *v;

	if (!set(url) && os_catalog_find(catalog, type, s->interface, s->region, &url)) {
		pr_err("openstack: the catalog has no %s endpoint with interface %s%s%s", type,
		       norm_interface(s->interface), set(s->region) ? " in region " : "",
		       set(s->region) ? s->region : "");
		return -ENOENT;
	}
	if (!strcmp(type, "network")) {
		/* Neutron's catalog URL is the server root: the API is /v2.0 below it. */
		size_t l = strlen(url);

		while (l && url[l - 1] == '/')
			l--;
		if (l >= 5 && !strncmp(url + l - 5, "/v2.0", 5))
			v = strndup(url, l);
		else
			v = os_url_join(url, "v2.0");
	} else {
		v = strdup(url);
		if (v) {
			size_t l = strlen(v);

			while (l && v[l - 1] == '/')
				v[--l] = '\0';
		}
	}
	if (!v)
		return -ENOMEM;
	free(*dst);
	*dst = v;
	return 0;
}

int os_authenticate(struct os_session *s)
{
	const char *headers[] = { "Content-Type: application/json", "Accept: application/json", NULL };
	struct os_resp r = { 0 };
	struct cloud_http_req req = {
		.method = "POST",
		.headers = headers,
		.body = s->auth_body,
		.body_len = strlen(s->auth_body),
	};
	json_t *token;
	const char *tok;
	time_t issued = 0, expires = 0;
	long lifetime, margin;
	char *url, *v;
	int err;

	url = os_url_join(s->auth_url, "auth/tokens");
	if (!url)
		return -ENOMEM;
	req.url = url;
	err = cloud_http_do(s->http, &req, &r.raw);
	if (err) {
		pr_err("openstack: keystone %s: %s", s->auth_url, strerror(-err));
		goto out;
	}
	r.status = r.raw.status;
	if (r.status != 201 && r.status != 200) {
		os_error_parse(r.raw.body, r.type, sizeof(r.type), r.msg, sizeof(r.msg));
		err = os_resp_fail("keystone: POST /v3/auth/tokens", &r);
		goto out;
	}
	r.json = json_loads(r.raw.body, 0, NULL);
	token = json_object_get(r.json, "token");
	tok = cloud_http_header(&r.raw, "X-Subject-Token");
	if (!tok || !*tok || !token || os_parse_time(json_string_value(json_object_get(token, "expires_at")), &expires)) {
		pr_err("openstack: keystone answered without a token, or with one it did not date");
		err = -EIO;
		goto out;
	}
	if (os_parse_time(json_string_value(json_object_get(token, "issued_at")), &issued))
		issued = expires - 3600;
	v = strdup(tok);
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	err = set_endpoint(s, json_object_get(token, "catalog"), "network", s->network_override, &s->network_url);
	if (!err)
		err = set_endpoint(s, json_object_get(token, "catalog"), "compute", s->compute_override,
				   &s->compute_url);
	if (err) {
		free(v);
		goto out;
	}
	free(s->token);
	s->token = v;
	snprintf(s->project_id, sizeof(s->project_id), "%s",
		 json_string_value(json_object_get(json_object_get(token, "project"), "id")) ?: "");
	lifetime = (long)(expires - issued);
	/* The default margin is at most half a (short) lifetime; a configured
	 * one is taken as it is, even when it means a token per call. */
	margin = s->margin_s ? (long)s->margin_s : OS_DEFAULT_MARGIN_S;
	if (!s->margin_s && margin > lifetime / 2)
		margin = lifetime / 2;
	mono_now(&s->refresh_at);
	s->refresh_at.tv_sec += lifetime - margin;
	s->auths++;
	pr_debug("openstack: token for project %s, renewed in %ld s", s->project_id, lifetime - margin);
out:
	free(url);
	os_resp_free(&r);
	return err;
}

int os_session_init(struct os_session *s, const struct openstack_config *cfg)
{
	int err;

	memset(s, 0, sizeof(*s));
	if (!set(cfg->auth_url)) {
		pr_err("openstack: no Keystone URL (auth_url, OS_AUTH_URL or clouds.yaml)");
		return -EINVAL;
	}
	err = os_auth_body(cfg, &s->auth_body);
	if (err)
		return err;
	{
		size_t l = strlen(cfg->auth_url);

		while (l && cfg->auth_url[l - 1] == '/')
			l--;
		if (l >= 3 && !strncmp(cfg->auth_url + l - 3, "/v3", 3))
			s->auth_url = strndup(cfg->auth_url, l);
		else
			s->auth_url = os_url_join(cfg->auth_url, "v3");
	}
	s->region = set(cfg->region) ? strdup(cfg->region) : NULL;
	s->interface = strdup(norm_interface(cfg->interface));
	s->network_override = set(cfg->network_url) ? strdup(cfg->network_url) : NULL;
	s->compute_override = set(cfg->compute_url) ? strdup(cfg->compute_url) : NULL;
	s->margin_s = cfg->token_margin_s;
	if (!s->auth_url || !s->interface || (set(cfg->region) && !s->region) ||
	    (set(cfg->network_url) && !s->network_override) || (set(cfg->compute_url) && !s->compute_override)) {
		os_session_fini(s);
		return -ENOMEM;
	}
	err = cloud_http_new(&cfg->http, &s->http);
	if (err)
		os_session_fini(s);
	return err;
}

void os_session_fini(struct os_session *s)
{
	cloud_http_free(s->http);
	if (s->auth_body)
		explicit_bzero(s->auth_body, strlen(s->auth_body));
	free(s->auth_body);
	free(s->auth_url);
	free(s->region);
	free(s->interface);
	free(s->network_override);
	free(s->compute_override);
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	free(s->token);
	free(s->network_url);
	free(s->compute_url);
	memset(s, 0, sizeof(*s));
}

/* --- requests ------------------------------------------------------------------ */

int os_call(struct os_session *s, enum os_service svc, const char *method, const char *path,
	    const json_t *body, const char *extra_header, unsigned flags, struct os_resp *r)
{
	char *text = NULL, *url = NULL, *auth = NULL;
	const char *headers[5];
	struct cloud_http_req req = { .method = method, .no_retry = flags & OS_F_NO_RETRY };
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return -ENOMEM;
		req.body = text;
		req.body_len = strlen(text);
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		unsigned h = 0;

		if (token_due(s)) {
			err = os_authenticate(s);
			if (err)
				break;
		}
		free(url);
		url = os_url_join(svc == OS_SVC_NETWORK ? s->network_url : s->compute_url, path);
		free(auth);
		auth = NULL;
		if (!url || asprintf(&auth, "X-Auth-Token: %s", s->token) < 0) {
			auth = NULL;
			err = -ENOMEM;
			break;
		}
		headers[h++] = auth;
		headers[h++] = "Accept: application/json";
		if (body)
			headers[h++] = "Content-Type: application/json";
		if (extra_header)
			headers[h++] = extra_header;
		headers[h] = NULL;
		req.url = url;
		req.headers = headers;
		cloud_http_resp_free(&r->raw);
		err = cloud_http_do(s->http, &req, &r->raw);
		if (err)
			break;
		if (r->raw.status != 401 || attempt == 1)
			break;
		/* Revoked, or expired earlier than Keystone said: one new token. */
		pr_info("openstack: %s %s: token refused (401), authenticating again", method, path);
		s->reauth_401++;
		err = os_authenticate(s);
		if (err)
			break;
	}
	if (auth)
		explicit_bzero(auth, strlen(auth));
	free(auth);
	free(url);
	free(text);
	if (err) {
		cloud_http_resp_free(&r->raw);
		return err;
	}
	r->status = r->raw.status;
	if (r->raw.len) {
		r->json = json_loads(r->raw.body, JSON_DECODE_ANY, NULL);
		r->garbage = r->json == NULL;
	}
	if (r->status >= 400)
		os_error_parse(r->raw.body, r->type, sizeof(r->type), r->msg, sizeof(r->msg));
	return 0;
}
