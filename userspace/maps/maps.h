/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed access to the datapath's pinned maps, by path (bpf_obj_get): what the
 * agent writes and what sluicectl reads, with nothing loaded. Layouts are in
 * bpf/include/sluice_types.h and policy_types.h; docs/policy.md explains the
 * policy maps.
 *
 * maps_open() checks each map's type and key/value sizes and the layout
 * version in sluice_meta, so a reader never misreads pins of another layout
 * (-EPROTO). Keys are passed as the shared structs (bpf/include/
 * sluice_types.h, policy_types.h); callers zero them before filling (padding
 * is hashed, and in the tries it is matched).
 *
 * Every function returns 0 or -errno: -ENOENT for a missing entry (get, del)
 * without logging, anything else logged with the map's name. The foreach
 * functions call fn for each entry until fn returns nonzero, which they then
 * return; entries must not be added or deleted from within fn (collect, then
 * change), since a hash walk restarts when its current key disappears.
 */
#ifndef SLUICE_MAPS_H
#define SLUICE_MAPS_H

#include <linux/types.h>

#include "policy_types.h"
#include "sluice_types.h"

struct sl_maps {
	int endpoint_fd;
	int eni_fd;
	int metrics_fd;
	int events_fd;
	int meta_fd;
	int ipcache_fd;
	int policy_fd;
	int ct_fd;
	int polcfg_fd;
};

/* pin_dir NULL: SL_PIN_DIR_DEFAULT. On failure every fd is -1. */
int maps_open(const char *pin_dir, struct sl_maps *m);
void maps_close(struct sl_maps *m);

/* sluice_endpoint */
typedef int (*maps_endpoint_fn)(const struct sl_endpoint_key *key, const struct sl_endpoint_info *info,
				void *arg);
int maps_endpoint_set(const struct sl_maps *m, const struct sl_endpoint_key *key,
		      const struct sl_endpoint_info *info);
int maps_endpoint_get(const struct sl_maps *m, const struct sl_endpoint_key *key, struct sl_endpoint_info *info);
int maps_endpoint_del(const struct sl_maps *m, const struct sl_endpoint_key *key);
int maps_endpoint_foreach(const struct sl_maps *m, maps_endpoint_fn fn, void *arg);

/* sluice_eni, keyed by the interface's ifindex */
typedef int (*maps_eni_fn)(__u32 ifindex, const struct sl_eni_info *info, void *arg);
int maps_eni_set(const struct sl_maps *m, __u32 ifindex, const struct sl_eni_info *info);
int maps_eni_get(const struct sl_maps *m, __u32 ifindex, struct sl_eni_info *info);
int maps_eni_del(const struct sl_maps *m, __u32 ifindex);
int maps_eni_foreach(const struct sl_maps *m, maps_eni_fn fn, void *arg);

/* sluice_metrics: values summed over all CPUs. */
typedef int (*maps_metrics_fn)(const struct sl_metrics_key *key, const struct sl_metrics_value *sum, void *arg);
int maps_metrics_get(const struct sl_maps *m, __u8 reason, __u8 dir, struct sl_metrics_value *sum);
int maps_metrics_foreach(const struct sl_maps *m, maps_metrics_fn fn, void *arg);
/* Deletes every counter (`sluicectl metrics reset`, tests). */
int maps_metrics_clear(const struct sl_maps *m);

/* sluice_meta[0] */
int maps_meta_get(const struct sl_maps *m, struct sl_meta *meta);

/*
 * sluice_ipcache and sluice_policy are LPM tries. put and del take the exact
 * key (prefixlen included: del of a prefix that is not there is -ENOENT).
 * get is a longest-prefix match, as the datapath sees it: the value of the
 * most specific entry covering the key, whatever its prefixlen; to learn
 * which entries exist, walk them with foreach (keys come out exact). The
 * put_batch variants write n entries in as few system calls as the kernel
 * allows, in order (a kernel without batch support for tries gets them one
 * by one); on error, *done says how many were written.
 */

/* sluice_ipcache: an IPv4/IPv6 prefix, prefix_bits 0..32 / 0..128 (addr: 4
 * or 16 bytes, network order); bits past the prefix are cleared. */
