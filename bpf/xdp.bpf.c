// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * VPC ingress prefilter. Optionally attached at XDP of a cloud interface
 * (ENI), in front of sluice_from_eni: drops, before an skb is even built,
 * the packets to local pods that open a connection their ingress policy
 * denies (a scan, a flood to a closed port). It only ever drops what
 * sluice_from_eni would drop for the same reason; everything else passes on
 * to it untouched, and it writes nothing but its drop counters:
 *
 *   IPv4 to a local pod, no conntrack entry, policy denies -> XDP_DROP
 *   anything else (non-IP, malformed, node traffic, known
 *   connections, allowed new ones, the wrong ENI)          -> XDP_PASS
 */
#define SL_SOURCE_FILE SL_SRC_XDP

#include "lib/ctx_xdp.h"
#include "lib/drop.h"
#include "lib/endpoint.h"
#include "lib/enforce.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/l4.h"
#include "lib/maps.h"
#include "lib/pkt.h"
#include "lib/verdict.h"

static __always_inline int xdp_eni(struct sl_ctx *ctx, struct sl_pkt *pkt)
{
	const struct sl_endpoint_info *dst;
	int ret;

	sl_parse_eth(ctx, pkt);
	/* A malformed header is sluice_from_eni's to count. */
	if (pkt->l3_proto != bpf_htons(ETH_P_IP) || sl_parse_ipv4(ctx, pkt) < 0)
		return CTX_ACT_OK;
	dst = sl_endpoint_lookup(&pkt->dst);
	if (!sl_ep_is_pod(dst))
		return CTX_ACT_OK;
	if (dst->eni_ifindex && dst->eni_ifindex != ctx_ifindex(ctx))
		return CTX_ACT_OK;
	sl_parse_l4(ctx, pkt);
	ret = sl_enforce(ctx, pkt, NULL, dst, dst->ifindex, SL_AT_PREFILTER);
	if (ret < 0)
		return ret;
	return CTX_ACT_OK;
}

/* cloud interface (ENI), XDP: every frame the VPC delivers, before tc */
SEC("xdp.frags")
int sluice_xdp_eni(struct sl_ctx *ctx)
{
	struct sl_pkt pkt = {};

	return sl_verdict_prefilter(ctx, &pkt, xdp_eni(ctx, &pkt), SL_DIR_XDP_ENI);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
