// SPDX-License-Identifier: Apache-2.0
/* The agent's endpoint table, its checkpoint and its datapath entries. All
 * called with a->lock held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "checkpoint/checkpoint.h"
#include "common/log.h"

struct endpoint *agent_endpoint_find(struct agent *a, const struct ipam_owner *key)
{
	for (size_t i = 0; i < a->n_endpoints; i++) {
		if (strcmp(a->endpoints[i].key.container_id, key->container_id) == 0 &&
		    strcmp(a->endpoints[i].key.ifname, key->ifname) == 0)
			return &a->endpoints[i];
	}
	return NULL;
}

int agent_endpoint_add(struct agent *a, const struct endpoint *ep)
{
	if (a->n_endpoints == a->cap_endpoints) {
		size_t cap = a->cap_endpoints ? a->cap_endpoints * 2 : 16;
		struct endpoint *grown = realloc(a->endpoints, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		a->endpoints = grown;
		a->cap_endpoints = cap;
	}
	a->endpoints[a->n_endpoints++] = *ep;
	return 0;
}

void agent_endpoint_remove(struct agent *a, const struct endpoint *ep)
{
	size_t idx = (size_t)(ep - a->endpoints);

	if (idx >= a->n_endpoints)
		return;
	memmove(&a->endpoints[idx], &a->endpoints[idx + 1], (a->n_endpoints - idx - 1) * sizeof(*ep));
	a->n_endpoints--;
}

int agent_checkpoint(struct agent *a)
{
	json_t *ids = a->ids ? identity_table_to_json(a->ids) : NULL;
	int err = checkpoint_save(a->checkpoint_path, a->cfg.node, &a->ipam, a->endpoints, a->n_endpoints, ids);

	json_decref(ids);
	return err;
}

int agent_map_endpoint(struct agent *a, const struct endpoint *ep)
{
	struct sl_endpoint_info info = {
		.ifindex = (__u32)ep->host_ifindex,
		.eni_ifindex = (__u32)ep->eni_ifindex,
		.flags = SL_EP_F_POD,
		.identity = ep->identity,
	};
	char buf[SL_IP_STRLEN];
	int err;

	memcpy(info.mac, ep->mac, 6);
	memcpy(info.gw_mac, ep->host_mac, 6);
	err = agent_map_ip(a, &ep->ip, &info);
	if (err)
		pr_err("map endpoint %s (%s): %s", sl_ip_fmt(&ep->ip, buf), ep->host_veth, strerror(-err));
	return err;
}

int agent_map_ip(struct agent *a, const struct sl_ip *ip, const struct sl_endpoint_info *info)
{
	struct sl_endpoint_key key;

	sl_endpoint_key_from_ip(&key, ip);
	return maps_endpoint_set(&a->maps, &key, info);
}

int agent_unmap_endpoint(struct agent *a, const struct sl_ip *ip)
{
	struct sl_endpoint_key key;
	int err;

	sl_endpoint_key_from_ip(&key, ip);
	err = maps_endpoint_del(&a->maps, &key);

	return err == -ENOENT ? 0 : err;
}
