/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud, as the agent sees it: one vtable per provider (sim, ibm,
 * openstack). A provider describes the instance's limits, lists, attaches and
 * detaches network interfaces, and assigns or releases secondary IPs on them.
 * It never touches BPF and never configures the node's side of an interface
 * (the agent finds the netdev by MAC and adopts it). Calls may block on the
 * network; they are made without the agent's state lock held where possible.
 *
 * Every call returns 0 or -errno: -ENOSPC when a limit of the profile or the
 * subnet is reached, -ENOENT for an unknown interface, -EAGAIN when the cloud
 * asks to retry later, -EIO for an answer it could not understand.
 */
#ifndef SLUICE_CLOUD_PROVIDER_H
#define SLUICE_CLOUD_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

#define CLOUD_ID_LEN 128

struct cloud_limits {
	unsigned max_interfaces;        /* per instance, the primary included */
	unsigned max_ips_per_interface; /* the interface's primary IP included */
};

struct cloud_iface {
	char id[CLOUD_ID_LEN];        /* provider's id of the attachment */
	char subnet_id[CLOUD_ID_LEN];
	uint8_t mac[6];
	unsigned device_index;        /* 0 = the instance's primary interface */
	bool primary;                 /* the node's own interface: never touched */
	/* Sluice attached it (the provider knows by the name or tag Sluice
	 * gives its attachments): only these are adopted, detached or have IPs
	 * assigned and released. Neither this nor primary: someone else's. */
	bool sluice_owned;
	struct sl_prefix subnet;      /* e.g. 198.18.16.0/20 */
	struct sl_ip gateway;         /* the subnet's router */
	struct sl_ip primary_ip;      /* the interface's own address */
	struct sl_ip *ips;            /* secondary IPs (pods), malloc'ed */
	size_t n_ips;
};

void cloud_iface_free_array(struct cloud_iface *ifaces, size_t n);

struct cloud_provider;

struct cloud_provider_ops {
	const char *name;
	int (*limits)(struct cloud_provider *p, struct cloud_limits *out);
	/* Every interface of this instance, the primary included. */
	int (*list_interfaces)(struct cloud_provider *p, struct cloud_iface **out, size_t *n);
	/* Attaches a new interface in the provider's pod subnet; returns it once
	 * the cloud reports it usable (its netdev may still be appearing). */
	int (*attach_interface)(struct cloud_provider *p, struct cloud_iface *out);
	int (*detach_interface)(struct cloud_provider *p, const char *iface_id);
	/* Assigns up to count new secondary IPs; *n_out says how many were. */
	int (*assign_ips)(struct cloud_provider *p, const char *iface_id, unsigned count,
			  struct sl_ip *out, size_t *n_out);
	int (*unassign_ip)(struct cloud_provider *p, const char *iface_id, const struct sl_ip *ip);
	void (*destroy)(struct cloud_provider *p);
};

struct cloud_provider {
	const struct cloud_provider_ops *ops;
	char instance[CLOUD_ID_LEN]; /* the node as the cloud names it */
	void *priv;
};

#endif /* SLUICE_CLOUD_PROVIDER_H */
