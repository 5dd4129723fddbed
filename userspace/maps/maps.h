/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed access to the datapath's pinned maps, by path (bpf_obj_get): what the
 * agent writes and what sluicectl reads, with nothing loaded.
 *
 * maps_open() checks each map's type and key/value sizes and the layout
 * version in sluice_meta, so a reader never misreads pins of another layout
 * (-EPROTO). Keys are passed as the shared structs (bpf/include/
 * sluice_types.h); callers zero them before filling (padding is hashed).
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

#include "sluice_types.h"

struct sl_maps {
	int endpoint_fd;
	int eni_fd;
	int metrics_fd;
	int events_fd;
	int meta_fd;
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
