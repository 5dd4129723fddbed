/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy compiler: Kubernetes objects in, the datapath's desired state
 * out (ipcache entries, policy-trie entries), as docs/policy.md describes.
 * Pure computation on the store: no maps, no kernel. The agent diffs two
 * states and applies the difference.
 *
 * Identity numbers come from an identity table that outlives compiles (and
 * is saved in the agent's checkpoint), so recompiling never renumbers.
 *
 * Semantics (networking.k8s.io/v1, as the API reference defines them; the
 * choices where Kubernetes leaves room are marked "Sluice:"):
 *
 * - A policy is validated as the API server validates it (selectors,
 *   ports, endPort, ipBlock, peers, policyTypes). One that would not pass is
 *   skipped with a warning; the others still apply.
 * - policyTypes absent or empty: Ingress, plus Egress when spec.egress has
 *   at least one rule (SetDefaults_NetworkPolicy: `egress: []` alone does
 *   not make an egress policy). A direction not listed is not isolated and
 *   its rules are ignored.
 * - Subjects: the identities of input.local pods that the podSelector
 *   selects in the policy's namespace. Policies that select no local pod
 *   produce nothing (not even ipBlock boundaries).
 * - Peers: pods (local or on other nodes) by identity; ipBlocks by CIDR
 *   class (docs/policy.md). Sluice: hostNetwork pods have no pod identity;
 *   their address is the node's, so selectors never match them and their
 *   traffic is the node's (the concept page's "most common
 *   implementation").
 * - Named ports resolve per destination identity, to every container port
 *   of that name and protocol: for ingress, over the subject identity's
 *   local pods; for egress, over all pods of the peer identity. Sluice:
 *   towards an ipBlock (and towards addresses that are no pod) a named
 *   egress port never matches. A name that resolves nowhere allows nothing.
 * - Sluice: a local pod whose Pod object is missing gets the identity of an
 *   unlabeled pod of its namespace (or of namespace "" when it has none), so
 *   namespace-wide policies still isolate it.
 * - Sluice: a Namespace missing from the store still carries its
 *   kubernetes.io/metadata.name label, which the API server always sets.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "k8s/store.h"
#include "policy_types.h"

/* --- identities ---------------------------------------------------------- */

struct identity_table;

/* A label-set identity (SL_ID_FIRST_LABELS <= id < SL_ID_FIRST_CIDR), or an
 * ipBlock CIDR class (id >= SL_ID_FIRST_CIDR: only cidr is set). */
struct identity {
	uint32_t id;
	char *ns;                    /* the namespace's name ("" for unlabeled non-k8s pods) */
	struct k8s_labels labels;    /* the pod's */
	struct k8s_labels ns_labels; /* the namespace's */
	struct sl_prefix cidr;       /* a CIDR class: the ipBlock boundary */
};

int identity_table_new(struct identity_table **out);
void identity_table_free(struct identity_table *t);
/* The identity of a label set, allocated on first use; 0 on -ENOMEM (or
 * when all 16M numbers are taken). ns NULL is "". Marks it used. */
uint32_t identity_table_get_or_add(struct identity_table *t, const char *ns, const struct k8s_labels *labels,
				   const struct k8s_labels *ns_labels);
/* The class of an ipBlock boundary (host bits ignored); 0 on -ENOMEM. */
uint32_t identity_table_get_or_add_cidr(struct identity_table *t, const struct sl_prefix *p);
const struct identity *identity_table_lookup(const struct identity_table *t, uint32_t id);
size_t identity_table_count(const struct identity_table *t);
/* In increasing id order; stops at and returns fn's first non-zero value. */
int identity_table_for_each(const struct identity_table *t, int (*fn)(const struct identity *id, void *arg),
			    void *arg);
/* Forgets identities no compile (or get_or_add) has used since the last
 * call; returns how many it forgot. Numbers are handed out in increasing
 * order and only reused after the range wraps, so a forgotten number cannot
 * be confused with a new label set by anything still holding it. */
size_t identity_table_gc(struct identity_table *t);
/* {"version":1,"next":N,"nextCidr":N,"identities":[{"id","namespace",
 *  "labels","namespaceLabels"}...],"cidrs":[{"id","cidr"}...]}, by id. */
json_t *identity_table_to_json(const struct identity_table *t);
/* Loads into an empty table (-EEXIST otherwise). -EINVAL, leaving it
 * empty, for anything malformed: wrong types, numbers out of their range,
 * a number or a label set twice. Loaded identities count as unused until
 * a compile uses them. */
int identity_table_from_json(struct identity_table *t, const json_t *j);

/* --- compile ------------------------------------------------------------- */

/* A pod on this node: a subject of policy. Its IP is known to the agent
 * before the API (status.podIPs) may know it. ns NULL or "": not a
 * Kubernetes pod (no labels, no namespace). */
struct policy_local_pod {
	const char *ns;
	const char *name;
	struct sl_ip ip; /* family 0: none yet (no ipcache entry) */
};

struct policy_input {
	const struct k8s_store *store;
	struct identity_table *ids;
	const struct sl_ip *host_addrs; /* this node's addresses: SL_ID_HOST */
	size_t n_host_addrs;
	const struct policy_local_pod *local;
	size_t n_local;
	/* Optional: the state the maps hold now. A rule (policy, direction,
	 * index) keeps its number from it where it can, so that a policy change
	 * rewrites the entries of the rules it changed, not of every rule after
	 * it. NULL: rules are numbered in order. */
	const struct policy_state *prev;
};

/* A rule as `sluicectl policy show` prints it; sl_policy_value.rule indexes
 * rules[] of the state the entry came from (rules[] is dense; its order is
 * only by policy when input.prev was NULL). Each policy that selects local
 * pods has, per direction it isolates, one rule with index -1 (the
 * isolation itself) and one per rule of that direction. An entry that
 * several rules produce (a marker of a pod two policies select, say) holds
 * the lowest of their numbers. */
struct policy_rule_info {
	char *policy_ns;
	char *policy_name;
	uint8_t direction; /* SL_POLICY_INGRESS / SL_POLICY_EGRESS */
	int index;         /* spec.ingress[index] / spec.egress[index]; -1: isolation */
	char *text;        /* e.g. "from pods {app=web} in namespaces {team=a}; TCP 80, UDP 53" */
};

struct policy_ipcache_entry {
	struct sl_ipcache_key key;
	struct sl_ipcache_value val;
};

struct policy_trie_entry {
	struct sl_policy_key key;
	struct sl_policy_value val;
};

struct policy_state {
	struct policy_ipcache_entry *ipcache; /* sorted by policy_ipcache_key_cmp */
	size_t n_ipcache;
	struct policy_trie_entry *trie;       /* sorted by policy_trie_key_cmp */
	size_t n_trie;
	struct policy_rule_info *rules;
	size_t n_rules;
	uint32_t *local_identity;             /* [n_local]: the identity of each input.local pod */
	size_t n_local;
};

/* Computes the whole desired state. A policy the compiler cannot use (a
 * malformed selector, say) is skipped with a message in *warnings (one line
 * each, "\n"-separated, NULL when there are none; caller frees) rather than
 * failing everything. warnings may be NULL: the lines go to pr_warn. On
 * error *out is left empty. -ENOMEM, -ENOSPC (identity numbers exhausted).
 *
 * The trie holds no redundant entry: an allow that a shorter allow of the
 * same subject, direction and peer already covers is left out. */
int policy_compile(const struct policy_input *in, struct policy_state *out, char **warnings);
void policy_state_free(struct policy_state *s);

/* The orders of the state's arrays (and of the diff's merge):
 * ipcache by family, address, prefix length; trie by subject, direction,
 * peer, protocol, port (numerically), prefix length. Pads are ignored. */
int policy_ipcache_key_cmp(const struct sl_ipcache_key *a, const struct sl_ipcache_key *b);
int policy_trie_key_cmp(const struct sl_policy_key *a, const struct sl_policy_key *b);

/* The difference from prev to next, in one merge over the sorted arrays:
 * put() for every entry that is new or changed in next, del() for every key
 * only in prev; identical states call nothing. Ipcache first, then trie,
 * each in array order. Stops at the first non-zero return and returns it. */
struct policy_diff_ops {
	int (*ipcache_put)(const struct policy_ipcache_entry *e, void *arg);
	int (*ipcache_del)(const struct sl_ipcache_key *k, void *arg);
	int (*trie_put)(const struct policy_trie_entry *e, void *arg);
	int (*trie_del)(const struct sl_policy_key *k, void *arg);
};
int policy_state_diff(const struct policy_state *prev, const struct policy_state *next,
		      const struct policy_diff_ops *ops, void *arg);

#endif /* SLUICE_POLICY_H */
