// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's API: HTTP/1.1 + JSON on a unix socket (docs/agent-api.md),
 * served by libmicrohttpd with a thread per connection so a slow ADD does not
 * hold up `sluicectl status`. The socket is created here, mode 0600 (or as
 * configured) from the moment it exists, and refused if another agent
 * still answers on it.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fsutil.h"
#include "common/log.h"

#define HTTP_BODY_MAX (4u << 20)

struct agent_http {
	struct MHD_Daemon *daemon;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct req_ctx {
	char *body;
	size_t len;
	bool too_big;
};

static int listen_unix(const char *path, unsigned mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)];
	mode_t old_umask;
	char *slash;
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		err = fs_mkdir_p(dir, 0755);
		if (err)
			return err;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file that still answers belongs to a live agent. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		pr_err("another agent is serving %s", path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old_umask = umask(0777 & ~mode);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old_umask);
	if (!err && chmod(path, mode))
		err = -errno;
	if (!err && listen(fd, 128))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!body)
		body = strdup("{\"error\":{\"code\":102,\"msg\":\"out of memory\"}}");
	return body ? respond(c, status, "application/json", body) : MHD_NO;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, int code, const char *msg)
{
	return respond_json(c, status, json_pack("{s:{s:i, s:s}}", "error", "code", code, "msg", msg));
}

static enum MHD_Result route(struct agent *a, struct MHD_Connection *c, const char *url, const char *method,
			     struct req_ctx *ctx)
{
	bool get = strcmp(method, "GET") == 0;

	if (!strcmp(url, "/v1/cni")) {
		json_error_t jerr;
		json_t *req;

		if (strcmp(method, "POST") != 0)
			return respond_error(c, 405, 6, "POST only");
		if (ctx->too_big)
			return respond_error(c, 413, 6, "request too large");
		req = json_loadb(ctx->body ? ctx->body : "", ctx->len, 0, &jerr);
		if (!json_is_object(req)) {
			json_decref(req);
			return respond_error(c, 400, 6, "request is not a JSON object");
		}
		json_t *res = agent_cni(a, req);

		json_decref(req);
		return respond_json(c, 200, res);
	}
	if (!strcmp(url, "/v1/ipam/config") || !strcmp(url, "/v1/ipam/reconcile")) {
		json_error_t jerr;
		json_t *body;
		char why[256];
		int err;

		if (strcmp(method, "POST") != 0)
			return respond_error(c, 405, 6, "POST only");
		if (!strcmp(url, "/v1/ipam/reconcile")) {
			/* The pass is waited for, so that the answer shows its result. */
			err = agent_pool_reconcile_now(a, 30000);
			if (err)
				pr_warn("ipam reconcile: the pass did not end within 30 s");
			return respond_json(c, 200, agent_view_ipam(a));
		}
		if (ctx->too_big)
			return respond_error(c, 413, 6, "request too large");
		body = json_loadb(ctx->body ? ctx->body : "", ctx->len, 0, &jerr);
		err = agent_pool_configure(a, body, why, sizeof(why));
		json_decref(body);
		if (err)
			return respond_error(c, 400, 7, why);
		return respond_json(c, 200, agent_view_ipam(a));
	}
	if (!get)
		return respond_error(c, 405, 6, "GET only");
	if (!strcmp(url, "/healthz"))
		return respond(c, 200, "text/plain", strdup("ok\n"));
	if (!strcmp(url, "/readyz"))
		return a->ready ? respond(c, 200, "text/plain", strdup("ok\n"))
				: respond(c, 503, "text/plain", strdup("starting\n"));
	if (!strcmp(url, "/metrics")) {
		char *text = agent_view_metrics(a);

		return text ? respond(c, 200, "text/plain; version=0.0.4", text)
			    : respond_error(c, 500, 102, "metrics unavailable");
	}
	if (!strcmp(url, "/v1/status"))
		return respond_json(c, 200, agent_view_status(a));
	if (!strcmp(url, "/v1/endpoints"))
		return respond_json(c, 200, agent_view_endpoints(a));
	if (!strcmp(url, "/v1/ipam"))
		return respond_json(c, 200, agent_view_ipam(a));
	if (!strcmp(url, "/v1/identities"))
		return respond_json(c, 200, agent_view_identities(a));
	if (!strcmp(url, "/v1/policy")) {
		const char *pod = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pod");
		json_t *res = pod ? agent_view_policy(a, pod) : NULL;

		return res ? respond_json(c, 200, res)
			   : respond_error(c, 404, 3, pod ? "no such pod on this node" : "?pod=NAMESPACE/POD is required");
	}
	return respond_error(c, 404, 6, "no such path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req_ctx *ctx = *con_cls;

	(void)version;
	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_size) {
		if (ctx->len + *upload_size > HTTP_BODY_MAX) {
			ctx->too_big = true;
		} else {
			char *grown = realloc(ctx->body, ctx->len + *upload_size + 1);

			if (!grown)
				return MHD_NO;
			memcpy(grown + ctx->len, upload, *upload_size);
			ctx->body = grown;
			ctx->len += *upload_size;
			ctx->body[ctx->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return route(cls, c, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (ctx) {
		free(ctx->body);
		free(ctx);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_DEBUG, fmt, ap);
}

int agent_http_start(struct agent *a, struct agent_http **out)
{
	struct agent_http *h = calloc(1, sizeof(*h));
	int fd;

	if (!h)
		return -ENOMEM;
	fd = listen_unix(a->cfg.socket_path, a->cfg.socket_mode);
	if (fd < 0) {
		pr_err("listen on %s: %s", a->cfg.socket_path, strerror(-fd));
		free(h);
		return fd;
	}
	h->fd = fd;
	snprintf(h->path, sizeof(h->path), "%s", a->cfg.socket_path);
	h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					     MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)120, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
	if (!h->daemon) {
		pr_err("start HTTP server on %s", a->cfg.socket_path);
		close(fd);
		unlink(h->path);
		free(h);
		return -EIO;
	}
	pr_info("serving the API on %s", a->cfg.socket_path);
	*out = h;
	return 0;
}

void agent_http_stop(struct agent_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	close(h->fd);
	unlink(h->path);
	free(h);
}
