/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU packet and byte counters by (reason, direction) in sluice_metrics.
 * Reason SL_METRIC_FORWARDED (0) counts packets redirected or passed on;
 * anything else is the SL_DROP_* reason of a drop. Bytes are whole frames,
 * Ethernet header included (skb->len at tc). Userspace sums the CPUs.
 *
 * Needs: maps.h.
 */
#ifndef SLUICE_LIB_METRICS_H
#define SLUICE_LIB_METRICS_H

#include "maps.h"

static __always_inline void sl_metrics_count(__u8 reason, __u8 dir, __u32 bytes)
{
	struct sl_metrics_key key = { .reason = reason, .dir = dir, .pad = 0 };
	struct sl_metrics_value init = { .packets = 1, .bytes = bytes };
	struct sl_metrics_value *v;

	/* Per-CPU values: a tc program is never preempted by another one on
	 * the same CPU, so plain additions cannot lose updates. */
	v = bpf_map_lookup_elem(&sluice_metrics, &key);
	if (v) {
		v->packets++;
		v->bytes += bytes;
		return;
	}
	/* First packet with this key on any CPU. If another CPU inserted it
	 * in the meantime, NOEXIST fails and we add to the entry it made. A
	 * full map (more keys than SL_MAX_METRICS) loses the count. */
	if (!bpf_map_update_elem(&sluice_metrics, &key, &init, BPF_NOEXIST))
		return;
	v = bpf_map_lookup_elem(&sluice_metrics, &key);
	if (v) {
		v->packets++;
		v->bytes += bytes;
	}
}

#endif /* SLUICE_LIB_METRICS_H */
