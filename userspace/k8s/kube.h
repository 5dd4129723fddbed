/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `kube` object source: Namespaces, Pods and NetworkPolicies of the whole
 * cluster, and this node's Node, listed and watched from the Kubernetes API
 * server into the k8s_store, behind the same shape of interface as the
 * `dir:PATH` source (k8s/dir_source.h).
 *
 * Each resource has a worker thread that LISTs it (in pages of `limit`,
 * following `continue`), then WATCHes it from the list's resourceVersion
 * with bookmarks, resuming from the last resourceVersion seen when a stream
 * ends or breaks, and listing again when the server answers 410 Gone (as a
 * status or as an ERROR event). A relist replaces the resource's whole set:
 * objects missing from the new list are deleted from the store. Failures
 * (401, 403, 5xx, refused connections, timeouts, unparsable JSON) are retried
 * with exponential back-off and jitter. Credentials: k8s/kubeconfig.h.
 *
 * Workers never touch the store. They reduce each object to its struct
 * k8s_obj (k8s_obj_from_json) as it arrives, so neither a list page nor an
 * object's full JSON is held, and queue the change; the agent polls
 * kube_source_fd() (an eventfd) and calls kube_source_process_events() under
 * its own lock, which applies queued changes to the store (put and delete
 * with this source as owner) and returns. That call never waits on the
 * network, and applies at most KUBE_APPLY_BUDGET objects per call (the fd
 * stays readable while more are queued), so a 10,000-pod relist does not
 * hold the agent's lock for long.
 *
 * A resource is "synced" once its first list has been applied: until then
 * the store does not know its objects (a pod's labels are "not yet known",
 * not "none"). It stays synced through relists.
 *
 * The Node (fieldSelector metadata.name=NODE) is not a store kind: the source
 * keeps it, reduced to name, labels, providerID and addresses, and calls the
 * node callback when it changes.
 *
 * All calls but kube_source_status() are for the agent's thread holding its
 * lock; kube_source_status() may also be called without it (it then reads
 * `synced` racily, which is fine for status output).
 */
#ifndef SLUICE_K8S_KUBE_H
#define SLUICE_K8S_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/store.h"

enum kube_resource {
	KUBE_RES_NAMESPACES = 0,
	KUBE_RES_PODS,
	KUBE_RES_NETWORK_POLICIES,
	KUBE_RES_NODE,
	KUBE_RES_MAX,
};

#define KUBE_RES_ALL ((1u << KUBE_RES_MAX) - 1)
#define KUBE_APPLY_BUDGET 1000

/* "namespaces", "pods", "networkpolicies", "nodes". */
const char *kube_resource_name(enum kube_resource res);
/* The resource a store kind comes from; KUBE_RES_MAX for none. */
enum kube_resource kube_resource_of_kind(enum k8s_kind kind);

struct kube_config {
	const char *node_name;  /* this node: its Node is watched; NULL or "": none */
	const char *kubeconfig; /* a path or ':'-list; NULL: $KUBECONFIG, else in-cluster */
	const char *context;    /* NULL: current-context */
	const char *sa_dir;     /* in-cluster token and CA; NULL: KUBE_SA_DIR */
	unsigned resources;     /* 1u << KUBE_RES_*; 0: all (the Node only with node_name) */
	unsigned page_limit;    /* LIST page size; 0: 500 */
	unsigned watch_timeout_s;   /* timeoutSeconds of a WATCH; 0: 300..600, random */
	unsigned request_timeout_s; /* one LIST page; 0: 60 */
	unsigned backoff_initial_ms; /* 0: 500 */
	unsigned backoff_max_ms;     /* 0: 30000 */
};

struct kube_node_address {
	char *type;    /* "InternalIP", "ExternalIP", "Hostname", ... */
	char *address; /* in the same allocation as type */
};

struct kube_node {
	char *name;
	char *provider_id; /* spec.providerID, NULL when unset */
	struct k8s_labels labels;
	struct kube_node_address *addresses;
	size_t n_addresses;
};

/* old NULL: the Node appeared; cur NULL: it was deleted (or is gone from a
 * relist). Called from kube_source_process_events(). */
typedef void (*kube_node_cb)(void *arg, const struct kube_node *old, const struct kube_node *cur);

struct kube_source;

/* Loads the credentials (an error here is a configuration error, logged) and
 * starts the workers; never waits for the API server. */
int kube_source_open(struct k8s_store *store, const struct kube_config *cfg, struct kube_source **out);
/* Stops the workers (at once, even mid-request) and drops queued changes;
 * leaves the applied objects in the store. */
void kube_source_close(struct kube_source *src);

/* An eventfd (non-blocking): readable when process_events has work. */
int kube_source_fd(const struct kube_source *src);
/* Applies queued changes, at most KUBE_APPLY_BUDGET objects; returns 0 or
 * the first store error (-ENOMEM). Returns at once when nothing is queued. */
int kube_source_process_events(struct kube_source *src);

bool kube_source_synced(const struct kube_source *src, enum kube_resource res);
/* This node's Node, NULL until seen (or when it does not exist). Valid until
 * the next kube_source_process_events(). */
const struct kube_node *kube_source_node(const struct kube_source *src);
void kube_source_set_node_callback(struct kube_source *src, kube_node_cb cb, void *arg);
/* The value of a Node label, or NULL. */
const char *kube_node_label(const struct kube_node *node, const char *key);

struct kube_resource_status {
	bool enabled;
	bool synced;
	char resource_version[64]; /* the last one seen by the worker ("" before the first list) */
	uint64_t lists;     /* complete lists, the first included */
	uint64_t relists;   /* lists after the first (410 Gone, or a watch that could not resume) */
	uint64_t watches;   /* WATCH requests made */
	uint64_t events;    /* ADDED, MODIFIED and DELETED events received */
	uint64_t bookmarks;
	uint64_t errors;    /* failed requests and broken streams */
	uint64_t bad_objects; /* objects that could not be read, skipped */
	uint64_t rejected;  /* puts refused by the store (another source holds the object) */
	char last_error[256]; /* "" when none yet */
	int64_t last_error_time; /* CLOCK_REALTIME seconds, 0 when none */
};

int kube_source_status(const struct kube_source *src, enum kube_resource res,
		       struct kube_resource_status *out);
/* The API server's URL and where the credentials came from, for status. */
const char *kube_source_server(const struct kube_source *src);
const char *kube_source_origin(const struct kube_source *src);

#endif /* SLUICE_K8S_KUBE_H */
