// SPDX-License-Identifier: Apache-2.0
/*
 * The plugin's skeleton: the verb table, the CNI_* environment, the network
 * configuration, and the output. Section references are to SPEC.md 1.1.0 of
 * containernetworking/cni.
 */
#include "cni.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* The CNI_* parameters (section 2, "Parameters") besides CNI_COMMAND. */
enum cni_var { VAR_CONTAINERID, VAR_NETNS, VAR_IFNAME, VAR_ARGS, VAR_PATH, VAR_NR };
/* How a verb uses a parameter. UNUSED ones are not read at all. */
enum cni_use { UNUSED = 0, OPTIONAL, REQUIRED };

struct cni_ctx;

struct cni_cmd {
	const char *name;
	int (*handler)(struct cni_ctx *ctx);
	const char *since; /* first spec version that has the verb */
	bool config; /* takes a network configuration on stdin */
	unsigned char use[VAR_NR];
};

struct cni_ctx {
	const struct cni_cmd *cmd;
	const char *var[VAR_NR]; /* NULL when unused or unset */
	FILE *in, *out;
	json_t *config;
	const char *version; /* the config's cniVersion, once known supported */
	const char *socket;
	int timeout_ms;
	struct cni_error err;
};

static int do_add(struct cni_ctx *ctx);
static int do_del(struct cni_ctx *ctx);
static int do_check(struct cni_ctx *ctx);
static int do_status(struct cni_ctx *ctx);
static int do_gc(struct cni_ctx *ctx);
static int do_version(struct cni_ctx *ctx);

/*
 * Which parameters each verb requires, from each verb's "Input" in section 2.
 * The reference skeleton (pkg/skel) also demands CNI_PATH for ADD, DEL, CHECK
 * and STATUS; the spec lists it as optional there, and this plugin executes
 * nothing from CNI_PATH, so the spec's lists stand.
 */
static const struct cni_cmd cni_cmds[] = {
	{ "ADD", do_add, "0.3.1", true, { REQUIRED, REQUIRED, REQUIRED, OPTIONAL, OPTIONAL } },
	{ "DEL", do_del, "0.3.1", true, { REQUIRED, OPTIONAL, REQUIRED, OPTIONAL, OPTIONAL } },
	{ "CHECK", do_check, "0.4.0", true, { REQUIRED, REQUIRED, REQUIRED, OPTIONAL, OPTIONAL } },
	{ "STATUS", do_status, "1.1.0", true, { UNUSED, UNUSED, UNUSED, UNUSED, OPTIONAL } },
	{ "GC", do_gc, "1.1.0", true, { UNUSED, UNUSED, UNUSED, UNUSED, REQUIRED } },
	{ "VERSION", do_version, NULL, false, { UNUSED, UNUSED, UNUSED, UNUSED, UNUSED } },
};

static int valid_container_id(const char *v, char *why, size_t len);
static int valid_ifname(const char *v, char *why, size_t len);
static int valid_args(const char *v, char *why, size_t len);

static const struct {
	const char *name;
	int (*validate)(const char *v, char *why, size_t len); /* 0 or -EINVAL with why */
} cni_vars[VAR_NR] = {
	[VAR_CONTAINERID] = { "CNI_CONTAINERID", valid_container_id },
	[VAR_NETNS] = { "CNI_NETNS", NULL },
	[VAR_IFNAME] = { "CNI_IFNAME", valid_ifname },
	[VAR_ARGS] = { "CNI_ARGS", valid_args },
	[VAR_PATH] = { "CNI_PATH", NULL },
};

/* --- errors --------------------------------------------------------------- */

