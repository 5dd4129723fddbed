// SPDX-License-Identifier: Apache-2.0
/*
 * Label selectors. Validation follows apimachinery's ValidateLabelSelector
 * (label keys and values in label syntax, In/NotIn need values,
 * Exists/DoesNotExist take none, no other operator); matching follows
 * labels.Selector, where NotIn also matches a missing key.
 */
#include "policy/selector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/names.h"

static const char *const op_names[] = {
	[SELECTOR_IN] = "In",
	[SELECTOR_NOT_IN] = "NotIn",
	[SELECTOR_EXISTS] = "Exists",
	[SELECTOR_DOES_NOT_EXIST] = "DoesNotExist",
};

const char *selector_op_name(enum selector_op op)
{
	return (unsigned)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

static int op_parse(const char *s, enum selector_op *out)
{
	for (unsigned i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (!strcmp(s, op_names[i])) {
			*out = (enum selector_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Go decodes a JSON null into a string as "" and into a list or map as nil. */
static bool absent(const json_t *j)
{
	return !j || json_is_null(j);
}

#define FAIL(...)                                                  \
	do {                                                       \
		snprintf(err, SELECTOR_ERR_MAX, __VA_ARGS__);      \
		ret = -EINVAL;                                     \
		goto out;                                          \
	} while (0)

void selector_free(struct selector *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->reqs[i].values);
	free(s->reqs);
	s->reqs = NULL;
	s->n = 0;
}

int selector_parse(const json_t *j, struct selector *out, char err[SELECTOR_ERR_MAX])
{
	const json_t *labels, *exprs, *e, *v;
	struct selector s = { 0 };
	const char *key, *why;
	size_t n, i, k;
	int ret = 0;

	err[0] = '\0';
	if (!json_is_object(j)) {
		snprintf(err, SELECTOR_ERR_MAX, "must be an object");
		return -EINVAL;
	}
	labels = json_object_get(j, "matchLabels");
	exprs = json_object_get(j, "matchExpressions");
	if (!absent(labels) && !json_is_object(labels)) {
		snprintf(err, SELECTOR_ERR_MAX, "matchLabels: must be an object");
		return -EINVAL;
	}
	if (!absent(exprs) && !json_is_array(exprs)) {
		snprintf(err, SELECTOR_ERR_MAX, "matchExpressions: must be a list");
		return -EINVAL;
	}
	n = (json_is_object(labels) ? json_object_size(labels) : 0) + json_array_size(exprs);
	if (!n) {
		*out = s;
		return 0;
	}
	s.reqs = calloc(n, sizeof(*s.reqs));
	if (!s.reqs)
		return -ENOMEM;
	if (json_is_object(labels)) {
		json_object_foreach((json_t *)labels, key, v) {
			struct selector_req *r = &s.reqs[s.n];

			if ((why = k8s_valid_label_key(key)))
				FAIL("matchLabels: invalid key \"%.80s\": %s", key, why);
			if (!absent(v) && !json_is_string(v))
				FAIL("matchLabels[%.80s]: must be a string", key);
			r->key = key;
			r->op = SELECTOR_IN;
			r->values = malloc(sizeof(*r->values));
			if (!r->values) {
				ret = -ENOMEM;
				goto out;
			}
			r->values[0] = absent(v) ? "" : json_string_value(v);
			r->n_values = 1;
			s.n++;
			if ((why = k8s_valid_label_value(r->values[0])))
				FAIL("matchLabels[%.80s]: invalid value \"%.80s\": %s", key, r->values[0], why);
		}
	}
	json_array_foreach(exprs, i, e) {
		struct selector_req *r = &s.reqs[s.n];
		const json_t *jkey = json_object_get(e, "key"), *jop = json_object_get(e, "operator");
		const json_t *vals = json_object_get(e, "values");

		if (!json_is_object(e))
			FAIL("matchExpressions[%zu]: must be an object", i);
		if (!absent(jkey) && !json_is_string(jkey))
			FAIL("matchExpressions[%zu].key: must be a string", i);
		r->key = absent(jkey) ? "" : json_string_value(jkey);
		if (!absent(jop) && !json_is_string(jop))
			FAIL("matchExpressions[%zu].operator: must be a string", i);
		if (!absent(vals) && !json_is_array(vals))
			FAIL("matchExpressions[%zu].values: must be a list", i);
		if (op_parse(absent(jop) ? "" : json_string_value(jop), &r->op))
			FAIL("matchExpressions[%zu].operator: not a valid selector operator: \"%.40s\"", i,
			     absent(jop) ? "" : json_string_value(jop));
		s.n++;
		if (json_array_size(vals) && !(r->values = calloc(json_array_size(vals), sizeof(*r->values)))) {
			ret = -ENOMEM;
			goto out;
		}
		for (k = 0; r->values && k < json_array_size(vals); k++) {
			v = json_array_get(vals, k);
			if (!json_is_string(v))
				FAIL("matchExpressions[%zu].values[%zu]: must be a string", i, k);
			r->values[r->n_values++] = json_string_value(v);
		}
		if ((r->op == SELECTOR_IN || r->op == SELECTOR_NOT_IN) && !r->n_values)
			FAIL("matchExpressions[%zu].values: must be specified when `operator` is 'In' or 'NotIn'", i);
		if ((r->op == SELECTOR_EXISTS || r->op == SELECTOR_DOES_NOT_EXIST) && r->n_values)
			FAIL("matchExpressions[%zu].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
			     i);
		if ((why = k8s_valid_label_key(r->key)))
			FAIL("matchExpressions[%zu].key: invalid value \"%.80s\": %s", i, r->key, why);
		for (k = 0; r->values && k < r->n_values; k++) {
			if ((why = k8s_valid_label_value(r->values[k])))
				FAIL("matchExpressions[%zu].values[%zu]: invalid value \"%.80s\": %s", i, k,
				     r->values[k], why);
		}
	}
out:
	if (ret) {
		selector_free(&s);
		return ret;
	}
	*out = s;
	return 0;
}

static bool req_match(const struct selector_req *r, const struct k8s_labels *labels)
{
	const char *v = k8s_labels_get(labels, r->key);
	bool in = false;

	switch (r->op) {
	case SELECTOR_EXISTS:
		return v != NULL;
	case SELECTOR_DOES_NOT_EXIST:
		return v == NULL;
	case SELECTOR_IN:
	case SELECTOR_NOT_IN:
		for (size_t i = 0; v && i < r->n_values && !in; i++)
			in = !strcmp(v, r->values[i]);
		return r->op == SELECTOR_IN ? in : !in;
	}
	return false;
}

bool selector_match(const struct selector *s, const struct k8s_labels *labels)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!req_match(&s->reqs[i], labels))
			return false;
	}
	return true;
}

void selector_fmt(const struct selector *s, struct sbuf *b)
{
	sbuf_puts(b, "{");
	for (size_t i = 0; i < s->n; i++) {
		const struct selector_req *r = &s->reqs[i];

		if (i)
			sbuf_puts(b, ",");
		switch (r->op) {
		case SELECTOR_EXISTS:
			sbuf_puts(b, r->key);
			break;
		case SELECTOR_DOES_NOT_EXIST:
			sbuf_printf(b, "!%s", r->key);
			break;
		case SELECTOR_IN:
		case SELECTOR_NOT_IN:
			if (r->n_values == 1 && r->op == SELECTOR_IN) {
				sbuf_printf(b, "%s=%s", r->key, r->values[0]);
				break;
			}
			sbuf_printf(b, "%s %s (", r->key, r->op == SELECTOR_IN ? "in" : "notin");
			for (size_t k = 0; k < r->n_values; k++)
				sbuf_printf(b, "%s%s", k ? "," : "", r->values[k]);
			sbuf_puts(b, ")");
			break;
		}
	}
	sbuf_puts(b, "}");
}
