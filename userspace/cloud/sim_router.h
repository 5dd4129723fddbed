/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel side of the sim VPC (internal to userspace/cloud/sim*.c): the router
 * namespace's settings and links, and the instance side of a primary NIC.
 * Nothing here reads or writes the state file.
 */
#ifndef SLUICE_CLOUD_SIM_ROUTER_H
#define SLUICE_CLOUD_SIM_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"

int sim_router_setup(const char *router_netns);

/* A veth: `link` in the router (gateway/32 on it, up), `inst_ifname` with
 * `mac` in the instance's namespace (left down: the instance brings it up). */
int sim_router_attach(const char *router_netns, const char *link, const char *inst_netns,
		      const char *inst_ifname, const uint8_t mac[6], const struct sl_ip *gateway);
/* Deletes the router's end (and so the pair). 0 when already gone. */
int sim_router_detach(const char *router_netns, const char *link);

/* The router delivers ip to mac through link: /32 route + permanent neighbour
 * (add), or removes both (idempotent). */
int sim_router_route_ip(const char *router_netns, const char *link, const struct sl_ip *ip,
			const uint8_t mac[6], bool add);

/* What cloud-init does for a primary NIC: address, up, default route. */
int sim_instance_configure(const char *inst_netns, const char *ifname, const struct sl_prefix *addr,
			   const struct sl_ip *gateway);

#endif /* SLUICE_CLOUD_SIM_ROUTER_H */
