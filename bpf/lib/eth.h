/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ethernet: the frame's EtherType and the MAC rewrite of a routed hop.
 *
 * sl_parse_eth() never drops: what a program does with a non-IPv4 frame is
 * its own decision (a pod may not send ARP; an ENI must pass it to the
 * stack). No VLAN tags on either device, so L3 always starts at ETH_HLEN.
 *
 * Needs: a ctx shim (ctx_skb.h or ctx_xdp.h), pkt.h.
 */
#ifndef SLUICE_LIB_ETH_H
#define SLUICE_LIB_ETH_H

#include <linux/if_ether.h>

#include "ctx.h"
#include "pkt.h"

/* Sets pkt->l3_proto (network byte order) to the EtherType, or to 0 when the
 * frame is too short to have one. */
static __always_inline void sl_parse_eth(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	struct ethhdr *eth = ctx_data(ctx);

	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return;
	pkt->l3_proto = eth->h_proto;
}

/* eth must have been bounds-checked by the caller. */
static __always_inline void sl_eth_set_addrs(struct ethhdr *eth, const __u8 *src, const __u8 *dst)
{
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
}

#endif /* SLUICE_LIB_ETH_H */
