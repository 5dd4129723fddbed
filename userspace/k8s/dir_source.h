/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `dir:PATH` object source: Namespaces, Pods and NetworkPolicies read
 * from the manifests in a directory instead of the API server, kept current
 * with inotify.
 *
 * Every *.json, *.yaml and *.yml file of PATH (not recursive; names starting
 * with '.', fs_write_atomic's temporary files and the agents' own
 * K8S_NODESTATUS_FILE_PREFIX files ignored) is a manifest
 * (k8s/manifest.h); `sluicectl lab apply` writes one file per object. A file
 * that does not parse or validate is logged with its name and the reason,
 * and the objects it last loaded stay in force; other files load as usual.
 * An empty file is such an error too (a half-written file must not delete
 * anything): deleting the file is what removes its objects.
 * A file that defines an object another file already holds is in error the
 * same way, and is retried whenever the directory changes. Deleting a file
 * removes its objects.
 *
 * The agent polls k8s_dir_source_fd() for POLLIN and then calls
 * k8s_dir_source_process_events(), which reloads only the files that
 * changed. A directory replaced through a "..data" symlink swap (a
 * Kubernetes ConfigMap volume) or an inotify queue overflow triggers a
 * rescan; reloading an unchanged file changes nothing in the store.
 */
#ifndef SLUICE_K8S_DIR_SOURCE_H
#define SLUICE_K8S_DIR_SOURCE_H

#include <stddef.h>

#include "k8s/store.h"

/* The SluiceNodeStatus each node's agent writes into the directory (agent/
 * nodestatus.c): output, not input, and of a kind the source does not read.
 * Skipped by name, so a write every few seconds costs no parse and no log. */
#define K8S_NODESTATUS_FILE_PREFIX "sluicenodestatus-"

struct k8s_dir_source;

/* Creates path if missing, watches it and loads every manifest in it into
 * store. Bad files are not an error of the call (see above). */
int k8s_dir_source_open(struct k8s_store *store, const char *path, struct k8s_dir_source **out);
/* Leaves the loaded objects in the store. */
void k8s_dir_source_close(struct k8s_dir_source *src);

/* The inotify fd (non-blocking): readable when process_events has work. */
int k8s_dir_source_fd(const struct k8s_dir_source *src);
/* Applies the changes inotify reported since the last call; returns at once
 * when there are none. */
int k8s_dir_source_process_events(struct k8s_dir_source *src);
/* Reloads every file, forgetting files that are gone. */
int k8s_dir_source_rescan(struct k8s_dir_source *src);

/* For status output: every manifest file seen, with the number of objects
 * in force from it and its last error (NULL when its content is in force).
 * Stops when fn returns non-zero and returns that value. */
int k8s_dir_source_for_each_file(const struct k8s_dir_source *src,
				 int (*fn)(const char *file, size_t n_objs, const char *error, void *arg),
				 void *arg);

#endif /* SLUICE_K8S_DIR_SOURCE_H */
