// SPDX-License-Identifier: Apache-2.0
/*
 * policy show NAMESPACE/POD, identity list (the agent's view), and ct list
 * (straight from the pinned conntrack map).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/clock.h"
#include "ctl/ctl.h"
#include "maps/maps.h"
#include "policy_types.h"

static void print_direction(const char *name, json_t *dir)
{
	json_t *r;
	size_t i;

	if (!json_is_true(json_object_get(dir, "isolated"))) {
		printf("%s: not isolated (no policy selects this pod for %s): everything is allowed\n", name, name);
		return;
	}
	printf("%s: isolated; allowed:%s\n", name, json_array_size(json_object_get(dir, "allow")) ? "" : " nothing");
	json_array_foreach(json_object_get(dir, "allow"), i, r)
		printf("  %-40s %s\n", json_string_value(json_object_get(r, "rule")),
		       json_string_value(json_object_get(r, "policy")));
}

static int policy_show(int argc, char **argv)
{
	char path[600];
	json_t *res;
	int err;

	if (argc != 1 || !strchr(argv[0], '/'))
		return ctl_error(-EINVAL, "usage: policy show NAMESPACE/POD");
	snprintf(path, sizeof(path), "/v1/policy?pod=%s", argv[0]);
	err = ctl_agent_get(path, &res);
	if (err)
		return err;
	if (ctl.json) {
		ctl_print_json(res);
		return 0;
	}
	printf("pod %s  ip %s  identity %lld  labels ", argv[0], json_string_value(json_object_get(res, "ip")),
	       (long long)json_integer_value(json_object_get(res, "identity")));
	ctl_print_labels(json_object_get(res, "labels"));
	printf("\n");
	print_direction("ingress", json_object_get(res, "ingress"));
	print_direction("egress", json_object_get(res, "egress"));
	json_decref(res);
	return 0;
}

int cmd_policy(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "show", policy_show, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "policy", argc, argv);
}

static int identity_list(int argc, char **argv)
{
	json_t *res, *id, *p;
	size_t i, j;
	int err;

	(void)argv;
	if (argc)
		return ctl_error(-EINVAL, "identity list takes no arguments");
	err = ctl_agent_get("/v1/identities", &res);
	if (err)
		return err;
	if (ctl.json) {
		ctl_print_json(res);
		return 0;
	}
	printf("%-10s %-16s %-40s %s\n", "IDENTITY", "NAMESPACE", "LABELS", "LOCAL PODS");
	json_array_foreach(json_object_get(res, "reserved"), i, id)
		printf("%-10lld %-16s %-40s -\n", (long long)json_integer_value(json_object_get(id, "id")), "-",
		       json_string_value(json_object_get(id, "name")));
	json_array_foreach(json_object_get(res, "identities"), i, id) {
		printf("%-10lld %-16s ", (long long)json_integer_value(json_object_get(id, "id")),
		       json_string_value(json_object_get(id, "namespace"))[0]
			       ? json_string_value(json_object_get(id, "namespace"))
			       : "-");
		ctl_print_labels(json_object_get(id, "labels"));
		printf("  ");
		json_array_foreach(json_object_get(id, "localPods"), j, p)
			printf("%s%s", j ? "," : "", json_string_value(p));
		printf("\n");
	}
	json_decref(res);
	return 0;
}

int cmd_identity(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "list", identity_list, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "identity", argc, argv);
}

static const char *ct_state(__u8 s)
{
	switch (s) {
	case SL_CT_NEW: return "new";
	case SL_CT_ESTABLISHED: return "established";
	case SL_CT_CLOSING: return "closing";
	case SL_CT_CLOSED: return "closed";
	default: return "?";
	}
}

static const char *proto_name(__u8 p)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_ICMP: return "icmp";
	default: return "ip";
	}
}

struct ct_view {
	struct sl_ip filter; /* family 0: everything */
	json_t *list;
	uint64_t now_ns;
	size_t shown;
};

static int ct_line(const struct sl_ct_key *k, const struct sl_ct_value *v, void *arg)
{
	struct ct_view *view = arg;
	char src[SL_IP_STRLEN], dst[SL_IP_STRLEN];
	struct sl_ip s, d;
	double idle;

	sl_ip_from_raw(&s, k->family, k->saddr);
	sl_ip_from_raw(&d, k->family, k->daddr);
	if (view->filter.family && !sl_ip_equal(&view->filter, &s) && !sl_ip_equal(&view->filter, &d))
		return 0;
	sl_ip_fmt(&s, src);
	sl_ip_fmt(&d, dst);
	idle = view->now_ns > v->last_seen_ns ? (double)(view->now_ns - v->last_seen_ns) / 1e9 : 0;
	view->shown++;
	if (ctl.json) {
		json_array_append_new(view->list,
				      json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:f, s:i, s:i}",
						"proto", proto_name(k->proto), "src", src, "sport",
						ntohs(k->sport), "dst", dst, "dport", ntohs(k->dport), "state",
						ct_state(v->state), "packetsOrig", (json_int_t)v->packets[0],
						"packetsReply", (json_int_t)v->packets[1], "bytesOrig",
						(json_int_t)v->bytes[0], "bytesReply", (json_int_t)v->bytes[1],
						"idleSeconds", idle, "ifindex", (int)v->ifindex, "policyRev",
						(int)v->policy_rev));
		return 0;
	}
	printf("%-5s %s:%u -> %s:%u  %-11s  orig %llu pkts %llu B  reply %llu pkts %llu B  idle %.1fs\n",
	       proto_name(k->proto), src, ntohs(k->sport), dst, ntohs(k->dport), ct_state(v->state),
	       (unsigned long long)v->packets[0], (unsigned long long)v->bytes[0],
	       (unsigned long long)v->packets[1], (unsigned long long)v->bytes[1], idle);
	return 0;
}

/* The IP of a local pod, from the agent. */
static int pod_ip(const char *pod, struct sl_ip *ip)
{
	char path[600];
	json_t *res;
	int err;

	snprintf(path, sizeof(path), "/v1/policy?pod=%s", pod);
	err = ctl_agent_get(path, &res);
	if (err)
		return err;
	err = sl_ip_parse(json_string_value(json_object_get(res, "ip")), ip);
	json_decref(res);
	return err;
}

static int ct_list(int argc, char **argv)
{
	struct ct_view view = { .list = json_array() };
	struct sl_maps m;
	int err = 0;

	if (argc == 2 && !strcmp(argv[0], "--pod")) {
		err = pod_ip(argv[1], &view.filter);
	} else if (argc) {
		err = ctl_error(-EINVAL, "usage: ct list [--pod NAMESPACE/POD]");
	}
	if (!err)
		err = maps_open(ctl.pin_dir, &m);
	if (err) {
		json_decref(view.list);
		return err == -EINVAL ? err : ctl_error(err, "open pinned maps in %s: %s", ctl.pin_dir, strerror(-err));
	}
	view.now_ns = sl_now_ns();
	err = maps_ct_foreach(&m, ct_line, &view);
	maps_close(&m);
	if (err) {
		json_decref(view.list);
		return ctl_error(err, "walk the conntrack map: %s", strerror(-err));
	}
	if (ctl.json)
		ctl_print_json(view.list);
	else {
		json_decref(view.list);
		printf("%zu connections\n", view.shown);
	}
	return 0;
}

int cmd_ct(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "list", ct_list, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "ct", argc, argv);
}
