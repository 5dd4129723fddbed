/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * L4: the ports of a packet, for conntrack, the policy trie and drop events.
 *
 * Read with ctx_load_bytes() from pkt->l4_off, never through packet
 * pointers: the L4 header need not be linear (IP options, GSO), and no
 * packet pointer has to stay valid across the map lookups that follow.
 *
 * sl_parse_l4() fills pkt->sport, dport, tcp_flags and icmp_error and never
 * drops. The tuple it builds (network byte order):
 *   TCP, UDP, SCTP  the two ports (all three open with them)
 *   ICMP echo       request: sport = id, dport = 0; reply: sport = 0,
 *                   dport = id, so the reversed tuple of a reply is the
 *                   tuple of its request
 *   ICMP error      ports 0 and icmp_error set (unreachable, time exceeded,
 *                   parameter problem): conntrack.h looks up the connection
 *                   of the packet it quotes
 *   anything else   ports 0
 * A non-first fragment has no L4 header: ports 0 (policy.h says what that
 * means). A truncated L4 header leaves ports 0 too, without a drop:
 * forwarding never needed it, and the receiver's stack will refuse it.
 *
 * sl_l4_ports() gives the ports of a dropped packet for its event, in host
 * byte order, whatever the program had parsed by then.
 *
 * Needs: a ctx shim, pkt.h (pkt->l4_* filled by the L3 parser).
 */
#ifndef SLUICE_LIB_L4_H
#define SLUICE_LIB_L4_H

#include <stdbool.h>

#include <linux/in.h>
#include <bpf/bpf_endian.h>

#include "ctx.h"
#include "pkt.h"

/* TCP flags byte (offset 13 of the header) */
#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_RST 0x04
#define SL_TCP_ACK 0x10
#define SL_TCP_FLAGS_OFF 13

/* ICMP (RFC 792). Not <linux/icmp.h>: through linux/if.h it pulls in libc
 * headers, which a BPF build cannot use. */
#define SL_ICMP_ECHOREPLY 0
#define SL_ICMP_DEST_UNREACH 3
#define SL_ICMP_ECHO 8
#define SL_ICMP_TIME_EXCEEDED 11
#define SL_ICMP_PARAMETERPROB 12

struct sl_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id; /* echo request / reply; unused by the errors */
	__be16 seq;
};

static __always_inline bool sl_l4_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* The tuple ports of an ICMP message of type with echo id (network order);
 * returns 1 for the errors that quote a packet, 0 otherwise. */
static __always_inline int sl_icmp_tuple(__u8 type, __be16 id, __be16 *sport, __be16 *dport)
{
	switch (type) {
	case SL_ICMP_ECHO:
		*sport = id;
		return 0;
	case SL_ICMP_ECHOREPLY:
		*dport = id;
		return 0;
	case SL_ICMP_DEST_UNREACH:
	case SL_ICMP_TIME_EXCEEDED:
	case SL_ICMP_PARAMETERPROB:
		return 1;
	}
	return 0;
}

static __always_inline void sl_parse_l4(const struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	__u8 h[SL_TCP_FLAGS_OFF + 1];
	struct sl_icmphdr icmp;

	if (pkt->l4_frag || !pkt->l4_off)
		return;
	switch (pkt->l4_proto) {
	case IPPROTO_TCP:
		if (ctx_load_bytes(ctx, pkt->l4_off, h, sizeof(h)) < 0)
			return;
		pkt->tcp_flags = h[SL_TCP_FLAGS_OFF];
		break;
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (ctx_load_bytes(ctx, pkt->l4_off, h, 4) < 0)
			return;
		break;
	case IPPROTO_ICMP:
		if (ctx_load_bytes(ctx, pkt->l4_off, &icmp, sizeof(icmp)) < 0)
			return;
		pkt->icmp_error = sl_icmp_tuple(icmp.type, icmp.id, &pkt->sport, &pkt->dport);
		return;
	default:
		return;
	}
	__builtin_memcpy(&pkt->sport, h, sizeof(pkt->sport));
	__builtin_memcpy(&pkt->dport, h + 2, sizeof(pkt->dport));
}

/* Source and destination port in host byte order, 0 and 0 when the packet
 * has none: not TCP, UDP or SCTP, a non-first fragment, or a truncated L4
 * header. */
static __always_inline void sl_l4_ports(const struct sl_ctx *ctx, const struct sl_pkt *pkt,
					__u16 *sport, __u16 *dport)
{
	__be16 ports[2];

	*sport = 0;
	*dport = 0;
	if (pkt->l4_frag || !pkt->l4_off)
		return;
	if (!sl_l4_has_ports(pkt->l4_proto))
		return;
	if (ctx_load_bytes(ctx, pkt->l4_off, ports, sizeof(ports)) < 0)
		return;
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
}

#endif /* SLUICE_LIB_L4_H */