int maps_ipcache_key(struct sl_ipcache_key *key, __u8 family, const void *addr, unsigned int prefix_bits);
typedef int (*maps_ipcache_fn)(const struct sl_ipcache_key *key, const struct sl_ipcache_value *val, void *arg);
int maps_ipcache_put(const struct sl_maps *m, const struct sl_ipcache_key *key, const struct sl_ipcache_value *val);
int maps_ipcache_put_batch(const struct sl_maps *m, const struct sl_ipcache_key *keys,
			   const struct sl_ipcache_value *vals, __u32 n, __u32 *done);
int maps_ipcache_get(const struct sl_maps *m, const struct sl_ipcache_key *key, struct sl_ipcache_value *val);
int maps_ipcache_del(const struct sl_maps *m, const struct sl_ipcache_key *key);
int maps_ipcache_foreach(const struct sl_maps *m, maps_ipcache_fn fn, void *arg);

/* sluice_policy. maps_policy_key() fills a key for prefixlen (one of
 * SL_POLICY_PREFIX_*, or 112 + 16 - k for a block of 2^k ports); dport in
 * host order, converted and masked to the prefix. */
void maps_policy_key(struct sl_policy_key *key, __u32 subject, __u8 direction, __u32 peer, __u8 proto, __u16 dport,
		     __u32 prefixlen);
typedef int (*maps_policy_fn)(const struct sl_policy_key *key, const struct sl_policy_value *val, void *arg);
int maps_policy_put(const struct sl_maps *m, const struct sl_policy_key *key, const struct sl_policy_value *val);
int maps_policy_put_batch(const struct sl_maps *m, const struct sl_policy_key *keys,
			  const struct sl_policy_value *vals, __u32 n, __u32 *done);
int maps_policy_get(const struct sl_maps *m, const struct sl_policy_key *key, struct sl_policy_value *val);
int maps_policy_del(const struct sl_maps *m, const struct sl_policy_key *key);
int maps_policy_foreach(const struct sl_maps *m, maps_policy_fn fn, void *arg);

/* An endPort range first..last (host order, first <= last) as the fewest
 * aligned power-of-two blocks: at most MAPS_PORT_BLOCKS_MAX, in ascending
 * order. Each block is (port, prefixlen) for maps_policy_key(). Returns the
 * number of blocks, or -EINVAL when first > last. */
#define MAPS_PORT_BLOCKS_MAX 32
struct maps_port_block {
	__u16 port;      /* first port of the block */
	__u16 prefixlen; /* SL_POLICY_PREFIX_PROTO + 16 - log2(block size) */
};
int maps_port_range_blocks(__u16 first, __u16 last, struct maps_port_block blocks[MAPS_PORT_BLOCKS_MAX]);

/* sluice_ct, written by the datapath. get is exact (keys are original
 * tuples). del of an entry the datapath still uses only makes its next
 * packet a first packet again (judged by policy). */
typedef int (*maps_ct_fn)(const struct sl_ct_key *key, const struct sl_ct_value *val, void *arg);
int maps_ct_get(const struct sl_maps *m, const struct sl_ct_key *key, struct sl_ct_value *val);
int maps_ct_del(const struct sl_maps *m, const struct sl_ct_key *key);
int maps_ct_foreach(const struct sl_maps *m, maps_ct_fn fn, void *arg);
/* Deletes every entry (tests, `sluicectl ct flush`). */
int maps_ct_clear(const struct sl_maps *m);

/* sluice_polcfg[0]: bump rev after every policy change. */
int maps_polcfg_get(const struct sl_maps *m, struct sl_policy_config *cfg);
int maps_polcfg_set(const struct sl_maps *m, const struct sl_policy_config *cfg);

/*
 * Drop events from the sluice_events ring buffer. fn gets each event (a copy,
 * valid during the call); a negative return stops the poll and is returned.
 * maps_events_poll() waits up to timeout_ms (0: only what is there, -1:
 * forever) and returns the number of events consumed or a negative error
 * (-EINTR on a signal, or fn's), without logging. maps_events_fd() is an epoll fd for the agent's main loop. Close
 * the consumer before the maps.
 */
struct maps_events;
typedef int (*maps_drop_event_fn)(const struct sl_drop_event *ev, void *arg);
int maps_events_open(const struct sl_maps *m, maps_drop_event_fn fn, void *arg, struct maps_events **out);
int maps_events_poll(struct maps_events *ev, int timeout_ms);
int maps_events_fd(const struct maps_events *ev);
void maps_events_close(struct maps_events *ev);

#endif /* SLUICE_MAPS_H */
