// SPDX-License-Identifier: Apache-2.0
/*
 * map list / map dump NAME / monitor: the datapath's own state, decoded from
 * the pinned maps (no agent needed: this works while the agent is down).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "ctl/ctl.h"
#include "maps/maps.h"
#include "maps/reasons.h"
#include "pins.h"

static int open_maps(struct sl_maps *m)
{
	int err = maps_open(ctl.pin_dir, m);

	if (err)
		return ctl_error(err, "open pinned maps in %s: %s (is the agent started?)", ctl.pin_dir,
				 strerror(-err));
	return 0;
}

static const char *ep_flags(__u16 flags)
{
	if (flags & SL_EP_F_POD)
		return "pod";
	if (flags & SL_EP_F_HOST)
		return "host";
	return "-";
}

static int dump_endpoint_cb(const struct sl_endpoint_key *key, const struct sl_endpoint_info *info, void *arg)
{
	json_t *list = arg;
	char ip[SL_IP_STRLEN], mac[SL_MAC_STRLEN], gw[SL_MAC_STRLEN];
	struct sl_ip addr;

	sl_ip_from_raw(&addr, key->family, key->addr);
	sl_ip_fmt(&addr, ip);
	sl_mac_fmt(info->mac, mac);
	sl_mac_fmt(info->gw_mac, gw);
	if (ctl.json)
		json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:i}", "ip", ip, "kind",
						      ep_flags(info->flags), "ifindex", (int)info->ifindex,
						      "eniIfindex", (int)info->eni_ifindex, "mac", mac, "gwMac", gw,
						      "identity", (int)info->identity));
	else
		printf("%-16s %-5s %-8u %-8u %-17s %-17s %u\n", ip, ep_flags(info->flags), info->ifindex,
		       info->eni_ifindex, mac, gw, info->identity);
	return 0;
}

static int dump_eni_cb(__u32 ifindex, const struct sl_eni_info *info, void *arg)
{
	json_t *list = arg;
	char gw[SL_IP_STRLEN], mac[SL_MAC_STRLEN];
	struct sl_ip addr;

	sl_ip_from_raw(&addr, info->family, info->gw_addr);
	sl_ip_fmt(&addr, gw);
	sl_mac_fmt(info->mac, mac);
	if (ctl.json)
		json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:i}", "ifindex", (int)ifindex, "gateway",
						      gw, "mac", mac, "mtu", (int)info->mtu));
	else
		printf("%-8u %-16s %-17s %u\n", ifindex, gw, mac, info->mtu);
	return 0;
}

static int dump_metrics_cb(const struct sl_metrics_key *key, const struct sl_metrics_value *v, void *arg)
{
	json_t *list = arg;

	if (ctl.json)
		json_array_append_new(list, json_pack("{s:s, s:i, s:s, s:I, s:I}", "reason",
						      sl_drop_reason_name(key->reason), "code", key->reason,
						      "direction", sl_dir_name(key->dir), "packets",
						      (json_int_t)v->packets, "bytes", (json_int_t)v->bytes));
	else
		printf("%-18s %-4u %-10s %-12llu %llu\n", sl_drop_reason_name(key->reason), key->reason,
		       sl_dir_name(key->dir), (unsigned long long)v->packets, (unsigned long long)v->bytes);
	return 0;
}

static int map_dump(int argc, char **argv)
{
	struct sl_maps m;
	json_t *list = json_array();
	int err;

	if (argc != 1) {
		json_decref(list);
		return ctl_error(-EINVAL, "usage: map dump endpoint|eni|metrics|meta");
	}
	err = open_maps(&m);
	if (err) {
		json_decref(list);
		return err;
	}
	if (!strcmp(argv[0], "endpoint")) {
		if (!ctl.json)
			printf("%-16s %-5s %-8s %-8s %-17s %-17s %s\n", "IP", "KIND", "IFINDEX", "ENI-IDX", "MAC",
			       "GW-MAC", "IDENTITY");
		err = maps_endpoint_foreach(&m, dump_endpoint_cb, list);
	} else if (!strcmp(argv[0], "eni")) {
		if (!ctl.json)
			printf("%-8s %-16s %-17s %s\n", "IFINDEX", "GATEWAY", "MAC", "MTU");
		err = maps_eni_foreach(&m, dump_eni_cb, list);
	} else if (!strcmp(argv[0], "metrics")) {
		if (!ctl.json)
			printf("%-18s %-4s %-10s %-12s %s\n", "REASON", "CODE", "DIRECTION", "PACKETS", "BYTES");
		err = maps_metrics_foreach(&m, dump_metrics_cb, list);
	} else if (!strcmp(argv[0], "meta")) {
		struct sl_meta meta;

		err = maps_meta_get(&m, &meta);
		if (!err && ctl.json)
			json_array_append_new(list, json_pack("{s:i, s:I}", "layoutVersion",
							      (int)meta.layout_version, "createdNs",
							      (json_int_t)meta.created_ns));
		else if (!err)
			printf("layout version %u (this sluicectl: %d)\n", meta.layout_version, SL_LAYOUT_VERSION);
	} else {
		err = ctl_error(-EINVAL, "no map view '%s' (endpoint, eni, metrics, meta)", argv[0]);
	}
	maps_close(&m);
	if (err)
		json_decref(list);
	else if (ctl.json)
		ctl_print_json(list);
	else
		json_decref(list);
	return err;
}

static int map_list(int argc, char **argv)
{
	static const char *const names[] = { SL_MAP_ENDPOINT, SL_MAP_ENI, SL_MAP_METRICS, SL_MAP_EVENTS,
					     SL_MAP_META };
	json_t *list = json_array();

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/%s", ctl.pin_dir, names[i]);
		if (ctl.json)
			json_array_append_new(list, json_pack("{s:s, s:s}", "name", names[i], "pin", path));
		else
			printf("%-16s %s\n", names[i], path);
	}
	if (ctl.json)
		ctl_print_json(list);
	else
		json_decref(list);
	return 0;
}

int cmd_map(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "list", map_list, "" }, { "dump", map_dump, "" }, { 0 } };

	ctl_take_json_flag(&argc, argv);
	return ctl_dispatch(cmds, "map", argc, argv);
}

struct monitor_state {
	long remaining; /* -1: unlimited */
	bool skipping;  /* draining events from before we started */
};

