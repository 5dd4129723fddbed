/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv4: header validation and the TTL decrement of a routed hop.
 *
 * sl_parse_ipv4() returns 0 once the header is known to be sane and fills
 * pkt->src/dst (as endpoint keys) and pkt->l4_*; otherwise
 * -SL_DROP_INVALID_PACKET. sl_ipv4_dec_ttl() returns 0 or
 * -SL_DROP_TTL_EXCEEDED. The header starts at ETH_HLEN (eth.h).
 *
 * Needs: a ctx shim (ctx_skb.h or ctx_xdp.h), pkt.h.
 */
#ifndef SLUICE_LIB_IPV4_H
#define SLUICE_LIB_IPV4_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "ctx.h"
#include "drop.h"
#include "pkt.h"

#pragma push_macro("SL_SOURCE_FILE")
#undef SL_SOURCE_FILE
#define SL_SOURCE_FILE SL_SRC_LIB_IPV4

#define SL_IPV4_OFF ETH_HLEN
#define SL_IP_OFFSET_MASK 0x1fff /* fragment offset bits of frag_off (IP_OFFSET) */

static __always_inline int sl_parse_ipv4(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	struct iphdr *ip4;
	__u32 hlen, tot_len;

	/* Pulled first: the fixed header may sit in paged data (GSO, GRO). */
	if (ctx_pull(ctx, SL_IPV4_OFF + sizeof(*ip4)) < 0)
		return SL_DROP(pkt, INVALID_PACKET);
	ip4 = ctx_data(ctx) + SL_IPV4_OFF;
	if ((void *)(ip4 + 1) > ctx_data_end(ctx))
		return SL_DROP(pkt, INVALID_PACKET);
	if (ip4->version != 4 || ip4->ihl < 5)
		return SL_DROP(pkt, INVALID_PACKET);
	hlen = ip4->ihl * 4;
	tot_len = bpf_ntohs(ip4->tot_len);
	/* A packet shorter than its own header, or shorter on the wire than
	 * tot_len claims, would be dropped by ip_rcv(); we forward around the
	 * stack, so the check is ours to make. */
	if (tot_len < hlen || SL_IPV4_OFF + tot_len > ctx_len(ctx))
		return SL_DROP(pkt, INVALID_PACKET);
	/* Options are never read (nor need to be linear): forwarding touches
	 * only the fixed header, and the L4 ports are read with
	 * ctx_load_bytes() from l4_off. */

	pkt->src.family = SL_FAMILY_IPV4;
	pkt->dst.family = SL_FAMILY_IPV4;
	__builtin_memcpy(pkt->src.addr, &ip4->saddr, sizeof(ip4->saddr));
	__builtin_memcpy(pkt->dst.addr, &ip4->daddr, sizeof(ip4->daddr));
	pkt->l4_proto = ip4->protocol;
	pkt->l4_off = SL_IPV4_OFF + hlen;
	pkt->l4_frag = (ip4->frag_off & bpf_htons(SL_IP_OFFSET_MASK)) != 0;
	return 0;
}

/* A router's hop: refuse a packet whose TTL would reach 0, else decrement it
 * and patch the header checksum for the one 16-bit word (TTL, protocol) that
 * changed. No ICMP time-exceeded is sent: the drop is counted and reported. */
static __always_inline int sl_ipv4_dec_ttl(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	struct iphdr *ip4 = ctx_data(ctx) + SL_IPV4_OFF;
	__be16 old, new;

	if ((void *)(ip4 + 1) > ctx_data_end(ctx))
		return SL_DROP(pkt, INVALID_PACKET);
	if (ip4->ttl <= 1)
		return SL_DROP(pkt, TTL_EXCEEDED);
	old = bpf_htons((__u16)ip4->ttl << 8 | ip4->protocol);
	ip4->ttl--;
	new = bpf_htons((__u16)ip4->ttl << 8 | ip4->protocol);
	csum_replace2(&ip4->check, old, new);
	return 0;
}

#pragma pop_macro("SL_SOURCE_FILE")

#endif /* SLUICE_LIB_IPV4_H */