void cni_strlcpy_utf8(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (n >= size) {
		n = size - 1;
		/* Do not leave half a character: back off over continuation bytes. */
		while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int cni_fail(struct cni_error *e, int code, const char *msg, const char *details_fmt, ...)
{
	char buf[sizeof(e->details)];
	va_list ap;

	e->code = code;
	cni_strlcpy_utf8(e->msg, msg, sizeof(e->msg));
	va_start(ap, details_fmt);
	vsnprintf(buf, sizeof(buf), details_fmt, ap);
	va_end(ap);
	cni_strlcpy_utf8(e->details, buf, sizeof(e->details));
	return code;
}

/* A JSON string of s; bytes that are not UTF-8 (from the environment or a
 * truncation) become '?' rather than losing the whole message. */
static json_t *safe_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return json_string("");
	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

static int print_json(FILE *out, json_t *obj)
{
	int rc = json_dumpf(obj, out, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

	if (rc == 0)
		fputc('\n', out);
	if (rc || fflush(out) || ferror(out)) {
		pr_err("write to stdout failed");
		return -EIO;
	}
	return 0;
}

/* Section 5, "Error": cniVersion (the protocol version in use), code, msg,
 * details; printed on stdout, as the reference skeleton and STATUS's text
 * ask. When the config's version is unknown or unsupported there is no
 * version "in use" but ours. */
static void cni_print_error(struct cni_ctx *ctx)
{
	const struct cni_error *e = &ctx->err;
	json_t *obj = json_object();

	json_object_set_new(obj, "cniVersion", json_string(ctx->version ? ctx->version : CNI_VERSION_NATIVE));
	json_object_set_new(obj, "code", json_integer(e->code));
	json_object_set_new(obj, "msg", safe_string(e->msg));
	json_object_set_new(obj, "details", safe_string(e->details));
	print_json(ctx->out, obj);
	json_decref(obj);
	pr_err("%s: %s%s%s (code %d)", ctx->cmd ? ctx->cmd->name : "CNI", e->msg, *e->details ? ": " : "",
	       e->details, e->code);
}

/* --- environment ---------------------------------------------------------- */

static const char *env_get(const char *const envp[], const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Section 2: starts with an alphanumeric character, then alphanumerics,
 * '_', '.' or '-'. Network names follow the same rule (section 1). */
static bool valid_cni_name(const char *v)
{
	if (!is_alnum(*v))
		return false;
	for (v++; *v; v++) {
		if (!is_alnum(*v) && *v != '_' && *v != '.' && *v != '-')
			return false;
	}
	return true;
}

static int valid_container_id(const char *v, char *why, size_t len)
{
	if (valid_cni_name(v))
		return 0;
	snprintf(why, len,
		 "must start with an alphanumeric character, followed by alphanumerics, '_', '.' or '-'");
	return -EINVAL;
}

/* What the kernel accepts as a name (dev_valid_name()): the spec asks the
 * plugin to fail when it cannot use the name, and failing here is earlier
 * and clearer than a netlink error from the agent. */
static int valid_ifname(const char *v, char *why, size_t len)
{
	if (strlen(v) > 15) {
		snprintf(why, len, "longer than 15 characters");
		return -EINVAL;
	}
	if (!strcmp(v, ".") || !strcmp(v, "..")) {
		snprintf(why, len, "must not be \".\" or \"..\"");
		return -EINVAL;
	}
	for (; *v; v++) {
		if (*v == '/' || *v == ':' || *v == ' ' || (*v >= '\t' && *v <= '\r')) {
			snprintf(why, len, "must not contain '/', ':' or whitespace");
			return -EINVAL;
		}
	}
	return 0;
}

/* "FOO=BAR;ABC=123" (section 2); an empty pair (a trailing ';') is let by. */
static int valid_args(const char *v, char *why, size_t len)
{
	while (*v) {
		const char *end = strchrnul(v, ';');
		const char *eq = memchr(v, '=', (size_t)(end - v));

		if (end != v && (!eq || eq == v)) {
			snprintf(why, len, "pair %.*s is not KEY=VALUE", (int)(end - v > 64 ? 64 : end - v),
				 v);
			return -EINVAL;
		}
		v = *end ? end + 1 : end;
	}
	return 0;
}

/* Reads the parameters the verb uses; every missing required one is named
 * in one error (code 4), as is the first invalid one. */
static int read_env(struct cni_ctx *ctx, const char *const envp[])
{
	char missing[256] = "", why[160], msg[64];
	size_t off = 0;

	for (int i = 0; i < VAR_NR; i++) {
		const char *v;

		if (ctx->cmd->use[i] == UNUSED)
			continue;
		v = env_get(envp, cni_vars[i].name);
		if (v && !*v)
			v = NULL; /* empty is unset, as in the reference skeleton */
		if (!v && ctx->cmd->use[i] == REQUIRED)
			off += (size_t)snprintf(missing + off, sizeof(missing) - off, "%s%s", off ? "," : "",
						cni_vars[i].name);
		ctx->var[i] = v;
	}
	if (off) {
		/* Section 5, code 4: "the error message must contain the names". */
		char msg[sizeof(missing) + 40];

		snprintf(msg, sizeof(msg), "required env variables [%s] missing", missing);
		return cni_fail(&ctx->err, CNI_ERR_INVALID_ENV, msg, "CNI_COMMAND=%s", ctx->cmd->name);
	}

	for (int i = 0; i < VAR_NR; i++) {
		const char *v = ctx->var[i];
		json_t *probe;

		if (!v)
			continue;
		snprintf(msg, sizeof(msg), "invalid %s", cni_vars[i].name);
		probe = json_string(v);
		if (!probe)
			return cni_fail(&ctx->err, CNI_ERR_INVALID_ENV, msg, "not valid UTF-8");
		json_decref(probe);
		if (cni_vars[i].validate && cni_vars[i].validate(v, why, sizeof(why)))
			return cni_fail(&ctx->err, CNI_ERR_INVALID_ENV, msg, "\"%.64s\": %s", v, why);
	}
	return 0;
}

/* --- network configuration ------------------------------------------------ */

static int read_stdin(struct cni_ctx *ctx, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);

	if (!b)
		return cni_fail(&ctx->err, CNI_ERR_IO, "cannot read the network config", "out of memory");
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if (cap > CNI_MAX_STDIN) {
				free(b);
				return cni_fail(&ctx->err, CNI_ERR_IO, "cannot read the network config",
						"larger than %u bytes", CNI_MAX_STDIN);
			}
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return cni_fail(&ctx->err, CNI_ERR_IO, "cannot read the network config",
						"out of memory");
			}
			b = nb;
			cap *= 2;
		}
		got = fread(b + n, 1, cap - n, ctx->in);
		n += got;
		if (got)
			continue;
		if (ferror(ctx->in)) {
			free(b);
			return cni_fail(&ctx->err, CNI_ERR_IO, "cannot read the network config",
					"read from stdin failed");
		}
		break;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int parse_config(struct cni_ctx *ctx)
{
	json_error_t jerr;
	char *buf = NULL;
	size_t len = 0;
	int err = read_stdin(ctx, &buf, &len);

	if (err)
		return err;
	ctx->config = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!ctx->config)
		return cni_fail(&ctx->err, CNI_ERR_DECODE, "cannot decode the network config",
				"line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	if (!json_is_object(ctx->config))
		return cni_fail(&ctx->err, CNI_ERR_DECODE, "cannot decode the network config",
				"the network config is not a JSON object");
	return 0;
}

#define invalid_config(ctx, ...) \
	cni_fail(&(ctx)->err, CNI_ERR_INVALID_CONFIG, "invalid network config", __VA_ARGS__)

/* "0.3.1, 0.4.0, ..." for messages. */
static const char *versions_list(char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const char *const *v = cni_supported_versions; *v && off < size; v++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? ", " : "", *v);
	return buf;
}

/* The version first: until it is known, nothing else about the layout is. */
static int check_version(struct cni_ctx *ctx)
{
	json_t *v = json_object_get(ctx->config, "cniVersion");
	const char *s = json_string_value(v);
	char list[64];

	if (!v)
		return invalid_config(ctx, "missing \"%s\"", "cniVersion");
	if (!s)
		return invalid_config(ctx, "\"%s\" is not a string", "cniVersion");
	if (!cni_version_supported(s))
		return cni_fail(&ctx->err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config is \"%.32s\", plugin supports [%s]", s,
				versions_list(list, sizeof(list)));
	ctx->version = s;
	/* CHECK is 0.4.0+, STATUS and GC 1.1.0+ (the version table of SPEC.md;
	 * code 1 as the reference skeleton answers). */
	if (cni_version_num(s) < cni_version_num(ctx->cmd->since))
		return cni_fail(&ctx->err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config version %s does not allow %s (needs %s or later)", s, ctx->cmd->name,
				ctx->cmd->since);
	return 0;
}

static int check_config(struct cni_ctx *ctx)
{
	json_t *c = ctx->config, *v;
	static const char *const objects[] = { "args", "runtimeConfig", "capabilities", "prevResult" };
	const char *s;

	v = json_object_get(c, "name");
	if (!v)
		return invalid_config(ctx, "missing network \"%s\"", "name");
	if (!json_is_string(v) || !valid_cni_name(json_string_value(v)))
		return invalid_config(ctx,
				      "\"%s\" must be a string of alphanumerics, '_', '.' and '-', "
				      "starting with an alphanumeric",
				      "name");
	v = json_object_get(c, "type");
	if (!v)
		return invalid_config(ctx, "missing plugin \"%s\"", "type");
	s = json_string_value(v);
	if (!s || !*s || strchr(s, '/') || strchr(s, '\\'))
		return invalid_config(ctx, "\"%s\" must be a file name", "type");

	/* Ours. */
	ctx->socket = CNI_DEFAULT_AGENT_SOCKET;
	v = json_object_get(c, "agentSocket");
	if (v) {
		s = json_string_value(v);
		/* 108 = sizeof(sun_path), terminator included */
		if (!s || s[0] != '/' || strlen(s) >= 108)
			return invalid_config(ctx, "\"%s\" must be an absolute path shorter than 108 bytes",
					      "agentSocket");
		ctx->socket = s;
	}
	ctx->timeout_ms = CNI_DEFAULT_TIMEOUT_S * 1000;
	v = json_object_get(c, "timeoutSeconds");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > CNI_MAX_TIMEOUT_S)
			return invalid_config(ctx, "\"%s\" must be an integer from 1 to 3600",
					      "timeoutSeconds");
		ctx->timeout_ms = (int)json_integer_value(v) * 1000;
	}

	/* The protocol's own keys are forwarded as they are, but they must at
	 * least have the shape the spec gives them. */
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		v = json_object_get(c, objects[i]);
		if (v && !json_is_object(v))
			return invalid_config(ctx, "\"%s\" must be an object", objects[i]);
	}
	return 0;
}

