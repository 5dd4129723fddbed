// SPDX-License-Identifier: Apache-2.0
/*
 * libyaml's event API feeding an explicit stack of open collections: depth is
 * bounded by YAML_JSON_MAX_DEPTH, not by the C stack.
 */
#include "k8s/yaml_json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* Aliases may copy at most this many nodes, or ten times the document's own
 * nodes when that is more: enough for any sane reuse, linear in the input. */
#define ALIAS_NODES_MIN 10000
#define ALIAS_RATIO 10

struct anchor {
	char *name;
	json_t *val;
	size_t nodes; /* values in val, counted once per alias expansion */
};

struct frame {
	json_t *val;     /* the object or array being built */
	json_t *merged;  /* mapping: keys brought in by "<<", applied at the end */
	char *anchor;    /* recorded when the collection closes */
	size_t nodes_at_start;
	char *key;       /* mapping: the pending key, NULL when a key is next */
	bool merge_key;  /* mapping: the pending key is "<<" */
	yaml_mark_t key_mark;
};

struct builder {
	struct frame stack[YAML_JSON_MAX_DEPTH];
	int depth;
	json_t *root;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t nodes, alias_nodes;
	struct yaml_json_error *err;
	unsigned doc;
	bool in_doc; /* between DOCUMENT-START and DOCUMENT-END */
};

__attribute__((format(printf, 3, 4))) static int fail(struct builder *b, const yaml_mark_t *mark,
						      const char *fmt, ...)
{
	va_list ap;

	b->err->doc = b->doc;
	b->err->line = mark ? (unsigned)mark->line + 1 : 0;
	b->err->column = mark ? (unsigned)mark->column + 1 : 0;
	va_start(ap, fmt);
	vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *yaml_json_error_fmt(const struct yaml_json_error *err, char *buf, size_t len)
{
	if (err->line)
		snprintf(buf, len, "line %u, column %u: %s", err->line, err->column, err->msg);
	else
		snprintf(buf, len, "%s", err->msg);
	return buf;
}

static void frame_release(struct frame *f)
{
	json_decref(f->val);
	json_decref(f->merged);
	free(f->anchor);
	free(f->key);
	memset(f, 0, sizeof(*f));
}

static void anchors_clear(struct builder *b)
{
	for (size_t i = 0; i < b->n_anchors; i++) {
		free(b->anchors[i].name);
		json_decref(b->anchors[i].val);
	}
	b->n_anchors = 0;
}

static void builder_reset_doc(struct builder *b)
{
	while (b->depth > 0)
		frame_release(&b->stack[--b->depth]);
	json_decref(b->root);
	b->root = NULL;
	anchors_clear(b);
	b->nodes = b->alias_nodes = 0;
}

/* A later anchor of the same name shadows an earlier one, as YAML says. */
static int anchor_add(struct builder *b, const char *name, json_t *val, size_t nodes)
{
	struct anchor *a;

	if (b->n_anchors == b->cap_anchors) {
		size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 8;

		a = realloc(b->anchors, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		b->anchors = a;
		b->cap_anchors = cap;
	}
	a = &b->anchors[b->n_anchors];
	a->name = strdup(name);
	if (!a->name)
		return -ENOMEM;
	a->val = json_incref(val);
	a->nodes = nodes;
	b->n_anchors++;
	return 0;
}

static const struct anchor *anchor_find(const struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, name))
			return &b->anchors[i];
	return NULL;
}

/* "<<: map" or "<<: [map, ...]": earlier maps win over later ones, and the
 * mapping's own keys over all of them (applied when the mapping closes). */
