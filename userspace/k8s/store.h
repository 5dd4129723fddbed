/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's view of the cluster: Namespaces, Pods and NetworkPolicies,
 * each reduced to the few fields Sluice uses (a node of a 10,000-pod cluster
 * keeps a few hundred bytes per pod, not the pod's JSON).
 *
 * Sources feed the store: the `dir:PATH` source (k8s/dir_source.h) today,
 * the API server's list/watch later. Both turn an object's JSON into a
 * struct k8s_obj with k8s_obj_from_json() and hand it to k8s_store_put();
 * each put or delete names an owner (an opaque pointer of the source), and an
 * object held by one owner cannot be replaced or deleted by another
 * (-EEXIST, -EPERM), so two files defining the same Pod cannot silently
 * fight over it.
 *
 * Every change bumps the generation and calls the change callback with the
 * old and the new object (old NULL: added; new NULL: deleted); putting an
 * object equal to the stored one changes nothing. The store is not
 * thread-safe: the agent serializes calls, and a callback must not modify
 * the store. Pointers returned by lookups stay valid until the object is
 * replaced or deleted.
 */
#ifndef SLUICE_K8S_STORE_H
#define SLUICE_K8S_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/addr.h"
#include "k8s/names.h"

struct k8s_label {
	char *key;
	char *value; /* in the same allocation as key */
};

/* Sorted by key. */
struct k8s_labels {
	struct k8s_label *v;
	size_t n;
};

/* The head of every kind's struct. */
struct k8s_obj {
	enum k8s_kind kind;
	char *ns; /* "" for Namespaces */
	char *name;
	struct k8s_labels labels;
};

struct k8s_namespace {
	struct k8s_obj obj;
};

struct k8s_port {
	char name[K8S_IANA_SVC_NAME_MAX + 1]; /* "" when unnamed */
	uint16_t port;
	uint8_t protocol; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
};

struct k8s_pod {
	struct k8s_obj obj;
	char *uid;       /* NULL when the manifest has none */
	char *node_name; /* NULL when not scheduled */
	bool host_network;
	struct k8s_port *ports; /* every container's, in order */
	size_t n_ports;
	struct sl_ip *ips; /* status.podIPs (or podIP), without duplicates */
	size_t n_ips;
};

struct k8s_netpol {
	struct k8s_obj obj;
	json_t *spec; /* the policy's spec, for the policy compiler */
};

/* Kind-checked downcasts: NULL when o is NULL or of another kind. */
static inline const struct k8s_namespace *k8s_obj_namespace(const struct k8s_obj *o)
{
	return o && o->kind == K8S_KIND_NAMESPACE ? (const struct k8s_namespace *)o : NULL;
}

static inline const struct k8s_pod *k8s_obj_pod(const struct k8s_obj *o)
{
	return o && o->kind == K8S_KIND_POD ? (const struct k8s_pod *)o : NULL;
}

static inline const struct k8s_netpol *k8s_obj_netpol(const struct k8s_obj *o)
{
	return o && o->kind == K8S_KIND_NETWORK_POLICY ? (const struct k8s_netpol *)o : NULL;
}

/* The value of label key, or NULL. */
const char *k8s_labels_get(const struct k8s_labels *labels, const char *key);

/* Reduces an object's JSON (a manifest's validated object, or the API
 * server's) to its struct. A namespaced object without a namespace is in
 * "default", a port without protocol is TCP. -EINVAL for an object that is
 * not a well-formed Namespace, Pod or NetworkPolicy; -ENOMEM. */
int k8s_obj_from_json(const json_t *json, struct k8s_obj **out);
void k8s_obj_free(struct k8s_obj *o);
bool k8s_obj_equal(const struct k8s_obj *a, const struct k8s_obj *b);

struct k8s_store;

/* old NULL: cur was added; cur NULL: old was deleted; else old -> cur. */
typedef void (*k8s_store_cb)(void *arg, const struct k8s_obj *old, const struct k8s_obj *cur);

int k8s_store_new(struct k8s_store **out);
void k8s_store_free(struct k8s_store *s);
void k8s_store_set_callback(struct k8s_store *s, k8s_store_cb cb, void *arg);
/* Starts at 0, bumped once per added, changed or deleted object. */
uint64_t k8s_store_generation(const struct k8s_store *s);

/* Adds obj or replaces the object of the same kind, namespace and name.
 * Takes obj in every case. -EEXIST if another owner holds that object. */
int k8s_store_put(struct k8s_store *s, struct k8s_obj *obj, const void *owner);
/* -ENOENT if there is no such object, -EPERM if another owner holds it. */
int k8s_store_delete(struct k8s_store *s, enum k8s_kind kind, const char *ns, const char *name,
		     const void *owner);

/* ns is "" (or NULL) for Namespaces. *owner (if not NULL) is set too. */
const struct k8s_obj *k8s_store_get(const struct k8s_store *s, enum k8s_kind kind, const char *ns,
				    const char *name, const void **owner);
const struct k8s_pod *k8s_store_pod(const struct k8s_store *s, const char *ns, const char *name);
const struct k8s_namespace *k8s_store_namespace(const struct k8s_store *s, const char *name);
const struct k8s_netpol *k8s_store_netpol(const struct k8s_store *s, const char *ns, const char *name);

size_t k8s_store_count(const struct k8s_store *s, enum k8s_kind kind);
/* Calls fn for every object of kind, in no particular order, until fn
 * returns non-zero; returns that value (0 when all were visited). fn must
 * not modify the store. */
int k8s_store_for_each(const struct k8s_store *s, enum k8s_kind kind,
		       int (*fn)(const struct k8s_obj *o, void *arg), void *arg);

#endif /* SLUICE_K8S_STORE_H */
