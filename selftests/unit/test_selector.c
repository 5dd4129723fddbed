// SPDX-License-Identifier: Apache-2.0
/* Label selectors: every operator against present, absent and empty-valued
 * labels, empty vs combined selectors, the API server's validation, and
 * kubectl's notation. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s/yaml_json.h"
#include "policy/selector.h"

/* --- helpers ------------------------------------------------------------------ */

static json_t *yaml(const char *text)
{
	struct yaml_json_error yerr;
	json_t *docs, *doc;

	assert_int_equal(yaml_json_parse(text, strlen(text), &docs, &yerr), 0);
	doc = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return doc;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

/* "app=web,tier=" -> sorted labels pointing into buf. */
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

		assert_non_null(eq);
		*eq = '\0';
		b->v[b->l.n].key = kv;
		b->v[b->l.n].value = eq + 1;
		b->l.n++;
	}
	qsort(b->v, b->l.n, sizeof(*b->v), label_cmp);
	return &b->l;
}

/* --- matching ------------------------------------------------------------------- */

static const struct {
	const char *selector;
	const char *labels;
	bool match;
} match_cases[] = {
	/* empty selector: everything, even nothing */
	{ "{}", "", true },
	{ "{}", "app=web", true },
	{ "{matchLabels: {}, matchExpressions: []}", "app=web", true },
	{ "{matchLabels: null}", "", true },
	/* matchLabels */
	{ "{matchLabels: {app: web}}", "app=web", true },
	{ "{matchLabels: {app: web}}", "app=web,tier=fe", true },
	{ "{matchLabels: {app: web}}", "app=db", false },
	{ "{matchLabels: {app: web}}", "", false },
	{ "{matchLabels: {app: web}}", "App=web", false }, /* keys are case-sensitive */
	{ "{matchLabels: {app: web, tier: fe}}", "app=web", false },
	{ "{matchLabels: {app: web, tier: fe}}", "app=web,tier=fe", true },
	{ "{matchLabels: {app: ''}}", "app=", true },
	{ "{matchLabels: {app: ''}}", "", false },
	{ "{matchLabels: {app: ''}}", "app=web", false },
	/* In */
	{ "{matchExpressions: [{key: app, operator: In, values: [web, db]}]}", "app=web", true },
	{ "{matchExpressions: [{key: app, operator: In, values: [web, db]}]}", "app=db", true },
	{ "{matchExpressions: [{key: app, operator: In, values: [web, db]}]}", "app=cache", false },
	{ "{matchExpressions: [{key: app, operator: In, values: [web, db]}]}", "", false },
	{ "{matchExpressions: [{key: app, operator: In, values: ['']}]}", "app=", true },
	/* NotIn: a missing key matches */
	{ "{matchExpressions: [{key: app, operator: NotIn, values: [web, db]}]}", "app=web", false },
	{ "{matchExpressions: [{key: app, operator: NotIn, values: [web, db]}]}", "app=cache", true },
	{ "{matchExpressions: [{key: app, operator: NotIn, values: [web, db]}]}", "", true },
	{ "{matchExpressions: [{key: app, operator: NotIn, values: [web]}]}", "tier=web", true },
	/* Exists / DoesNotExist */
	{ "{matchExpressions: [{key: app, operator: Exists}]}", "app=web", true },
	{ "{matchExpressions: [{key: app, operator: Exists}]}", "app=", true },
	{ "{matchExpressions: [{key: app, operator: Exists, values: []}]}", "tier=x", false },
	{ "{matchExpressions: [{key: app, operator: DoesNotExist}]}", "tier=x", true },
	{ "{matchExpressions: [{key: app, operator: DoesNotExist}]}", "", true },
	{ "{matchExpressions: [{key: app, operator: DoesNotExist}]}", "app=", false },
	/* everything ANDed */
	{ "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [fe]}]}", "app=web,tier=fe",
	  true },
	{ "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [fe]}]}", "app=web,tier=be",
	  false },
	{ "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [fe]}]}", "tier=fe", false },
	{ "{matchExpressions: [{key: a, operator: Exists}, {key: b, operator: DoesNotExist}]}", "a=1", true },
	{ "{matchExpressions: [{key: a, operator: Exists}, {key: b, operator: DoesNotExist}]}", "a=1,b=2", false },
	{ "{matchExpressions: [{key: a, operator: In, values: [x]}, {key: a, operator: NotIn, values: [x]}]}", "a=x",
	  false },
	/* prefixed keys */
	{ "{matchLabels: {kubernetes.io/metadata.name: prod}}", "kubernetes.io/metadata.name=prod", true },
	{ "{matchExpressions: [{key: example.com/team, operator: In, values: [a]}]}", "example.com/team=a", true },
	{ "{matchExpressions: [{key: example.com/team, operator: In, values: [a]}]}", "team=a", false },
};

