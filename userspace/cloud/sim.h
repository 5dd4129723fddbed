/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sim`: a VPC made of network namespaces on this machine.
 *
 * The VPC's router is one namespace. A subnet is a prefix with a gateway
 * address; an interface attached to an instance (a node, or a host outside
 * the cluster) is a veth pair: the instance's end is its NIC, the router's end
 * carries the gateway address (/32), answers ARP for the whole subnet
 * (proxy_arp) and drops packets whose source the cloud did not assign to that
 * interface (strict rp_filter: the anti-spoofing of a real SDN). Every IP the
 * cloud assigns to an interface gets a /32 route and a permanent neighbour in
 * the router, as a real SDN delivers by assignment, not by ARP.
 *
 * The cloud's state is one JSON file guarded by an flock, so several node
 * agents (each with its own provider instance) share one VPC safely. The lab
 * (sluicectl lab) creates the VPC and the instances; agents use the
 * cloud_provider vtable for their own instance.
 */
#ifndef SLUICE_CLOUD_SIM_H
#define SLUICE_CLOUD_SIM_H

#include <stdbool.h>

#include "cloud/provider.h"

#define SIM_SUBNET_NODES "subnet-nodes"
#define SIM_SUBNET_HOSTS "subnet-hosts"
#define SIM_SUBNET_PODS "subnet-pods"

struct sim_subnet_spec {
	const char *id;
	const char *cidr;
};

struct sim_vpc_spec {
	const char *state_path;  /* the cloud's state file; its lock is state_path + ".lock" */
	const char *router_netns; /* name of the router namespace to create */
	/* Subnets; NULL = the default plan in 198.18.0.0/15: nodes 198.18.0.0/24,
	 * hosts 198.18.1.0/24, pods 198.18.16.0/20. */
	const struct sim_subnet_spec *subnets;
	unsigned n_subnets;
	const char *pod_subnet; /* where attach_interface puts new interfaces */
	struct cloud_limits limits; /* zero fields take IBM's small-profile defaults: 4, 8 */
};

/* Creates the router namespace and the state file. -EEXIST if the state file
 * exists already. */
int sim_vpc_create(const struct sim_vpc_spec *spec);

/* Deletes the router namespace (and with it every router-side veth, so every
 * instance loses its interfaces) and the state file. Idempotent. */
int sim_vpc_destroy(const char *state_path);

/* Registers an instance living in netns and gives it its primary interface
 * (device 0, named eth0 in the instance) in subnet_id, configured the way
 * cloud-init would: address with the subnet prefix, up, default route via the
 * gateway. The primary IP is returned in *primary_ip. */
int sim_instance_create(const char *state_path, const char *instance, const char *netns,
			const char *subnet_id, struct sl_ip *primary_ip);

/* The cloud_provider for one instance, as its agent uses it. */
int sim_provider_create(const char *state_path, const char *instance, struct cloud_provider **out);

/* Whole-cloud view for the lab and tests: every interface of every instance.
 * *out_instances[i] names the owner of (*out)[i]. Caller frees both with
 * sim_inventory_free. */
int sim_inventory(const char *state_path, struct cloud_iface **out, char ***out_instances, size_t *n);
void sim_inventory_free(struct cloud_iface *ifaces, char **instances, size_t n);

#endif /* SLUICE_CLOUD_SIM_H */
