// SPDX-License-Identifier: Apache-2.0
/*
 * lab up / down / status. `up` records the lab in lab.json before creating
 * anything, so a `down` after a failed or interrupted `up` finds and removes
 * whatever was made; `down` also sweeps every namespace named "LAB-*".
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloud/sim.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/uds_http.h"
#include "lab/lab.h"
#include "lab/lab_int.h"
#include "loader/loader.h"
#include "netlink/netns.h"

#define LAB_VPC_HOST "vpc-host"

static int default_bin_dir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	snprintf(out, len, "%s", dirname(exe));
	return 0;
}

static int check_binaries(const char *bin_dir)
{
	const char *names[] = { "sluiced", "sluice" };

	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/%s", bin_dir, names[i]);
		if (access(path, X_OK)) {
			pr_err("lab: %s is missing (build with `make`)", path);
			return -ENOENT;
		}
	}
	return 0;
}

/* Names of existing namespaces that belong to lab `name`. */
static int lab_netns_names(const char *name, char ***out, size_t *n)
{
	char prefix[LAB_NAME_MAX + 2];
	struct dirent *de;
	char **names = NULL;
	size_t count = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(prefix, sizeof(prefix), "%s-", name);
	d = opendir(NETNS_RUN_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char **grown;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (!grown)
			break;
		names = grown;
		names[count++] = strdup(de->d_name);
	}
	closedir(d);
	*out = names;
	*n = count;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The last lines of an agent's log, for the error of a failed `up`
 * (which removes the lab, log included). */
static void print_log_tail(const char *path, unsigned lines)
{
	char *text = NULL, *start;
	size_t len = 0;
	unsigned seen = 0;

	if (fs_read_all(path, 1u << 20, &text, &len))
		return;
	start = text + len;
	while (start > text && seen <= lines) {
		start--;
		if (*start == '\n')
			seen++;
	}
	fprintf(stderr, "%s%s", start == text ? "" : "...", start);
	free(text);
}

static int write_conflist(const char *path, const char *socket_path)
{
	json_t *c = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "cniVersion", "1.1.0", "name", "sluice", "plugins",
			      "type", "sluice", "agentSocket", socket_path);
	char *text = json_dumps(c, JSON_INDENT(2));
	int err = text ? fs_write_atomic(path, text, strlen(text), 0644) : -ENOMEM;

	free(text);
	json_decref(c);
	return err;
}

