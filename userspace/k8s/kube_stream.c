// SPDX-License-Identifier: Apache-2.0
#include "k8s/kube_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where the structure stands between captured values. */
enum {
	P_TOP,       /* before a value (VALUES) or the list's '{' (LIST) */
	P_KEY,       /* in the list object: a key or '}' */
	P_KEY_STR,   /* inside a key's quotes */
	P_COLON,     /* after a key */
	P_VALUE,     /* after ':' */
	P_COMMA,     /* after a member: ',' or '}' */
	P_ITEM,      /* in "items": an element or ']' */
	P_ITEM_NEXT, /* after an element: ',' or ']' */
	P_END,       /* after the list object: only whitespace */
};

enum { CAP_NONE, CAP_CONTAINER, CAP_STRING, CAP_SCALAR };

/* Captured buffers above this size are given back after their value. */
#define KEEP_BUF 65536

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void kube_stream_init(struct kube_stream *s, enum kube_stream_mode mode, size_t max_value,
		      kube_stream_cb cb, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->max_value = max_value;
	s->cb = cb;
	s->arg = arg;
}

void kube_stream_reset(struct kube_stream *s)
{
	s->pos = P_TOP;
	s->cap = CAP_NONE;
	s->depth = 0;
	s->in_str = s->esc = false;
	s->key_len = 0;
	s->key[0] = '\0';
	s->len = 0;
	s->err = 0;
}

void kube_stream_free(struct kube_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->size = 0;
}

static int append(struct kube_stream *s, char c)
{
	if (s->len >= s->max_value)
		return -EMSGSIZE;
	if (s->len + 2 > s->size) {
		size_t size = s->size ? s->size * 2 : 4096;
		char *buf = realloc(s->buf, size);

		if (!buf)
			return -ENOMEM;
		s->buf = buf;
		s->size = size;
	}
	s->buf[s->len++] = c;
	return 0;
}

static int start(struct kube_stream *s, int cap, int what, char c)
{
	s->cap = cap;
	s->cap_what = what;
	s->depth = cap == CAP_CONTAINER ? 1 : 0;
	s->in_str = cap == CAP_STRING;
	s->esc = false;
	s->len = 0;
	return append(s, c);
}

/* Hands the captured value over and moves past it. */
static int emit(struct kube_stream *s)
{
	int what = s->cap_what, err;

	s->buf[s->len] = '\0';
	s->cap = CAP_NONE;
	err = s->cb(s->arg, what, what == KUBE_STREAM_MEMBER ? s->key : NULL, s->buf, s->len);
	s->len = 0;
	if (s->size > KEEP_BUF) {
		free(s->buf);
		s->buf = NULL;
		s->size = 0;
	}
	s->pos = what == KUBE_STREAM_VALUE ? P_TOP : what == KUBE_STREAM_ITEM ? P_ITEM_NEXT : P_COMMA;
	return err;
}

/* One byte of a captured value; *done when the byte ended a scalar and
 * must still be read as structure. */
static int capture(struct kube_stream *s, char c, bool *done)
{
	int err;

	*done = false;
	if (s->cap == CAP_SCALAR && (is_ws(c) || c == ',' || c == '}' || c == ']')) {
		*done = true;
		return emit(s);
	}
	err = append(s, c);
	if (err)
		return err;
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (c == '\\')
			s->esc = true;
		else if (c == '"') {
			s->in_str = false;
			if (s->cap == CAP_STRING)
				return emit(s);
		}
	} else if (c == '"') {
		s->in_str = true;
	} else if (c == '{' || c == '[') {
		s->depth++;
	} else if (c == '}' || c == ']') {
		if (s->cap != CAP_CONTAINER || !s->depth)
			return -EBADMSG;
		if (!--s->depth)
			return emit(s);
	}
	return 0;
}

static int structure(struct kube_stream *s, char c)
{
	if (s->pos == P_KEY_STR) {
		if (!s->esc && c == '"') {
			s->key[s->key_len] = '\0';
			s->pos = P_COLON;
			return 0;
		}
		s->esc = !s->esc && c == '\\';
		if (s->key_len < KUBE_STREAM_KEY_MAX)
			s->key[s->key_len++] = c;
		return 0;
	}
	if (is_ws(c))
		return 0;
	switch (s->pos) {
	case P_TOP:
		if (c != '{')
			return -EBADMSG;
		if (s->mode == KUBE_STREAM_VALUES)
			return start(s, CAP_CONTAINER, KUBE_STREAM_VALUE, c);
		s->pos = P_KEY;
		return 0;
	case P_KEY:
		if (c == '}') {
			s->pos = P_END;
			return 0;
		}
		if (c != '"')
			return -EBADMSG;
		s->pos = P_KEY_STR;
		s->key_len = 0;
		s->esc = false;
		return 0;
	case P_COLON:
		if (c != ':')
			return -EBADMSG;
		s->pos = P_VALUE;
		return 0;
	case P_VALUE:
		if (c == '[' && !strcmp(s->key, "items")) {
			s->pos = P_ITEM;
			return 0;
		}
		if (c == ',' || c == ':' || c == '}' || c == ']')
			return -EBADMSG;
		return start(s, c == '{' || c == '[' ? CAP_CONTAINER : c == '"' ? CAP_STRING : CAP_SCALAR,
			     KUBE_STREAM_MEMBER, c);
	case P_COMMA:
		if (c == ',')
			s->pos = P_KEY;
		else if (c == '}')
			s->pos = P_END;
		else
			return -EBADMSG;
		return 0;
	case P_ITEM:
		if (c == ']') {
			s->pos = P_COMMA;
			return 0;
		}
		if (c != '{')
			return -EBADMSG;
		return start(s, CAP_CONTAINER, KUBE_STREAM_ITEM, c);
	case P_ITEM_NEXT:
		if (c == ',')
			s->pos = P_ITEM;
		else if (c == ']')
			s->pos = P_COMMA;
		else
			return -EBADMSG;
		return 0;
	default: /* P_END */
		return -EBADMSG;
	}
}

int kube_stream_feed(struct kube_stream *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !s->err; i++) {
		bool done = false;

		if (s->cap) {
			s->err = capture(s, data[i], &done);
			if (!done)
				continue;
		}
		if (!s->err)
			s->err = structure(s, data[i]);
	}
	return s->err;
}

int kube_stream_finish(struct kube_stream *s)
{
	if (s->err)
		return s->err;
	if (s->cap || s->pos != (s->mode == KUBE_STREAM_VALUES ? P_TOP : P_END))
		return -EBADMSG;
	return 0;
}
