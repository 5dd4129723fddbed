/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The single exit of every program: turns a helper's result into a tc (or
 * XDP) verdict and accounts for it.
 *
 * ret >= 0 is the verdict to return (CTX_ACT_OK, CTX_ACT_REDIRECT) and is
 * counted under SL_METRIC_FORWARDED; ret < 0 is -SL_DROP_*: counted under
 * that reason, reported in the ring buffer when cfg_drop_events is on, and
 * the packet is dropped.
 *
 * Needs: a ctx shim (ctx_skb.h or ctx_xdp.h), pkt.h.
 */
#ifndef SLUICE_LIB_VERDICT_H
#define SLUICE_LIB_VERDICT_H

#include "ctx.h"
#include "drop.h"
#include "metrics.h"
#include "pkt.h"

static __always_inline int sl_verdict(struct sl_ctx *ctx, const struct sl_pkt *pkt, int ret, __u8 dir)
{
	__u32 len = ctx_len(ctx);

	if (ret >= 0) {
		sl_metrics_count(SL_METRIC_FORWARDED, dir, len);
		return ret;
	}
	sl_metrics_count(-ret, dir, len);
	if (cfg_drop_events)
		sl_drop_event_emit(ctx, pkt, -ret, dir);
	return CTX_ACT_DROP;
}

/* The exit of a prefilter that runs in front of another Sluice program on
 * the same device (XDP before tc): what it passes, the program behind it
 * counts, so only its drops are counted (and reported). */
static __always_inline int sl_verdict_prefilter(struct sl_ctx *ctx, const struct sl_pkt *pkt, int ret, __u8 dir)
{
	if (ret >= 0)
		return ret;
	sl_metrics_count(-ret, dir, ctx_len(ctx));
	if (cfg_drop_events)
		sl_drop_event_emit(ctx, pkt, -ret, dir);
	return CTX_ACT_DROP;
}

#endif /* SLUICE_LIB_VERDICT_H */
