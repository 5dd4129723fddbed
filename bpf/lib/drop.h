/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Drops: the SL_DROP() return idiom and the ring-buffer drop event.
 *
 * A helper that gives up on a packet writes `return SL_DROP(pkt, NAME);`,
 * which yields -SL_DROP_NAME and notes in pkt the file (SL_SOURCE_FILE, which
 * the including file defines to its SL_SRC_* id) and line of that statement.
 * Only the entry point acts on it (verdict.h): it counts the drop and, when
 * the cfg_drop_events knob is on, emits a struct sl_drop_event built here.
 *
 * Needs: a ctx shim (ctx_skb.h or ctx_xdp.h), pkt.h; SL_SOURCE_FILE defined
 * where SL_DROP() is used.
 */
#ifndef SLUICE_LIB_DROP_H
#define SLUICE_LIB_DROP_H

#include "ctx.h"
#include "drop_reasons.h"
#include "l4.h"
#include "maps.h"
#include "pkt.h"
#include "source_files.h"

/* Load-time knob (set through the skeleton's rodata before load): emit a
 * ring-buffer event for every drop. When off, the verifier prunes the event
 * code entirely; the counters in sluice_metrics stay on either way. */
const volatile __u8 cfg_drop_events = 1;

#define SL_DROP(pkt, name) sl_drop_note(pkt, SL_DROP_##name, SL_SOURCE_FILE, __LINE__)

static __always_inline int sl_drop_note(struct sl_pkt *pkt, int reason, __u32 file, __u16 line)
{
	pkt->drop_file = file;
	pkt->drop_line = line;
	return -reason;
}

static __always_inline void sl_drop_event_emit(const struct sl_ctx *ctx, const struct sl_pkt *pkt,
					       __u16 reason, __u8 dir)
{
	struct sl_drop_event *e;

	/* Ring full: the reader is behind. The drop is still counted, and a
	 * lost event is better than stalling the datapath. */
	e = bpf_ringbuf_reserve(&sluice_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->ifindex = ctx_ifindex(ctx);
	e->reason = reason;
	e->dir = dir;
	e->family = pkt->src.family;
	__builtin_memcpy(e->src, pkt->src.addr, sizeof(e->src));
	__builtin_memcpy(e->dst, pkt->dst.addr, sizeof(e->dst));
	sl_l4_ports(ctx, pkt, &e->sport, &e->dport);
	e->proto = pkt->l4_proto;
	e->pad0 = 0; /* reserved ring memory is not zeroed */
	e->line = pkt->drop_line;
	e->file = pkt->drop_file;
	e->pkt_len = ctx_len(ctx);
	bpf_ringbuf_submit(e, 0);
}

#endif /* SLUICE_LIB_DROP_H */
