// SPDX-License-Identifier: Apache-2.0
/* status, endpoint list, ipam show|set|reconcile: the agent's view, through its API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/uds_http.h"
#include "ctl/ctl.h"

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

int cmd_status(int argc, char **argv)
{
	json_t *s, *pool;
	int err;

	ctl_take_json_flag(&argc, argv);
	if (argc)
		return ctl_error(-EINVAL, "status takes no arguments");
	err = ctl_agent_get("/v1/status", &s);
	if (err)
		return err;
	if (ctl.json) {
		ctl_print_json(s);
		return 0;
	}
	pool = json_object_get(s, "pool");
	printf("node:        %s\n", str(s, "node"));
	printf("version:     %s\n", str(s, "version"));
	printf("ready:       %s\n", json_is_true(json_object_get(s, "ready")) ? "yes" : "no");
	printf("provider:    %s\n", str(s, "provider"));
	printf("pins:        %s\n", str(s, "pinDir"));
	printf("socket:      %s\n", str(s, "socket"));
	printf("endpoints:   %lld\n", num(s, "endpoints"));
	printf("pool:        %lld free, %lld used, %lld interfaces (max %lld, %lld IPs each), warm target %lld\n",
	       num(pool, "free"), num(pool, "used"), num(pool, "interfaces"), num(pool, "maxInterfaces"),
	       num(pool, "maxIPsPerInterface"), num(pool, "warmIPTarget"));
	if (json_string_length(json_object_get(s, "lastCloudError")))
		printf("cloud error: %s\n", str(s, "lastCloudError"));
	json_decref(s);
	return 0;
}

static int endpoint_list(int argc, char **argv)
{
	json_t *res, *ep;
	size_t i;
	int err;

	(void)argv;
	if (argc)
		return ctl_error(-EINVAL, "endpoint list takes no arguments");
	err = ctl_agent_get("/v1/endpoints", &res);
	if (err)
		return err;
	if (ctl.json) {
		ctl_print_json(res);
		return 0;
	}
	printf("%-32s %-16s %-15s %-17s %-8s %s\n", "POD", "IP", "HOST-VETH", "MAC", "ENI", "LABELS");
	json_array_foreach(json_object_get(res, "endpoints"), i, ep) {
		char pod[300];

		snprintf(pod, sizeof(pod), "%s/%s", str(ep, "namespace"), str(ep, "pod"));
		printf("%-32s %-16s %-15s %-17s %-8s ", pod, str(ep, "ip"), str(ep, "hostVeth"), str(ep, "mac"),
		       str(ep, "eniName"));
		ctl_print_labels(json_object_get(ep, "labels"));
		printf("\n");
	}
	json_decref(res);
	return 0;
}

int cmd_endpoint(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "list", endpoint_list, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "endpoint", argc, argv);
}

static double real(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* POST body (JSON, or NULL) to path; *out is the agent's JSON answer. */
static int agent_post(const char *path, json_t *body, unsigned timeout_ms, json_t **out)
{
	struct uds_http_response r = { 0 };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_error_t jerr;
	int err;

	err = uds_http_request(ctl.socket, "POST", path, text, text ? strlen(text) : 0, timeout_ms, &r);
	free(text);
	if (err)
		return ctl_error(err, "agent at %s: %s", ctl.socket, strerror(-err));
	*out = json_loads(r.body ? r.body : "", 0, &jerr);
	if (r.status != 200 || !*out) {
		const char *msg = json_string_value(json_object_get(json_object_get(*out, "error"), "msg"));

		err = ctl_error(r.status == 400 ? -EINVAL : -EPROTO, "agent answered %d: %s", r.status,
				msg ? msg : r.body ? r.body : "");
		json_decref(*out);
		*out = NULL;
	}
	uds_http_response_free(&r);
	return err;
}

