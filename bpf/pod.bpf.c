// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A pod's host-side veth: what the pod sends (tc ingress) and what the
 * node's own stack sends it (tc egress).
 *
 * sluice_from_pod. The pod routes everything to 169.254.1.1 through a
 * permanent neighbour entry for this veth's MAC: it never ARPs, and nothing
 * but IPv4 from its own address has a reason to appear here. After conntrack
 * and policy (the pod's egress; a local destination's ingress):
 *
 *   local pod  -> one routed hop, bpf_redirect_peer into its netns
 *   node addr  -> the node's stack, unchanged
 *   elsewhere  -> out of the ENI owning the source address, to its gateway
 *
 * sluice_to_pod. Other pods and the VPC reach a pod by bpf_redirect_peer,
 * which skips this veth's egress, so what passes here comes from the node's
 * stack: kubelet probes, the node's replies to the pod. From the node's own
 * addresses it is always allowed, and recorded so that the pod's replies
 * pass its egress policy; from any other address it meets the pod's ingress.
 */
#define SL_SOURCE_FILE SL_SRC_POD

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

static __always_inline int from_pod(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	const struct sl_endpoint_info *src, *dst;
	int ret;

	sl_parse_eth(ctx, pkt);
	if (pkt->l3_proto != bpf_htons(ETH_P_IP))
		return SL_DROP(pkt, UNSUPPORTED_L3);
	ret = sl_parse_ipv4(ctx, pkt);
	if (ret < 0)
		return ret;

	/* A pod speaks only from addresses assigned to it, and only through
	 * its own veth: anything else would be sent into the VPC under an
	 * address the cloud gave to someone else. */
	src = sl_endpoint_lookup(&pkt->src);
	if (!src)
		return SL_DROP(pkt, UNKNOWN_SOURCE);
	if (!sl_ep_is_pod(src) || src->ifindex != ctx_ifindex(ctx))
		return SL_DROP(pkt, SPOOFED_SOURCE);

	dst = sl_endpoint_lookup(&pkt->dst);
	sl_parse_l4(ctx, pkt);
	ret = sl_enforce(ctx, pkt, src, dst, src->ifindex, SL_AT_FROM_POD);
	if (ret < 0)
		return ret;
	if (sl_ep_is_host(dst))
		return CTX_ACT_OK;
	if (sl_ep_is_pod(dst))
		return sl_forward_to_pod(ctx, pkt, dst);
	return sl_forward_to_eni(ctx, pkt, src);
}

/* host-side veth of a pod, tc ingress: every packet the pod sends */
SEC("tc")
int sluice_from_pod(struct sl_ctx *ctx)
{
	struct sl_pkt pkt = {};

	return sl_verdict(ctx, &pkt, from_pod(ctx, &pkt), SL_DIR_FROM_POD);
}

static __always_inline int to_pod(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	const struct sl_endpoint_info *src, *dst;
	int ret;

	sl_parse_eth(ctx, pkt);
	/* ARP and IPv6 neighbour discovery of the node: none of policy's
	 * business. A malformed IPv4 header from the node's own stack is
	 * not ours to judge either. */
	if (pkt->l3_proto != bpf_htons(ETH_P_IP) || sl_parse_ipv4(ctx, pkt) < 0)
		return CTX_ACT_OK;
	sl_parse_l4(ctx, pkt);
	/* The node's own connections (kubelet probes) are always allowed. What
	 * else the node's stack forwards here (a packet for the pod that
	 * reached the node another way) meets the pod's ingress policy like
	 * traffic from an ENI: the stack must not be a way around it. */
	src = sl_endpoint_lookup(&pkt->src);
	if (src && (src->flags & SL_EP_F_HOST)) {
		sl_enforce(ctx, pkt, NULL, NULL, ctx_ifindex(ctx), SL_AT_TO_POD);
		return CTX_ACT_OK;
	}
	dst = sl_endpoint_lookup(&pkt->dst);
	ret = sl_enforce(ctx, pkt, NULL, dst && sl_ep_is_pod(dst) ? dst : NULL, ctx_ifindex(ctx), SL_AT_FROM_ENI);
	return ret < 0 ? ret : CTX_ACT_OK;
}

/* host-side veth of a pod, tc egress: what the node's own stack sends the pod */
SEC("tc")
int sluice_to_pod(struct sl_ctx *ctx)
{
	struct sl_pkt pkt = {};

	return sl_verdict(ctx, &pkt, to_pod(ctx, &pkt), SL_DIR_TO_POD);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
