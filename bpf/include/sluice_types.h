/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys, values and event records shared by the BPF programs and userspace.
 *
 * Rules: only fixed-width types, explicit padding, no pointers, no bool.
 * Addresses are 16 bytes tagged with a family (4 or 6) so IPv6 needs no layout
 * change; an IPv4 address fills bytes 0..3 in network order, the rest is zero.
 * Every struct has a size assertion: a layout drift is a build error on both
 * sides. Callers zero-initialize keys so padding never carries garbage.
 */
#ifndef SLUICE_TYPES_H
#define SLUICE_TYPES_H

#include <linux/types.h>

#define SL_FAMILY_IPV4 4
#define SL_FAMILY_IPV6 6
#define SL_ETH_ALEN 6

#define SL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

/* Key of sluice_endpoint: one address of a pod or of the node itself. */
struct sl_endpoint_key {
	__u8 family; /* SL_FAMILY_IPV4 / SL_FAMILY_IPV6 */
	__u8 pad[3];
	__u8 addr[16];
};
SL_STATIC_ASSERT(sizeof(struct sl_endpoint_key) == 20, "sl_endpoint_key layout");

/* sl_endpoint_info.flags */
#define SL_EP_F_POD (1 << 0)  /* a pod behind a host-side veth */
#define SL_EP_F_HOST (1 << 1) /* an address of the node itself: hand to the stack */

/* Value of sluice_endpoint. Written by sluiced on CNI ADD/DEL and at reconcile. */
struct sl_endpoint_info {
	__u32 ifindex;     /* host-side veth of the pod (0 for SL_EP_F_HOST) */
	__u32 eni_ifindex; /* cloud interface that owns the address (0: none) */
	__u8 mac[6];       /* the pod's own interface (eth0 in the pod) */
	__u8 gw_mac[6];    /* host-side veth: the pod's gateway MAC */
	__u16 flags;       /* SL_EP_F_* */
	__u16 pad0;
	__u32 identity; /* policy identity, 0 until policy enforcement */
	__u32 pad1;
};
SL_STATIC_ASSERT(sizeof(struct sl_endpoint_info) == 32, "sl_endpoint_info layout");

/* Value of sluice_eni, keyed by the ENI's ifindex (__u32). Written by sluiced
 * when it adopts an interface the cloud attached. */
struct sl_eni_info {
	__u8 gw_addr[16]; /* subnet gateway: next hop of everything leaving the ENI */
	__u8 family;      /* of gw_addr */
	__u8 pad0;
	__u8 mac[6];      /* the ENI's own MAC */
	__u32 mtu;
	__u32 pad1;
};
SL_STATIC_ASSERT(sizeof(struct sl_eni_info) == 32, "sl_eni_info layout");

/* Key of sluice_metrics (per-CPU hash): reason 0 counts forwarded packets,
 * any other value is an SL_DROP_* reason; dir is an SL_DIR_* value. */
struct sl_metrics_key {
	__u8 reason;
	__u8 dir;
	__u16 pad;
};
SL_STATIC_ASSERT(sizeof(struct sl_metrics_key) == 4, "sl_metrics_key layout");

struct sl_metrics_value {
	__u64 packets;
	__u64 bytes;
};
SL_STATIC_ASSERT(sizeof(struct sl_metrics_value) == 16, "sl_metrics_value layout");

/* Record in the sluice_events ring buffer: one dropped packet. */
struct sl_drop_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns() */
	__u32 ifindex; /* device the program ran on */
	__u16 reason;  /* SL_DROP_* */
	__u8 dir;      /* SL_DIR_* */
	__u8 family;   /* 0 when the packet was not IP */
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* host byte order, 0 when not TCP/UDP/SCTP */
	__u16 dport;
	__u8 proto; /* IP protocol number */
	__u8 pad0;
	__u16 line;   /* source line of the drop */
	__u32 file;   /* SL_SRC_* id of the source file of the drop */
	__u32 pkt_len;
};
SL_STATIC_ASSERT(sizeof(struct sl_drop_event) == 64, "sl_drop_event layout");

/* Value of sluice_meta[0]: lets an agent refuse pinned maps it cannot read. */
struct sl_meta {
	__u32 layout_version; /* SL_LAYOUT_VERSION of the agent that created the pins */
	__u32 pad;
	__u64 created_ns; /* CLOCK_BOOTTIME of creation, for `sluicectl status` */
};
SL_STATIC_ASSERT(sizeof(struct sl_meta) == 16, "sl_meta layout");

#endif /* SLUICE_TYPES_H */
