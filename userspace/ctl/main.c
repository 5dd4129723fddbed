// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl: look inside a node's Sluice (agent state through its API,
 * datapath state straight from the pinned maps) and drive the lab.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/uds_http.h"
#include "ctl/ctl.h"
#include "lab/lab.h"
#include "pins.h"

#define CTL_DEFAULT_SOCKET "/run/sluice/sluiced.sock"

struct ctl ctl;

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:i}", "version", "0.1.0", "layoutVersion", SL_LAYOUT_VERSION));
	else
		printf("sluicectl 0.1.0 (map layout %d)\n", SL_LAYOUT_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct ctl_cmd top_cmds[] = {
	{ "status", cmd_status, "agent and datapath summary" },
	{ "endpoint", cmd_endpoint, "endpoint list: pods attached on this node" },
	{ "ipam", cmd_ipam, "ipam show|set|reconcile: the warm pool, its targets and a pass on demand" },
	{ "map", cmd_map, "map list | map dump endpoint|eni|metrics|meta: decoded pinned maps" },
	{ "monitor", cmd_monitor, "stream drop events [--count N] [--timeout-ms N]" },
	{ "policy", cmd_policy, "policy show NAMESPACE/POD: effective rules per direction and their policies" },
	{ "identity", cmd_identity, "identity list: label sets and their numbers" },
	{ "ct", cmd_ct, "ct list [--pod NAMESPACE/POD]: connections, states and counters" },
	{ "lab", cmd_lab, "the simulated VPC lab (sluicectl lab help)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "this text" },
	{ 0 },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: sluicectl [-j] [--socket PATH] [--pin-dir DIR] [--lab LAB --node NODE] COMMAND ...\n\n");
	for (const struct ctl_cmd *c = top_cmds; c->name; c++)
		printf("  %-10s %s\n", c->name, c->help);
	printf("\n  -j, --json      JSON output (errors too)\n"
	       "  --socket PATH   the agent's API socket [%s]\n"
	       "  --pin-dir DIR   the datapath's bpffs directory [%s]\n"
	       "  --lab LAB, --node NODE\n"
	       "                  use the agent and pins of a lab node\n",
	       CTL_DEFAULT_SOCKET, SL_PIN_DIR_DEFAULT);
	return 0;
}

int ctl_dispatch(const struct ctl_cmd *cmds, const char *what, int argc, char **argv)
{
	if (argc < 1)
		return ctl_error(-EINVAL, "%s: missing command (try: sluicectl help)", what);
	for (const struct ctl_cmd *c = cmds; c->name; c++) {
		if (!strcmp(c->name, argv[0]))
			return c->fn(argc - 1, argv + 1);
	}
	return ctl_error(-EINVAL, "%s: unknown command '%s'", what, argv[0]);
}

int ctl_error(int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:i}", "error", msg, "errno", -err));
	else
		fprintf(stderr, "sluicectl: %s\n", msg);
	return err ? err : -EINVAL;
}

void ctl_print_labels(json_t *labels)
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

void ctl_print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (text)
		puts(text);
	free(text);
	json_decref(j);
}

int ctl_agent_get(const char *path, json_t **out)
{
	struct uds_http_response r = { 0 };
	json_error_t jerr;
	int err;

	err = uds_http_request(ctl.socket, "GET", path, NULL, 0, 10000, &r);
	if (err)
		return ctl_error(err, "agent at %s: %s", ctl.socket, strerror(-err));
	*out = json_loads(r.body, 0, &jerr);
	err = *out && r.status == 200 ? 0 : -EPROTO;
	if (err)
		ctl_error(err, "agent answered %d: %s", r.status, r.body);
	uds_http_response_free(&r);
	return err;
}

void ctl_take_json_flag(int *argc, char **argv)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			ctl.json = true;
		else
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "lab", required_argument, NULL, 'L' },
		{ "node", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *lab = NULL, *node = NULL;
	int opt, err;

	log_init("sluicectl", LOG_WARN, LOG_FORMAT_TEXT, stderr);
	snprintf(ctl.socket, sizeof(ctl.socket), "%s", CTL_DEFAULT_SOCKET);
	snprintf(ctl.pin_dir, sizeof(ctl.pin_dir), "%s", SL_PIN_DIR_DEFAULT);
	while ((opt = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': ctl.json = true; break;
		case 's': snprintf(ctl.socket, sizeof(ctl.socket), "%s", optarg); break;
		case 'p': snprintf(ctl.pin_dir, sizeof(ctl.pin_dir), "%s", optarg); break;
		case 'L': lab = optarg; break;
		case 'n': node = optarg; break;
		case 'h': return cmd_help(0, NULL);
		default: return 2;
		}
	}
	if (node) {
		struct lab_paths p;

		if (!lab)
			lab = LAB_DEFAULT_NAME;
		if (lab_name_valid(lab))
			return ctl_error(-EINVAL, "lab name '%s' is not valid", lab) ? 1 : 1;
		lab_paths(lab, &p);
		snprintf(ctl.socket, sizeof(ctl.socket), "%s/nodes/%s/sluiced.sock", p.dir, node);
		snprintf(ctl.pin_dir, sizeof(ctl.pin_dir), "%s/%s", p.pin_root, node);
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		cmd_help(0, NULL);
		return 2;
	}
	err = ctl_dispatch(top_cmds, "sluicectl", argc, argv);
	return err ? 1 : 0;
}
