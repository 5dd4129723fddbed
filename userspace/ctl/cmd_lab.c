// SPDX-License-Identifier: Apache-2.0
/* sluicectl lab ...: the simulated VPC on this machine. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lab/lab.h"
#include "netlink/netns.h"

static const char lab_usage[] =
	"usage: sluicectl lab COMMAND [--name LAB] ...   (LAB defaults to " LAB_DEFAULT_NAME ")\n"
	"  up [--nodes N] [--max-interfaces N] [--max-ips-per-interface N] [--warm-ip-target N]\n"
	"     [--add-wait-ms N]                how long an ADD waits for IPs or for the Pod's labels\n"
	"     [--kubeconfig FILE]              agents watch that API server instead of the lab's\n"
	"                                      manifest directory (apply/delete then do not apply)\n"
	"     [--agent-arg ARG]...             extra sluiced arguments for every node\n"
	"  down\n"
	"  status [-j]\n"
	"  pod add NODE NAMESPACE/POD [--labels k=v,...] [-j]\n"
	"  pod del NAMESPACE/POD\n"
	"  exec NAMESPACE/POD -- CMD...       run CMD in the pod's network namespace\n"
	"  host exec -- CMD...                run CMD on the VPC host outside the cluster\n"
	"  node exec NODE -- CMD...           run CMD in a node's namespace (bpftool net show, ...)\n"
	"  apply -f FILE|-                    Kubernetes manifests into the lab's manifest directory\n"
	"  delete -f FILE|-\n"
	"  agent start|stop|kill NODE         manage a node's sluiced (kill = SIGKILL)\n"
	"  agent start NODE -- ARGS...        start it with extra sluiced arguments (kept)\n"
	"  matrix [--timeout-ms N] [-j]       ICMP and TCP between every pod and the VPC host\n";

/* Removes "--opt VALUE" (before any "--") from argv; returns VALUE or NULL. */
static const char *take_opt(int *argc, char **argv, const char *opt)
{
	const char *val = NULL;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], opt) && i + 1 < *argc) {
			val = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2 + 1) * sizeof(*argv));
			*argc -= 2;
			break;
		}
	}
	return val;
}

static int take_uint(int *argc, char **argv, const char *opt, unsigned *out)
{
	const char *v = take_opt(argc, argv, opt);
	char *end;
	unsigned long n;

	if (!v)
		return 0;
	n = strtoul(v, &end, 10);
	if (*end || !*v || n > 100000)
		return ctl_error(-EINVAL, "%s: '%s' is not a number", opt, v);
	*out = (unsigned)n;
	return 0;
}

static const char *lab_name = LAB_DEFAULT_NAME;

static int no_extra(int argc, char **argv, const char *cmd)
{
	if (argc)
		return ctl_error(-EINVAL, "lab %s: unexpected argument '%s'", cmd, argv[0]);
	return 0;
}

static int lab_cmd_up(int argc, char **argv)
{
	struct lab_up_opts o = { .name = lab_name, .nodes = 2 };
	const char *agent_args[LAB_AGENT_MAX_ARGS];
	const char *arg;
	int err;

	/* First: their values may look like the options below. */
	while ((arg = take_opt(&argc, argv, "--agent-arg"))) {
		if (o.n_agent_args == LAB_AGENT_MAX_ARGS)
			return ctl_error(-E2BIG, "lab up: at most %d --agent-arg", LAB_AGENT_MAX_ARGS);
		agent_args[o.n_agent_args++] = arg;
	}
	o.agent_args = agent_args;
	err = take_uint(&argc, argv, "--nodes", &o.nodes);
	if (!err)
		err = take_uint(&argc, argv, "--max-interfaces", &o.limits.max_interfaces);
	if (!err)
		err = take_uint(&argc, argv, "--max-ips-per-interface", &o.limits.max_ips_per_interface);
	if (!err)
		err = take_uint(&argc, argv, "--warm-ip-target", &o.warm_ip_target);
	if (!err)
		err = take_uint(&argc, argv, "--add-wait-ms", &o.add_wait_ms);
	o.kubeconfig = take_opt(&argc, argv, "--kubeconfig");
	if (!err)
		err = no_extra(argc, argv, "up");
	if (err)
		return err;
	err = lab_up(&o);
	if (err)
		return ctl_error(err, "lab up %s: %s", lab_name, strerror(-err));
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:i}", "name", lab_name, "nodes", (int)o.nodes));
	else
		printf("lab %s is up: %u nodes (sluicectl lab status --name %s)\n", lab_name, o.nodes, lab_name);
	return 0;
}

