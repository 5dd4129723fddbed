/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy compiler: Kubernetes objects in, the datapath's desired state
 * out (ipcache entries, policy-trie entries), as docs/policy.md describes.
 * Pure computation on the store: no maps, no kernel. The agent diffs two
 * states and applies the difference.
 *
 * Identity numbers come from an identity table that outlives compiles (and
 * is saved in the agent's checkpoint), so recompiling never renumbers.
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

struct identity {
	uint32_t id;
	char *ns;                    /* the namespace's name ("" for unlabeled non-k8s pods) */
	struct k8s_labels labels;    /* the pod's */
	struct k8s_labels ns_labels; /* the namespace's */
};

int identity_table_new(struct identity_table **out);
void identity_table_free(struct identity_table *t);
/* The identity of a label set, allocated on first use; 0 on -ENOMEM. */
uint32_t identity_table_get_or_add(struct identity_table *t, const char *ns, const struct k8s_labels *labels,
				   const struct k8s_labels *ns_labels);
const struct identity *identity_table_lookup(const struct identity_table *t, uint32_t id);
int identity_table_for_each(const struct identity_table *t, int (*fn)(const struct identity *id, void *arg),
			    void *arg);
/* Forgets identities no compile has used since the last call; returns how
 * many it forgot (their numbers are not reused before SL_ID wrap). */
size_t identity_table_gc(struct identity_table *t);
json_t *identity_table_to_json(const struct identity_table *t);
int identity_table_from_json(struct identity_table *t, const json_t *j);

/* --- compile ------------------------------------------------------------- */

/* A pod on this node: a subject of policy. Its IP is known to the agent
 * before the API (status.podIPs) may know it. */
struct policy_local_pod {
	const char *ns;
	const char *name;
	struct sl_ip ip;
};

struct policy_input {
	const struct k8s_store *store;
	struct identity_table *ids;
	const struct sl_ip *host_addrs; /* this node's addresses: SL_ID_HOST */
	size_t n_host_addrs;
	const struct policy_local_pod *local;
	size_t n_local;
};

/* A rule as `sluicectl policy show` prints it; sl_policy_value.rule indexes
 * rules[] of the state the entry came from. */
struct policy_rule_info {
	char *policy_ns;
	char *policy_name;
	uint8_t direction; /* SL_POLICY_INGRESS / SL_POLICY_EGRESS */
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
	struct policy_ipcache_entry *ipcache; /* sorted by key bytes */
	size_t n_ipcache;
	struct policy_trie_entry *trie;       /* sorted by key bytes */
	size_t n_trie;
	struct policy_rule_info *rules;
	size_t n_rules;
	uint32_t *local_identity;             /* [n_local]: the identity of each input.local pod */
	size_t n_local;
};

/* Computes the whole desired state. A policy the compiler cannot use (a
 * malformed selector, say) is skipped with a message in *warnings (one line
 * each, caller frees) rather than failing everything. -ENOMEM only. */
int policy_compile(const struct policy_input *in, struct policy_state *out, char **warnings);
void policy_state_free(struct policy_state *s);

/* The difference from prev to next: put() for every entry that is new or
 * changed in next, del() for every key only in prev. Stops at the first
 * non-zero return and returns it. */
struct policy_diff_ops {
	int (*ipcache_put)(const struct policy_ipcache_entry *e, void *arg);
	int (*ipcache_del)(const struct sl_ipcache_key *k, void *arg);
	int (*trie_put)(const struct policy_trie_entry *e, void *arg);
	int (*trie_del)(const struct sl_policy_key *k, void *arg);
};
int policy_state_diff(const struct policy_state *prev, const struct policy_state *next,
		      const struct policy_diff_ops *ops, void *arg);

#endif /* SLUICE_POLICY_H */
