// SPDX-License-Identifier: Apache-2.0
/*
 * Pods in the lab: a network namespace plus a real CNI ADD (or DEL) through
 * the `sluice` plugin binary, run in the node's namespace with the node's
 * conflist, exactly as a runtime would. The Pod (and its Namespace) also get
 * manifests in the lab's manifest directory, as the API server would hold
 * them before the kubelet runs CNI.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/manifest.h"
#include "lab/lab.h"
#include "lab/lab_int.h"
#include "netlink/netns.h"

#define CNI_OUTPUT_MAX (1u << 20)

int lab_cni_exec(const char *plugin, const char *netns, const char *const *env, const char *stdin_data,
		 char **stdout_data, int *status)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, nsfd = -1, pid, err = 0;
	size_t len = 0, cap = 4096, off = 0, in_len = strlen(stdin_data);
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	if (netns) {
		nsfd = netns_open(netns);
		if (nsfd < 0) {
			free(buf);
			return nsfd;
		}
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (pid == 0) {
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET))
			_exit(126);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execve(plugin, (char *const[]){ (char *)plugin, NULL }, (char *const *)env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	signal(SIGPIPE, SIG_IGN);
	/* Feed stdin and drain stdout together: neither side can block the other. */
	while (out[0] >= 0) {
		struct pollfd pfd[2] = { { .fd = out[0], .events = POLLIN }, { .fd = in[1], .events = POLLOUT } };

		if (poll(pfd, in[1] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (in[1] >= 0 && pfd[1].revents) {
			ssize_t n = write(in[1], stdin_data + off, in_len - off);

			if (n > 0)
				off += (size_t)n;
			if (n < 0 || off == in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (pfd[0].revents) {
			ssize_t n;

			if (len == cap) {
				char *grown = cap < CNI_OUTPUT_MAX ? realloc(buf, cap * 2 + 1) : NULL;

				if (!grown) {
					err = -EFBIG;
					break;
				}
				buf = grown;
				cap *= 2;
			}
			n = read(out[0], buf + len, cap - len);
			if (n <= 0) {
				close(out[0]);
				out[0] = -1;
			} else {
				len += (size_t)n;
			}
		}
	}
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (nsfd >= 0)
		close(nsfd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*stdout_data = buf;
	return 0;
}

/* The plugin's configuration from a conflist, as a runtime builds it. */
static char *plugin_conf(const char *conflist_path)
{
	json_t *list, *conf;
	json_error_t jerr;
	char *text;

	list = json_load_file(conflist_path, 0, &jerr);
	if (!list)
		return NULL;
	conf = json_deep_copy(json_array_get(json_object_get(list, "plugins"), 0));
	json_object_set(conf, "cniVersion", json_object_get(list, "cniVersion"));
	json_object_set(conf, "name", json_object_get(list, "name"));
	text = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);
	json_decref(list);
	return text;
}

static int run_cni(json_t *lab, json_t *node, const char *command, json_t *pod, json_t **result)
{
	char cmd[32], cid[300], netns[PATH_MAX], args[1024], path[PATH_MAX], plugin[PATH_MAX];
	const char *bin_dir = json_string_value(json_object_get(lab, "binDir"));
	const char *env[8];
	char *conf, *output = NULL;
	json_error_t jerr;
	int status = 0, err;

	snprintf(cmd, sizeof(cmd), "CNI_COMMAND=%s", command);
	snprintf(cid, sizeof(cid), "CNI_CONTAINERID=%s", json_string_value(json_object_get(pod, "containerID")));
	snprintf(netns, sizeof(netns), "CNI_NETNS=%s/%s", NETNS_RUN_DIR,
		 json_string_value(json_object_get(pod, "netns")));
	snprintf(args, sizeof(args), "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s",
		 json_string_value(json_object_get(pod, "namespace")), json_string_value(json_object_get(pod, "name")),
		 json_string_value(json_object_get(pod, "containerID")));
	snprintf(path, sizeof(path), "CNI_PATH=%s", bin_dir);
	snprintf(plugin, sizeof(plugin), "%s/sluice", bin_dir);
	env[0] = cmd;
	env[1] = cid;
	env[2] = netns;
	env[3] = "CNI_IFNAME=eth0";
	env[4] = args;
	env[5] = path;
	env[6] = NULL;
	conf = plugin_conf(json_string_value(json_object_get(node, "conflist")));
	if (!conf)
		return -EINVAL;
	err = lab_cni_exec(plugin, json_string_value(json_object_get(node, "netns")), env, conf, &output, &status);
	free(conf);
	if (err)
		return err;
	*result = output[0] ? json_loads(output, 0, &jerr) : json_object();
	if (!*result) {
		pr_err("lab: %s: the plugin printed something that is not JSON: %s", command, output);
		err = -EPROTO;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err = -EIO;
	}
	free(output);
	return err;
}

/* Writes the Pod (and, if missing, its Namespace) manifest; labels
 * ("k=v,k2=v2") replace the Pod's labels when given. */
static int write_pod_manifest(const struct lab_paths *p, const char *ns, const char *pod, const char *node,
			      const char *labels, bool *created)
{
	char file[MANIFEST_FILENAME_MAX], path[PATH_MAX * 2];
	struct manifest *m = NULL;
	char *errmsg = NULL, *text;
	json_t *doc, *obj, *lab_json;
	int err;

	*created = false;
	doc = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "List", "items");
	/* The Namespace, if no manifest holds it yet. */
	if (!manifest_filename(K8S_KIND_NAMESPACE, "", ns, file)) {
		snprintf(path, sizeof(path), "%s/%s", p->manifests, file);
		if (access(path, F_OK))
			json_array_append_new(json_object_get(doc, "items"),
					      json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
							"Namespace", "metadata", "name", ns));
	}
	err = manifest_filename(K8S_KIND_POD, ns, pod, file);
	if (err)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", p->manifests, file);
	obj = access(path, F_OK) == 0 ? json_load_file(path, 0, NULL) : NULL;
	if (obj && !labels) {
		json_decref(obj); /* applied by the user: it is the pod's truth */
		obj = NULL;
	} else {
		if (!obj) {
			obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:[{s:s, s:s}]}}", "apiVersion", "v1",
					"kind", "Pod", "metadata", "name", pod, "namespace", ns, "spec",
					"nodeName", node, "containers", "name", "main", "image", "busybox");
			*created = true;
		}
		lab_json = json_object();
		for (const char *kv = labels; kv && *kv;) {
			const char *end = strchr(kv, ',');
			size_t len = end ? (size_t)(end - kv) : strlen(kv);
			char *item = strndup(kv, len), *eq = strchr(item, '=');

			if (!eq) {
				pr_err("label '%s' is not key=value", item);
				free(item);
				json_decref(lab_json);
				json_decref(obj);
				err = -EINVAL;
				goto out;
			}
			*eq = '\0';
			json_object_set_new(lab_json, item, json_string(eq + 1));
			free(item);
			kv = end ? end + 1 : kv + len;
		}
		if (labels)
			json_object_set_new(json_object_get(obj, "metadata"), "labels", lab_json);
		else
			json_decref(lab_json);
		json_array_append_new(json_object_get(doc, "items"), obj);
	}
	if (!json_array_size(json_object_get(doc, "items")))
		goto out;
	text = json_dumps(doc, JSON_COMPACT);
	err = manifest_parse_buf("lab pod add", text, strlen(text), &m, &errmsg);
	free(text);
	if (!err)
		err = manifest_write_dir(m, p->manifests, &errmsg);
	if (err)
		pr_err("%s", errmsg ? errmsg : strerror(-err));