static int add_node(const struct lab_paths *p, json_t *lab, unsigned idx)
{
	char node[32], netns[64], dir[320], buf[PATH_MAX], ipbuf[SL_IP_STRLEN];
	const char *name = json_string_value(json_object_get(lab, "name"));
	struct sl_ip ip;
	json_t *n;
	int err;

	snprintf(node, sizeof(node), "node-%u", idx);
	snprintf(netns, sizeof(netns), "%s-%s", name, node);
	snprintf(dir, sizeof(dir), "%s/nodes/%s", p->dir, node);
	err = fs_mkdir_p(dir, 0700);
	if (err)
		return err;
	err = netns_create(netns);
	if (err) {
		pr_err("lab: create namespace %s: %s", netns, strerror(-err));
		return err;
	}
	n = json_pack("{s:s, s:s, s:i}", "name", node, "netns", netns, "pid", 0);
	json_array_append_new(json_object_get(lab, "nodes"), n);
	snprintf(buf, sizeof(buf), "%s/sluiced.sock", dir);
	json_object_set_new(n, "socket", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/%s", p->pin_root, node);
	json_object_set_new(n, "pinDir", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/state", dir);
	json_object_set_new(n, "stateDir", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/sluiced.log", dir);
	json_object_set_new(n, "log", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/10-sluice.conflist", dir);
	json_object_set_new(n, "conflist", json_string(buf));
	err = write_conflist(buf, json_string_value(json_object_get(n, "socket")));
	if (!err)
		err = sim_instance_create(p->vpc, node, netns, SIM_SUBNET_NODES, &ip);
	if (err) {
		pr_err("lab: node %s: %s", node, strerror(-err));
		return err;
	}
	json_object_set_new(n, "ip", json_string(sl_ip_fmt(&ip, ipbuf)));
	return lab_agent_spawn(p, lab, n);
}

int lab_up(const struct lab_up_opts *o)
{
	struct sim_vpc_spec vpc = { 0 };
	char bin_dir[PATH_MAX], host_netns[64], router_netns[64], ipbuf[SL_IP_STRLEN];
	struct lab_paths p;
	struct sl_ip host_ip;
	json_t *lab = NULL, *n;
	struct stat st;
	char **leftover;
	size_t n_leftover, i;
	int fd, err;

	if (lab_name_valid(o->name)) {
		pr_err("lab name '%s': use 1 to %d characters a-z and 0-9", o->name, LAB_NAME_MAX);
		return -EINVAL;
	}
	if (o->nodes < 1 || o->nodes > LAB_MAX_NODES) {
		pr_err("lab: --nodes must be 1 to %d", LAB_MAX_NODES);
		return -EINVAL;
	}
	err = o->bin_dir ? (snprintf(bin_dir, sizeof(bin_dir), "%s", o->bin_dir), 0)
			 : default_bin_dir(bin_dir, sizeof(bin_dir));
	if (!err)
		err = check_binaries(bin_dir);
	if (err)
		return err;
	lab_paths(o->name, &p);
	fd = lab_lock(&p);
	if (fd < 0)
		return fd;
	if (stat(p.state, &st) == 0) {
		pr_err("lab %s is up already (sluicectl lab down --name %s)", o->name, o->name);
		err = -EEXIST;
		goto out;
	}
	lab_netns_names(o->name, &leftover, &n_leftover);
	free_names(leftover, n_leftover);
	if (n_leftover || stat(p.vpc, &st) == 0) {
		pr_err("lab %s has leftovers of an earlier run: sluicectl lab down --name %s", o->name, o->name);
		err = -EEXIST;
		goto out;
	}
	snprintf(router_netns, sizeof(router_netns), "%s-vpc", o->name);
	snprintf(host_netns, sizeof(host_netns), "%s-host", o->name);
	lab = json_pack("{s:s, s:s, s:I, s:i, s:i, s:s, s:[], s:{}, s:[]}", "name", o->name, "binDir", bin_dir,
			"created", (json_int_t)time(NULL), "warmIPTarget", (int)o->warm_ip_target, "addWaitMs",
			(int)o->add_wait_ms, "vpcNetns", router_netns, "nodes", "host", "pods");
	if (o->n_agent_args) {
		json_t *args = json_array();

		for (unsigned i = 0; i < o->n_agent_args; i++)
			json_array_append_new(args, json_string(o->agent_args[i]));
		json_object_set_new(lab, "agentArgs", args);
	}
	if (o->kubeconfig) {
		char abs[PATH_MAX];

		if (!realpath(o->kubeconfig, abs)) {
			err = -errno;
			pr_err("lab: kubeconfig %s: %s", o->kubeconfig, strerror(-err));
			goto out;
		}
		json_object_set_new(lab, "kubeconfig", json_string(abs));
	}
	err = fs_mkdir_p(p.manifests, 0700);
	if (!err)
		err = lab_state_save(&p, lab); /* first, so `down` can undo a partial `up` */
	if (err)
		goto out;

	vpc.state_path = p.vpc;
	vpc.router_netns = router_netns;
	vpc.limits = o->limits;
	err = sim_vpc_create(&vpc);
	if (err) {
		pr_err("lab: create the VPC: %s", strerror(-err));
		goto out;
	}
	err = netns_create(host_netns);
	if (!err)
		err = sim_instance_create(p.vpc, LAB_VPC_HOST, host_netns, SIM_SUBNET_HOSTS, &host_ip);
	if (err) {
		pr_err("lab: create the VPC host: %s", strerror(-err));
		goto out;
	}
	json_object_set_new(lab, "host", json_pack("{s:s, s:s}", "netns", host_netns, "ip",
						   sl_ip_fmt(&host_ip, ipbuf)));
	for (unsigned idx = 1; idx <= o->nodes && !err; idx++) {
		err = add_node(&p, lab, idx);
		lab_state_save(&p, lab);
	}
out:
	if (lab && !err)
		err = lab_state_save(&p, lab);
	lab_unlock(fd);
	json_array_foreach(json_object_get(lab, "nodes"), i, n) {
		if (err)
			break;
		err = lab_agent_wait_ready(json_string_value(json_object_get(n, "socket")),
					   (int)json_integer_value(json_object_get(n, "pid")), 30000);
		if (err) {
			pr_err("lab: the agent of %s is not ready; the end of its log:",
			       json_string_value(json_object_get(n, "name")));
			print_log_tail(json_string_value(json_object_get(n, "log")), 15);
		}
	}
	json_decref(lab);
	if (err && err != -EEXIST && err != -EINVAL)
		lab_down(o->name);
	return err;
}

int lab_down(const char *name)
{
	struct lab_paths p;
	json_t *lab = NULL, *n;
	char **names;
	size_t count, i;
	struct stat st;
	int fd, err = 0;

	if (lab_name_valid(name)) {
		pr_err("lab name '%s' is not valid", name);
		return -EINVAL;
	}
	lab_paths(name, &p);
	if (stat(p.dir, &st) == 0) {
		fd = lab_lock(&p);
		if (fd < 0)
			return fd;
		if (lab_state_load(&p, &lab) == 0) {
			json_array_foreach(json_object_get(lab, "nodes"), i, n)
				lab_agent_kill((int)json_integer_value(json_object_get(n, "pid")),
					       json_string_value(json_object_get(n, "socket")), SIGTERM);
		}
		sim_vpc_destroy(p.vpc);
		lab_unlock(fd);
	}
	lab_netns_names(name, &names, &count);
	for (i = 0; i < count; i++) {
		int e = netns_delete(names[i]);

		if (e && !err) {
			pr_err("lab: delete namespace %s: %s", names[i], strerror(-e));
			err = e;
		}
	}
	free_names(names, count);
	json_array_foreach(json_object_get(lab, "nodes"), i, n)
		loader_unpin_all(json_string_value(json_object_get(n, "pinDir")));
	json_decref(lab);
	if (stat(p.pin_root, &st) == 0) {
		int e = fs_remove_tree(p.pin_root);

		if (e && !err)
			err = e;
	}
	if (stat(p.dir, &st) == 0) {
		int e = fs_remove_tree(p.dir);

		if (e && !err)
			err = e;
	}
	return err;
}

static bool agent_ready(const char *socket_path)
{
	struct uds_http_response r = { 0 };
	bool ok = uds_http_request(socket_path, "GET", "/readyz", NULL, 0, 1000, &r) == 0 && r.status == 200;

	uds_http_response_free(&r);
	return ok;
}

int lab_status(const char *name, json_t **out)
{
	struct cloud_iface *ifaces = NULL;
	char **owners = NULL;
	struct lab_paths p;
	json_t *lab = NULL, *n, *list;
	size_t count = 0, i;
	int err;

	if (lab_name_valid(name))
		return -EINVAL;
	lab_paths(name, &p);
	err = lab_state_read(name, &lab);
	if (err)
		return err;
	json_array_foreach(json_object_get(lab, "nodes"), i, n) {
		const char *sock = json_string_value(json_object_get(n, "socket"));
		bool alive = lab_agent_pid_matches((int)json_integer_value(json_object_get(n, "pid")), sock);

		json_object_set_new(n, "agentAlive", json_boolean(alive));
		json_object_set_new(n, "agentReady", json_boolean(alive && agent_ready(sock)));
	}
	list = json_array();
	if (sim_inventory(p.vpc, &ifaces, &owners, &count) == 0) {
		for (i = 0; i < count; i++) {
			char mac[SL_MAC_STRLEN], ip[SL_IP_STRLEN], sub[SL_PREFIX_STRLEN];
			json_t *ips = json_array();

			for (size_t k = 0; k < ifaces[i].n_ips; k++)
				json_array_append_new(ips, json_string(sl_ip_fmt(&ifaces[i].ips[k], ip)));
			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i, s:b, s:s, s:s, s:o}", "id",
							      ifaces[i].id, "instance", owners[i], "mac",
							      sl_mac_fmt(ifaces[i].mac, mac), "deviceIndex",
							      (int)ifaces[i].device_index, "primary",
							      ifaces[i].primary, "subnet",
							      sl_prefix_fmt(&ifaces[i].subnet, sub), "primaryIP",
							      sl_ip_fmt(&ifaces[i].primary_ip, ip), "ips", ips));
		}
		sim_inventory_free(ifaces, owners, count);
	}
	json_object_set_new(lab, "interfaces", list);
	*out = lab;
	return 0;
}