/* --- verbs ---------------------------------------------------------------- */

static int forward(struct cni_ctx *ctx, int fail_code, json_t **result)
{
	const bool attachment = ctx->cmd->use[VAR_CONTAINERID] != UNUSED;
	struct cni_request req = {
		.command = ctx->cmd->name,
		.container_id = attachment ? ctx->var[VAR_CONTAINERID] : NULL,
		/* DEL without CNI_NETNS is valid (section 2): sent as "". */
		.netns = attachment ? (ctx->var[VAR_NETNS] ? ctx->var[VAR_NETNS] : "") : NULL,
		.ifname = attachment ? ctx->var[VAR_IFNAME] : NULL,
		.args = ctx->var[VAR_ARGS] ? ctx->var[VAR_ARGS] : "",
		.path = ctx->var[VAR_PATH] ? ctx->var[VAR_PATH] : "",
		.config = ctx->config,
		.socket = ctx->socket,
		.timeout_ms = ctx->timeout_ms,
	};

	return cni_agent_call(&req, fail_code, result, &ctx->err);
}

/* Forwards a verb whose success prints nothing (section 2: DEL, CHECK,
 * STATUS and GC output nothing but an error). */
static int forward_quiet(struct cni_ctx *ctx, int fail_code)
{
	json_t *result;
	int err = forward(ctx, fail_code, &result);

	json_decref(result);
	return err;
}