static int merge_into(struct builder *b, struct frame *f, json_t *val, const yaml_mark_t *mark)
{
	size_t n = json_is_array(val) ? json_array_size(val) : 1;

	if (!f->merged && !(f->merged = json_object()))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_is_array(val) ? json_array_get(val, i) : val;
		const char *k;
		json_t *v;

		if (!json_is_object(m))
			return fail(b, mark, "merge key \"<<\" needs a mapping or a sequence of mappings");
		json_object_foreach(m, k, v) {
			if (!json_object_get(f->merged, k) && json_object_set(f->merged, k, v))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Adds a finished value (reference stolen) to the open collection, or makes
 * it the document's root. */
static int add_value(struct builder *b, json_t *val, const yaml_mark_t *mark)
{
	struct frame *f;
	int err = 0;

	if (b->depth == 0) {
		b->root = val;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (json_is_array(f->val)) {
		if (json_array_append_new(f->val, val))
			return -ENOMEM;
		return 0;
	}
	if (!f->key && !f->merge_key) {
		json_decref(val);
		return fail(b, mark, "mapping keys must be scalars");
	}
	if (f->merge_key) {
		err = merge_into(b, f, val, mark);
		json_decref(val);
	} else if (json_object_get(f->val, f->key)) {
		json_decref(val);
		err = fail(b, &f->key_mark, "duplicate mapping key \"%s\"", f->key);
	} else if (json_object_set_new(f->val, f->key, val)) {
		err = -ENOMEM;
	}
	free(f->key);
	f->key = NULL;
	f->merge_key = false;
	return err;
}

static bool in_set(const char *s, size_t len, const char *const *set)
{
	for (; *set; set++)
		if (strlen(*set) == len && !memcmp(s, *set, len))
			return true;
	return false;
}

static bool is_null_word(const char *s, size_t len)
{
	static const char *const words[] = { "~", "null", "Null", "NULL", NULL };

	return !len || in_set(s, len, words);
}

static int bool_word(const char *s, size_t len)
{
	static const char *const t[] = { "true", "True", "TRUE", NULL };
	static const char *const f[] = { "false", "False", "FALSE", NULL };

	return in_set(s, len, t) ? 1 : in_set(s, len, f) ? 0 : -1;
}

static bool all_in(const char *s, size_t len, const char *chars)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!s[i] || !strchr(chars, s[i]))
			return false;
	return true;
}

#define DIGITS "0123456789"

/* Core schema ints: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+. Returns 1 and
 * sets *out (an integer, or a real for decimals beyond int64), 0 if s is no
 * int, -ERANGE for an octal or hex value beyond int64. */
static int parse_int(const char *s, size_t len, json_t **out)
{
	const char *digits = s;
	size_t n = len;
	int base = 10;
	long long v;
	char *end;

	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		base = s[1] == 'o' ? 8 : 16;
		digits += 2;
		n -= 2;
		if (!all_in(digits, n, base == 8 ? "01234567" : DIGITS "abcdefABCDEF"))
			return 0;
	} else {
		if (n && (*digits == '-' || *digits == '+')) {
			digits++;
			n--;
		}
		if (!all_in(digits, n, DIGITS))
			return 0;
		digits = s; /* strtoll takes the sign */
	}
	errno = 0;
	v = strtoll(digits, &end, base);
	if (errno == ERANGE) {
		if (base != 10)
			return -ERANGE;
		*out = json_real(strtod(s, NULL));
	} else {
		*out = json_integer(v);
	}
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t len)
{
	size_t i = 0, int_digits = 0, frac_digits = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, int_digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, frac_digits++;
		if (!int_digits && !frac_digits)
			return false;
	} else if (!int_digits) {
		return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, exp_digits++;
		if (!exp_digits)
			return false;
	}
	return i == len;
}

static bool is_inf_or_nan(const char *s, size_t len)
{
	static const char *const words[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					     "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
					     NULL };

	return in_set(s, len, words);
}

enum scalar_type { T_AUTO, T_STR, T_INT, T_FLOAT, T_BOOL, T_NULL };

static int tag_type(struct builder *b, const char *tag, const yaml_mark_t *mark, enum scalar_type *t)
{
	static const struct {
		const char *name;
		enum scalar_type type;
	} tags[] = {
		{ "str", T_STR }, { "int", T_INT }, { "float", T_FLOAT },
		{ "bool", T_BOOL }, { "null", T_NULL },
	};

	if (!tag) {
		*t = T_AUTO;
		return 0;
	}
	if (!strcmp(tag, "!")) {
		*t = T_STR;
		return 0;
	}
	if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX))) {
		for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
			if (!strcmp(tag + strlen(TAG_PREFIX), tags[i].name)) {
				*t = tags[i].type;
				return 0;
			}
		}
	}
	return fail(b, mark, "unsupported tag %s on a scalar", tag);
}

