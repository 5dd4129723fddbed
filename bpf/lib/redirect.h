/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The two ways a packet leaves Sluice's hands, and the test seam.
 *
 * sl_redirect_peer(): into a pod, straight to the ingress of the veth's peer
 * (eth0 in the pod's netns), skipping a second pass through the host veth's
 * backlog. sl_redirect_neigh(): out of a cloud interface towards an explicit
 * next hop; the kernel fills both MACs from that next hop's neighbour entry,
 * so the datapath never has to learn the VPC router's MAC. Both return
 * CTX_ACT_REDIRECT or -SL_DROP_REDIRECT_FAILED.
 *
 * Test seam: BPF_PROG_TEST_RUN cannot observe where a redirect would go. A
 * test object defines SL_REDIRECT_MOCK(kind, ifindex, nh, flags) before
 * including a program; both wrappers then call it instead of the helpers,
 * with kind the token PEER or NEIGH (selftests/bpf/progs/redirect_mock.h).
 * Production builds never define it.
 *
 * Needs: ctx_skb.h, pkt.h.
 */
#ifndef SLUICE_LIB_REDIRECT_H
#define SLUICE_LIB_REDIRECT_H

#include "ctx_skb.h"
#include "drop.h"
#include "pkt.h"

#pragma push_macro("SL_SOURCE_FILE")
#undef SL_SOURCE_FILE
#define SL_SOURCE_FILE SL_SRC_LIB_REDIRECT

/* <sys/socket.h> values, for struct bpf_redir_neigh; no libc headers in BPF. */
#define SL_AF_INET 2
#define SL_AF_INET6 10

#ifdef SL_REDIRECT_MOCK
#define sl_helper_redirect_peer(ifindex, flags) SL_REDIRECT_MOCK(PEER, ifindex, NULL, flags)
#define sl_helper_redirect_neigh(ifindex, nh, nh_len, flags) SL_REDIRECT_MOCK(NEIGH, ifindex, nh, flags)
#else
#define sl_helper_redirect_peer(ifindex, flags) bpf_redirect_peer(ifindex, flags)
#define sl_helper_redirect_neigh(ifindex, nh, nh_len, flags) bpf_redirect_neigh(ifindex, nh, nh_len, flags)
#endif

/* The helpers answer TC_ACT_SHOT only for arguments they reject up front
 * (unknown flags, a bad nexthop length or family). A device that vanished
 * fails later, in the kernel's redirect path, and shows up in its drop
 * counters, not here. */
static __always_inline int sl_redirect_peer(struct sl_pkt *pkt, __u32 ifindex)
{
	if (sl_helper_redirect_peer(ifindex, 0) != CTX_ACT_REDIRECT)
		return SL_DROP(pkt, REDIRECT_FAILED);
	return CTX_ACT_REDIRECT;
}

static __always_inline int sl_redirect_neigh(struct sl_pkt *pkt, __u32 ifindex, struct bpf_redir_neigh *nh)
{
	if (sl_helper_redirect_neigh(ifindex, nh, sizeof(*nh), 0) != CTX_ACT_REDIRECT)
		return SL_DROP(pkt, REDIRECT_FAILED);
	return CTX_ACT_REDIRECT;
}

#pragma pop_macro("SL_SOURCE_FILE")

#endif /* SLUICE_LIB_REDIRECT_H */
