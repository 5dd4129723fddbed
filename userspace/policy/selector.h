/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes label selectors (metav1.LabelSelector): parsed and validated
 * as the API server validates them, and matched as labels.Selector matches.
 *
 *   matchLabels {k: v}     k present with value v (an "In [v]" requirement)
 *   In [v...]              k present with one of the values
 *   NotIn [v...]           k absent, or present with none of the values
 *   Exists                 k present
 *   DoesNotExist           k absent
 *
 * All requirements must hold; an empty selector ({}) matches everything.
 * Whether an absent selector means "everything" or "nothing" is the
 * caller's business (NetworkPolicy peers give it a meaning of their own).
 *
 * A parsed selector borrows its strings from the JSON it came from: keep
 * that JSON alive while the selector is used.
 */
#ifndef SLUICE_POLICY_SELECTOR_H
#define SLUICE_POLICY_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "k8s/store.h"
#include "policy/sbuf.h"

enum selector_op {
	SELECTOR_IN = 0,
	SELECTOR_NOT_IN,
	SELECTOR_EXISTS,
	SELECTOR_DOES_NOT_EXIST,
};

struct selector_req {
	const char *key;
	enum selector_op op;
	const char **values; /* In / NotIn: at least one */
	size_t n_values;
};

struct selector {
	struct selector_req *reqs; /* matchLabels first (as In), then matchExpressions */
	size_t n;
};

#define SELECTOR_ERR_MAX 256

/* Parses a LabelSelector object. -EINVAL with the reason in err (field
 * path relative to the selector: "matchExpressions[1].operator: not a valid
 * selector operator: \"Equals\"") for what the API server would reject;
 * -ENOMEM. *out is set only on success. */
int selector_parse(const json_t *j, struct selector *out, char err[SELECTOR_ERR_MAX]);
void selector_free(struct selector *s);

bool selector_match(const struct selector *s, const struct k8s_labels *labels);
static inline bool selector_is_empty(const struct selector *s)
{
	return s->n == 0;
}

/* Appends kubectl's notation: "app=web,tier in (a,b),!debug"; "{}" when
 * the selector is empty. */
void selector_fmt(const struct selector *s, struct sbuf *b);

const char *selector_op_name(enum selector_op op);

#endif /* SLUICE_POLICY_SELECTOR_H */
