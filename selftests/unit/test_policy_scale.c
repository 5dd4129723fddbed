// SPDX-License-Identifier: Apache-2.0
/* How long a full compile takes and how big its output is, for the sizes
 * the agent must recompile on every change:
 *   (a) 1,000 pods (100 on this node) and 100 policies of mixed kinds;
 *   (b) 10,000 rules (100 policies of 100 rules) over 2,000 pods;
 *   (c) (b) with port ranges and ipBlocks, for the entry count;
 * plus the diff of an unchanged and of a one-pod change. Each scenario is
 * validated (verdicts spot-checked, entries counted) before it is timed;
 * the bounds are loose (a slow CI machine, valgrind), the numbers printed. */
#include "lib/sl_test.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

struct scen {
	struct k8s_store *store;
	struct identity_table *ids;
	struct policy_local_pod *local;
	char (*names)[2][24];
	size_t n_local;
	struct sl_ip host;
	size_t n_pods;
};

/* CPU time of this thread: what the compile costs, whatever else the
 * machine is busy with (test machines run many suites at once). */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put(struct k8s_store *st, json_t *j)
{
	struct k8s_obj *o = NULL;

	assert_int_equal(k8s_obj_from_json(j, &o), 0);
	assert_int_equal(k8s_store_put(st, o, NULL), 0);
	json_decref(j);
}

static void scen_init(struct scen *s, size_t n_ns, size_t n_pods, size_t n_apps, size_t every_local)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(k8s_store_new(&s->store), 0);
	assert_int_equal(identity_table_new(&s->ids), 0);
	s->local = calloc(n_pods, sizeof(*s->local));
	s->names = calloc(n_pods, sizeof(*s->names));
	assert_int_equal(sl_ip_parse("192.168.0.1", &s->host), 0);
	for (size_t i = 0; i < n_ns; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ns%zu", i);
		put(s->store, json_pack("{s:s, s:{s:s, s:{s:s, s:s}}}", "kind", "Namespace", "metadata", "name", name,
					"labels", "kubernetes.io/metadata.name", name, "team", i % 2 ? "odd" : "even"));
	}
	for (size_t i = 0; i < n_pods; i++) {
		char ns[16], name[24], app[16], ip[20];

		snprintf(ns, sizeof(ns), "ns%zu", i % n_ns);
		snprintf(name, sizeof(name), "pod-%zu", i);
		snprintf(app, sizeof(app), "app%zu", (i / n_ns) % n_apps);
		snprintf(ip, sizeof(ip), "10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255, i & 255);
		put(s->store, json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:[{s:s, s:[{s:s, s:i}]}]},"
					" s:{s:[{s:s}]}}",
					"kind", "Pod", "metadata", "name", name, "namespace", ns, "labels", "app", app,
					"tier", i % 3 ? "be" : "fe", "spec", "containers", "name", "c", "ports", "name",
					"http", "containerPort", 8000 + (int)(i % n_apps), "status", "podIPs", "ip", ip));
		/* Every every_local-th pod on average, spread over namespaces and apps. */
		if (((i * 2654435761u) >> 7) % every_local == 0) {
			snprintf(s->names[s->n_local][0], 24, "%s", ns);
			snprintf(s->names[s->n_local][1], 24, "%s", name);
			s->local[s->n_local].ns = s->names[s->n_local][0];
			s->local[s->n_local].name = s->names[s->n_local][1];
			assert_int_equal(sl_ip_parse(ip, &s->local[s->n_local].ip), 0);
			s->n_local++;
		}
	}
	s->n_pods = n_pods;
}