static int lab_cmd_down(int argc, char **argv)
{
	int err = no_extra(argc, argv, "down");

	if (!err)
		err = lab_down(lab_name);
	if (err)
		return ctl_error(err, "lab down %s: %s", lab_name, strerror(-err));
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:b}", "name", lab_name, "down", 1));
	else
		printf("lab %s is down\n", lab_name);
	return 0;
}

static int lab_cmd_status(int argc, char **argv)
{
	json_t *st, *n, *p;
	size_t i;
	int err = no_extra(argc, argv, "status");

	if (err)
		return err;
	err = lab_status(lab_name, &st);
	if (err)
		return ctl_error(err, "lab %s: %s", lab_name, err == -ENOENT ? "not up" : strerror(-err));
	if (ctl.json) {
		ctl_print_json(st);
		return 0;
	}
	printf("lab %s\n\nVPC host: %s (namespace %s)\n\n", lab_name,
	       json_string_value(json_object_get(json_object_get(st, "host"), "ip")),
	       json_string_value(json_object_get(json_object_get(st, "host"), "netns")));
	printf("%-8s %-16s %-22s %-8s %s\n", "NODE", "IP", "NAMESPACE", "AGENT", "SOCKET");
	json_array_foreach(json_object_get(st, "nodes"), i, n) {
		bool ready = json_is_true(json_object_get(n, "agentReady"));
		bool alive = json_is_true(json_object_get(n, "agentAlive"));

		printf("%-8s %-16s %-22s %-8s %s\n", json_string_value(json_object_get(n, "name")),
		       json_string_value(json_object_get(n, "ip")), json_string_value(json_object_get(n, "netns")),
		       ready ? "ready" : alive ? "starting" : "down", json_string_value(json_object_get(n, "socket")));
	}
	printf("\n%-30s %-8s %-16s %s\n", "POD", "NODE", "IP", "NAMESPACE");
	json_array_foreach(json_object_get(st, "pods"), i, p) {
		char name[300];

		snprintf(name, sizeof(name), "%s/%s", json_string_value(json_object_get(p, "namespace")),
			 json_string_value(json_object_get(p, "name")));
		printf("%-30s %-8s %-16s %s\n", name, json_string_value(json_object_get(p, "node")),
		       json_string_value(json_object_get(p, "ip")) ? json_string_value(json_object_get(p, "ip"))
								    : "(adding)",
		       json_string_value(json_object_get(p, "netns")));
	}
	json_decref(st);
	return 0;
}

static int split_pod(const char *s, char *ns, size_t ns_len, const char **pod)
{
	const char *slash = strchr(s, '/');

	if (!slash || slash == s || !slash[1] || (size_t)(slash - s) >= ns_len)
		return ctl_error(-EINVAL, "'%s' is not NAMESPACE/POD", s);
	snprintf(ns, ns_len, "%.*s", (int)(slash - s), s);
	*pod = slash + 1;
	return 0;
}

static int pod_add(int argc, char **argv)
{
	struct lab_pod_opts o = { .name = lab_name };
	char ns[256] = "";
	json_t *res = NULL;
	int err;

	o.labels = take_opt(&argc, argv, "--labels");
	if (argc != 2)
		return ctl_error(-EINVAL, "usage: lab pod add NODE NAMESPACE/POD [--labels k=v,...]");
	o.node = argv[0];
	err = split_pod(argv[1], ns, sizeof(ns), &o.pod);
	if (err)
		return err;
	o.k8s_namespace = ns;
	err = lab_pod_add(&o, &res);
	if (err) {
		json_t *e = res;

		if (ctl.json && e) {
			ctl_print_json(json_pack("{s:s, s:o}", "error", "CNI ADD failed", "cni", e));
			return err;
		}
		err = ctl_error(err, "pod add %s: %s%s%s", argv[1], strerror(-err), e ? ": " : "",
				e ? json_string_value(json_object_get(e, "msg")) : "");
		if (e && json_string_length(json_object_get(e, "details")))
			fprintf(stderr, "  %s\n", json_string_value(json_object_get(e, "details")));
		json_decref(e);
		return err;
	}
	if (ctl.json) {
		ctl_print_json(res);
	} else {
		const char *addr = json_string_value(json_object_get(json_array_get(json_object_get(res, "ips"), 0),
								      "address"));
		char ip[64];

		snprintf(ip, sizeof(ip), "%s", addr ? addr : "");
		if (strchr(ip, '/'))
			*strchr(ip, '/') = '\0';
		printf("%s\n", ip);
		json_decref(res);
	}
	return 0;
}

