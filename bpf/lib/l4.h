/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * L4 ports, for drop events. Forwarding never looks past L3, so the ports are
 * read only when a packet is dropped, and through ctx_load_bytes(): no packet
 * pointer has to stay valid that long.
 *
 * Needs: ctx_skb.h, pkt.h (pkt->l4_* filled by the L3 parser).
 */
#ifndef SLUICE_LIB_L4_H
#define SLUICE_LIB_L4_H

#include <linux/in.h>
#include <bpf/bpf_endian.h>

#include "ctx_skb.h"
#include "pkt.h"

/* Source and destination port in host byte order, 0 and 0 when the packet
 * has none: not TCP, UDP or SCTP (all three open with the two ports), a
 * non-first fragment, or a truncated L4 header. */
static __always_inline void sl_l4_ports(const struct sl_ctx *ctx, const struct sl_pkt *pkt,
					__u16 *sport, __u16 *dport)
{
	__be16 ports[2];

	*sport = 0;
	*dport = 0;
	if (pkt->l4_frag || !pkt->l4_off)
		return;
	if (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP &&
	    pkt->l4_proto != IPPROTO_SCTP)
		return;
	if (ctx_load_bytes(ctx, pkt->l4_off, ports, sizeof(ports)) < 0)
		return;
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
}

#endif /* SLUICE_LIB_L4_H */
