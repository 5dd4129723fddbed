// SPDX-License-Identifier: Apache-2.0
/*
 * One sluiced per lab node, started inside the node's namespace with setns
 * (not `ip netns exec`, which would remount /sys and hide bpffs), its output
 * in nodes/<node>/sluiced.log. A lab only ever signals a PID whose command
 * line is that node's agent, so a reused PID is never hit.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/uds_http.h"
#include "lab/lab.h"
#include "lab/lab_int.h"
#include "netlink/netns.h"

/* Alive (a zombie counts as gone)? */
static bool pid_alive(int pid)
{
	char path[64], *stat = NULL;
	bool alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid <= 0 || fs_read_all(path, 4096, &stat, NULL))
		return false;
	alive = !strstr(stat, ") Z") && !strstr(stat, ") X");
	free(stat);
	return alive;
}

/* Alive and really our agent for socket? A zombie counts as gone. */
bool lab_agent_pid_matches(int pid, const char *socket_path)
{
	char path[64], *cmd = NULL, *stat = NULL;
	size_t len = 0;
	bool match = false;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (fs_read_all(path, 4096, &stat, NULL))
		return false;
	if (strstr(stat, ") Z") || strstr(stat, ") X"))
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if (fs_read_all(path, 65536, &cmd, &len))
		goto out;
	/* cmdline is NUL-separated: look for "--socket" followed by our path. */
	for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
		if (!strcmp(cmd + off, "--socket") && off + 9 < len && !strcmp(cmd + off + 9, socket_path))
			match = true;
	}
	match = match && strstr(cmd, "sluiced") != NULL;
out:
	free(cmd);
	free(stat);
	return match;
}

int lab_agent_wait_ready(const char *socket_path, int pid, unsigned timeout_ms)
{
	unsigned waited = 0;

	for (;;) {
		struct uds_http_response r = { 0 };
		int err = uds_http_request(socket_path, "GET", "/readyz", NULL, 0, 1000, &r);
		int status = r.status;

		uds_http_response_free(&r);
		if (!err && status == 200)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		/* Reap our own child, then see whether it is still there. Not
		 * by its command line: until it has exec'ed, that is ours. */
		if (pid > 0 && (waitpid(pid, NULL, WNOHANG) == pid || !pid_alive(pid)))
			return -ESRCH;
		sl_sleep_ms(50);
		waited += 50;
	}
}

/* fork + setns + exec; returns the child's pid. */
static int spawn_agent(const char *netns, const char *const *argv, const char *log_path)
{
	int nsfd, logfd, pid;

	nsfd = netns_open(netns);
	if (nsfd < 0)
		return nsfd;
	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		int err = -errno;

		close(nsfd);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(nsfd);
		close(logfd);
		return err;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (setns(nsfd, CLONE_NEWNET))
			_exit(126);
		setsid();
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(nsfd);
	close(logfd);
	return pid;
}

int lab_agent_spawn(const struct lab_paths *p, json_t *lab, json_t *node)
{
	const char *bin_dir = json_string_value(json_object_get(lab, "binDir"));
	const char *name = json_string_value(json_object_get(node, "name"));
	char sluiced[PATH_MAX], k8s[PATH_MAX], warm[16], wait[16];
	const char *argv[2 * LAB_AGENT_MAX_ARGS + 32];
	json_t *extra[2] = { json_object_get(lab, "agentArgs"), json_object_get(node, "agentArgs") };
	unsigned n = 0;
	int pid;

	snprintf(sluiced, sizeof(sluiced), "%s/sluiced", bin_dir);
	snprintf(k8s, sizeof(k8s), "dir:%s", p->manifests);
	snprintf(warm, sizeof(warm), "%lld", (long long)json_integer_value(json_object_get(lab, "warmIPTarget")));
	argv[n++] = sluiced;
	argv[n++] = "--node";
	argv[n++] = name;
	argv[n++] = "--pin-dir";
	argv[n++] = json_string_value(json_object_get(node, "pinDir"));
	argv[n++] = "--socket";
	argv[n++] = json_string_value(json_object_get(node, "socket"));
	argv[n++] = "--state-dir";
	argv[n++] = json_string_value(json_object_get(node, "stateDir"));
	argv[n++] = "--provider";
	argv[n++] = "sim";
	argv[n++] = "--sim-state";
	argv[n++] = p->vpc;
	argv[n++] = "--k8s-source";
	if (json_string_value(json_object_get(lab, "kubeconfig"))) {
		argv[n++] = "kube";
		argv[n++] = "--kubeconfig";
		argv[n++] = json_string_value(json_object_get(lab, "kubeconfig"));
	} else {
		argv[n++] = k8s;
	}
	if (json_integer_value(json_object_get(lab, "warmIPTarget"))) {
		argv[n++] = "--warm-ip-target";
		argv[n++] = warm;
	}
	if (json_integer_value(json_object_get(lab, "addWaitMs"))) {
		snprintf(wait, sizeof(wait), "%lld", (long long)json_integer_value(json_object_get(lab, "addWaitMs")));
		argv[n++] = "--add-wait-ms";
		argv[n++] = wait;
	}
	/* Lab-wide, then the node's own: getopt keeps the last, so they win. */
	for (unsigned e = 0; e < 2; e++) {
		size_t i;
		json_t *v;

		json_array_foreach(extra[e], i, v)
			if (json_is_string(v) && n < sizeof(argv) / sizeof(argv[0]) - 1)
				argv[n++] = json_string_value(v);
	}
	argv[n] = NULL;
	pid = spawn_agent(json_string_value(json_object_get(node, "netns")), argv,
			  json_string_value(json_object_get(node, "log")));
	if (pid < 0) {
		pr_err("lab: start agent of %s: %s", name, strerror(-pid));
		return pid;
	}
	json_object_set_new(node, "pid", json_integer(pid));
	return 0;
}

