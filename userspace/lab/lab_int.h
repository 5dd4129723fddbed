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

/* The node (lab.json object) or pod of a lab state. */
json_t *lab_find_node(json_t *lab, const char *node);
json_t *lab_find_pod(json_t *lab, const char *k8s_namespace, const char *pod, size_t *index);

#endif /* SLUICE_LAB_INT_H */