static int pod_del(int argc, char **argv)
{
	char ns[256];
	const char *pod = NULL;
	json_t *cni_err = NULL;
	int err;

	if (argc != 1)
		return ctl_error(-EINVAL, "usage: lab pod del NAMESPACE/POD");
	err = split_pod(argv[0], ns, sizeof(ns), &pod);
	if (!err)
		err = lab_pod_del(lab_name, ns, pod, &cni_err);
	if (err) {
		err = ctl_error(err, "pod del %s: %s%s%s", argv[0], strerror(-err), cni_err ? ": " : "",
				cni_err ? json_string_value(json_object_get(cni_err, "msg")) : "");
		json_decref(cni_err);
		return err;
	}
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:b}", "pod", argv[0], "deleted", 1));
	return 0;
}

static int lab_cmd_pod(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = { { "add", pod_add, "" }, { "del", pod_del, "" }, { 0 } };

	return ctl_dispatch(cmds, "lab pod", argc, argv);
}

/* Enters netns (the whole process: it is single-threaded) and execs argv. */
static int exec_in(const char *netns, int argc, char **argv)
{
	int fd, err;

	if (argc < 2 || strcmp(argv[0], "--") != 0)
		return ctl_error(-EINVAL, "usage: ... -- CMD [ARGS...]");
	fd = netns_open(netns);
	if (fd < 0)
		return ctl_error(fd, "open namespace %s: %s", netns, strerror(-fd));
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		close(fd);
		return ctl_error(err, "enter namespace %s: %s", netns, strerror(-err));
	}
	close(fd);
	execvp(argv[1], argv + 1);
	err = -errno;
	return ctl_error(err, "exec %s: %s", argv[1], strerror(-err));
}

static int lab_cmd_exec(int argc, char **argv)
{
	char netns[256];
	int err;

	if (argc < 1)
		return ctl_error(-EINVAL, "usage: lab exec NAMESPACE/POD -- CMD...");
	err = lab_netns_of(lab_name, "pod", argv[0], netns, sizeof(netns));
	if (err)
		return ctl_error(err, "lab %s has no pod %s", lab_name, argv[0]);
	return exec_in(netns, argc - 1, argv + 1);
}

static int lab_cmd_host(int argc, char **argv)
{
	char netns[256];
	int err;

	if (argc < 1 || strcmp(argv[0], "exec") != 0)
		return ctl_error(-EINVAL, "usage: lab host exec -- CMD...");
	err = lab_netns_of(lab_name, "host", NULL, netns, sizeof(netns));
	if (err)
		return ctl_error(err, "lab %s is not up", lab_name);
	return exec_in(netns, argc - 1, argv + 1);
}

static int lab_cmd_node(int argc, char **argv)
{
	char netns[256];
	int err;

	if (argc < 2 || strcmp(argv[0], "exec") != 0)
		return ctl_error(-EINVAL, "usage: lab node exec NODE -- CMD...");
	err = lab_netns_of(lab_name, "node", argv[1], netns, sizeof(netns));
	if (err)
		return ctl_error(err, "lab %s has no node %s", lab_name, argv[1]);
	return exec_in(netns, argc - 2, argv + 2);
}

static int apply_or_delete(int argc, char **argv, bool remove)
{
	const char *file = take_opt(&argc, argv, "-f");
	int err;

	if (!file)
		file = take_opt(&argc, argv, "--filename");
	if (!file || argc)
		return ctl_error(-EINVAL, "usage: lab %s -f FILE|-", remove ? "delete" : "apply");
	err = lab_apply(lab_name, file, remove);
	if (err)
		return ctl_error(err, "lab %s %s: %s", remove ? "delete" : "apply", file, strerror(-err));
	if (ctl.json)
		ctl_print_json(json_pack("{s:s, s:b}", "file", file, remove ? "deleted" : "applied", 1));
	return 0;
}

static int lab_cmd_apply(int argc, char **argv)
{
	return apply_or_delete(argc, argv, false);
}

static int lab_cmd_delete(int argc, char **argv)
{
	return apply_or_delete(argc, argv, true);
}

