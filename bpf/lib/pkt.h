/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * struct sl_pkt: what a program has learnt about the packet so far.
 *
 * The entry point zero-initializes one on its stack and passes it down; the
 * parsers fill it in, the lookups read it, and on a drop the event is built
 * from it (whatever was parsed by then) plus the drop site SL_DROP() noted.
 * src and dst are ready-made sluice_endpoint keys (zero-padded, so they hash
 * like the keys userspace writes).
 *
 * Needs: a ctx shim (ctx_skb.h or ctx_xdp.h) included first.
 */
#ifndef SLUICE_LIB_PKT_H
#define SLUICE_LIB_PKT_H

#include "sluice_types.h"

struct sl_pkt {
	struct sl_endpoint_key src; /* family 0 until the L3 header is valid */
	struct sl_endpoint_key dst;
	__u16 l3_proto; /* Ethernet type, network byte order */
	__u8 l4_proto;  /* IPPROTO_*, 0 when unknown */
	__u8 l4_frag;   /* non-first fragment: no L4 header in this packet */
	__u16 l4_off;   /* offset of the L4 header from the start of the frame */
	/* Filled by sl_parse_l4() (l4.h) for conntrack and policy; zero before. */
	__be16 sport;      /* tuple ports, network byte order (ICMP echo: the id, see l4.h) */
	__be16 dport;
	__u8 tcp_flags;    /* TCP flags byte (FIN, SYN, RST, ACK ...), 0 for other protocols */
	__u8 icmp_error;   /* an ICMP error quoting a packet (unreachable, time exceeded ...) */
	__u16 drop_line; /* set by SL_DROP() */
	__u32 drop_file; /* SL_SRC_* id, set by SL_DROP() */
};

#endif /* SLUICE_LIB_PKT_H */
