/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML (and JSON, which is YAML) text to jansson documents, the way
 * Kubernetes reads manifests: a multi-document stream ("---") becomes one
 * json_t per document, and plain scalars are typed by the YAML 1.2 core
 * schema as the Go YAML library hands them to JSON:
 *
 *   null Null NULL ~ (empty)      -> null
 *   true True TRUE false ...      -> true / false
 *   80 -3 0o17 0x1f               -> integer (decimal beyond int64 -> real)
 *   1.5 .5 1e3                    -> real
 *   .inf .nan                     -> error: JSON has no such numbers
 *   anything else                 -> string
 *
 * Quoted and block (| >) scalars are always strings, so `port: 80` is a
 * number and `port: "80"` a string. Tags !!str !!int !!float !!bool !!null
 * !!map !!seq and the non-specific "!" are honoured; any other tag is an
 * error. YAML 1.1 words (yes, no, on, off) stay strings.
 *
 * Anchors and aliases are expanded (each alias is a deep copy, so a caller
 * may modify one place without changing another), merge keys ("<<") are
 * supported, and expansions are bounded so a "billion laughs" document is an
 * error, not an out-of-memory. Mapping keys must be scalars and unique; a key
 * is its scalar text ("80: x" has the key "80"). Nesting deeper than
 * YAML_JSON_MAX_DEPTH is an error, and so is a NUL character in a string
 * ("\0" or "\u0000": C strings cannot hold it; jansson rejects it too). No
 * recursion on the input's structure.
 */
#ifndef SLUICE_K8S_YAML_JSON_H
#define SLUICE_K8S_YAML_JSON_H

#include <stddef.h>

#include <jansson.h>

#define YAML_JSON_MAX_DEPTH 100

struct yaml_json_error {
	unsigned doc;    /* 1-based document the error is in */
	unsigned line;   /* 1-based; 0 when the error has no position */
	unsigned column; /* 1-based */
	char msg[256];   /* the reason, without position */
};

/* Parses len bytes of buf into *docs, a new json array holding one value per
 * document (an empty document is json null; an empty stream an empty array).
 * Returns 0, -EINVAL with *err filled in on a syntax or typing error, or
 * -ENOMEM. *docs is only set on success. */
int yaml_json_parse(const char *buf, size_t len, json_t **docs, struct yaml_json_error *err);

/* "line 3, column 7: reason" (or just the reason without a position). */
const char *yaml_json_error_fmt(const struct yaml_json_error *err, char *buf, size_t len);

#endif /* SLUICE_K8S_YAML_JSON_H */