int lab_agent_start(const char *name, const char *node)
{
	return lab_agent_start_args(name, node, NULL, 0);
}

int lab_agent_start_args(const char *name, const char *node, const char *const *args, unsigned n_args)
{
	struct lab_paths p;
	json_t *lab = NULL, *n;
	char sock[PATH_MAX];
	int fd, err, pid = 0;

	lab_paths(name, &p);
	err = lab_state_open_node(name, node, &fd, &lab, &n);
	if (err)
		return err;
	snprintf(sock, sizeof(sock), "%s", json_string_value(json_object_get(n, "socket")));
	if (lab_agent_pid_matches((int)json_integer_value(json_object_get(n, "pid")), sock)) {
		pr_err("the agent of %s is running already", node);
		err = -EALREADY;
		goto out;
	}
	if (args) {
		json_t *a = json_array();

		if (n_args > LAB_AGENT_MAX_ARGS) {
			pr_err("lab: at most %d extra agent arguments", LAB_AGENT_MAX_ARGS);
			json_decref(a);
			err = -E2BIG;
			goto out;
		}
		for (unsigned i = 0; i < n_args; i++)
			json_array_append_new(a, json_string(args[i]));
		json_object_set_new(n, "agentArgs", a);
	}
	err = lab_agent_spawn(&p, lab, n);
	if (!err) {
		pid = (int)json_integer_value(json_object_get(n, "pid"));
		err = lab_state_save(&p, lab);
	}
out:
	json_decref(lab);
	lab_unlock(fd);
	if (!err) {
		err = lab_agent_wait_ready(sock, pid, 30000);
		if (err)
			pr_err("the agent of %s did not get ready: %s (see its log)", node,
			       err == -ESRCH ? "it exited" : "timed out");
	}
	return err;
}

int lab_agent_kill(int pid, const char *socket_path, int sig)
{
	if (!lab_agent_pid_matches(pid, socket_path))
		return 0;
	if (kill(pid, sig))
		return errno == ESRCH ? 0 : -errno;
	for (unsigned waited = 0; waited < 10000; waited += 20) {
		/* Reap it if it is our child (lab up in this process). */
		waitpid(pid, NULL, WNOHANG);
		if (!lab_agent_pid_matches(pid, socket_path))
			return 0;
		sl_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, WNOHANG);
	return 0;
}

int lab_agent_stop(const char *name, const char *node, int sig)
{
	struct lab_paths p;
	json_t *lab = NULL, *n;
	int fd, err;

	lab_paths(name, &p);
	err = lab_state_open_node(name, node, &fd, &lab, &n);
	if (err)
		return err;
	err = lab_agent_kill((int)json_integer_value(json_object_get(n, "pid")),
			     json_string_value(json_object_get(n, "socket")), sig);
	json_object_set_new(n, "pid", json_integer(0));
	if (!err)
		err = lab_state_save(&p, lab);
	json_decref(lab);
	lab_unlock(fd);
	return err;
}
