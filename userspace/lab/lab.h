/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab: a simulated VPC on this machine, made of network namespaces, with
 * one real sluiced per node and pods created through the real CNI plugin.
 *
 * Everything of lab LAB is named after it: namespaces "LAB-vpc", "LAB-host",
 * "LAB-node-N" and "LAB-<namespace>-<pod>"; files under /run/sluice-lab/LAB/
 * (lab.json, the sim cloud's vpc.json, manifests/, nodes/<node>/); pins under
 * /sys/fs/bpf/sluice-lab-LAB/<node>/. Lab names are [a-z0-9], at most 12
 * characters, so one lab's prefix never matches another's. `lab down` removes
 * all of it, and only it.
 */
#ifndef SLUICE_LAB_H
#define SLUICE_LAB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cloud/provider.h"

#define LAB_DEFAULT_NAME "sluice"
#define LAB_AGENT_MAX_ARGS 64 /* extra sluiced arguments, lab-wide and per node */
#define LAB_RUN_DIR "/run/sluice-lab"
#define LAB_PIN_ROOT "/sys/fs/bpf"
#define LAB_NAME_MAX 12
#define LAB_MAX_NODES 16

struct lab_up_opts {
	const char *name;
	unsigned nodes;
	struct cloud_limits limits; /* 0: the sim's defaults */
	unsigned warm_ip_target;    /* 0: the agent's default */
	unsigned add_wait_ms;       /* 0: the agent's default */
	const char *kubeconfig;     /* agents read the API server (--k8s-source kube), or NULL:
				     * they read the lab's manifest directory */
	const char *bin_dir;        /* where sluiced and sluice are; NULL: beside this binary */
	const char *const *agent_args; /* extra sluiced arguments for every node (after the
					* lab's own, so they override them), n_agent_args of them */
	unsigned n_agent_args;
};

struct lab_paths {
	char dir[256];       /* /run/sluice-lab/LAB */
	char state[300];     /* lab.json */
	char lock[300];
	char vpc[300];       /* the sim cloud's state */
	char manifests[300];
	char pin_root[256];  /* /sys/fs/bpf/sluice-lab-LAB */
};

int lab_name_valid(const char *name);
void lab_paths(const char *name, struct lab_paths *p);

/* Lab state (lab.json), read and written under lab.lock. */
int lab_lock(const struct lab_paths *p);
void lab_unlock(int fd);
int lab_state_load(const struct lab_paths *p, json_t **out); /* -ENOENT: no such lab */
int lab_state_save(const struct lab_paths *p, json_t *state);

int lab_up(const struct lab_up_opts *opts);
/* Removes everything of the lab; succeeds for a lab that does not exist. */
int lab_down(const char *name);
/* {"name", "nodes":[...], "host":{...}, "pods":[...], "interfaces":[...]} */
int lab_status(const char *name, json_t **out);

/* Agents */
int lab_agent_start(const char *name, const char *node);
/* Starts it with extra arguments that replace the node's earlier ones (and
 * stay for later starts); args NULL: keep them. */
int lab_agent_start_args(const char *name, const char *node, const char *const *args, unsigned n_args);
int lab_agent_stop(const char *name, const char *node, int sig); /* SIGTERM or SIGKILL */
/* Until the agent answers /readyz; -ESRCH as soon as process pid (when > 0)
 * is gone, -ETIMEDOUT after timeout_ms. */
int lab_agent_wait_ready(const char *socket_path, int pid, unsigned timeout_ms);

/* Pods */
struct lab_pod_opts {
	const char *name; /* lab */
	const char *node;
	const char *k8s_namespace;
	const char *pod;
	const char *labels; /* "k=v,k2=v2" or NULL */
};
/* Creates the pod's namespace and runs a real CNI ADD; *result is the plugin's
 * output (the CNI result), plus "netns" and "containerID". On a CNI error
 * the plugin's error object is in *result and -EIO is returned. */
int lab_pod_add(const struct lab_pod_opts *opts, json_t **result);
int lab_pod_del(const char *name, const char *k8s_namespace, const char *pod, json_t **error);

/* Manifests: parse, validate, write (or remove) one file per object. */
int lab_apply(const char *name, const char *file, bool remove);

/* The namespace (path) of a pod, node or "host", for exec. */
int lab_netns_of(const char *name, const char *what, const char *which, char *out, size_t len);

/* Runs a CNI plugin: env set, conf on stdin, stdout captured (NUL-terminated,
 * caller frees). *status is the exit status. In netns when not NULL. */
int lab_cni_exec(const char *plugin, const char *netns, const char *const *env, const char *stdin_data,
		 char **stdout_data, int *status);

/* Connectivity matrix between every pod and the VPC host (ICMP and TCP). */
int lab_matrix(const char *name, unsigned timeout_ms, json_t **out);

#endif /* SLUICE_LAB_H */
