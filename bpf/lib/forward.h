/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The two forwarding actions, as a router hop: to a pod on this node, and out
 * of the cloud interface that owns the source pod's address.
 *
 * Both return CTX_ACT_REDIRECT or a negative SL_DROP_* code. pkt must have
 * been filled by sl_parse_ipv4().
 *
 * Needs: ctx_skb.h, pkt.h.
 */
#ifndef SLUICE_LIB_FORWARD_H
#define SLUICE_LIB_FORWARD_H

#include "ctx_skb.h"
#include "drop.h"
#include "endpoint.h"
#include "eth.h"
#include "ipv4.h"
#include "pkt.h"
#include "redirect.h"

#pragma push_macro("SL_SOURCE_FILE")
#undef SL_SOURCE_FILE
#define SL_SOURCE_FILE SL_SRC_LIB_FORWARD

/* Rewrites the MACs as the pod's gateway would have (from its veth's host
 * side to its eth0): the pod sees one routed hop, whether the packet came
 * from a neighbour pod or from the VPC. */
static __always_inline int sl_forward_to_pod(struct sl_ctx *ctx, struct sl_pkt *pkt,
					     const struct sl_endpoint_info *ep)
{
	struct ethhdr *eth;
	int ret;

	ret = sl_ipv4_dec_ttl(ctx, pkt);
	if (ret < 0)
		return ret;
	eth = ctx_data(ctx);
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return SL_DROP(pkt, INVALID_PACKET);
	sl_eth_set_addrs(eth, ep->gw_mac, ep->mac);
	return sl_redirect_peer(pkt, ep->ifindex);
}

/* The cloud delivers a pod's address only through the interface it is
 * assigned to and, in most VPCs, drops packets whose source it did not
 * assign to the interface sending them: a pod's traffic must leave through
 * its own ENI, never another, even when another would route. */
static __always_inline int sl_forward_to_eni(struct sl_ctx *ctx, struct sl_pkt *pkt,
					     const struct sl_endpoint_info *src)
{
	struct bpf_redir_neigh nh = {};
	const struct sl_eni_info *eni;
	__u32 eni_ifindex = src->eni_ifindex;
	int ret;

	if (!eni_ifindex)
		return SL_DROP(pkt, NO_ENI);
	eni = sl_eni_lookup(eni_ifindex);
	if (!eni)
		return SL_DROP(pkt, NO_ENI);
	if (eni->family == SL_FAMILY_IPV4) {
		nh.nh_family = SL_AF_INET;
		__builtin_memcpy(&nh.ipv4_nh, eni->gw_addr, sizeof(nh.ipv4_nh));
	} else if (eni->family == SL_FAMILY_IPV6) {
		nh.nh_family = SL_AF_INET6;
		__builtin_memcpy(nh.ipv6_nh, eni->gw_addr, sizeof(nh.ipv6_nh));
	} else {
		/* Adopted but without a gateway yet: no usable next hop. */
		return SL_DROP(pkt, NO_ENI);
	}

	ret = sl_ipv4_dec_ttl(ctx, pkt);
	if (ret < 0)
		return ret;
	return sl_redirect_neigh(pkt, eni_ifindex, &nh);
}

#pragma pop_macro("SL_SOURCE_FILE")

#endif /* SLUICE_LIB_FORWARD_H */
