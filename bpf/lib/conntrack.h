/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack (sluice_ct): one entry per connection, keyed by the tuple of
 * its first packet (the original direction); a packet the other way finds
 * it by its reversed tuple. Never drops: enforce.h decides.
 *
 * State, from what has been seen (sl_ct_state()):
 *   NEW          one way only
 *   ESTABLISHED  both ways
 *   CLOSING      TCP: a FIN one way
 *   CLOSED       TCP: a FIN both ways, or a RST
 * TCP flags are ORed per direction, so the state only moves forward; a
 * bare SYN on a CLOSED entry is a new connection reusing the tuple
 * (sl_ct_reopens()). UDP, SCTP, ICMP and the rest are NEW until a reply,
 * then ESTABLISHED; the agent's GC ages them out (userspace/maps/ct_gc.h).
 *
 * Counters: packets and bytes per direction, added atomically (the two
 * directions of a connection run on different CPUs); last_seen_ns on every
 * packet. Bytes are whole frames, as in sluice_metrics.
 *
 * Needs: a ctx shim, pkt.h (after sl_parse_l4()), maps.h.
 */
#ifndef SLUICE_LIB_CONNTRACK_H
#define SLUICE_LIB_CONNTRACK_H

#include <stdbool.h>

#include <linux/ip.h>

#include "ctx.h"
#include "ipv4.h"
#include "l4.h"
#include "maps.h"
#include "pkt.h"

/* The tuple of pkt, or with reverse the tuple a reply to pkt would have. */
static __always_inline void sl_ct_tuple(struct sl_ct_key *k, const struct sl_pkt *pkt, bool reverse)
{
	k->family = pkt->src.family;
	k->proto = pkt->l4_proto;
	k->pad = 0;
	if (reverse) {
		k->sport = pkt->dport;
		k->dport = pkt->sport;
		__builtin_memcpy(k->saddr, pkt->dst.addr, sizeof(k->saddr));
		__builtin_memcpy(k->daddr, pkt->src.addr, sizeof(k->daddr));
	} else {
		k->sport = pkt->sport;
		k->dport = pkt->dport;
		__builtin_memcpy(k->saddr, pkt->src.addr, sizeof(k->saddr));
		__builtin_memcpy(k->daddr, pkt->dst.addr, sizeof(k->daddr));
	}
}

/* The entry of pkt's connection, either way round: the original tuple
 * first, then the reversed one. On a hit, key holds the entry's key and
 * *dir is SL_CT_DIR_ORIG or SL_CT_DIR_REPLY. */
static __always_inline struct sl_ct_value *sl_ct_lookup(const struct sl_pkt *pkt, struct sl_ct_key *key, __u8 *dir)
{
	struct sl_ct_value *ct;

	sl_ct_tuple(key, pkt, false);
	ct = bpf_map_lookup_elem(&sluice_ct, key);
	if (ct) {
		*dir = SL_CT_DIR_ORIG;
		return ct;
	}
	sl_ct_tuple(key, pkt, true);
	ct = bpf_map_lookup_elem(&sluice_ct, key);
	*dir = SL_CT_DIR_REPLY;
	return ct;
}

static __always_inline __u8 sl_ct_state(__u8 proto, __u8 flags_orig, __u8 flags_reply, bool replied)
{
	if (proto == IPPROTO_TCP) {
		if ((flags_orig | flags_reply) & SL_TCP_RST)
			return SL_CT_CLOSED;
		if (flags_orig & flags_reply & SL_TCP_FIN)
			return SL_CT_CLOSED;
		if ((flags_orig | flags_reply) & SL_TCP_FIN)
			return SL_CT_CLOSING;
	}
	return replied ? SL_CT_ESTABLISHED : SL_CT_NEW;
}

/* A bare SYN meeting a closed connection opens a new one on the same tuple
 * (a client reusing its port soon after): policy decides it afresh. */
