/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Lookups of the node's endpoints (sluice_endpoint) and cloud interfaces
 * (sluice_eni). Return the map value or NULL; never drop.
 *
 * Needs: maps.h.
 */
#ifndef SLUICE_LIB_ENDPOINT_H
#define SLUICE_LIB_ENDPOINT_H

#include <stdbool.h>

#include "maps.h"

static __always_inline const struct sl_endpoint_info *
sl_endpoint_lookup(const struct sl_endpoint_key *key)
{
	return bpf_map_lookup_elem(&sluice_endpoint, key);
}

static __always_inline bool sl_ep_is_pod(const struct sl_endpoint_info *ep)
{
	return ep && (ep->flags & SL_EP_F_POD);
}

static __always_inline bool sl_ep_is_host(const struct sl_endpoint_info *ep)
{
	return ep && (ep->flags & SL_EP_F_HOST);
}

static __always_inline const struct sl_eni_info *sl_eni_lookup(__u32 ifindex)
{
	return bpf_map_lookup_elem(&sluice_eni, &ifindex);
}

#endif /* SLUICE_LIB_ENDPOINT_H */
