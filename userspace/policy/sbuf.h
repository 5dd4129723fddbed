/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable string for the policy compiler's texts (rule texts, warnings).
 * An allocation failure is sticky: later appends do nothing and sbuf_err()
 * says -ENOMEM, so callers check once at the end instead of after each
 * append.
 */
#ifndef SLUICE_POLICY_SBUF_H
#define SLUICE_POLICY_SBUF_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s; /* NUL-terminated once anything was appended; NULL before */
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) void sbuf_printf(struct sbuf *b, const char *fmt, ...);
void sbuf_puts(struct sbuf *b, const char *s);
static inline int sbuf_err(const struct sbuf *b)
{
	return b->oom ? -ENOMEM : 0;
}
/* Hands the text over (NULL when nothing was appended or on -ENOMEM). */
char *sbuf_take(struct sbuf *b);
void sbuf_free(struct sbuf *b);

#endif /* SLUICE_POLICY_SBUF_H */