/*
 * ADD: the agent does the work (IP, veth, maps, policy) and answers with the
 * result; a prevResult in the config is the agent's to pass through or
 * extend (section 2, ADD). If the agent cannot be reached, nothing was done
 * and 11 tells the runtime to retry. If it was reached but its answer is lost
 * (timeout, garbage), the ADD may have happened: the error still makes the
 * runtime call DEL (section 3, "a delete must still be executed even if the
 * add fails"), which the agent handles idempotently.
 */
static int do_add(struct cni_ctx *ctx)
{
	json_t *result, *converted;
	int err = forward(ctx, CNI_ERR_TRY_AGAIN_LATER, &result);

	if (err)
		return err;
	err = cni_result_convert(result, ctx->version, &converted, &ctx->err);
	json_decref(result);
	if (err)
		return err;
	err = print_json(ctx->out, converted);
	json_decref(converted);
	return err ? cni_fail(&ctx->err, CNI_ERR_IO, "cannot write the result", "stdout: %s", strerror(-err))
		   : 0;
}

/*
 * DEL: section 2 makes DEL best-effort: "plugins should always complete a
 * DEL action without error to the fullest extent possible, even if some
 * resources or state are missing", and section 3 has the runtime treat a
 * successful DEL as final (it drops its cached result and never asks again).
 * Resources that are already gone are the agent's to ignore, and it does.
 * But an unreachable agent is not missing state: the agent is the only
 * holder of the state, so this plugin cannot complete any part of the DEL,
 * and a success here would leak the pod's VPC address, its veth and its map
 * entries for good. The "fullest extent possible" is nothing, the condition
 * is transient (the agent restarts), so DEL fails with 11, "try again later"
 * (section 5), and the runtime retries it ("add is eventually followed by a
 * corresponding delete", section 3).
 */