static void test_selector_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		char why[SELECTOR_ERR_MAX];
		struct labels_buf lb;
		struct selector s;
		json_t *j = yaml(match_cases[i].selector);
		int err = selector_parse(j, &s, why);

		if (err)
			fail_msg("case %zu %s: parse: %s", i, match_cases[i].selector, why);
		if (selector_match(&s, labels(&lb, match_cases[i].labels)) != match_cases[i].match)
			fail_msg("case %zu: %s against {%s}: want %s", i, match_cases[i].selector, match_cases[i].labels,
				 match_cases[i].match ? "match" : "no match");
		selector_free(&s);
		json_decref(j);
	}
}

/* --- validation -------------------------------------------------------------------- */

static const struct {
	const char *selector;
	const char *why; /* a part of the message */
} invalid_cases[] = {
	{ "[]", "must be an object" },
	{ "{matchLabels: [a]}", "matchLabels: must be an object" },
	{ "{matchExpressions: {key: a}}", "matchExpressions: must be a list" },
	{ "{matchExpressions: [a]}", "matchExpressions[0]: must be an object" },
	{ "{matchExpressions: [{key: a, operator: Equals, values: [x]}]}", "not a valid selector operator" },
	{ "{matchExpressions: [{key: a, operator: in, values: [x]}]}", "not a valid selector operator" },
	{ "{matchExpressions: [{key: a, values: [x]}]}", "not a valid selector operator" },
	{ "{matchExpressions: [{key: a, operator: Gt, values: ['1']}]}", "not a valid selector operator" },
	{ "{matchExpressions: [{key: a, operator: In}]}", "must be specified when `operator` is 'In' or 'NotIn'" },
	{ "{matchExpressions: [{key: a, operator: NotIn, values: []}]}", "must be specified when" },
	{ "{matchExpressions: [{key: a, operator: Exists, values: [x]}]}", "may not be specified when" },
	{ "{matchExpressions: [{key: a, operator: DoesNotExist, values: [x]}]}", "may not be specified when" },
	{ "{matchExpressions: [{operator: Exists}]}", "key: invalid value \"\"" },
	{ "{matchExpressions: [{key: -a, operator: Exists}]}", "key: invalid value \"-a\"" },
	{ "{matchExpressions: [{key: a/b/c, operator: Exists}]}", "key" },
	{ "{matchExpressions: [{key: UPPER.com/a, operator: Exists}]}", "prefix part" },
	{ "{matchExpressions: [{key: a, operator: In, values: ['a b']}]}", "values[0]: invalid value" },
	{ "{matchExpressions: [{key: a, operator: In, values: [ok, 1]}]}", "values[1]: must be a string" },
	{ "{matchExpressions: [{key: a, operator: In, values: "
	  "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]}]}",
	  "no more than 63" },
	{ "{matchLabels: {'a b': x}}", "matchLabels: invalid key" },
	{ "{matchLabels: {a: -x}}", "invalid value \"-x\"" },
	{ "{matchLabels: {a: 1}}", "must be a string" },
	{ "{matchLabels: {ok: x}, matchExpressions: [{key: a, operator: Nope}]}", "matchExpressions[0].operator" },
};

static void test_selector_invalid_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		char why[SELECTOR_ERR_MAX];
		struct selector s = { 0 };
		json_t *j = yaml(invalid_cases[i].selector);
		int err = selector_parse(j, &s, why);

		if (err != -EINVAL)
			fail_msg("case %zu %s: want -EINVAL, got %d", i, invalid_cases[i].selector, err);
		if (!strstr(why, invalid_cases[i].why))
			fail_msg("case %zu %s: message \"%s\" lacks \"%s\"", i, invalid_cases[i].selector, why,
				 invalid_cases[i].why);
		assert_null(s.reqs); /* untouched on error */
		json_decref(j);
	}
}

static void test_selector_fmt(void **state)
{
	static const struct {
		const char *selector, *text;
	} cases[] = {
		{ "{}", "{}" },
		{ "{matchLabels: {app: web}}", "{app=web}" },
		{ "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [a, b]},"
		  " {key: x, operator: NotIn, values: [y]}, {key: debug, operator: DoesNotExist},"
		  " {key: team, operator: Exists}]}",
		  "{app=web,tier in (a,b),x notin (y),!debug,team}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[SELECTOR_ERR_MAX];
		struct sbuf b = { 0 };
		struct selector s;
		json_t *j = yaml(cases[i].selector);

		assert_int_equal(selector_parse(j, &s, why), 0);
		selector_fmt(&s, &b);
		assert_string_equal(b.s, cases[i].text);
		assert_true(selector_is_empty(&s) == (i == 0));
		sbuf_free(&b);
		selector_free(&s);
		json_decref(j);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_selector_match_table),
	cmocka_unit_test(test_selector_invalid_table),
	cmocka_unit_test(test_selector_fmt),
};

SL_TEST_MAIN(tests, NULL, NULL)
