// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * VPC ingress. Attached at tc ingress of every cloud interface (ENI) the node
 * adopted: packets from the VPC router for the pods behind this node, and
 * the node's own traffic on that interface.
 *
 *   IPv4 to a local pod -> conntrack and the pod's ingress policy, then one
 *                          routed hop, bpf_redirect_peer into its netns
 *   anything else       -> the node's stack (ARP for the gateway, node traffic)
 */
#define SL_SOURCE_FILE SL_SRC_ENI

#include "lib/ctx_skb.h"
#include "lib/drop.h"
#include "lib/endpoint.h"
#include "lib/enforce.h"
#include "lib/eth.h"
#include "lib/forward.h"
#include "lib/ipv4.h"
#include "lib/l4.h"
#include "lib/maps.h"
#include "lib/pkt.h"
#include "lib/verdict.h"

static __always_inline int from_eni(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	const struct sl_endpoint_info *dst;
	int ret;

	sl_parse_eth(ctx, pkt);
	/* ARP replies for the gateway (bpf_redirect_neigh on the way out
	 * relies on that neighbour entry), IPv6 ND, LLDP: the stack's. */
	if (pkt->l3_proto != bpf_htons(ETH_P_IP))
		return CTX_ACT_OK;
	ret = sl_parse_ipv4(ctx, pkt);
	if (ret < 0)
		return ret;

	dst = sl_endpoint_lookup(&pkt->dst);
	if (!sl_ep_is_pod(dst))
		return CTX_ACT_OK;
	/* The cloud routes a pod's address only to the interface it assigned
	 * it to. Arrival anywhere else means our view of the assignment and
	 * the cloud's disagree: make that visible rather than paper over it. */
	if (dst->eni_ifindex && dst->eni_ifindex != ctx_ifindex(ctx))
		return SL_DROP(pkt, WRONG_ENI);
	sl_parse_l4(ctx, pkt);
	ret = sl_enforce(ctx, pkt, NULL, dst, dst->ifindex, SL_AT_FROM_ENI);
	if (ret < 0)
		return ret;
	return sl_forward_to_pod(ctx, pkt, dst);
}

/* cloud interface (ENI), tc ingress: everything the VPC delivers to the node */
SEC("tc")
int sluice_from_eni(struct sl_ctx *ctx)
{
	struct sl_pkt pkt = {};

	return sl_verdict(ctx, &pkt, from_eni(ctx, &pkt), SL_DIR_FROM_ENI);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