static int do_del(struct cni_ctx *ctx)
{
	return forward_quiet(ctx, CNI_ERR_TRY_AGAIN_LATER);
}

/*
 * CHECK: the agent compares the live state of the attachment with prevResult
 * (interfaces, addresses, routes, plus the map entries and policy that the
 * result type does not track) and answers error 100 on a mismatch. Section 2
 * makes prevResult mandatory for CHECK ("a runtime must include a prevResult
 * field"), so a CHECK without one is an invalid config, not a pass.
 */
static int do_check(struct cni_ctx *ctx)
{
	if (!json_object_get(ctx->config, "prevResult"))
		return invalid_config(ctx, "CHECK needs \"%s\" (the result of the ADD)", "prevResult");
	return forward_quiet(ctx, CNI_ERR_TRY_AGAIN_LATER);
}

/*
 * STATUS: section 2 says a plugin that relies on a daemon "should return an
 * error to STATUS if that service is unavailable", with code 50, "the plugin
 * is not available (i.e. cannot service ADD requests)". The agent answers
 * 50 or 51 itself when it is up but cannot serve (pool exhausted, datapath
 * not loaded).
 */
static int do_status(struct cni_ctx *ctx)
{
	return forward_quiet(ctx, CNI_ERR_NOT_AVAILABLE);
}

/* One valid-attachments list: [{"containerID": s, "ifname": s}, ...]. */
static int check_attachments(struct cni_ctx *ctx, const char *key)
{
	json_t *list = json_object_get(ctx->config, key), *a;
	size_t i;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return invalid_config(ctx, "\"%s\" must be an array", key);
	json_array_foreach(list, i, a) {
		if (!json_is_string(json_object_get(a, "containerID")) ||
		    !json_is_string(json_object_get(a, "ifname")))
			return invalid_config(
				ctx, "every entry of \"%s\" needs string containerID and ifname", key);
	}
	return 0;
}

/*
 * GC: the agent releases whatever is not in "cni.dev/valid-attachments".
 * libcni also sends the list as "cni.dev/attachments", the key the spec-v1.1.0
 * tag printed by mistake (cni#1101); both are checked and both forwarded.
 * A malformed list is rejected here, since read wrongly it would make the
 * agent tear down live pods.
 */