static int scalar_value(struct builder *b, const yaml_event_t *ev, json_t **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const yaml_mark_t *mark = &ev->start_mark;
	enum scalar_type t = T_AUTO;
	json_t *v = NULL;
	int err, r;

	err = tag_type(b, (const char *)ev->data.scalar.tag, mark, &t);
	if (err)
		return err;
	if (t == T_AUTO)
		t = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? T_AUTO : T_STR;

	/* Like jansson's own parser: a NUL would cut the string short in C. */
	if (memchr(s, '\0', len))
		return fail(b, mark, "strings must not contain NUL characters");
	if (t == T_STR) {
		v = json_stringn(s, len);
		if (!v)
			return fail(b, mark, "string is not valid UTF-8");
		*out = v;
		return 0;
	}
	if ((t == T_AUTO || t == T_NULL) && is_null_word(s, len)) {
		v = json_null();
	} else if ((t == T_AUTO || t == T_BOOL) && (r = bool_word(s, len)) >= 0) {
		v = json_boolean(r);
	} else if ((t == T_AUTO || t == T_INT || t == T_FLOAT) && (r = parse_int(s, len, &v)) != 0) {
		if (r < 0)
			return fail(b, mark, "integer %.*s is out of range", (int)(len > 40 ? 40 : len), s);
		if (v && t == T_FLOAT && json_is_integer(v)) {
			json_int_t i = json_integer_value(v);

			json_decref(v);
			v = json_real((double)i);
		}
	} else if ((t == T_AUTO || t == T_FLOAT) && is_float(s, len)) {
		v = json_real(strtod(s, NULL));
	} else if ((t == T_AUTO || t == T_FLOAT) && is_inf_or_nan(s, len)) {
		return fail(b, mark, "%.*s has no JSON representation (quote it for a string)", (int)len, s);
	} else if (t == T_AUTO) {
		v = json_stringn(s, len);
		if (!v)
			return fail(b, mark, "string is not valid UTF-8");
	} else {
		static const char *const names[] = { [T_INT] = "int", [T_FLOAT] = "float",
						     [T_BOOL] = "bool", [T_NULL] = "null" };

		return fail(b, mark, "\"%.*s\" is not a valid !!%s", (int)(len > 40 ? 40 : len), s,
			    names[t]);
	}
	if (!v)
		return -ENOMEM;
	*out = v;
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	json_t *v = NULL;
	int err;

	b->nodes++;
	if (f && json_is_object(f->val) && !f->key && !f->merge_key) {
		/* A key is its text: JSON keys are strings whatever YAML thinks. */
		const char *s = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		if (memchr(s, '\0', len))
			return fail(b, &ev->start_mark, "mapping key contains a NUL character");
		f->key_mark = ev->start_mark;
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
		    len == 2 && !memcmp(s, "<<", 2)) {
			f->merge_key = true;
		} else {
			f->key = strndup(s, len);
			if (!f->key)
				return -ENOMEM;
		}
		if (anchor) {
			v = json_stringn(s, len);
			if (!v)
				return -ENOMEM;
			err = anchor_add(b, anchor, v, 1);
			json_decref(v);
			return err;
		}
		return 0;
	}
	err = scalar_value(b, ev, &v);
	if (err)
		return err;
	if (anchor && (err = anchor_add(b, anchor, v, 1))) {
		json_decref(v);
		return err;
	}
	return add_value(b, v, &ev->start_mark);
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, bool mapping)
{
	const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor
						    : ev->data.sequence_start.anchor);
	const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *want = mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq";
	struct frame *f;

	if (tag && strcmp(tag, want) && strcmp(tag, "!"))
		return fail(b, &ev->start_mark, "unsupported tag %s on a %s", tag,
			    mapping ? "mapping" : "sequence");
	if (b->depth && json_is_object(b->stack[b->depth - 1].val) && !b->stack[b->depth - 1].key &&
	    !b->stack[b->depth - 1].merge_key)
		return fail(b, &ev->start_mark, "mapping keys must be scalars");
	if (b->depth == YAML_JSON_MAX_DEPTH)
		return fail(b, &ev->start_mark, "nested deeper than %d levels", YAML_JSON_MAX_DEPTH);
	f = &b->stack[b->depth];
	memset(f, 0, sizeof(*f));
	f->val = mapping ? json_object() : json_array();
	if (!f->val)
		return -ENOMEM;
	b->depth++;
	b->nodes++;
	f->nodes_at_start = b->nodes;
	if (anchor && !(f->anchor = strdup(anchor)))
		return -ENOMEM;
	return 0;
}