static void print_ipam(json_t *res)
{
	json_t *iface, *ip, *t = json_object_get(res, "targets"), *lim = json_object_get(res, "limits");
	json_t *calls = json_object_get(res, "calls"), *budget = json_object_get(res, "budget");
	json_t *debt = json_object_get(res, "debt"), *errs = json_object_get(res, "cloudErrors");
	size_t i, j;

	printf("pool:    %lld free (%lld held by conntrack), %lld used, %lld allocatable; %lld interfaces; "
	       "capacity %lld\n",
	       num(res, "free"), num(res, "held"), num(res, "used"), num(res, "allocatable"),
	       num(res, "interfaceCount"), num(res, "capacity"));
	printf("targets: warm IPs %lld, min IPs %lld, warm interfaces %lld; release after %llds; "
	       "conntrack hold at most %llds\n",
	       num(t, "warmIPTarget"), num(t, "minIPTarget"), num(t, "warmENITarget"), num(t, "releaseDelaySeconds"),
	       num(t, "reuseMaxHoldSeconds"));
	printf("limits:  %lld interfaces x %lld IPs (provider %lld x %lld)\n", num(lim, "maxInterfaces"),
	       num(lim, "maxIPsPerInterface"), num(json_object_get(res, "providerLimits"), "maxInterfaces"),
	       num(json_object_get(res, "providerLimits"), "maxIPsPerInterface"));
	printf("mode:    %s", str(res, "mode"));
	if (!strcmp(str(res, "mode"), "scheduled"))
		printf(" (every %llds)", num(t, "reconcileIntervalSeconds"));
	printf("\ndebt:    %lld IPs short of %lld wanted free, %lld ADDs waiting%s%s\n", num(debt, "ips"),
	       num(res, "desiredFree"), num(debt, "waitingAdds"),
	       json_string_length(json_object_get(res, "blocked")) ? "; blocked: " : "",
	       json_string_length(json_object_get(res, "blocked")) ? str(res, "blocked") : "");
	printf("budget:  %.1f of %lld tokens (%.2f/s), %lld calls refused, %lld passes put off\n",
	       real(budget, "level"), num(budget, "burst"), real(budget, "ratePerSecond"), num(budget, "denied"),
	       num(budget, "deferredPasses"));
	printf("calls:   %lld assign, %lld release, %lld attach, %lld detach, %lld list; %lld failed\n",
	       num(calls, "assign"), num(calls, "release"), num(calls, "attach"), num(calls, "detach"),
	       num(calls, "list"), num(calls, "failed"));
	if (json_object_get(res, "providerHTTP"))
		printf("http:    %lld requests, %lld retries, %lld throttled\n",
		       num(json_object_get(res, "providerHTTP"), "requests"),
		       num(json_object_get(res, "providerHTTP"), "retries"),
		       num(json_object_get(res, "providerHTTP"), "throttled"));
	printf("passes:  %lld, %lld skipped as unchanged\n", num(json_object_get(res, "passes"), "total"),
	       num(json_object_get(res, "passes"), "unchanged"));
	if (json_object_get(res, "orphans")) {
		json_t *o = json_object_get(res, "orphans");

		printf("orphans: %lld passes (%lld failed): %lld re-adopted, %lld detached, %lld forgotten, "
		       "%lld lost; IPs %lld added, %lld dropped%s%s\n",
		       num(o, "passes"), num(o, "failed"), num(o, "readopted"), num(o, "detached"),
		       num(o, "forgotten"), num(o, "lost"), num(o, "ipsAdded"), num(o, "ipsDropped"),
		       json_string_length(json_object_get(o, "lastError")) ? "; last error: " : "",
		       json_string_length(json_object_get(o, "lastError")) ? str(o, "lastError") : "");
	}
	if (json_string_length(json_object_get(errs, "last"))) {
		time_t when = (time_t)num(errs, "time");
		char buf[64];

		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&when));
		printf("last cloud error: %s at %s (%lld in a row, %lld in all)%s\n", str(errs, "last"), buf,
		       num(errs, "consecutive"), num(errs, "total"),
		       json_string_length(json_object_get(res, "lastCloudError")) ? "" : "; calls succeed since");
	}
	json_array_foreach(json_object_get(res, "interfaces"), i, iface) {
		printf("\n%s  %s  ifindex %lld  mac %s  subnet %s  gateway %s  primary %s\n", str(iface, "id"),
		       str(iface, "name"), num(iface, "ifindex"), str(iface, "mac"), str(iface, "subnet"),
		       str(iface, "gateway"), str(iface, "primaryIP"));
		json_array_foreach(json_object_get(iface, "ips"), j, ip) {
			const char *cid = json_string_value(json_object_get(ip, "containerID"));

			if (cid && *cid)
				printf("  %-16s %s/%s (%.12s/%s)\n", str(ip, "ip"), str(ip, "namespace"),
				       str(ip, "pod"), cid, str(ip, "ifName"));
			else
				printf("  %-16s free%s\n", str(ip, "ip"),
				       json_is_true(json_object_get(ip, "held")) ? ", held (conntrack)" : "");
		}
	}
}