/* Pod i (of scen_init's naming) runs on this node too. */
static void make_local(struct scen *s, size_t i, size_t n_ns)
{
	char ns[16], name[24], ip[20];

	snprintf(ns, sizeof(ns), "ns%zu", i % n_ns);
	snprintf(name, sizeof(name), "pod-%zu", i);
	snprintf(ip, sizeof(ip), "10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255, i & 255);
	for (size_t k = 0; k < s->n_local; k++)
		if (!strcmp(s->local[k].name, name))
			return;
	snprintf(s->names[s->n_local][0], 24, "%s", ns);
	snprintf(s->names[s->n_local][1], 24, "%s", name);
	s->local[s->n_local].ns = s->names[s->n_local][0];
	s->local[s->n_local].name = s->names[s->n_local][1];
	assert_int_equal(sl_ip_parse(ip, &s->local[s->n_local].ip), 0);
	s->n_local++;
}

static void scen_free(struct scen *s)
{
	k8s_store_free(s->store);
	identity_table_free(s->ids);
	free(s->local);
	free(s->names);
}

static void policy(struct scen *s, size_t ns, size_t idx, json_t *spec)
{
	char nsn[16], name[24];

	snprintf(nsn, sizeof(nsn), "ns%zu", ns);
	snprintf(name, sizeof(name), "pol-%zu", idx);
	put(s->store, json_pack("{s:s, s:{s:s, s:s}, s:o}", "kind", "NetworkPolicy", "metadata", "name", name,
				"namespace", nsn, "spec", spec));
}

static int compile_prev(struct scen *s, struct policy_state *st, const struct policy_state *prev)
{
	struct policy_input in = { s->store, s->ids, &s->host, 1, s->local, s->n_local, prev };
	char *warnings = NULL;
	int err = policy_compile(&in, st, &warnings);

	if (warnings)
		fail_msg("unexpected warnings: %.300s", warnings);
	return err;
}

static int compile(struct scen *s, struct policy_state *st)
{
	return compile_prev(s, st, NULL);
}

static size_t state_bytes(const struct policy_state *st)
{
	size_t b = st->n_ipcache * sizeof(*st->ipcache) + st->n_trie * sizeof(*st->trie) +
		   st->n_local * sizeof(*st->local_identity) + st->n_rules * sizeof(*st->rules);

	for (size_t i = 0; i < st->n_rules; i++)
		b += strlen(st->rules[i].text) + strlen(st->rules[i].policy_ns) + strlen(st->rules[i].policy_name) + 3;
	return b;
}

struct timing {
	double min, median;
};

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Compiles `runs` times; the last state stays in *st. */
static struct timing time_compile(struct scen *s, struct policy_state *st, int runs)
{
	double t[16];

	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();

		policy_state_free(st);
		assert_int_equal(compile(s, st), 0);
		t[i] = now_ms() - t0;
	}
	qsort(t, (size_t)runs, sizeof(t[0]), dcmp);
	return (struct timing){ t[0], t[runs / 2] };
}

