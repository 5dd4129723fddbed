/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy verdicts from the policy trie (sluice_policy), exactly as
 * docs/policy.md "The policy trie" describes them.
 *
 * sl_policy_allows(): one subject in one direction against one peer, at
 * most three trie lookups:
 *   1. (subject, dir, peer identity, proto, dport): no entry at all means no
 *      isolation marker, so the subject is not isolated: allow. ALLOW: allow.
 *   2. the same with the peer's CIDR class, if it has one: ALLOW allows.
 *   3. the same with SL_ID_ANY: ALLOW allows.
 *   Otherwise only the marker matched: deny.
 *
 * sl_policy_flow(): the verdict on a connection, given its original tuple
 * and the local endpoints at its ends (NULL: not a local pod). The source's
 * egress policy if it is a local pod, then the destination's ingress policy
 * if it is one: a connection between two pods of this node needs both.
 * Subjects are the endpoints' identities (sluice_endpoint), peers come from
 * the ipcache. Returns 0, or a drop whose site says which direction denied:
 *   POLICY_DENIED  no rule allows it
 *   FRAGMENT       a non-first fragment (no ports, so dport 0 in the
 *                  lookups) that no port-free rule allows: had its ports
 *                  been known, some port rule might have
 *
 * Only TCP, UDP and SCTP have ports in the trie; every other protocol is
 * looked up with dport 0, so only rules for all ports of that protocol or
 * for all protocols can allow it (Kubernetes rules name TCP/UDP/SCTP ports).
 *
 * Needs: a ctx shim, pkt.h, maps.h, SL_SOURCE_FILE.
 */
#ifndef SLUICE_LIB_POLICY_H
#define SLUICE_LIB_POLICY_H

#include <stdbool.h>

#include "drop.h"
#include "endpoint.h"
#include "ipcache.h"
#include "l4.h"
#include "maps.h"
#include "pkt.h"

#pragma push_macro("SL_SOURCE_FILE")
#undef SL_SOURCE_FILE
#define SL_SOURCE_FILE SL_SRC_LIB_POLICY

static __always_inline bool sl_policy_lookup_allows(__u32 subject, __u8 dir, __u32 peer, __u8 proto, __be16 dport,
						    bool *isolated)
{
	struct sl_policy_key key = {
		.prefixlen = SL_POLICY_PREFIX_FULL,
		.subject = subject,
		.direction = dir,
		.peer = peer,
		.proto = proto,
		.dport = dport,
	};
	const struct sl_policy_value *v;

	v = bpf_map_lookup_elem(&sluice_policy, &key);
	if (!v)
		return false;
	*isolated = true;
	return v->action == SL_POLICY_ALLOW;
}

static __always_inline bool sl_policy_allows(__u32 subject, __u8 dir, const struct sl_peer *peer, __u8 proto,
					     __be16 dport)
{
	bool isolated = false;

	if (sl_policy_lookup_allows(subject, dir, peer->identity, proto, dport, &isolated))
		return true;
	/* Every entry of a subject and direction lies under its marker: no
	 * match at all means there is no marker. */
	if (!isolated)
		return true;
	if (peer->cidr_identity && peer->cidr_identity != peer->identity &&
	    sl_policy_lookup_allows(subject, dir, peer->cidr_identity, proto, dport, &isolated))
		return true;
	if (peer->identity != SL_ID_ANY && sl_policy_lookup_allows(subject, dir, SL_ID_ANY, proto, dport, &isolated))
		return true;
	return false;
}

static __always_inline int sl_policy_flow(struct sl_pkt *pkt, const struct sl_ct_key *t,
					  const struct sl_endpoint_info *src, const struct sl_endpoint_info *dst)
{
	__be16 dport = sl_l4_has_ports(t->proto) ? t->dport : 0;
	struct sl_peer peer;

	if (sl_ep_is_pod(src)) {
		sl_ipcache_peer(t->family, t->daddr, &peer);
		if (!sl_policy_allows(src->identity, SL_POLICY_EGRESS, &peer, t->proto, dport)) {
			if (pkt->l4_frag)
				return SL_DROP(pkt, FRAGMENT); /* the source's egress */
			return SL_DROP(pkt, POLICY_DENIED); /* the source's egress */
		}
	}
	if (sl_ep_is_pod(dst)) {
		sl_ipcache_peer(t->family, t->saddr, &peer);
		if (!sl_policy_allows(dst->identity, SL_POLICY_INGRESS, &peer, t->proto, dport)) {
			if (pkt->l4_frag)
				return SL_DROP(pkt, FRAGMENT); /* the destination's ingress */
			return SL_DROP(pkt, POLICY_DENIED); /* the destination's ingress */
		}
	}
	return 0;
}

#pragma pop_macro("SL_SOURCE_FILE")

#endif /* SLUICE_LIB_POLICY_H */
