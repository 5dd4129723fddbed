// SPDX-License-Identifier: Apache-2.0
/*
 * The difference between two compiled states: one merge per array over
 * the sorted keys, so O(n + m) whatever changed.
 */
#include <string.h>

#include "policy/policy.h"

static bool ipc_val_equal(const struct sl_ipcache_value *a, const struct sl_ipcache_value *b)
{
	return a->identity == b->identity && a->cidr_identity == b->cidr_identity && a->flags == b->flags;
}

static bool trie_val_equal(const struct sl_policy_value *a, const struct sl_policy_value *b)
{
	return a->action == b->action && a->rule == b->rule;
}

static int diff_ipcache(const struct policy_state *prev, const struct policy_state *next,
			const struct policy_diff_ops *ops, void *arg)
{
	size_t i = 0, j = 0, np = prev ? prev->n_ipcache : 0, nn = next ? next->n_ipcache : 0;
	int ret = 0;

	while (!ret && (i < np || j < nn)) {
		int r = i == np ? 1 : j == nn ? -1 : policy_ipcache_key_cmp(&prev->ipcache[i].key, &next->ipcache[j].key);

		if (r < 0) {
			ret = ops->ipcache_del(&prev->ipcache[i++].key, arg);
		} else if (r > 0) {
			ret = ops->ipcache_put(&next->ipcache[j++], arg);
		} else {
			if (!ipc_val_equal(&prev->ipcache[i].val, &next->ipcache[j].val))
				ret = ops->ipcache_put(&next->ipcache[j], arg);
			i++;
			j++;
		}
	}
	return ret;
}

static int diff_trie(const struct policy_state *prev, const struct policy_state *next,
		     const struct policy_diff_ops *ops, void *arg)
{
	size_t i = 0, j = 0, np = prev ? prev->n_trie : 0, nn = next ? next->n_trie : 0;
	int ret = 0;

	while (!ret && (i < np || j < nn)) {
		int r = i == np ? 1 : j == nn ? -1 : policy_trie_key_cmp(&prev->trie[i].key, &next->trie[j].key);

		if (r < 0) {
			ret = ops->trie_del(&prev->trie[i++].key, arg);
		} else if (r > 0) {
			ret = ops->trie_put(&next->trie[j++], arg);
		} else {
			if (!trie_val_equal(&prev->trie[i].val, &next->trie[j].val))
				ret = ops->trie_put(&next->trie[j], arg);
			i++;
			j++;
		}
	}
	return ret;
}

int policy_state_diff(const struct policy_state *prev, const struct policy_state *next,
		      const struct policy_diff_ops *ops, void *arg)
{
	int ret = diff_ipcache(prev, next, ops, arg);

	return ret ? ret : diff_trie(prev, next, ops, arg);
}
