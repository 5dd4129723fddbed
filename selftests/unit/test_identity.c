// SPDX-License-Identifier: Apache-2.0
/* The identity table: stable numbers per label set and per CIDR, gc that
 * forgets without reusing, and the JSON the agent checkpoints. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

/* --- helpers ------------------------------------------------------------------ */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

struct labels_buf {
	char text[256];
	struct k8s_label v[8];
	struct k8s_labels l;
};

static const struct k8s_labels *labels(struct labels_buf *b, const char *spec)
{
	char *save = NULL;

	snprintf(b->text, sizeof(b->text), "%s", spec);
	b->l.v = b->v;
	b->l.n = 0;
	for (char *kv = strtok_r(b->text, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		*eq = '\0';
		b->v[b->l.n].key = kv;
		b->v[b->l.n].value = eq + 1;
		b->l.n++;
	}
	qsort(b->v, b->l.n, sizeof(*b->v), label_cmp);
	return &b->l;
}

static uint32_t get(struct identity_table *t, const char *ns, const char *pod_labels, const char *ns_labels)
{
	struct labels_buf a, b;

	return identity_table_get_or_add(t, ns, labels(&a, pod_labels), labels(&b, ns_labels));
}

static uint32_t get_cidr(struct identity_table *t, const char *s)
{
	struct sl_prefix p;

	assert_int_equal(sl_prefix_parse(s, false, &p), 0);
	return identity_table_get_or_add_cidr(t, &p);
}

static json_t *json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad test JSON: %s", e.text);
	return j;
}

/* --- tests ------------------------------------------------------------------------ */

static void test_identity_stable_per_label_set(void **state)
{
	struct identity_table *t;
	const struct identity *id;
	uint32_t web, db, web_b, web2;

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	web = get(t, "a", "app=web,tier=fe", "kubernetes.io/metadata.name=a");
	db = get(t, "a", "app=db", "kubernetes.io/metadata.name=a");
	web_b = get(t, "b", "app=web,tier=fe", "kubernetes.io/metadata.name=b");
	assert_int_equal(web, SL_ID_FIRST_LABELS);
	assert_int_equal(db, SL_ID_FIRST_LABELS + 1);
	assert_int_equal(web_b, SL_ID_FIRST_LABELS + 2);
	/* The same set again, labels given in another order: the same number. */
	assert_int_equal(get(t, "a", "tier=fe,app=web", "kubernetes.io/metadata.name=a"), web);
	/* Namespace labels are part of the set; so is a pod label vs a namespace label. */
	web2 = get(t, "a", "app=web,tier=fe", "kubernetes.io/metadata.name=a,team=x");
	assert_int_not_equal(web2, web);
	assert_int_not_equal(get(t, "a", "", "app=web,tier=fe,kubernetes.io/metadata.name=a"), web);
	/* A label with an empty value differs from no label. */
	assert_int_not_equal(get(t, "a", "app=web,tier=fe,x=", "kubernetes.io/metadata.name=a"), web);
	/* NULL namespace is "". */
	assert_int_equal(identity_table_get_or_add(t, NULL, NULL, NULL), get(t, "", "", ""));

	id = identity_table_lookup(t, web);
	assert_non_null(id);
	assert_string_equal(id->ns, "a");
	assert_int_equal(id->labels.n, 2);
	assert_string_equal(id->labels.v[0].key, "app");
	assert_string_equal(id->labels.v[0].value, "web");
	assert_string_equal(k8s_labels_get(&id->ns_labels, "kubernetes.io/metadata.name"), "a");
	assert_null(identity_table_lookup(t, 9999));
	assert_null(identity_table_lookup(t, SL_ID_ANY));
	identity_table_free(t);
}

