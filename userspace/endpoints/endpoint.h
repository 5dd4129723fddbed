/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pod's attachment to the node: the veth pair, its addresses and routes on
 * both sides, and what the datapath needs to know about it.
 *
 * endpoint_plumb builds the kernel side of a new attachment (and undoes what
 * it did when a step fails); endpoint_unplumb removes it and succeeds when
 * it is already gone; endpoint_verify checks the live state (CNI CHECK, and
 * the agent's start-up reconcile). All netlink, no shell.
 */
#ifndef SLUICE_ENDPOINT_H
#define SLUICE_ENDPOINT_H

#include <limits.h>
#include <net/if.h>
#include <stdint.h>
#include <time.h>

#include "cloud/provider.h"
#include "common/addr.h"
#include "ipam/pool.h"

#define ENDPOINT_NETNS_LEN 512
#define ENDPOINT_K8S_NAME_LEN 254
#define ENDPOINT_MTU_DEFAULT 1500

struct endpoint {
	struct ipam_owner key;               /* CNI attachment: container ID + ifName */
	char netns[ENDPOINT_NETNS_LEN];      /* as the runtime gave it */
	char k8s_namespace[ENDPOINT_K8S_NAME_LEN];
	char pod[ENDPOINT_K8S_NAME_LEN];
	struct sl_ip ip;
	uint8_t mac[6];                      /* the pod's interface */
	char host_veth[IF_NAMESIZE];         /* node side, named from the key */
	uint8_t host_mac[6];                 /* the pod's gateway MAC */
	int host_ifindex;
	char eni_id[CLOUD_ID_LEN];           /* cloud interface owning ip */
	int eni_ifindex;
	unsigned mtu;
	int64_t created;                     /* unix seconds */
	uint32_t identity;                   /* policy identity (docs/policy.md), 0 until known */
};

/* "sl" + 12 hex digits of a hash of (container ID, ifName): stable, so DEL
 * and a restarted agent find the link without any state. */
void endpoint_host_veth_name(const struct ipam_owner *key, char name[IF_NAMESIZE]);

/* Creates the veth pair (pod side named key.ifname inside ep->netns), the
 * pod's /32 address, link-local gateway with a permanent neighbour, default
 * route; on the node side: NOARP, no IPv6, up, a /32 route to the pod and a
 * permanent neighbour for it. Fills mac, host_veth, host_mac, host_ifindex.
 * On error, nothing it created is left. */
int endpoint_plumb(struct endpoint *ep);

/* Removes the node side (and so the pair). 0 when already gone. */
int endpoint_unplumb(const struct endpoint *ep);

/* 0 when the live state matches ep; else -errno and a reason in why. */
int endpoint_verify(const struct endpoint *ep, char *why, size_t why_len);

#endif /* SLUICE_ENDPOINT_H */