static __always_inline bool sl_ct_reopens(const struct sl_ct_value *ct, const struct sl_pkt *pkt)
{
	return pkt->l4_proto == IPPROTO_TCP && ct->state == SL_CT_CLOSED &&
	       (pkt->tcp_flags & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN;
}

/* Accounts pkt (len bytes) to ct in direction dir and moves the state. */
static __always_inline void sl_ct_update(struct sl_ct_value *ct, __u8 dir, const struct sl_pkt *pkt, __u32 len)
{
	__u8 flags, state;

	dir &= 1;
	__sync_fetch_and_add(&ct->packets[dir], 1);
	__sync_fetch_and_add(&ct->bytes[dir], len);
	ct->last_seen_ns = bpf_ktime_get_ns();
	flags = ct->tcp_flags[dir] | pkt->tcp_flags;
	if (flags != ct->tcp_flags[dir])
		ct->tcp_flags[dir] = flags;
	state = sl_ct_state(pkt->l4_proto, ct->tcp_flags[SL_CT_DIR_ORIG], ct->tcp_flags[SL_CT_DIR_REPLY],
			    dir == SL_CT_DIR_REPLY || ct->packets[SL_CT_DIR_REPLY]);
	if (state != ct->state)
		ct->state = state;
}

/* A new entry for pkt's connection, pkt being its first packet. key: the
 * original tuple (sl_ct_tuple(key, pkt, false)). ifindex: the host-side
 * veth of the local pod it belongs to; rev: the policy revision that
 * allowed it. A full table evicts its least recently used entry. */
static __always_inline void sl_ct_create(const struct sl_ct_key *key, const struct sl_pkt *pkt, __u32 len,
					 __u32 ifindex, __u32 rev, __u8 flags)
{
	struct sl_ct_value v = {};
	__u64 now = bpf_ktime_get_ns();

	v.created_ns = now;
	v.last_seen_ns = now;
	v.packets[SL_CT_DIR_ORIG] = 1;
	v.bytes[SL_CT_DIR_ORIG] = len;
	v.ifindex = ifindex;
	v.policy_rev = rev;
	v.tcp_flags[SL_CT_DIR_ORIG] = pkt->tcp_flags;
	v.state = sl_ct_state(pkt->l4_proto, pkt->tcp_flags, 0, false);
	v.flags = flags;
	/* BPF_ANY: another CPU may have created it meanwhile; either copy
	 * is right. Failure (-ENOMEM) only costs the entry: the packet was
	 * allowed, and its connection is judged again on its next packet. */
	bpf_map_update_elem(&sluice_ct, key, &v, BPF_ANY);
}

static __always_inline void sl_ct_delete(const struct sl_ct_key *key)
{
	bpf_map_delete_elem(&sluice_ct, key);
}

/*
 * An ICMP error (pkt->icmp_error) belongs to the connection of the packet it
 * quotes: "fragmentation needed" from a router on the path, "port
 * unreachable" from the peer. True when that connection has an entry, so
 * path MTU discovery works for isolated pods. The quoted packet was sent
 * by one end of the connection, so either orientation may match. The
 * entry is not updated: an error is not traffic of the connection.
 */
static __always_inline bool sl_ct_related(const struct sl_ctx *ctx, const struct sl_pkt *pkt)
{
	__u32 off = pkt->l4_off + sizeof(struct sl_icmphdr);
	struct sl_ct_key key = {};
	struct sl_icmphdr icmp;
	struct iphdr ip;
	__be16 ports[2];

	if (ctx_load_bytes(ctx, off, &ip, sizeof(ip)) < 0 || ip.version != 4 || ip.ihl < 5)
		return false;
	key.family = SL_FAMILY_IPV4;
	key.proto = ip.protocol;
	__builtin_memcpy(key.saddr, &ip.saddr, sizeof(ip.saddr));
	__builtin_memcpy(key.daddr, &ip.daddr, sizeof(ip.daddr));
	off += ip.ihl * 4;
	/* A quoted non-first fragment has no ports: ports 0, like its tuple. */
	if (!(ip.frag_off & bpf_htons(SL_IP_OFFSET_MASK))) {
		if (sl_l4_has_ports(ip.protocol)) {
			if (ctx_load_bytes(ctx, off, ports, sizeof(ports)) < 0)
				return false;
			key.sport = ports[0];
			key.dport = ports[1];
		} else if (ip.protocol == IPPROTO_ICMP) {
			if (ctx_load_bytes(ctx, off, &icmp, sizeof(icmp)) < 0)
				return false;
			sl_icmp_tuple(icmp.type, icmp.id, &key.sport, &key.dport);
		}
	}
	if (bpf_map_lookup_elem(&sluice_ct, &key))
		return true;
	/* The other orientation: swap addresses and ports. */
	__builtin_memcpy(key.saddr, &ip.daddr, sizeof(ip.daddr));
	__builtin_memcpy(key.daddr, &ip.saddr, sizeof(ip.saddr));
	ports[0] = key.sport;
	key.sport = key.dport;
	key.dport = ports[0];
	return bpf_map_lookup_elem(&sluice_ct, &key) != NULL;
}

#endif /* SLUICE_LIB_CONNTRACK_H */