static void test_identity_cidr_classes(void **state)
{
	struct identity_table *t;
	const struct identity *id;
	uint32_t a, b;
	char buf[SL_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	a = get_cidr(t, "10.0.0.0/8");
	b = get_cidr(t, "10.0.0.0/16");
	assert_int_equal(a, SL_ID_FIRST_CIDR);
	assert_int_equal(b, SL_ID_FIRST_CIDR + 1);
	assert_int_equal(get_cidr(t, "10.1.2.3/8"), a); /* host bits do not matter */
	assert_int_not_equal(get_cidr(t, "fd00::/8"), a);
	assert_int_equal(get(t, "a", "", ""), SL_ID_FIRST_LABELS); /* ranges are separate */
	id = identity_table_lookup(t, b);
	assert_string_equal(sl_prefix_fmt(&id->cidr, buf), "10.0.0.0/16");
	assert_int_equal(identity_table_count(t), 4);
	identity_table_free(t);
}

static int collect(const struct identity *id, void *arg)
{
	uint32_t *v = arg;

	v[++v[0]] = id->id;
	return v[0] == 3 ? 42 : 0;
}

static void test_identity_for_each_in_order(void **state)
{
	struct identity_table *t;
	uint32_t seen[8] = { 0 };

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	get_cidr(t, "10.0.0.0/8");
	for (int i = 0; i < 5; i++) {
		char l[16];

		snprintf(l, sizeof(l), "i=%d", i);
		get(t, "a", l, "");
	}
	/* In id order, and the first non-zero return stops it. */
	assert_int_equal(identity_table_for_each(t, collect, seen), 42);
	assert_int_equal(seen[0], 3);
	assert_int_equal(seen[1], 256);
	assert_int_equal(seen[2], 257);
	assert_int_equal(seen[3], 258);
	identity_table_free(t);
}

static void test_identity_gc_forgets_without_reuse(void **state)
{
	struct identity_table *t;
	uint32_t a, b, c, cidr, b2;

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	a = get(t, "n", "app=a", "");
	b = get(t, "n", "app=b", "");
	cidr = get_cidr(t, "192.168.0.0/16");
	/* Everything was used since the table began. */
	assert_int_equal(identity_table_gc(t), 0);
	/* Only a and the CIDR are used this round. */
	assert_int_equal(get(t, "n", "app=a", ""), a);
	assert_int_equal(get_cidr(t, "192.168.0.0/16"), cidr);
	assert_int_equal(identity_table_gc(t), 1);
	assert_null(identity_table_lookup(t, b));
	assert_non_null(identity_table_lookup(t, a));
	/* b's number is not handed out again, neither to a new set nor to b. */
	c = get(t, "n", "app=c", "");
	b2 = get(t, "n", "app=b", "");
	assert_int_not_equal(c, b);
	assert_int_not_equal(b2, b);
	assert_int_not_equal(b2, c);
	/* a and the CIDR were not used since the last gc; c and b2 were, once. */
	assert_int_equal(identity_table_gc(t), 2);
	assert_int_equal(identity_table_gc(t), 2);
	assert_int_equal(identity_table_count(t), 0);
	identity_table_free(t);
}

static void test_identity_json_round_trip(void **state)
{
	struct identity_table *t, *u;
	uint32_t a, b, cidr, gone, next;
	json_t *j, *j2;

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	a = get(t, "prod", "app=web,tier=fe", "kubernetes.io/metadata.name=prod,team=x");
	gone = get(t, "prod", "app=old", "");
	b = get(t, "", "", "");
	cidr = get_cidr(t, "fd00:1::/64");
	assert_int_equal(identity_table_gc(t), 0);
	get(t, "prod", "app=web,tier=fe", "kubernetes.io/metadata.name=prod,team=x");
	get(t, "", "", "");
	get_cidr(t, "fd00:1::/64");
	assert_int_equal(identity_table_gc(t), 1); /* "gone" is forgotten */
	j = identity_table_to_json(t);
	assert_non_null(j);

	assert_int_equal(identity_table_new(&u), 0);
	assert_int_equal(identity_table_from_json(u, j), 0);
	assert_int_equal(identity_table_count(u), 3);
	/* The same label sets have the same numbers after the restart. */
	assert_int_equal(get(u, "prod", "tier=fe,app=web", "team=x,kubernetes.io/metadata.name=prod"), a);
	assert_int_equal(get(u, "", "", ""), b);
	assert_int_equal(get_cidr(u, "fd00:1::/64"), cidr);
	/* And the counters came along: the forgotten number stays unused. */
	next = get(u, "prod", "app=new", "");
	assert_true(next > gone);
	/* Serializing the loaded table gives the same document (plus "new"). */
	j2 = identity_table_to_json(u);
	assert_int_equal(json_array_size(json_object_get(j2, "identities")), 3);
	assert_int_equal(json_array_size(json_object_get(j2, "cidrs")), 1);
	/* Loading needs an empty table. */
	assert_int_equal(identity_table_from_json(u, j), -EEXIST);
	json_decref(j2);
	json_decref(j);
	identity_table_free(u);
	identity_table_free(t);
}

static void test_identity_json_rejects_damage(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{}",                                       /* no version */
		"{\"version\":2}",
		"{\"version\":1,\"identities\":{}}",
		"{\"version\":1,\"identities\":[{\"id\":5,\"namespace\":\"a\"}]}", /* reserved range */
		"{\"version\":1,\"identities\":[{\"id\":16777216,\"namespace\":\"a\"}]}", /* CIDR range */
		"{\"version\":1,\"identities\":[{\"id\":300,\"namespace\":\"a\"},{\"id\":300,\"namespace\":\"b\"}]}",
		"{\"version\":1,\"identities\":[{\"id\":300,\"namespace\":\"a\"},{\"id\":301,\"namespace\":\"a\"}]}",
		"{\"version\":1,\"identities\":[{\"id\":300,\"labels\":{\"a\":1}}]}",
		"{\"version\":1,\"identities\":[{\"id\":300,\"labels\":[]}]}",
		"{\"version\":1,\"identities\":[{\"id\":\"300\"}]}",
		"{\"version\":1,\"cidrs\":[{\"id\":300,\"cidr\":\"10.0.0.0/8\"}]}",
		"{\"version\":1,\"cidrs\":[{\"id\":16777216,\"cidr\":\"10.0.0.1/8\"}]}",
		"{\"version\":1,\"cidrs\":[{\"id\":16777216,\"cidr\":\"10.0.0.1\"}]}",
		"{\"version\":1,\"cidrs\":[{\"id\":16777216,\"cidr\":\"10.0.0.0/8\"},{\"id\":16777217,\"cidr\":\"10.0.0.0/8\"}]}",
		"{\"version\":1,\"next\":10}",
		"{\"version\":1,\"identities\":[{\"id\":300}],\"cidrs\":[{\"id\":300,\"cidr\":\"10.0.0.0/8\"}]}",
	};
	struct identity_table *t;

	(void)state;
	assert_int_equal(identity_table_new(&t), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json(bad[i]);

		if (identity_table_from_json(t, j) != -EINVAL)
			fail_msg("case %zu: %s: want -EINVAL", i, bad[i]);
		assert_int_equal(identity_table_count(t), 0); /* left empty */
		json_decref(j);
	}
	identity_table_free(t);
}

