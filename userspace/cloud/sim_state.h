/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sim cloud's state file: load and save under an exclusive lock, and the
 * lookups every sim operation needs. Internal to userspace/cloud/sim*.c.
 *
 * Layout (JSON):
 *   {"version": 1, "routerNetns": "...", "podSubnet": "subnet-pods",
 *    "limits": {"maxInterfaces": 4, "maxIPsPerInterface": 8},
 *    "nextInterface": 7,
 *    "subnets": [{"id", "cidr", "gateway", "cursor"}],
 *    "instances": [{"id", "netns",
 *        "interfaces": [{"id", "mac", "subnet", "deviceIndex", "primary",
 *                        "primaryIP", "ips": ["..."], "foreign"?}]}]}
 * An interface's router-side link is named by its id. "foreign": true marks
 * an interface attached by someone other than Sluice (absent: false); the
 * primary is never Sluice's either.
 */
#ifndef SLUICE_CLOUD_SIM_STATE_H
#define SLUICE_CLOUD_SIM_STATE_H

#include <jansson.h>

#include "cloud/provider.h"

#define SIM_STATE_VERSION 1
#define SIM_MAX_SUBNET_HOSTS 65536 /* /16: the sim keeps a bitmap per subnet */

struct sim_state {
	int lock_fd;
	char *path;
	json_t *root;
};

/* Locks and reads the state; -ENOENT when the VPC does not exist. */
int sim_state_open(const char *path, struct sim_state *st);
/* Writes the state atomically (still locked). */
int sim_state_save(struct sim_state *st);
/* Unlocks and frees, without saving. */
void sim_state_close(struct sim_state *st);

json_t *sim_state_instance(struct sim_state *st, const char *instance);
json_t *sim_state_subnet(struct sim_state *st, const char *subnet_id);
/* The interface with this id and (when instance is not NULL) its owner. */
json_t *sim_state_iface(struct sim_state *st, const char *iface_id, json_t **owner);
int sim_state_limits(struct sim_state *st, struct cloud_limits *out);

/* Picks a free address of the subnet (not the network, the gateway, the two
 * reserved after it, or the broadcast), scanning from the subnet's cursor so
 * a released address is not handed out again at once. */
int sim_state_alloc_ip(struct sim_state *st, json_t *subnet, struct sl_ip *out);

/* Fills a cloud_iface from its JSON record. */
int sim_state_iface_export(struct sim_state *st, json_t *iface, struct cloud_iface *out);

#endif /* SLUICE_CLOUD_SIM_STATE_H */