static int on_drop(const struct sl_drop_event *ev, void *arg)
{
	struct monitor_state *st = arg;
	char src[SL_IP_STRLEN] = "-", dst[SL_IP_STRLEN] = "-";
	struct sl_ip a;

	if (st->skipping)
		return 0;
	if (ev->family) {
		sl_ip_from_raw(&a, ev->family, ev->src);
		sl_ip_fmt(&a, src);
		sl_ip_from_raw(&a, ev->family, ev->dst);
		sl_ip_fmt(&a, dst);
	}
	if (ctl.json) {
		char *line;
		json_t *j = json_pack("{s:I, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:s, s:i, s:i}", "tsNs",
				      (json_int_t)ev->ts_ns, "reason", sl_drop_reason_name(ev->reason), "code",
				      ev->reason, "direction", sl_dir_name(ev->dir), "ifindex", (int)ev->ifindex,
				      "src", src, "sport", ev->sport, "dst", dst, "dport", ev->dport, "proto",
				      ev->proto, "file", sl_source_file_path(ev->file), "line", ev->line, "len",
				      (int)ev->pkt_len);

		line = json_dumps(j, JSON_COMPACT);
		puts(line);
		free(line);
		json_decref(j);
	} else {
		printf("drop %-16s %-9s ifindex %-4u %s:%u -> %s:%u proto %u len %u at %s:%u\n",
		       sl_drop_reason_name(ev->reason), sl_dir_name(ev->dir), ev->ifindex, src, ev->sport, dst,
		       ev->dport, ev->proto, ev->pkt_len, sl_source_file_path(ev->file), ev->line);
	}
	fflush(stdout);
	if (st->remaining > 0)
		st->remaining--;
	return 0;
}

int cmd_monitor(int argc, char **argv)
{
	struct monitor_state st = { .remaining = -1 };
	struct maps_events *ev = NULL;
	struct sl_maps m;
	long timeout_ms = -1;
	struct timespec start, now;
	int err;

	ctl_take_json_flag(&argc, argv);
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			st.remaining = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = strtol(argv[++i], NULL, 10);
		else
			return ctl_error(-EINVAL, "usage: monitor [--count N] [--timeout-ms N]");
	}
	err = open_maps(&m);
	if (err)
		return err;
	err = maps_events_open(&m, on_drop, &st, &ev);
	if (err) {
		maps_close(&m);
		return ctl_error(err, "open the drop event ring buffer: %s", strerror(-err));
	}
	/* The ring buffer keeps what nobody consumed, possibly from long ago:
	 * show what happens from now on. */
	st.skipping = true;
	maps_events_poll(ev, 0);
	st.skipping = false;
	if (!ctl.json)
		fprintf(stderr, "listening for drop events in %s (Ctrl-C to stop)\n", ctl.pin_dir);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (st.remaining != 0) {
		err = maps_events_poll(ev, 200);
		if (err < 0 && err != -EINTR)
			break;
		err = 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_ms >= 0 &&
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= timeout_ms)
			break;
	}
	maps_events_close(ev);
	maps_close(&m);
	return err;
}