out:
	free(errmsg);
	manifest_free(m);
	json_decref(doc);
	return err;
}

/* What the kubelet does once the pod's network is up: the Pod's status gets
 * its IP, so every node's agent can map that address to the pod's labels. */
static int publish_pod_ip(const struct lab_paths *p, const char *ns, const char *pod, const char *ip)
{
	char file[MANIFEST_FILENAME_MAX], path[PATH_MAX * 2], *text, *errmsg = NULL;
	struct manifest *m = NULL;
	json_t *obj;
	int err;

	err = manifest_filename(K8S_KIND_POD, ns, pod, file);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", p->manifests, file);
	obj = json_load_file(path, 0, NULL);
	if (!obj)
		return -ENOENT;
	json_object_set_new(obj, "status", json_pack("{s:s, s:[{s:s}]}", "podIP", ip, "podIPs", "ip", ip));
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		return -ENOMEM;
	err = manifest_parse_buf(path, text, strlen(text), &m, &errmsg);
	free(text);
	if (!err)
		err = manifest_write_dir(m, p->manifests, &errmsg);
	if (err)
		pr_err("publish the IP of %s/%s: %s", ns, pod, errmsg ? errmsg : strerror(-err));
	free(errmsg);
	manifest_free(m);
	return err;
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char raw[32];

	if (getrandom(raw, bytes, 0) != (ssize_t)bytes)
		memset(raw, 0x5c, bytes);
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

static int validate_names(const char *ns, const char *pod)
{
	const char *why = k8s_valid_dns1123_label(ns);

	if (why) {
		pr_err("namespace '%s': %s", ns, why);
		return -EINVAL;
	}
	why = k8s_valid_dns1123_subdomain(pod);
	if (why) {
		pr_err("pod name '%s': %s", pod, why);
		return -EINVAL;
	}
	return 0;
}

int lab_pod_add(const struct lab_pod_opts *o, json_t **result)
{
	char netns[NAME_MAX], cid[65];
	struct lab_paths p;
	json_t *lab = NULL, *node, *pod = NULL, *res = NULL;
	bool created_manifest = false;
	size_t idx;
	int fd, err;

	*result = NULL;
	err = validate_names(o->k8s_namespace, o->pod);
	if (err)
		return err;
	lab_paths(o->name, &p);
	if (access(p.state, F_OK)) {
		pr_err("lab %s is not up", o->name);
		return -ENOENT;
	}
	snprintf(netns, sizeof(netns), "%s-%s-%s", o->name, o->k8s_namespace, o->pod);
	if (strlen(netns) > 200) {
		snprintf(netns + 180, sizeof(netns) - 180, "-%08x", (unsigned)(strlen(o->pod) * 2654435761u));
	}
	random_hex(cid, 32);

	fd = lab_lock(&p);
	if (fd < 0)
		return fd;
	err = lab_state_load(&p, &lab);
	if (err)
		goto unlock;
	node = lab_find_node(lab, o->node);
	if (!node) {
		pr_err("lab %s has no node %s", o->name, o->node);
		err = -ENOENT;
		goto unlock;
	}
	if (lab_find_pod(lab, o->k8s_namespace, o->pod, NULL)) {
		pr_err("pod %s/%s exists in lab %s", o->k8s_namespace, o->pod, o->name);
		err = -EEXIST;
		goto unlock;
	}
	err = write_pod_manifest(&p, o->k8s_namespace, o->pod, o->node, o->labels, &created_manifest);
	if (err)
		goto unlock;
	pod = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "namespace", o->k8s_namespace, "name", o->pod,
			"node", o->node, "netns", netns, "containerID", cid, "state", "adding", "ownManifest",
			created_manifest);
	json_array_append(json_object_get(lab, "pods"), pod);
	err = lab_state_save(&p, lab);
unlock:
	lab_unlock(fd);
	if (err)
		goto out;

	/* The ADD runs without the lab lock: pods of one lab are added in parallel. */
	err = netns_create(netns);
	if (err) {
		pr_err("create namespace %s: %s", netns, strerror(-err));
	} else {
		err = run_cni(lab, node, "ADD", pod, &res);
		if (err)
			netns_delete(netns);
	}

	fd = lab_lock(&p);
	if (fd < 0) {
		err = err ? err : fd;
		goto out;
	}
	json_decref(lab);
	lab = NULL;
	if (lab_state_load(&p, &lab) == 0) {
		json_t *rec = lab_find_pod(lab, o->k8s_namespace, o->pod, &idx);

		if (rec && err) {
			json_array_remove(json_object_get(lab, "pods"), idx);
		} else if (rec) {
			const char *addr = json_string_value(
				json_object_get(json_array_get(json_object_get(res, "ips"), 0), "address"));
			char ip[64] = "";

			if (addr) {
				snprintf(ip, sizeof(ip), "%s", addr);
				if (strchr(ip, '/'))
					*strchr(ip, '/') = '\0';
			}
			json_object_set_new(rec, "ip", json_string(ip));
			json_object_set_new(rec, "state", json_string("ready"));
			if (ip[0])
				publish_pod_ip(&p, o->k8s_namespace, o->pod, ip);
		}
		lab_state_save(&p, lab);
	}
	lab_unlock(fd);
	if (res) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, netns);
		if (!err) {
			json_object_set_new(res, "netns", json_string(path));
			json_object_set_new(res, "containerID", json_string(cid));
		}
		*result = res;
		res = NULL;
	}
