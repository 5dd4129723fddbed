/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's crash-safe memory: the pool (interfaces, their IPs, release
 * order), the endpoints and the policy identity numbers, as one JSON file replaced atomically (write,
 * fsync, rename, fsync the directory) after every change and before the CNI
 * call that caused it is answered. At start the agent reads it back and
 * reconciles it against the cloud and the kernel.
 */
#ifndef SLUICE_CHECKPOINT_H
#define SLUICE_CHECKPOINT_H

#include <jansson.h>
#include <stddef.h>

#include "endpoints/endpoint.h"
#include "ipam/pool.h"

#define CHECKPOINT_VERSION 1

struct checkpoint {
	char node[CLOUD_ID_LEN];
	struct ipam_iface *ifaces; /* slots carry IPs and release order; owners empty */
	size_t n_ifaces;
	uint64_t release_seq;
	struct endpoint *endpoints;
	size_t n_endpoints;
	json_t *identities; /* the policy identity table, NULL when none was saved */
};

/* Writes the pool and endpoints; owners are not stored (each endpoint
 * names its IP), so the two can never disagree in the file. */
int checkpoint_save(const char *path, const char *node, const struct ipam *ipam,
		    const struct endpoint *endpoints, size_t n_endpoints, const json_t *identities);

/* Reads a checkpoint; -ENOENT when there is none (a first start), -EPROTO for
 * a version this agent does not know, -EINVAL for a damaged file. */
int checkpoint_load(const char *path, struct checkpoint *out);
void checkpoint_free(struct checkpoint *cp);

#endif /* SLUICE_CHECKPOINT_H */
