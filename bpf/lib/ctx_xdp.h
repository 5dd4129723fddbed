/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Context shim for XDP programs (struct xdp_md): the names of ctx_skb.h, so
 * the parsers and lookups of bpf/lib compile unchanged for the XDP
 * prefilter. Include this first in an XDP entry file.
 *
 * Programs are loaded as "xdp.frags" (multi-buffer aware): a GSO frame on a
 * veth ENI may span several buffers. Headers are always in the first one,
 * which is what ctx_data() covers; ctx_len() and ctx_load_bytes() see the
 * whole frame.
 */
#ifndef SLUICE_LIB_CTX_XDP_H
#define SLUICE_LIB_CTX_XDP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define sl_ctx xdp_md

#define CTX_ACT_OK XDP_PASS
#define CTX_ACT_DROP XDP_DROP
#define CTX_ACT_REDIRECT XDP_REDIRECT

static __always_inline void *ctx_data(const struct sl_ctx *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct sl_ctx *ctx)
{
	return (void *)(long)ctx->data_end;
}

/* Whole frame, all buffers. */
static __always_inline __u32 ctx_len(const struct sl_ctx *ctx)
{
	return bpf_xdp_get_buff_len((struct xdp_md *)ctx);
}

/* The device the frame arrived on. */
static __always_inline __u32 ctx_ifindex(const struct sl_ctx *ctx)
{
	return ctx->ingress_ifindex;
}

static __always_inline int ctx_load_bytes(const struct sl_ctx *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_xdp_load_bytes((struct xdp_md *)ctx, off, to, len);
}

/* Nothing to pull at XDP: the first buffer holds what it holds. 0 when the
 * first len bytes are directly accessible, -1 otherwise. */
static __always_inline int ctx_pull(struct sl_ctx *ctx, __u32 len)
{
	return ctx_data(ctx) + len <= ctx_data_end(ctx) ? 0 : -1;
}

#endif /* SLUICE_LIB_CTX_XDP_H */