out:
	json_decref(res);
	json_decref(pod);
	json_decref(lab);
	return err;
}

int lab_pod_del(const char *name, const char *k8s_namespace, const char *pod_name, json_t **error)
{
	char file[MANIFEST_FILENAME_MAX], path[PATH_MAX * 2];
	struct lab_paths p;
	json_t *lab = NULL, *pod, *node, *res = NULL;
	size_t idx;
	int fd, err;

	*error = NULL;
	lab_paths(name, &p);
	fd = lab_lock(&p);
	if (fd < 0)
		return fd;
	err = lab_state_load(&p, &lab);
	if (err)
		goto unlock;
	pod = lab_find_pod(lab, k8s_namespace, pod_name, &idx);
	if (!pod) {
		pr_err("no pod %s/%s in lab %s", k8s_namespace, pod_name, name);
		err = -ENOENT;
		goto unlock;
	}
	node = lab_find_node(lab, json_string_value(json_object_get(pod, "node")));
	err = node ? run_cni(lab, node, "DEL", pod, &res) : -ENOENT;
	if (err) {
		*error = res;
		res = NULL;
		goto unlock;
	}
	netns_delete(json_string_value(json_object_get(pod, "netns")));
	if (json_is_true(json_object_get(pod, "ownManifest")) &&
	    !manifest_filename(K8S_KIND_POD, k8s_namespace, pod_name, file)) {
		snprintf(path, sizeof(path), "%s/%s", p.manifests, file);
		unlink(path);
	}
	json_array_remove(json_object_get(lab, "pods"), idx);
	err = lab_state_save(&p, lab);
unlock:
	lab_unlock(fd);
	json_decref(res);
	json_decref(lab);
	return err;
}