static int do_gc(struct cni_ctx *ctx)
{
	int err = check_attachments(ctx, "cni.dev/valid-attachments");

	if (!err)
		err = check_attachments(ctx, "cni.dev/attachments");
	if (err)
		return err;
	return forward_quiet(ctx, CNI_ERR_TRY_AGAIN_LATER);
}

/*
 * VERSION: section 2 gives it {"cniVersion"} on stdin and section 5 echoes
 * that version in the answer. The reference skeleton ignores stdin and
 * answers its own version; here a readable cniVersion is echoed and
 * anything else (no input, garbage) gets 1.1.0. stdin is not read from a
 * terminal, so `CNI_COMMAND=VERSION sluice` run by hand does not hang.
 */
static int do_version(struct cni_ctx *ctx)
{
	json_t *obj, *list, *in = NULL;
	const char *version = CNI_VERSION_NATIVE;
	int fd = fileno(ctx->in);
	int err;

	if (fd < 0 || !isatty(fd)) {
		char *buf = NULL;
		size_t len = 0;

		if (read_stdin(ctx, &buf, &len) == 0) {
			in = json_loadb(buf, len, 0, NULL);
			free(buf);
		}
		if (json_is_string(json_object_get(in, "cniVersion")))
			version = json_string_value(json_object_get(in, "cniVersion"));
	}
	obj = json_object();
	json_object_set_new(obj, "cniVersion", json_string(version));
	list = json_array();
	for (const char *const *v = cni_supported_versions; *v; v++)
		json_array_append_new(list, json_string(*v));
	json_object_set_new(obj, "supportedVersions", list);
	err = print_json(ctx->out, obj);
	json_decref(obj);
	json_decref(in);
	return err ? cni_fail(&ctx->err, CNI_ERR_IO, "cannot write the version", "stdout: %s", strerror(-err))
		   : 0;
}

/* --- entry ---------------------------------------------------------------- */

static const struct cni_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cni_cmds) / sizeof(cni_cmds[0]); i++) {
		if (strcmp(name, cni_cmds[i].name) == 0)
			return &cni_cmds[i];
	}
	return NULL;
}

int cni_run(const char *const envp[], FILE *in, FILE *out, FILE *errf)
{
	struct cni_ctx ctx = { .in = in, .out = out };
	const char *command;
	char list[64];
	int err;

	log_init("sluice", LOG_INFO, LOG_FORMAT_TEXT, errf);

	command = env_get(envp, "CNI_COMMAND");
	if (!command || !*command) {
		fprintf(errf, "sluice: CNI plugin of Sluice; CNI protocol versions supported: %s\n",
			versions_list(list, sizeof(list)));
		err = cni_fail(&ctx.err, CNI_ERR_INVALID_ENV, "required env variables [CNI_COMMAND] missing",
			       "%s", "");
		goto out;
	}
	ctx.cmd = find_cmd(command);
	if (!ctx.cmd) {
		char msg[64];
		size_t off = 0;

		for (size_t i = 0; i < sizeof(cni_cmds) / sizeof(cni_cmds[0]); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
						cni_cmds[i].name);
		snprintf(msg, sizeof(msg), "unknown CNI_COMMAND: %.32s", command);
		err = cni_fail(&ctx.err, CNI_ERR_INVALID_ENV, msg, "one of %s", list);
		goto out;
	}
	err = read_env(&ctx, envp);
	if (err)
		goto out;
	if (ctx.cmd->config) {
		err = parse_config(&ctx);
		if (!err)
			err = check_version(&ctx);
		if (!err)
			err = check_config(&ctx);
		if (err)
			goto out;
	}
	err = ctx.cmd->handler(&ctx);
out:
	if (err)
		cni_print_error(&ctx);
	json_decref(ctx.config); /* ctx.version and ctx.socket point into it */
	return err;
}
