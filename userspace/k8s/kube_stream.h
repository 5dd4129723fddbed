/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Splits the API server's JSON answers into values as the bytes arrive, so
 * the kube source never holds a whole answer: a LIST page of 500 Pods is
 * megabytes of JSON and ten times that as a jansson tree, one Pod is a few
 * kilobytes.
 *
 *   KUBE_STREAM_VALUES  a watch stream: a sequence of JSON objects (each a
 *                       watch event, usually one per line). Each complete
 *                       object is handed over as KUBE_STREAM_VALUE.
 *   KUBE_STREAM_LIST    a list answer: one JSON object. Each element of its
 *                       top-level "items" array is handed over as
 *                       KUBE_STREAM_ITEM (and must be an object); every other
 *                       top-level member as KUBE_STREAM_MEMBER with its key.
 *
 * Only the structure is checked here (brackets, strings, separators at the
 * levels that are split); the text handed over is parsed by the caller,
 * which finds any other syntax error. The callback gets the value's text
 * (NUL-terminated, len without the NUL) and returns 0 or a negative errno
 * that stops the stream and is returned by kube_stream_feed. Structural
 * garbage is -EBADMSG; a value longer than max_value is -EMSGSIZE.
 */
#ifndef SLUICE_K8S_KUBE_STREAM_H
#define SLUICE_K8S_KUBE_STREAM_H

#include <stdbool.h>
#include <stddef.h>

enum kube_stream_mode { KUBE_STREAM_VALUES, KUBE_STREAM_LIST };
enum kube_stream_what { KUBE_STREAM_VALUE, KUBE_STREAM_ITEM, KUBE_STREAM_MEMBER };

typedef int (*kube_stream_cb)(void *arg, enum kube_stream_what what, const char *key,
			      const char *text, size_t len);

#define KUBE_STREAM_KEY_MAX 64 /* longer top-level keys are cut (only "items" matters) */

struct kube_stream {
	enum kube_stream_mode mode;
	kube_stream_cb cb;
	void *arg;
	size_t max_value;
	/* where the structure stands (private) */
	int pos;
	int cap;       /* kind of value being captured, 0 when none */
	int cap_what;  /* enum kube_stream_what of the captured value */
	unsigned depth; /* brackets open inside the captured value */
	bool in_str, esc;
	char key[KUBE_STREAM_KEY_MAX + 1];
	size_t key_len;
	char *buf;
	size_t len, size;
	int err; /* sticky: once failed, every feed fails */
};

void kube_stream_init(struct kube_stream *s, enum kube_stream_mode mode, size_t max_value,
		      kube_stream_cb cb, void *arg);
/* Forgets any partial value and starts over (the buffer is kept). */
void kube_stream_reset(struct kube_stream *s);
void kube_stream_free(struct kube_stream *s);

int kube_stream_feed(struct kube_stream *s, const char *data, size_t len);
/* At the end of the input: 0 when it ended at a value boundary (VALUES) or
 * after the closing brace (LIST); -EBADMSG when cut in the middle. */
int kube_stream_finish(struct kube_stream *s);

#endif /* SLUICE_K8S_KUBE_STREAM_H */
