/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifests: parse, validate, default, and keep as one JSON file
 * per object in a directory (the `dir:PATH` source of sluiced, written by
 * `sluicectl lab apply` and removed by `lab delete`).
 *
 * A manifest is a YAML or JSON stream of documents. Each document is a
 * Namespace (v1), a Pod (v1), a NetworkPolicy (networking.k8s.io/v1), or a
 * List of them (kind "List", or "PodList" and the like, whose items may omit
 * kind and apiVersion as the API server's list answers do). Empty documents
 * are skipped; a stream without any document is an error. Validation follows
 * the API server where Sluice depends on a field:
 *
 *   metadata.name       DNS-1123 label (Namespace) or subdomain (Pod, policy)
 *   metadata.namespace  DNS-1123 label; "default" when absent on namespaced
 *                       kinds, dropped from Namespaces (cluster-scoped)
 *   metadata.labels     string -> string, keys and values in label syntax;
 *                       a Namespace gets kubernetes.io/metadata.name: <name>
 *   spec.containers     at least one, unique DNS-1123 label names
 *     .ports[]          containerPort 1..65535, name IANA_SVC_NAME unique in
 *                       its container, protocol TCP|UDP|SCTP (default TCP)
 *   spec.nodeName, spec.hostNetwork, metadata.uid, status.podIP(s)
 *                       checked for type (and IP syntax) when present
 *   NetworkPolicy spec  an object ({} when absent); the policy compiler
 *                       judges its contents
 *
 * Every error is one line naming the source (a file name or "<stdin>"), the
 * 1-based document, the List item and the object when known, the field and
 * the reason:
 *
 *   pods.yaml: document 2: Pod default/web: spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000
 *
 * Functions return 0 or -errno (-EINVAL for invalid input); on failure and
 * when errmsg is not NULL, *errmsg is a malloc'ed text of one error per line
 * (at most MANIFEST_MAX_ERRORS, then a count of the rest) for the caller to
 * free.
 */
#ifndef SLUICE_K8S_MANIFEST_H
#define SLUICE_K8S_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "k8s/names.h"

#define MANIFEST_MAX_BYTES (8u << 20) /* etcd's own limit is 1.5 MiB per object */
#define MANIFEST_MAX_ERRORS 20
#define MANIFEST_STDIN_NAME "<stdin>"

struct manifest_obj {
	enum k8s_kind kind;
	const char *ns;   /* "" for Namespaces; points into json */
	const char *name; /* points into json */
	unsigned doc;     /* 1-based document of the source */
	int item;         /* index in a List's items, -1 when not from a List */
	json_t *json;     /* the validated object, defaults filled in */
};

struct manifest {
	char *source; /* as given to the parser, for messages */
	struct manifest_obj *objs;
	size_t n;
};

/* Parses and validates len bytes of buf; source names it in messages. All
 * documents are checked and every error reported: *out is set only when
 * the whole input is valid. */
int manifest_parse_buf(const char *source, const char *buf, size_t len, struct manifest **out,
		       char **errmsg);
/* Reads path ("-" for standard input, named "<stdin>") and parses it. At
 * most MANIFEST_MAX_BYTES are read; a larger input is -EFBIG. */
int manifest_parse_file(const char *path, struct manifest **out, char **errmsg);
void manifest_free(struct manifest *m);

/* The file an object lives in within a manifest directory:
 *   namespace_<name>.json, pod_<ns>_<name>.json, networkpolicy_<ns>_<name>.json
 * Kubernetes names never hold '_', so the name is unambiguous. A name longer
 * than NAME_MAX keeps its first part and ends in "~<64-bit hash>.json".
 * -EINVAL if ns or name hold anything but [a-z0-9.-] or start with '.'. */
#define MANIFEST_FILENAME_MAX 256 /* NAME_MAX + NUL */
int manifest_filename(enum k8s_kind kind, const char *ns, const char *name,
		      char buf[MANIFEST_FILENAME_MAX]);

/* Writes every object of m into dir (created if missing) as its own JSON
 * file, each replaced atomically. A manifest only exists once the whole
 * input validated, so an invalid document means nothing is written; an I/O
 * error part way leaves the files written before it. */
int manifest_write_dir(const struct manifest *m, const char *dir, char **errmsg);
/* Removes the file of every object of m from dir; objects without a file are
 * not an error. *removed (if not NULL) counts the files removed. */
int manifest_delete_dir(const struct manifest *m, const char *dir, size_t *removed, char **errmsg);

#endif /* SLUICE_K8S_MANIFEST_H */
