// SPDX-License-Identifier: Apache-2.0
/* Every allocation of a compile, made to fail in turn: the compile returns
 * -ENOMEM with an empty state and leaves nothing allocated behind, and a
 * later compile gives the same state as one that never failed. Likewise for
 * loading and saving the identity table.
 *
 * The allocator is interposed (glibc supports replacing malloc by ELF
 * interposition) and counts live blocks, which is the leak check here.
 * Under valgrind, whose allocator replaces this one, the tests skip. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s/yaml_json.h"
#include "policy/policy.h"

/* --- the allocator ----------------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long fail_in = -1; /* allocations until one fails; -1: never */
static long live;         /* blocks allocated and not freed */

static bool should_fail(void)
{
	if (fail_in < 0)
		return false;
	return fail_in-- == 0;
}

void *malloc(size_t n)
{
	void *p = should_fail() ? NULL : __libc_malloc(n);

	live += p != NULL;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = should_fail() ? NULL : __libc_calloc(n, size);

	live += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (!old)
		return malloc(n);
	if (!n) {
		free(old);
		return NULL;
	}
	p = should_fail() ? NULL : __libc_realloc(old, n);
	return p;
}

void free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}

static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* --- the world ------------------------------------------------------------------------ */

static const char world[] =
	"{kind: Namespace, metadata: {name: a, labels: {kubernetes.io/metadata.name: a, team: x}}}\n---\n"
	"{kind: Pod, metadata: {name: web, namespace: a, labels: {app: web}},"
	" spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}, status: {podIP: 10.0.0.1}}\n---\n"
	"{kind: Pod, metadata: {name: db, namespace: a, labels: {app: db}},"
	" spec: {containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}, status: {podIP: 10.0.0.2}}\n---\n"
	"{kind: Pod, metadata: {name: far, namespace: b, labels: {app: web}}, spec: {containers: [{name: c}]},"
	" status: {podIPs: [{ip: 10.0.9.1}, {ip: 'fd00::9'}]}}\n---\n"
	"{kind: NetworkPolicy, metadata: {name: db, namespace: a}, spec: {podSelector: {matchLabels: {app: db}},"
	" policyTypes: [Ingress, Egress],"
	" ingress: [{from: [{podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {team: x}}},"
	" {ipBlock: {cidr: 10.0.0.0/8, except: [10.0.9.0/24]}}], ports: [{port: pg}, {port: 9000, endPort: 9100}]}],"
	" egress: [{ports: [{port: http}, {protocol: UDP, port: 53}]}, {to: [{ipBlock: {cidr: 'fd00::/64'}}]}]}}\n---\n"
	"{kind: NetworkPolicy, metadata: {name: all, namespace: a}, spec: {podSelector: {}, ingress: [{}]}}\n---\n"
	"{kind: NetworkPolicy, metadata: {name: bad, namespace: a}, spec: {ingress: [{from: [{}]}]}}\n";

struct fx {
	struct k8s_store *store;
	struct identity_table *ids;
	struct policy_local_pod local[3];
	struct sl_ip host;
};

static void fx_init(struct fx *f)
{
	struct yaml_json_error yerr;
	json_t *docs, *doc;
	size_t i;

	memset(f, 0, sizeof(*f));
	assert_int_equal(k8s_store_new(&f->store), 0);
	assert_int_equal(identity_table_new(&f->ids), 0);
	assert_int_equal(yaml_json_parse(world, strlen(world), &docs, &yerr), 0);
	json_array_foreach(docs, i, doc) {
		struct k8s_obj *o = NULL;

		assert_int_equal(k8s_obj_from_json(doc, &o), 0);
		assert_int_equal(k8s_store_put(f->store, o, NULL), 0);
	}
	json_decref(docs);
	f->local[0] = (struct policy_local_pod){ .ns = "a", .name = "web" };
	f->local[1] = (struct policy_local_pod){ .ns = "a", .name = "db" };
	f->local[2] = (struct policy_local_pod){ .ns = "a", .name = "ghost" };
	assert_int_equal(sl_ip_parse("10.0.0.1", &f->local[0].ip), 0);
	assert_int_equal(sl_ip_parse("10.0.0.2", &f->local[1].ip), 0);
	assert_int_equal(sl_ip_parse("10.0.0.3", &f->local[2].ip), 0);
	assert_int_equal(sl_ip_parse("192.168.0.1", &f->host), 0);
}