static int nop_ipc_put(const struct policy_ipcache_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

static int nop_ipc_del(const struct sl_ipcache_key *k, void *arg)
{
	(void)k;
	(*(size_t *)arg)++;
	return 0;
}

static int nop_trie_put(const struct policy_trie_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

static int nop_trie_del(const struct sl_policy_key *k, void *arg)
{
	(void)k;
	(*(size_t *)arg)++;
	return 0;
}

static const struct policy_diff_ops count_ops = { nop_ipc_put, nop_ipc_del, nop_trie_put, nop_trie_del };

static size_t count_prefix(const struct policy_state *st, uint32_t plen)
{
	size_t n = 0;

	for (size_t i = 0; i < st->n_trie; i++)
		n += st->trie[i].key.prefixlen == plen;
	return n;
}

/* heap: what the compile keeps (its state and the identity table). */
static void report(const char *what, const struct scen *s, const struct policy_state *st, struct timing t,
		   size_t heap)
{
	print_message("# %s: %zu pods (%zu local), %zu identities: compile (CPU) min %.1f ms, median %.1f ms;"
		      " %zu ipcache, %zu trie entries (%zu markers, %zu all-port, %zu one-port), %zu rules;"
		      " state %zu KiB; kept %zu KiB (%.0f B/pod)\n",
		      what, s->n_pods, s->n_local, identity_table_count(s->ids), t.min, t.median, st->n_ipcache,
		      st->n_trie, count_prefix(st, SL_POLICY_PREFIX_ISOLATED), count_prefix(st, SL_POLICY_PREFIX_ALL_PORTS),
		      count_prefix(st, SL_POLICY_PREFIX_FULL), st->n_rules, state_bytes(st) / 1024, heap / 1024,
		      (double)heap / (double)s->n_pods);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd; /* large arrays are mmapped chunks */
}

/* (a) 1,000 pods in 10 namespaces, 100 local; 100 policies: a default deny
 * per namespace, app-to-app allows on a named and a numeric port, namespace
 * selectors, and ipBlocks. */
static void test_policy_scale_1000_pods_100_policies(void **state)
{
	struct policy_state st = { 0 }, st2 = { 0 };
	struct timing t;
	struct scen s;
	size_t before, ops = 0;
	double t0, t_diff;

	(void)state;
	scen_init(&s, 10, 1000, 20, 10);
	for (size_t i = 0; i < 100; i++) {
		size_t ns = i % 10;
		char app[16], peer[16];

		snprintf(app, sizeof(app), "app%zu", i % 20);
		snprintf(peer, sizeof(peer), "app%zu", (i + 1) % 20);
		if (i < 10) /* default deny, DNS to the cluster's resolver pods allowed */
			policy(&s, ns, i, json_pack("{s:{}, s:[s,s], s:[{s:[{s:{s:{s:s}}, s:{s:{s:s}}}],"
						     " s:[{s:s, s:i}, {s:s, s:i}]}]}",
						     "podSelector", "policyTypes", "Ingress", "Egress", "egress", "to",
						     "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name", "ns0",
						     "podSelector", "matchLabels", "app", "app0", "ports", "protocol", "UDP",
						     "port", 53, "protocol", "TCP", "port", 53));
		else if (i < 70)
			policy(&s, ns, i, json_pack("{s:{s:{s:s}}, s:[{s:[{s:{s:{s:s}}}], s:[{s:s}, {s:i}]}]}",
						     "podSelector", "matchLabels", "app", app, "ingress", "from",
						     "podSelector", "matchLabels", "app", peer, "ports", "port", "http",
						     "port", 9100));
		else if (i < 90)
			policy(&s, ns, i, json_pack("{s:{s:{s:s}}, s:[{s:[{s:{s:{s:s}}, s:{s:{s:s}}}],"
						     " s:[{s:i, s:i}]}]}",
						     "podSelector", "matchLabels", "app", app, "ingress", "from",
						     "namespaceSelector", "matchLabels", "team", "odd", "podSelector",
						     "matchLabels", "tier", "fe", "ports", "port", 8000, "endPort", 8099));
		else
			policy(&s, ns, i, json_pack("{s:{s:{s:s}}, s:[s], s:[{s:[{s:{s:s, s:[s]}}], s:[{s:i}]}]}",
						     "podSelector", "matchLabels", "app", app, "policyTypes", "Egress",
						     "egress", "to", "ipBlock", "cidr", "10.0.0.0/8", "except", "10.0.1.0/24",
						     "ports", "port", 443));
	}
	before = heap_in_use();
	t = time_compile(&s, &st, 9);
	assert_true(st.n_trie > 100);
	assert_int_equal(st.n_ipcache, 1000 + 1 + 2 + 2); /* pods, host, 2 boundaries, 2 WORLD */
	report("(a) 1000 pods, 100 policies", &s, &st, t, heap_in_use() - before);
	/* Unchanged: a diff that does nothing. */
	assert_int_equal(compile(&s, &st2), 0);
	t0 = now_ms();
	assert_int_equal(policy_state_diff(&st, &st2, &count_ops, &ops), 0);
	t_diff = now_ms() - t0;
	assert_int_equal(ops, 0);
	/* One new pod of an existing label set: one operation. */
	put(s.store, json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:[{s:s}]}, s:{s:[{s:s}]}}", "kind", "Pod",
			       "metadata", "name", "extra", "namespace", "ns0", "labels", "app", "app0", "tier", "fe",
			       "spec", "containers", "name", "c", "status", "podIPs", "ip", "10.200.0.1"));
	policy_state_free(&st2);
	assert_int_equal(compile(&s, &st2), 0);
	assert_int_equal(policy_state_diff(&st, &st2, &count_ops, &ops), 0);
	print_message("# (a) diff of identical states: %.3f ms; a new pod of a known label set: %zu operation(s)\n",
		      t_diff, ops);
	assert_int_equal(ops, 1);
	/* A policy that sorts first: without prev every later rule is
	 * renumbered; with it, only the new entries are written. */
	{
		const struct k8s_pod *subj = k8s_store_pod(s.store, s.local[0].ns, s.local[0].name);

		put(s.store, json_pack("{s:s, s:{s:s, s:s}, s:{s:{s:{s:s}}, s:[{s:[{s:{s:s}}]}]}}", "kind",
				       "NetworkPolicy", "metadata", "name", "aaa", "namespace", s.local[0].ns, "spec",
				       "podSelector", "matchLabels", "app", k8s_labels_get(&subj->obj.labels, "app"),
				       "ingress", "from", "ipBlock", "cidr", "192.0.2.0/24"));
	}
	{
		struct policy_state st3 = { 0 }, st4 = { 0 };
		size_t ops_plain = 0, ops_prev = 0;

		assert_int_equal(compile(&s, &st3), 0);
		assert_int_equal(compile_prev(&s, &st4, &st2), 0);
		assert_int_equal(policy_state_diff(&st2, &st3, &count_ops, &ops_plain), 0);
		assert_int_equal(policy_state_diff(&st2, &st4, &count_ops, &ops_prev), 0);
		print_message("# (a) one policy added that sorts first: %zu map operations without prev, %zu with\n",
			      ops_plain, ops_prev);
		assert_true(ops_prev < ops_plain);
		policy_state_free(&st3);
		policy_state_free(&st4);
	}
	assert_true(t.median < 2000);
	policy_state_free(&st);
	policy_state_free(&st2);
	scen_free(&s);
}

