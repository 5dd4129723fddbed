/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map sizes. Each has a default here; the agent may resize a map before load
 * (bpf_map__set_max_entries) for nodes that need more.
 */
#ifndef SLUICE_CONSTS_H
#define SLUICE_CONSTS_H

#ifndef SL_MAX_ENDPOINTS
#define SL_MAX_ENDPOINTS 16384 /* pod and node addresses on one node */
#endif
#ifndef SL_MAX_ENIS
#define SL_MAX_ENIS 64
#endif
#ifndef SL_MAX_METRICS
#define SL_MAX_METRICS 1024 /* (reason, direction) pairs */
#endif
#ifndef SL_EVENTS_BYTES
#define SL_EVENTS_BYTES (256 * 1024) /* drop-event ring buffer */
#endif
/* NetworkPolicy (policy_types.h). The two tries allocate per entry
 * (BPF_F_NO_PREALLOC), so their limits cost nothing until used; conntrack is
 * an LRU hash and preallocates every entry (about 150 bytes each). */
#ifndef SL_MAX_IPCACHE
#define SL_MAX_IPCACHE 65536 /* pod IPs of the cluster, node addresses, ipBlock boundaries */
#endif
#ifndef SL_MAX_POLICY
#define SL_MAX_POLICY 131072 /* policy-trie entries: markers, rules, endPort blocks */
#endif
#ifndef SL_MAX_CT
#define SL_MAX_CT 262144 /* connections through this node's pods */
#endif

/* The gateway every pod sees: a link-local address answered by a permanent
 * neighbour entry in the pod, so the first packet needs no ARP. */
#define SL_POD_GATEWAY_V4 "169.254.1.1"

#endif /* SLUICE_CONSTS_H */
