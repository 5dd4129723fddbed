/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy in the datapath: identities, the ipcache, the policy trie,
 * conntrack. Shared by the BPF programs, the agent's policy compiler and
 * sluicectl. docs/policy.md explains the design; the rules below are the
 * contract.
 *
 * Identity: a node-local number for "who a peer is". Every distinct label
 * set (a pod's labels plus its namespace's labels, which include
 * kubernetes.io/metadata.name) is one identity; pods sharing a label set
 * share it. Reserved identities are below SL_ID_FIRST_LABELS; ipBlock CIDR
 * classes get identities from SL_ID_FIRST_CIDR.
 *
 * A packet costs a constant number of lookups whatever the number of
 * policies, rules and pods: one ipcache lookup for the peer, then at most
 * three policy-trie lookups (peer identity, peer CIDR class, any peer) for
 * the first packet of a connection, and conntrack for the rest.
 */
#ifndef SLUICE_POLICY_TYPES_H
#define SLUICE_POLICY_TYPES_H

#include <linux/types.h>

/* --- identities --------------------------------------------------------- */

#define SL_ID_ANY 0            /* in a policy key: every peer */
#define SL_ID_HOST 1           /* this node (kubelet probes come from it) */
#define SL_ID_WORLD 2          /* an address nothing more specific describes */
#define SL_ID_FIRST_LABELS 256 /* label-set identities: 256 .. SL_ID_FIRST_CIDR - 1 */
#define SL_ID_FIRST_CIDR 0x01000000 /* ipBlock CIDR classes */

/* --- ipcache: address -> identity (LPM trie, written by the agent) ------- */

/* prefixlen counts the bits of family + pad (32) plus the address prefix,
 * so an IPv4 /32 has prefixlen 64 and 0.0.0.0/0 has 32. */
struct sl_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* SL_FAMILY_IPV4 / SL_FAMILY_IPV6 */
	__u8 pad[3];
	__u8 addr[16];
};
_Static_assert(sizeof(struct sl_ipcache_key) == 24, "sl_ipcache_key layout");

#define SL_IPCACHE_KEY_BASE_BITS 32

struct sl_ipcache_value {
	__u32 identity;      /* a label-set identity, SL_ID_HOST, SL_ID_WORLD, or a CIDR class */
	__u32 cidr_identity; /* the most specific ipBlock class holding the address, 0: none */
	__u32 flags;         /* SL_IPC_F_* */
	__u32 pad;
};
_Static_assert(sizeof(struct sl_ipcache_value) == 16, "sl_ipcache_value layout");

#define SL_IPC_F_LOCAL (1 << 0) /* a pod on this node */

/* --- the policy trie (LPM trie, written by the agent) --------------------- */

#define SL_POLICY_INGRESS 1
#define SL_POLICY_EGRESS 2

/* Matched longest-prefix over the bytes after prefixlen, in this order:
 *   subject(32) direction(8) pad(24) | peer(32) | proto(8) pad2(8) | dport(16)
 * - SL_POLICY_PREFIX_ISOLATED (64 bits: subject + direction) holds the
 *   "isolated" marker of a subject in a direction (action DENY). No entry of
 *   that prefix: the subject is not isolated in that direction, allow all.
 * - SL_POLICY_PREFIX_ALL_PORTS (96: up to the peer): every protocol and port.
 * - SL_POLICY_PREFIX_PROTO (112: up to pad2): every port of one protocol.
 * - 112 + (16 - k): a block of 2^k ports aligned on 2^k (endPort ranges are
 *   decomposed into such blocks); 128: one port.
 * dport is in network byte order so that MSB-first matching is numeric.
 * Every pad byte is zero in entries and in lookup keys. */
struct sl_policy_key {
	__u32 prefixlen;
	__u32 subject;  /* identity of the local pod the rule protects */
	__u8 direction; /* SL_POLICY_INGRESS / SL_POLICY_EGRESS */
	__u8 pad[3];
	__u32 peer;     /* identity of the other side, or SL_ID_ANY */
	__u8 proto;     /* IPPROTO_TCP / UDP / SCTP / ICMP ... */
	__u8 pad2;
	__be16 dport;   /* destination port of the connection */
};
_Static_assert(sizeof(struct sl_policy_key) == 20, "sl_policy_key layout");

#define SL_POLICY_PREFIX_ISOLATED 64
#define SL_POLICY_PREFIX_ALL_PORTS 96
#define SL_POLICY_PREFIX_PROTO 112
#define SL_POLICY_PREFIX_FULL 128

#define SL_POLICY_DENY 0  /* only on the ISOLATED marker */
#define SL_POLICY_ALLOW 1

struct sl_policy_value {
	__u8 action;  /* SL_POLICY_ALLOW / SL_POLICY_DENY */
	__u8 pad[3];
	__u32 rule;   /* the agent's rule number, for `sluicectl policy show` and events */
};
_Static_assert(sizeof(struct sl_policy_value) == 8, "sl_policy_value layout");

/* --- conntrack (LRU hash, written by the datapath, garbage-collected by
 *     the agent) ------------------------------------------------------------ */

/* The tuple of the connection's first packet (the "original" direction).
 * ICMP echo: sport is the echo id, dport 0 (the tuple of an echo reply puts
 * the id in dport, so that reversing it finds the request's entry). */
struct sl_ct_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};
_Static_assert(sizeof(struct sl_ct_key) == 40, "sl_ct_key layout");

#define SL_CT_NEW 1         /* seen one way only */
#define SL_CT_ESTABLISHED 2 /* seen both ways */
#define SL_CT_CLOSING 3     /* FIN seen */
#define SL_CT_CLOSED 4      /* RST, or FIN both ways */

/* sl_ct_value.flags */
#define SL_CT_F_HOST (1 << 0) /* opened by the node's own stack (sluice_to_pod): never checked against policy */

#define SL_CT_DIR_ORIG 0
#define SL_CT_DIR_REPLY 1

struct sl_ct_value {
	__u64 created_ns;   /* bpf_ktime_get_ns() of the first packet */
	__u64 last_seen_ns;
	__u64 packets[2];   /* [SL_CT_DIR_ORIG], [SL_CT_DIR_REPLY] */
	__u64 bytes[2];
	__u32 ifindex;      /* host-side veth of the local pod (drain, `ct list --pod`) */
	__u32 policy_rev;   /* sl_policy_config.rev under which it was last allowed */
	__u8 state;         /* SL_CT_* */
	__u8 tcp_flags[2];  /* TCP flags seen per direction (ORed) */
	__u8 flags;         /* SL_CT_F_* */
	__u8 pad[4];
};
_Static_assert(sizeof(struct sl_ct_value) == 64, "sl_ct_value layout");

/* --- settings the agent changes at run time (ARRAY, 1 entry) --------------- */

#define SL_CT_ON_POLICY_CHANGE_KEEP 0 /* established connections outlive a policy that stops allowing them */
#define SL_CT_ON_POLICY_CHANGE_DROP 1 /* their next packet is checked against the new policy */

struct sl_policy_config {
	__u32 rev;                 /* bumped by the agent on every policy change */
	__u8 ct_on_policy_change;  /* SL_CT_ON_POLICY_CHANGE_* */
	__u8 enforce;              /* 0: policy off (all allowed, conntrack still kept) */
	__u8 pad[2];
};
_Static_assert(sizeof(struct sl_policy_config) == 8, "sl_policy_config layout");

#endif /* SLUICE_POLICY_TYPES_H */
