/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to userspace/lab/: shared between the lab's files. */
#ifndef SLUICE_LAB_INT_H
#define SLUICE_LAB_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "lab/lab.h"

bool lab_agent_pid_matches(int pid, const char *socket_path);
/* Starts the agent of node (a lab.json node object), records its pid. */
int lab_agent_spawn(const struct lab_paths *p, json_t *lab, json_t *node);
/* Signals pid if it is the agent for socket_path, and waits until it is gone. */
int lab_agent_kill(int pid, const char *socket_path, int sig);

/* A snapshot of lab.json (read under the lock, then unlocked); -ENOENT when
 * the lab is not up. */
int lab_state_read(const char *name, json_t **out);
/* Locks lab.json, loads it and finds node in it; on success the caller holds
 * *fd (lab_unlock) and *lab (json_decref); on error nothing is held. */
int lab_state_open_node(const char *name, const char *node, int *fd, json_t **lab, json_t **n);

/* The node (lab.json object) or pod of a lab state. */
json_t *lab_find_node(json_t *lab, const char *node);
json_t *lab_find_pod(json_t *lab, const char *k8s_namespace, const char *pod, size_t *index);

#endif /* SLUICE_LAB_INT_H */
