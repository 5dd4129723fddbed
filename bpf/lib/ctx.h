/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The context shim in use. A bpf/lib header that works at tc and at XDP
 * alike includes this rather than one particular shim; the entry file picks
 * the shim by including ctx_skb.h or ctx_xdp.h before anything else, and
 * this only checks that it did. Headers that need an skb (redirect.h,
 * forward.h) include ctx_skb.h themselves.
 */
#ifndef SLUICE_LIB_CTX_H
#define SLUICE_LIB_CTX_H

#if !defined(SLUICE_LIB_CTX_SKB_H) && !defined(SLUICE_LIB_CTX_XDP_H)
#error "include lib/ctx_skb.h or lib/ctx_xdp.h before the other bpf/lib headers"
#endif

#endif /* SLUICE_LIB_CTX_H */