static void fx_fini(struct fx *f)
{
	identity_table_free(f->ids);
	k8s_store_free(f->store);
}

static int compile(struct fx *f, struct policy_state *st, const struct policy_state *prev, char **warnings)
{
	struct policy_input in = { f->store, f->ids, &f->host, 1, f->local, 3, prev };

	return policy_compile(&in, st, warnings);
}

static bool same_state(const struct policy_state *a, const struct policy_state *b)
{
	if (a->n_ipcache != b->n_ipcache || a->n_trie != b->n_trie || a->n_rules != b->n_rules ||
	    memcmp(a->ipcache, b->ipcache, a->n_ipcache * sizeof(*a->ipcache)) ||
	    memcmp(a->trie, b->trie, a->n_trie * sizeof(*a->trie)))
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (strcmp(a->rules[i].text, b->rules[i].text))
			return false;
	return true;
}

static void test_policy_nomem_compile(void **state)
{
	struct policy_state good = { 0 };
	char *warnings = NULL;
	struct fx f;
	long points = 0;

	(void)state;
	if (under_valgrind())
		skip();
	fx_init(&f);
	/* The identity table learns every label set and CIDR once. */
	assert_int_equal(compile(&f, &good, NULL, &warnings), 0);
	assert_non_null(warnings);
	assert_non_null(strstr(warnings, "must specify a peer"));
	free(warnings);
	assert_true(good.n_trie > 5);
	for (int with_prev = 0; with_prev < 2; with_prev++) {
		for (long k = 0;; k++) {
			struct policy_state st = { 0 };
			long before = live;
			int err;

			warnings = NULL;
			fail_in = k;
			err = compile(&f, &st, with_prev ? &good : NULL, &warnings);
			fail_in = -1;
			if (!err) {
				assert_true(same_state(&st, &good));
				policy_state_free(&st);
				free(warnings);
				assert_int_equal(live, before);
				break;
			}
			if (err != -ENOMEM)
				fail_msg("failing allocation %ld: %d, want -ENOMEM", k, err);
			/* Nothing half-built comes back, nothing stays allocated. */
			assert_null(st.trie);
			assert_null(st.ipcache);
			assert_null(st.rules);
			assert_int_equal(st.n_trie + st.n_ipcache + st.n_rules + st.n_local, 0);
			assert_null(warnings);
			if (live != before)
				fail_msg("failing allocation %ld: %ld blocks leaked", k, live - before);
			points++;
		}
	}
	print_message("# %ld allocation failures survived\n", points);
	assert_true(points > 50);
	policy_state_free(&good);
	fx_fini(&f);
}

static void test_policy_nomem_identity_json(void **state)
{
	struct fx f;
	struct policy_state st = { 0 };
	char *warnings = NULL;
	json_t *j, *saved;
	long points = 0;

	(void)state;
	if (under_valgrind())
		skip();
	fx_init(&f);
	assert_int_equal(compile(&f, &st, NULL, &warnings), 0);
	free(warnings);
	saved = identity_table_to_json(f.ids);
	assert_non_null(saved);
	for (long k = 0;; k++) {
		long before = live;

		fail_in = k;
		j = identity_table_to_json(f.ids);
		fail_in = -1;
		if (j) {
			assert_true(json_equal(j, saved));
			json_decref(j);
			assert_int_equal(live, before);
			break;
		}
		assert_int_equal(live, before);
		points++;
	}
	for (long k = 0;; k++) {
		struct identity_table *t;
		long before = live;
		int err;

		assert_int_equal(identity_table_new(&t), 0);
		fail_in = k;
		err = identity_table_from_json(t, saved);
		fail_in = -1;
		if (!err) {
			assert_int_equal(identity_table_count(t), identity_table_count(f.ids));
			identity_table_free(t);
			assert_int_equal(live, before);
			break;
		}
		assert_int_equal(err, -ENOMEM);
		assert_int_equal(identity_table_count(t), 0);
		identity_table_free(t);
		assert_int_equal(live, before);
		points++;
	}
	print_message("# %ld allocation failures survived\n", points);
	json_decref(saved);
	policy_state_free(&st);
	fx_fini(&f);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_policy_nomem_compile),
	cmocka_unit_test(test_policy_nomem_identity_json),
};

SL_TEST_MAIN(tests, NULL, NULL)