/* (b) 10,000 rules: 100 policies, each selecting one app of a namespace and
 * allowing 100 other apps' pods on a port each. (c) the same with port
 * ranges and an ipBlock in every rule. */
static void rules_10k(bool heavy)
{
	struct policy_state st = { 0 };
	struct timing t;
	struct scen s;
	size_t before;

	scen_init(&s, 10, 2000, 200, 10);
	for (size_t i = 0; i < 100; i++) {
		json_t *rules = json_array();
		char app[16];

		snprintf(app, sizeof(app), "app%zu", i);
		for (size_t r = 0; r < 100; r++) {
			char peer[16], cidr[24];

			snprintf(peer, sizeof(peer), "app%zu", (i + r + 1) % 200);
			snprintf(cidr, sizeof(cidr), "172.%zu.%zu.0/24", 16 + r % 16, i);
			if (heavy)
				json_array_append_new(rules, json_pack("{s:[{s:{s:{s:s}}}, {s:{s:s}}], s:[{s:i, s:i}]}",
								       "from", "podSelector", "matchLabels", "app",
								       peer, "ipBlock", "cidr", cidr, "ports", "port",
								       1000 + (int)r, "endPort", 2000 + (int)r));
			else
				json_array_append_new(rules, json_pack("{s:[{s:{s:{s:s}}, s:{}}], s:[{s:i}]}", "from",
								       "podSelector", "matchLabels", "app", peer,
								       "namespaceSelector", "ports", "port",
								       1000 + (int)r));
		}
		policy(&s, i % 10, i, json_pack("{s:{s:{s:s}}, s:o}", "podSelector", "matchLabels", "app", app,
						 "ingress", rules));
		make_local(&s, 10 * i + i % 10, 10); /* the one pod of app<i> in ns<i % 10> */
	}
	before = heap_in_use();
	t = time_compile(&s, &st, 5);
	assert_int_equal(st.n_rules, 100 * 101);
	report(heavy ? "(c) 10000 rules with ranges and ipBlocks" : "(b) 10000 rules", &s, &st, t,
	       heap_in_use() - before);
	assert_true(st.n_trie > 10000);
	assert_true(t.median < 10000);
	policy_state_free(&st);
	scen_free(&s);
}

static void test_policy_scale_10000_rules(void **state)
{
	(void)state;
	rules_10k(false);
}

static void test_policy_scale_10000_rules_ranges_ipblocks(void **state)
{
	(void)state;
	rules_10k(true);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_policy_scale_1000_pods_100_policies),
	cmocka_unit_test(test_policy_scale_10000_rules),
	cmocka_unit_test(test_policy_scale_10000_rules_ranges_ipblocks),
};

SL_TEST_MAIN(tests, NULL, NULL)
