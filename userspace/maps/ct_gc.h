/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection of sluice_ct. The datapath creates and updates
 * connections but never ages them out; one pass here deletes every entry
 * idle (now - last_seen_ns) for longer than the timeout of its protocol and
 * state, and counts what stays per host-side veth, which is what a graceful
 * drain waits on. The LRU evicts on its own when the table is full; the GC
 * keeps it from filling up with dead connections and keeps those counts
 * honest.
 *
 * Timeouts (seconds of idleness):
 *   TCP  NEW 60 (a SYN unanswered), ESTABLISHED 6 h, CLOSING 120, CLOSED 5
 *   UDP  60 (either state)     SCTP NEW 60, ESTABLISHED 600
 *   ICMP 30                    anything else 60
 * CLOSING (a FIN one way) is 120 s, not less: a half-closed connection can
 * idle legitimately (a client that shut down its side waits for a slow
 * answer), and losing its entry would cut the answer for an isolated pod.
 * CLOSED keeps 5 s for the last ACK and retransmitted FINs. SCTP's state is
 * not tracked past ESTABLISHED; its heartbeats (30 s by default) keep live
 * associations fresh, so 600 s only ages out dead ones. last_seen_ns is
 * bpf_ktime_get_ns(): CLOCK_MONOTONIC.
 *
 * A pass reads the table in batches, then deletes each idle entry after
 * reading it once more, so a connection that came back to life in between
 * is kept. Safe to run while the datapath works; one pass at a time.
 * Functions return 0 or -errno (logged).
 */
#ifndef SLUICE_MAPS_CT_GC_H
#define SLUICE_MAPS_CT_GC_H

#include <stddef.h>

#include <linux/types.h>

#include "maps/maps.h"

#define CT_GC_TCP_NEW_S 60
#define CT_GC_TCP_ESTABLISHED_S (6 * 3600)
#define CT_GC_TCP_CLOSING_S 120
#define CT_GC_TCP_CLOSED_S 5
#define CT_GC_UDP_S 60
#define CT_GC_SCTP_NEW_S 60
#define CT_GC_SCTP_ESTABLISHED_S 600
#define CT_GC_ICMP_S 30
#define CT_GC_OTHER_S 60

/* The outcome of one pass: a plain value, to keep and show. */
struct ct_gc_result {
	__u64 started_ns;  /* CLOCK_MONOTONIC when the pass began (the "now" of the timeouts) */
	__u64 duration_ns; /* how long the pass took */
	__u32 scanned;     /* entries read */
	__u32 removed;     /* entries deleted as idle */
	__u32 live;        /* entries kept that are not CLOSED */
	__u32 ifindexes;   /* distinct host-side veths those belong to */
};

/* Live connections of one host-side veth (sl_ct_value.ifindex). */
struct ct_gc_ifcount {
	__u32 ifindex;
	__u32 conns;
};

/* Counts by ifindex, ascending; free with ct_gc_counts_free(). */
struct ct_gc_counts {
	struct ct_gc_ifcount *v;
	size_t n;
};

/* One pass now, without per-ifindex counts. */
int ct_gc_run(const struct sl_maps *m, struct ct_gc_result *res);

/* One pass as if it were now_ns (0: now). counts NULL: not wanted;
 * otherwise filled (and to be freed) even when the table is empty. */
int ct_gc_pass(const struct sl_maps *m, __u64 now_ns, struct ct_gc_result *res, struct ct_gc_counts *counts);

/* The live connections of ifindex in counts (0 if none). */
__u32 ct_gc_count_of(const struct ct_gc_counts *counts, __u32 ifindex);
void ct_gc_counts_free(struct ct_gc_counts *counts);

/* The idle timeout of an entry of protocol proto (IPPROTO_*) in state. */
__u64 ct_gc_timeout_ns(__u8 proto, __u8 state);

#endif /* SLUICE_MAPS_CT_GC_H */
