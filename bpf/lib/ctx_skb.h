/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Context shim for tc programs (struct __sk_buff).
 *
 * Library code takes a `struct sl_ctx *` and reaches the packet only through
 * the ctx_* accessors and CTX_ACT_* verdicts below, so the same parsing and
 * lookup code can later compile for XDP against a ctx_xdp.h with the same
 * names (the pattern of Cilium's bpf/include/bpf/ctx/). Include this first:
 * every other bpf/lib header assumes it.
 */
#ifndef SLUICE_LIB_CTX_SKB_H
#define SLUICE_LIB_CTX_SKB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define sl_ctx __sk_buff

#define CTX_ACT_OK TC_ACT_OK
#define CTX_ACT_DROP TC_ACT_SHOT
#define CTX_ACT_REDIRECT TC_ACT_REDIRECT

static __always_inline void *ctx_data(const struct sl_ctx *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct sl_ctx *ctx)
{
	return (void *)(long)ctx->data_end;
}

/* Whole packet length, including what lies beyond the linear area. */
static __always_inline __u32 ctx_len(const struct sl_ctx *ctx)
{
	return ctx->len;
}

/* The device the program runs on (for tc ingress: the arrival device). */
static __always_inline __u32 ctx_ifindex(const struct sl_ctx *ctx)
{
	return ctx->ifindex;
}

static __always_inline int ctx_load_bytes(const struct sl_ctx *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(ctx, off, to, len);
}

/*
 * Makes the first len bytes directly accessible. A GSO or veth-forwarded skb
 * may carry its headers in paged data, where direct packet access cannot see
 * them. Returns 0 or a negative value when the packet is shorter than len.
 * Invalidates every packet pointer: reload them from ctx_data() afterwards.
 */
static __always_inline int ctx_pull(struct sl_ctx *ctx, __u32 len)
{
	if (ctx_data(ctx) + len <= ctx_data_end(ctx))
		return 0;
	if (len > ctx->len)
		return -1;
	return bpf_skb_pull_data(ctx, len) ? -1 : 0;
}

#endif /* SLUICE_LIB_CTX_SKB_H */