static int on_collection_end(struct builder *b, const yaml_event_t *ev)
{
	struct frame *f = &b->stack[b->depth - 1];
	json_t *val;
	int err = 0;

	if (f->merged) {
		const char *k;
		json_t *v;

		json_object_foreach(f->merged, k, v) {
			if (!json_object_get(f->val, k) && json_object_set(f->val, k, v))
				return -ENOMEM;
		}
	}
	if (f->anchor)
		err = anchor_add(b, f->anchor, f->val, b->nodes - f->nodes_at_start + 1);
	if (err)
		return err;
	val = json_incref(f->val);
	frame_release(f);
	b->depth--;
	return add_value(b, val, &ev->start_mark);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const struct anchor *a;
	json_t *copy;

	for (int i = 0; i < b->depth; i++)
		if (b->stack[i].anchor && !strcmp(b->stack[i].anchor, name))
			return fail(b, &ev->start_mark, "alias *%s refers to a node that contains it", name);
	a = anchor_find(b, name);
	if (!a)
		return fail(b, &ev->start_mark, "unknown anchor &%s", name);
	b->nodes += a->nodes;
	b->alias_nodes += a->nodes;
	if (b->alias_nodes > ALIAS_NODES_MIN && b->alias_nodes / ALIAS_RATIO > b->nodes - b->alias_nodes)
		return fail(b, &ev->start_mark, "aliases expand to too many nodes");
	if (b->depth && json_is_object(b->stack[b->depth - 1].val) && !b->stack[b->depth - 1].key &&
	    !b->stack[b->depth - 1].merge_key)
		return fail(b, &ev->start_mark, "aliases are not supported as mapping keys");
	copy = json_deep_copy(a->val);
	if (!copy)
		return -ENOMEM;
	return add_value(b, copy, &ev->start_mark);
}

static int parser_fail(struct builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (!b->in_doc)
		b->doc++; /* the error is in the document that did not start */
	if (p->error == YAML_READER_ERROR) {
		if (p->problem_value != -1)
			return fail(b, NULL, "%s (#%X at byte %zu)", problem, (unsigned)p->problem_value,
				    p->problem_offset);
		return fail(b, NULL, "%s (at byte %zu)", problem, p->problem_offset);
	}
	if (p->context)
		return fail(b, &p->problem_mark, "%s %s", p->context, problem);
	return fail(b, &p->problem_mark, "%s", problem);
}

int yaml_json_parse(const char *buf, size_t len, json_t **docs, struct yaml_json_error *err)
{
	struct builder *b;
	yaml_parser_t parser;
	json_t *out;
	bool done = false;
	int ret = 0;

	memset(err, 0, sizeof(*err));
	b = calloc(1, sizeof(*b));
	out = json_array();
	if (!b || !out || !yaml_parser_initialize(&parser)) {
		free(b);
		json_decref(out);
		return -ENOMEM;
	}
	b->err = err;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	while (!done && !ret) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			ret = parser_fail(b, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			b->doc++;
			b->in_doc = true;
			builder_reset_doc(b);
			break;
		case YAML_DOCUMENT_END_EVENT:
			ret = json_array_append_new(out, b->root ? b->root : json_null()) ? -ENOMEM : 0;
			b->root = NULL;
			b->in_doc = false;
			anchors_clear(b);
			break;
		case YAML_SCALAR_EVENT:
			ret = on_scalar(b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ret = on_collection_start(b, &ev, ev.type == YAML_MAPPING_START_EVENT);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ret = on_collection_end(b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			ret = on_alias(b, &ev);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}

	builder_reset_doc(b);
	free(b->anchors);
	free(b);
	yaml_parser_delete(&parser);
	if (ret) {
		if (ret == -ENOMEM && !err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		json_decref(out);
		return ret;
	}
	*docs = out;
	return 0;
}