static int lab_cmd_agent(int argc, char **argv)
{
	int err;

	/* start NODE -- ARGS...: extra sluiced arguments, kept for later starts */
	if (argc >= 3 && !strcmp(argv[0], "start") && !strcmp(argv[2], "--")) {
		err = lab_agent_start_args(lab_name, argv[1], (const char *const *)&argv[3],
					   (unsigned)(argc - 3));
		if (err)
			return ctl_error(err, "lab agent start %s: %s", argv[1], strerror(-err));
		return 0;
	}
	if (argc != 2)
		return ctl_error(-EINVAL, "usage: lab agent start|stop|kill NODE, lab agent start NODE -- ARGS...");
	if (!strcmp(argv[0], "start"))
		err = lab_agent_start(lab_name, argv[1]);
	else if (!strcmp(argv[0], "stop"))
		err = lab_agent_stop(lab_name, argv[1], SIGTERM);
	else if (!strcmp(argv[0], "kill"))
		err = lab_agent_stop(lab_name, argv[1], SIGKILL);
	else
		return ctl_error(-EINVAL, "lab agent: unknown command '%s'", argv[0]);
	if (err)
		return ctl_error(err, "lab agent %s %s: %s", argv[0], argv[1], strerror(-err));
	return 0;
}

static int lab_cmd_matrix(int argc, char **argv)
{
	unsigned timeout_ms = 1000;
	json_t *m, *r, *t;
	size_t i, j;
	int err, failed = 0;

	err = take_uint(&argc, argv, "--timeout-ms", &timeout_ms);
	if (!err)
		err = no_extra(argc, argv, "matrix");
	if (err)
		return err;
	err = lab_matrix(lab_name, timeout_ms, &m);
	if (err)
		return ctl_error(err, "lab matrix: %s", strerror(-err));
	json_array_foreach(json_object_get(m, "results"), i, r)
		failed += !json_is_true(json_object_get(r, "icmp")) + !json_is_true(json_object_get(r, "tcp"));
	if (ctl.json) {
		json_object_set_new(m, "failed", json_integer(failed));
		ctl_print_json(m);
		return 0;
	}
	printf("%-28s", "from \\ to");
	json_array_foreach(json_object_get(m, "targets"), i, t)
		printf(" %-14.14s", json_string_value(json_object_get(t, "name")));
	printf("\n");
	json_array_foreach(json_object_get(m, "targets"), i, t) {
		const char *from = json_string_value(json_object_get(t, "name"));
		json_t *t2;

		printf("%-28.28s", from);
		json_array_foreach(json_object_get(m, "targets"), j, t2) {
			const char *to = json_string_value(json_object_get(t2, "name"));
			const char *cell = "     -";
			size_t k;

			json_array_foreach(json_object_get(m, "results"), k, r) {
				if (strcmp(json_string_value(json_object_get(r, "from")), from) ||
				    strcmp(json_string_value(json_object_get(r, "to")), to))
					continue;
				cell = json_is_true(json_object_get(r, "icmp"))
					       ? (json_is_true(json_object_get(r, "tcp")) ? "icmp+tcp ok" : "tcp FAIL")
					       : (json_is_true(json_object_get(r, "tcp")) ? "icmp FAIL" : "FAIL");
			}
			printf(" %-14s", cell);
		}
		printf("\n");
	}
	printf("\n%d failed probes (ICMP echo and a TCP connection per pair; paths: same node, across nodes, "
	       "to and from the VPC)\n",
	       failed);
	json_decref(m);
	return 0;
}

static int lab_cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs(lab_usage, stdout);
	return 0;
}

int cmd_lab(int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = {
		{ "up", lab_cmd_up, "" },	  { "down", lab_cmd_down, "" },	    { "status", lab_cmd_status, "" },
		{ "pod", lab_cmd_pod, "" },	  { "exec", lab_cmd_exec, "" },	    { "host", lab_cmd_host, "" },
		{ "node", lab_cmd_node, "" },	  { "apply", lab_cmd_apply, "" },   { "delete", lab_cmd_delete, "" },
		{ "agent", lab_cmd_agent, "" },	  { "matrix", lab_cmd_matrix, "" }, { "help", lab_cmd_help, "" },
		{ 0 },
	};
	const char *name;

	ctl_take_json_flag(&argc, argv);
	name = take_opt(&argc, argv, "--name");
	if (name)
		lab_name = name;
	if (lab_name_valid(lab_name))
		return ctl_error(-EINVAL, "lab name '%s': use 1 to %d characters a-z and 0-9", lab_name,
				 LAB_NAME_MAX);
	return ctl_dispatch(cmds, "lab", argc, argv);
}
