// SPDX-License-Identifier: Apache-2.0
/*
 * One CNI operation as POST /v1/cni to sluiced (docs/agent-api.md). Anything
 * but {"result": {...}} or {"error": {"code", "msg"[, "details"]}} is not the
 * API: the caller reports it with its fail code, like an unreachable agent.
 */
#include "cni.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/uds_http.h"

#define SNIPPET_MAX 160

/* A printable, JSON-safe excerpt of what the agent sent. */
static void snippet(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 4 < size && i < SNIPPET_MAX; i++)
		dst[n++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '.';
	if (len > SNIPPET_MAX && n + 4 < size) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

static json_t *build_body(const struct cni_request *req)
{
	json_t *body = json_object();

	json_object_set_new(body, "command", json_string(req->command));
	if (req->container_id)
		json_object_set_new(body, "containerID", json_string(req->container_id));
	if (req->netns)
		json_object_set_new(body, "netns", json_string(req->netns));
	if (req->ifname)
		json_object_set_new(body, "ifName", json_string(req->ifname));
	json_object_set_new(body, "args", json_string(req->args ? req->args : ""));
	json_object_set_new(body, "path", json_string(req->path ? req->path : ""));
	json_object_set(body, "config", req->config);
	return body;
}

/* The agent's {"error": {...}}: its code, msg and details, as they are. */
static int agent_error(const json_t *err, const char *socket, int fail_code, struct cni_error *e)
{
	json_t *code = json_object_get(err, "code");
	const char *msg = json_string_value(json_object_get(err, "msg"));
	json_t *details = json_object_get(err, "details");

	if (!json_is_integer(code) || json_integer_value(code) <= 0 ||
	    json_integer_value(code) > 0x7fffffff || !msg || (details && !json_is_string(details)))
		return cni_fail(e, fail_code, "unexpected answer from the sluice agent",
				"malformed error object from %s (needs an integer code > 0 and a string msg)",
				socket);
	e->code = (int)json_integer_value(code);
	cni_strlcpy_utf8(e->msg, msg, sizeof(e->msg));
	cni_strlcpy_utf8(e->details, details ? json_string_value(details) : "", sizeof(e->details));
	return e->code;
}

int cni_agent_call(const struct cni_request *req, int fail_code, json_t **result, struct cni_error *e)
{
	const char *unreachable = fail_code == CNI_ERR_NOT_AVAILABLE
					  ? "plugin not available: cannot reach the sluice agent"
					  : "try again later: cannot reach the sluice agent";
	struct uds_http_response resp = { 0 };
	json_t *body, *answer = NULL, *res, *err_obj;
	char *text, snip[SNIPPET_MAX + 8];
	json_error_t jerr;
	int rc;

	*result = NULL;
	body = build_body(req);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return cni_fail(e, fail_code, "cannot encode the request to the sluice agent",
				"out of memory");

	pr_debug("%s: POST /v1/cni on %s (timeout %d ms)", req->command, req->socket, req->timeout_ms);
	rc = uds_http_request(req->socket, "POST", "/v1/cni", text, strlen(text), req->timeout_ms, &resp);
	free(text);
	if (rc == -ETIMEDOUT) {
		rc = cni_fail(e, fail_code, unreachable,
			      "POST /v1/cni on unix socket %s: no answer within %d ms", req->socket,
			      req->timeout_ms);
		goto out;
	}
	if (rc == -EPROTO || rc == -EFBIG) {
		rc = cni_fail(e, fail_code, "unexpected answer from the sluice agent",
			      "POST /v1/cni on unix socket %s: %s", req->socket,
			      rc == -EPROTO ? "not a valid HTTP/1.1 response"
					    : "response larger than 16 MiB");
		goto out;
	}
	if (rc < 0) {
		rc = cni_fail(e, fail_code, unreachable, "POST /v1/cni on unix socket %s: %s", req->socket,
			      strerror(-rc));
		goto out;
	}

	answer = json_loadb(resp.body, resp.len, 0, &jerr);
	res = json_object_get(answer, "result");
	err_obj = json_object_get(answer, "error");
	if (json_is_object(err_obj) && !res) {
		rc = agent_error(err_obj, req->socket, fail_code, e);
	} else if (resp.status == 200 && json_is_object(res) && !err_obj) {
		*result = json_incref(res);
		rc = 0;
	} else {
		snippet(snip, sizeof(snip), resp.body, resp.len);
		rc = cni_fail(e, fail_code, "unexpected answer from the sluice agent", "HTTP %d from %s: %s",
			      resp.status, req->socket, snip);
	}
out:
	json_decref(answer);
	uds_http_response_free(&resp);
	return rc;
}
