// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's policy engine: Kubernetes objects and local endpoints in, the
 * ipcache and the policy trie out (docs/policy.md).
 *
 * Every change (an object from the source, an endpoint added or removed)
 * marks the state dirty; the policy thread recompiles the whole desired
 * state, diffs it against what the maps hold and applies the difference, then
 * bumps sluice_polcfg.rev. A CNI ADD does the same synchronously before it
 * answers, so a new pod's first packet meets its policy.
 *
 * The difference is applied so that no packet is denied in transit that both
 * the old and the new policy allow: first what loosens (ipcache entries, new
 * allow rules, removed isolation markers), then what tightens (new markers,
 * removed allow rules, removed ipcache entries).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/log.h"
#include "netlink/nl.h"

#define POLICY_CT_GC_MS 10000

/* --- applying a diff --------------------------------------------------------- */

struct pending {
	const struct policy_ipcache_entry **ipc_put;
	const struct sl_ipcache_key **ipc_del;
	const struct policy_trie_entry **trie_put;
	const struct sl_policy_key **trie_del;
	size_t n_ipc_put, n_ipc_del, n_trie_put, n_trie_del;
	size_t cap_ipc_put, cap_ipc_del, cap_trie_put, cap_trie_del;
};

#define PENDING_PUSH(p, field, item)                                                                    \
	({                                                                                               \
		int __err = 0;                                                                           \
		if ((p)->n_##field == (p)->cap_##field) {                                                 \
			size_t __cap = (p)->cap_##field ? (p)->cap_##field * 2 : 64;                      \
			void *__g = realloc((p)->field, __cap * sizeof(*(p)->field));                    \
			if (__g) {                                                                       \
				(p)->field = __g;                                                        \
				(p)->cap_##field = __cap;                                                \
			} else {                                                                         \
				__err = -ENOMEM;                                                         \
			}                                                                                \
		}                                                                                        \
		if (!__err)                                                                              \
			(p)->field[(p)->n_##field++] = (item);                                           \
		__err;                                                                                   \
	})

static int queue_ipc_put(const struct policy_ipcache_entry *e, void *arg)
{
	return PENDING_PUSH((struct pending *)arg, ipc_put, e);
}

static int queue_ipc_del(const struct sl_ipcache_key *k, void *arg)
{
	return PENDING_PUSH((struct pending *)arg, ipc_del, k);
}

static int queue_trie_put(const struct policy_trie_entry *e, void *arg)
{
	return PENDING_PUSH((struct pending *)arg, trie_put, e);
}

static int queue_trie_del(const struct sl_policy_key *k, void *arg)
{
	return PENDING_PUSH((struct pending *)arg, trie_del, k);
}

static const struct policy_diff_ops queue_ops = {
	.ipcache_put = queue_ipc_put,
	.ipcache_del = queue_ipc_del,
	.trie_put = queue_trie_put,
	.trie_del = queue_trie_del,
};

static bool is_marker(const struct sl_policy_key *k)
{
	return k->prefixlen == SL_POLICY_PREFIX_ISOLATED;
}

/* Applies the queued difference in the order described above. */
static int apply_pending(struct agent *a, const struct pending *p, size_t *ops)
{
	int err = 0;

	*ops = 0;
	for (size_t i = 0; i < p->n_ipc_put && !err; i++, (*ops)++)
		err = maps_ipcache_put(&a->maps, &p->ipc_put[i]->key, &p->ipc_put[i]->val);
	for (size_t i = 0; i < p->n_trie_put && !err; i++) {
		if (!is_marker(&p->trie_put[i]->key)) {
			err = maps_policy_put(&a->maps, &p->trie_put[i]->key, &p->trie_put[i]->val);
			(*ops)++;
		}
	}
	for (size_t i = 0; i < p->n_trie_del && !err; i++) {
		if (is_marker(p->trie_del[i])) {
			err = maps_policy_del(&a->maps, p->trie_del[i]);
			(*ops)++;
		}
	}
	for (size_t i = 0; i < p->n_trie_put && !err; i++) {
		if (is_marker(&p->trie_put[i]->key)) {
			err = maps_policy_put(&a->maps, &p->trie_put[i]->key, &p->trie_put[i]->val);
			(*ops)++;
		}
	}
	for (size_t i = 0; i < p->n_trie_del && !err; i++) {
		if (!is_marker(p->trie_del[i])) {
			err = maps_policy_del(&a->maps, p->trie_del[i]);
			(*ops)++;
		}
	}
	for (size_t i = 0; i < p->n_ipc_del && !err; i++, (*ops)++)
		err = maps_ipcache_del(&a->maps, p->ipc_del[i]);
	return err == -ENOENT ? 0 : err;
}

static void pending_free(struct pending *p)
{
	free(p->ipc_put);
	free(p->ipc_del);
	free(p->trie_put);
	free(p->trie_del);
}

/* --- what the maps hold ------------------------------------------------------------ */

/* After a restart the agent knows nothing of what its predecessor wrote, yet
 * the maps still hold it (the datapath outlived the agent). Diffing against
 * the maps' real contents, not an empty state, is what deletes the entries
 * of a policy removed while the agent was down. */

static int load_ipcache(const struct sl_ipcache_key *key, const struct sl_ipcache_value *val, void *arg)
{
	struct policy_state *s = arg;
	struct policy_ipcache_entry *grown;

	grown = realloc(s->ipcache, (s->n_ipcache + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->ipcache = grown;
	s->ipcache[s->n_ipcache].key = *key;
	s->ipcache[s->n_ipcache].val = *val;
	s->n_ipcache++;
	return 0;
}

static int load_trie(const struct sl_policy_key *key, const struct sl_policy_value *val, void *arg)
{
	struct policy_state *s = arg;
	struct policy_trie_entry *grown;

	if (s->n_trie % 1024 == 0) {
		grown = realloc(s->trie, (s->n_trie + 1024) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->trie = grown;
	}
	s->trie[s->n_trie].key = *key;
	s->trie[s->n_trie].val = *val;
	s->n_trie++;
	return 0;
}

static int cmp_ipcache(const void *a, const void *b)
{
	return policy_ipcache_key_cmp(&((const struct policy_ipcache_entry *)a)->key,
				      &((const struct policy_ipcache_entry *)b)->key);
}

static int cmp_trie(const void *a, const void *b)
{
	return policy_trie_key_cmp(&((const struct policy_trie_entry *)a)->key,
				   &((const struct policy_trie_entry *)b)->key);
}

int agent_policy_load_maps(struct agent *a)
{
	struct policy_state s = { 0 };
	int err;

	err = maps_ipcache_foreach(&a->maps, load_ipcache, &s);
	if (!err)
		err = maps_policy_foreach(&a->maps, load_trie, &s);
	if (err) {
		policy_state_free(&s);
		return err;
	}
	qsort(s.ipcache, s.n_ipcache, sizeof(*s.ipcache), cmp_ipcache);
	qsort(s.trie, s.n_trie, sizeof(*s.trie), cmp_trie);
	policy_state_free(&a->policy);
	a->policy = s;
	return 0;
}

/* --- compile and apply ---------------------------------------------------------- */

static int host_addresses(struct sl_ip **out, size_t *n)
{
	struct sl_prefix *addrs = NULL;
	struct nl_sock *nl = NULL;
	size_t count = 0;
	int err;

	*out = NULL;
	*n = 0;
	err = nl_open(&nl);
	if (!err)
		err = nl_addr_list(nl, 0, &addrs, &count);
	nl_close(nl);
	if (err)
		return err;
	*out = calloc(count + 1, sizeof(**out));
	if (!*out) {
		free(addrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		if (addrs[i].ip.family == SL_FAMILY_IPV4)
			(*out)[(*n)++] = addrs[i].ip;
	}
	free(addrs);
	return 0;
}

/* Writes each local endpoint's identity into its sluice_endpoint entry. */
static int update_endpoint_identities(struct agent *a, const struct policy_state *s,
				      const struct policy_local_pod *local)
{
	for (size_t i = 0; i < s->n_local; i++) {
		struct endpoint *ep = NULL;

		for (size_t j = 0; j < a->n_endpoints && !ep; j++) {
			if (!strcmp(a->endpoints[j].k8s_namespace, local[i].ns) && !strcmp(a->endpoints[j].pod, local[i].name) &&
			    sl_ip_equal(&a->endpoints[j].ip, &local[i].ip))
				ep = &a->endpoints[j];
		}
		if (!ep || ep->identity == s->local_identity[i])
			continue;
		ep->identity = s->local_identity[i];
		if (ep->host_ifindex) {
			int err = agent_map_endpoint(a, ep);

			if (err)
				return err;
		}
	}
	return 0;
}

int agent_policy_sync(struct agent *a)
{
	struct policy_local_pod *local = NULL;
	struct policy_state next = { 0 };
	struct policy_input in = { 0 };
	struct pending p = { 0 };
	struct sl_ip *hosts = NULL;
	struct sl_policy_config cfg = { 0 };
	char *warnings = NULL;
	uint64_t t0 = sl_now_ns(), t1;
	size_t n_hosts = 0, ops = 0;
	int err;

	if (!a->policy_dirty)
		return 0;
	/* A policy compiled from half the cluster would delete the rest of it
	 * from the maps: until the source has listed everything once, the maps
	 * keep what they hold. */
	if (!agent_k8s_synced(a))
		return -EAGAIN;
	local = calloc(a->n_endpoints + 1, sizeof(*local));
	if (!local)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_endpoints; i++) {
		local[i].ns = a->endpoints[i].k8s_namespace;
		local[i].name = a->endpoints[i].pod;
		local[i].ip = a->endpoints[i].ip;
	}
	err = host_addresses(&hosts, &n_hosts);
	if (err)
		goto out;
	in.store = a->store;
	in.ids = a->ids;
	in.host_addrs = hosts;
	in.n_host_addrs = n_hosts;
	in.local = local;
	in.n_local = a->n_endpoints;
	in.prev = &a->policy; /* rules keep their numbers: a new policy rewrites only its own entries */
	err = policy_compile(&in, &next, &warnings);
	if (err)
		goto out;
	if (warnings && *warnings)
		pr_warn("policy: %s", warnings);
	t1 = sl_now_ns();
	err = policy_state_diff(&a->policy, &next, &queue_ops, &p);
	if (!err)
		err = apply_pending(a, &p, &ops);
	if (!err)
		err = update_endpoint_identities(a, &next, local);
	if (err) {
		pr_err("policy: apply to the datapath: %s", strerror(-err));
		goto out;
	}
	policy_state_free(&a->policy);
	a->policy = next;
	memset(&next, 0, sizeof(next));
	a->policy_dirty = false;
	identity_table_gc(a->ids);
	if (maps_polcfg_get(&a->maps, &cfg) == 0) {
		cfg.rev++;
		cfg.enforce = 1;
		cfg.ct_on_policy_change = a->cfg.ct_on_policy_change;
		maps_polcfg_set(&a->maps, &cfg);
	}
	a->policy_syncs++;
	a->policy_last_compile_ns = t1 - t0;
	a->policy_last_apply_ns = sl_now_ns() - t1;
	a->policy_last_ops = ops;
	if (a->policy_changed_ns) {
		a->policy_last_latency_ns = sl_now_ns() - a->policy_changed_ns;
		a->policy_changed_ns = 0;
	}
	pr_debug("policy: rev %u: %zu ipcache, %zu trie entries, %zu map operations, compile %.2f ms, apply %.2f ms",
		 cfg.rev, a->policy.n_ipcache, a->policy.n_trie, ops, (double)a->policy_last_compile_ns / 1e6,
		 (double)a->policy_last_apply_ns / 1e6);
out:
	policy_state_free(&next);
	pending_free(&p);
	free(warnings);
	free(hosts);
	free(local);
	return err;
}

void agent_policy_mark_dirty(struct agent *a)
{
	if (!a->policy_dirty)
		a->policy_changed_ns = sl_now_ns();
	a->policy_dirty = true;
	pthread_cond_broadcast(&a->policy_cond);
}

/* The store calls this (under the agent lock) for every object change. */
static void on_object_change(void *arg, const struct k8s_obj *old, const struct k8s_obj *cur)
{
	(void)old;
	(void)cur;
	agent_policy_mark_dirty(arg);
}

static void *policy_main(void *arg)
{
	struct agent *a = arg;
	uint64_t last_gc = sl_now_ns();

	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		struct timespec ts;
		bool failed = false;

		/* The identity table may have grown: the checkpoint keeps it so a
		 * restart does not renumber. */
		if (a->ready && a->policy_dirty) {
			if (agent_policy_sync(a) == 0)
				agent_checkpoint(a);
			else
				failed = true; /* retried after the wait below */
		}
		if (a->ready && sl_now_ns() - last_gc >= (uint64_t)POLICY_CT_GC_MS * 1000000ull) {
			struct ct_gc_result res;
			int gerr;

			/* A pass over a large table takes a while; the datapath and
			 * the rest of the agent need no lock for it. */
			pthread_mutex_unlock(&a->lock);
			gerr = ct_gc_run(&a->maps, &res);
			pthread_mutex_lock(&a->lock);
			if (!gerr)
				a->ct_last_gc = res;
			last_gc = sl_now_ns();
		}
		/* Nothing to do, or not yet allowed to (the start-up reconcile
		 * syncs first): sleep, which also lets others take the lock. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		if (!a->ready || !a->policy_dirty || failed)
			pthread_cond_timedwait(&a->policy_cond, &a->lock, &ts);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int agent_policy_start(struct agent *a)
{
	pthread_condattr_t attr;
	int err;

	err = identity_table_new(&a->ids);
	if (err)
		return err;
	if (a->store)
		k8s_store_set_callback(a->store, on_object_change, a);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->policy_cond, &attr);
	pthread_condattr_destroy(&attr);
	a->policy_dirty = true;
	err = -pthread_create(&a->policy_thread, NULL, policy_main, a);
	if (!err)
		a->policy_running = true;
	return err;
}

void agent_policy_stop(struct agent *a)
{
	if (a->policy_running) {
		pthread_mutex_lock(&a->lock);
		a->stopping = true;
		pthread_cond_broadcast(&a->policy_cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->policy_thread, NULL);
		a->policy_running = false;
	}
	policy_state_free(&a->policy);
	identity_table_free(a->ids);
	a->ids = NULL;
}