static int ipam_show(int argc, char **argv)
{
	json_t *res;
	int err;

	(void)argv;
	if (argc)
		return ctl_error(-EINVAL, "ipam show takes no arguments");
	err = ctl_agent_get("/v1/ipam", &res);
	if (err)
		return err;
	if (ctl.json) {
		ctl_print_json(res);
		return 0;
	}
	print_ipam(res);
	json_decref(res);
	return 0;
}

/* Flags of `ipam set`, with the API's keys (docs/agent-api.md). */
static const struct {
	const char *flag, *key;
} set_flags[] = {
	{ "--warm-ip-target", "warmIPTarget" },
	{ "--min-ip-target", "minIPTarget" },
	{ "--warm-eni-target", "warmENITarget" },
	{ "--max-interfaces", "maxInterfaces" },
	{ "--max-ips-per-interface", "maxIPsPerInterface" },
	{ "--release-delay-s", "releaseDelaySeconds" },
	{ "--reuse-max-hold-s", "reuseMaxHoldSeconds" },
	{ "--reconcile-interval-s", "reconcileIntervalSeconds" },
};

static int ipam_set(int argc, char **argv)
{
	json_t *body = json_object(), *res;
	int err;

	for (int i = 0; i < argc; i += 2) {
		size_t k;
		char *end;
		unsigned long v;

		if (i + 1 >= argc) {
			json_decref(body);
			return ctl_error(-EINVAL, "%s needs a value", argv[i]);
		}
		if (!strcmp(argv[i], "--reconcile") || !strcmp(argv[i], "--reconcile-mode")) {
			json_object_set_new(body, "mode", json_string(argv[i + 1]));
			continue;
		}
		for (k = 0; k < sizeof(set_flags) / sizeof(set_flags[0]); k++)
			if (!strcmp(argv[i], set_flags[k].flag))
				break;
		errno = 0;
		v = strtoul(argv[i + 1], &end, 10);
		if (k == sizeof(set_flags) / sizeof(set_flags[0]) || errno || *end || !*argv[i + 1] ||
		    argv[i + 1][0] == '-') {
			json_decref(body);
			return ctl_error(-EINVAL, "ipam set: bad option %s %s", argv[i], argv[i + 1]);
		}
		json_object_set_new(body, set_flags[k].key, json_integer((json_int_t)v));
	}
	if (!json_object_size(body)) {
		json_decref(body);
		return ctl_error(-EINVAL, "ipam set: nothing to set");
	}
	err = agent_post("/v1/ipam/config", body, 10000, &res);
	json_decref(body);
	if (err)
		return err;
	if (ctl.json)
		ctl_print_json(res);
	else {
		print_ipam(res);
		json_decref(res);
	}
	return 0;
}

static int ipam_reconcile(int argc, char **argv)
{
	json_t *res;
	int err;

	(void)argv;
	if (argc)
		return ctl_error(-EINVAL, "ipam reconcile takes no arguments");
	err = agent_post("/v1/ipam/reconcile", NULL, 40000, &res);
	if (err)
		return err;
	if (ctl.json)
		ctl_print_json(res);
	else {
		print_ipam(res);
		json_decref(res);
	}
	return 0;
}

int cmd_ipam(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = {
		{ "show", ipam_show, "" },
		{ "set", ipam_set,
		  "[--warm-ip-target N] [--min-ip-target N] [--warm-eni-target N] [--max-interfaces N]\n"
		  "    [--max-ips-per-interface N] [--release-delay-s N] [--reuse-max-hold-s N]\n"
		  "    [--reconcile immediate|scheduled|manual] [--reconcile-interval-s N]" },
		{ "reconcile", ipam_reconcile, "" },
		{ 0 },
	};

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "ipam", argc, argv);
}