int lab_netns_of(const char *name, const char *what, const char *which, char *out, size_t len)
{
	json_t *lab = NULL, *obj = NULL;
	int err;

	err = lab_state_read(name, &lab);
	if (err)
		return err;
	if (!strcmp(what, "host")) {
		obj = json_object_get(lab, "host");
	} else if (!strcmp(what, "node")) {
		obj = lab_find_node(lab, which);
	} else if (!strcmp(what, "pod")) {
		char ns[256];
		const char *slash = strchr(which, '/');

		if (slash && (size_t)(slash - which) < sizeof(ns)) {
			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - which), which);
			obj = lab_find_pod(lab, ns, slash + 1, NULL);
		}
	}
	err = obj ? 0 : -ENOENT;
	if (!err)
		snprintf(out, len, "%s", json_string_value(json_object_get(obj, "netns")));
	json_decref(lab);
	return err;
}

int lab_apply(const char *name, const char *file, bool remove)
{
	struct manifest *m = NULL;
	struct lab_paths p;
	char *errmsg = NULL;
	size_t removed = 0;
	int err;

	lab_paths(name, &p);
	if (access(p.state, F_OK)) {
		pr_err("lab %s is not up", name);
		return -ENOENT;
	}
	err = manifest_parse_file(file, &m, &errmsg);
	if (!err)
		err = remove ? manifest_delete_dir(m, p.manifests, &removed, &errmsg)
			     : manifest_write_dir(m, p.manifests, &errmsg);
	if (err)
		pr_err("%s", errmsg ? errmsg : strerror(-err));
	else
		pr_info("%zu objects %s", remove ? removed : m->n, remove ? "deleted" : "applied");
	free(errmsg);
	manifest_free(m);
	return err;
}