static void test_identity_numbers_wrap_past_the_range(void **state)
{
	struct identity_table *t;
	json_t *j;
	char text[256];

	(void)state;
	/* The counter at the last label number, with 256 taken. */
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"next\":%u,\"identities\":[{\"id\":256,\"namespace\":\"a\"}]}",
		 SL_ID_FIRST_CIDR - 1);
	j = json(text);
	assert_int_equal(identity_table_new(&t), 0);
	assert_int_equal(identity_table_from_json(t, j), 0);
	assert_int_equal(get(t, "b", "", ""), SL_ID_FIRST_CIDR - 1);
	assert_int_equal(get(t, "c", "", ""), 257); /* wrapped, 256 skipped */
	assert_int_equal(get(t, "a", "", ""), 256);
	json_decref(j);
	identity_table_free(t);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_identity_stable_per_label_set),
	cmocka_unit_test(test_identity_cidr_classes),
	cmocka_unit_test(test_identity_for_each_in_order),
	cmocka_unit_test(test_identity_gc_forgets_without_reuse),
	cmocka_unit_test(test_identity_json_round_trip),
	cmocka_unit_test(test_identity_json_rejects_damage),
	cmocka_unit_test(test_identity_numbers_wrap_past_the_range),
};

SL_TEST_MAIN(tests, NULL, NULL)
