// SPDX-License-Identifier: Apache-2.0
/* status, endpoint list, ipam show: the agent's view, through its API. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

static void print_labels(json_t *labels)
{
	const char *k;
	json_t *v;
	bool first = true;

	json_object_foreach(labels, k, v) {
		printf("%s%s=%s", first ? "" : ",", k, json_string_value(v));
		first = false;
	}
	if (first)
		printf("-");
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
		print_labels(json_object_get(ep, "labels"));
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

static int ipam_show(int argc, char **argv)
{
	json_t *res, *iface, *ip;
	size_t i, j;
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
	printf("pool: %lld free, %lld used; warm IP target %lld; limits %lld interfaces x %lld IPs\n",
	       num(res, "free"), num(res, "used"), num(res, "warmIPTarget"),
	       num(json_object_get(res, "limits"), "maxInterfaces"),
	       num(json_object_get(res, "limits"), "maxIPsPerInterface"));
	if (json_string_length(json_object_get(res, "lastCloudError")))
		printf("last cloud error: %s\n", str(res, "lastCloudError"));
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
				printf("  %-16s free\n", str(ip, "ip"));
		}
	}
	json_decref(res);
	return 0;
}

int cmd_ipam(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "show", ipam_show, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "ipam", argc, argv);
}
