/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The map instances every Sluice program shares, pinned by name in the pin
 * directory (pins.h). Types live in sluice_types.h and policy_types.h, so
 * code that only needs the layouts (userspace, tests) includes those
 * instead of creating maps.
 *
 * Every object declares the same maps; the loader loads them with one pin root
 * path, so the second object (and a restarted agent) reuses the pins instead
 * of creating copies. Sizes come from consts.h; the agent may resize before
 * load.
 */
#ifndef SLUICE_LIB_MAPS_H
#define SLUICE_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "policy_types.h"
#include "sluice_types.h"

/* Pod and node addresses on this node; written by sluiced (CNI ADD/DEL, reconcile). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_ENDPOINTS);
	__type(key, struct sl_endpoint_key);
	__type(value, struct sl_endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_endpoint SEC(".maps");

/* Cloud interfaces by ifindex with their subnet gateway; written by sluiced on adoption. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_ENIS);
	__type(key, __u32);
	__type(value, struct sl_eni_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_eni SEC(".maps");

/* Per-CPU packet/byte counters by (reason, direction); written by the programs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_MAX_METRICS);
	__type(key, struct sl_metrics_key);
	__type(value, struct sl_metrics_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_metrics SEC(".maps");

/* Drop events (struct sl_drop_event); written by the programs, read by sluicectl monitor. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SL_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_events SEC(".maps");

/* Layout version and creation time of the pins (struct sl_meta); written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_meta SEC(".maps");

/* Address -> identity (longest prefix): pod IPs, node addresses, ipBlock
 * boundaries, 0.0.0.0/0; written by sluiced's policy engine. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_MAX_IPCACHE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required of LPM tries */
	__type(key, struct sl_ipcache_key);
	__type(value, struct sl_ipcache_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ipcache SEC(".maps");

/* subject|direction|peer|proto|dport -> allow, or the isolation marker;
 * written by sluiced's policy engine. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sl_policy_key);
	__type(value, struct sl_policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_policy SEC(".maps");

/* Connections by their original tuple; written by the programs, aged out by
 * sluiced's garbage collector (userspace/maps/ct_gc.c) and by the LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_CT);
	__type(key, struct sl_ct_key);
	__type(value, struct sl_ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct SEC(".maps");

/* Policy settings (struct sl_policy_config): revision, enforce, what a
 * policy change does to live connections; written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_policy_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_polcfg SEC(".maps");

#endif /* SLUICE_LIB_MAPS_H */
