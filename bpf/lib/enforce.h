/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Stateful policy enforcement of one packet: conntrack first, the policy
 * trie only for a connection's first packet. The one entry the programs
 * call; docs/policy.md "Where the datapath checks" is the table it follows.
 *
 * sl_enforce(ctx, pkt, src, dst, ifindex, at) returns 0 (go on forwarding)
 * or a drop. src/dst: the packet's local endpoints (NULL where the program
 * knows there is no local pod); ifindex: host-side veth of the local pod a
 * new entry belongs to. at, a constant, is the enforcement point:
 *
 *   SL_AT_FROM_POD    sluice_from_pod: sender's egress, and the destination's
 *                     ingress when it is a local pod
 *   SL_AT_FROM_ENI    sluice_from_eni: destination's ingress
 *   SL_AT_TO_POD      sluice_to_pod: the node's own traffic, always allowed
 *                     (never drops); new entries are marked SL_CT_F_HOST
 *   SL_AT_PREFILTER   the XDP prefilter: judges new connections like
 *                     FROM_ENI but writes nothing; a known connection passes
 *
 * In order:
 *   - A non-first fragment has no ports and so no conntrack entry: it is
 *     judged alone, with dport 0 (policy.h: FRAGMENT when denied).
 *   - An ICMP error quoting a tracked connection passes (conntrack.h).
 *   - A known connection passes and is accounted. With ct_on_policy_change
 *     DROP, an entry allowed under another sl_policy_config.rev (an older
 *     one; or any other, should the agent's counter ever restart) is judged
 *     again on its original tuple first, whichever way the packet goes:
 *     still allowed refreshes its rev, denied deletes it and drops the
 *     packet (POLICY_DENIED, at the site of the check that failed).
 *     Entries of the node's own connections (SL_CT_F_HOST) are never
 *     re-checked.
 *   - Otherwise the packet opens a connection: judged by policy, and
 *     recorded when allowed.
 * With enforce 0 nothing is judged, but connections are still recorded, so
 * turning enforcement on does not cut the replies of live connections.
 * Conntrack counts what policy let through: a packet a later step drops
 * (TTL, no ENI, a refused redirect) has been counted, and may have opened
 * the entry, already.
 *
 * Needs: a ctx shim, pkt.h (sl_parse_l4() done), maps.h, SL_SOURCE_FILE.
 */
#ifndef SLUICE_LIB_ENFORCE_H
#define SLUICE_LIB_ENFORCE_H

#include "conntrack.h"
#include "ctx.h"
#include "endpoint.h"
#include "maps.h"
#include "pkt.h"
#include "policy.h"

#define SL_AT_FROM_POD 1
#define SL_AT_FROM_ENI 2
#define SL_AT_TO_POD 3
#define SL_AT_PREFILTER 4

/* sluice_polcfg[0], copied: a fresh map (all zero) reads as enforce 0, but
 * the loader writes enforce 1 when it creates the maps. */
static __always_inline void sl_policy_config_get(struct sl_policy_config *cfg)
{
	const struct sl_policy_config *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&sluice_polcfg, &zero);
	if (c) {
		*cfg = *c;
		return;
	}
	/* Cannot happen (an ARRAY of one entry); the verifier wants a branch. */
	cfg->rev = 0;
	cfg->ct_on_policy_change = SL_CT_ON_POLICY_CHANGE_KEEP;
	cfg->enforce = 1;
}

/* The policy verdict on an existing entry's connection (key: its original
 * tuple), with the local endpoints of its two ends looked up again. */
static __always_inline int sl_enforce_recheck(struct sl_pkt *pkt, const struct sl_ct_key *key)
{
	const struct sl_endpoint_info *src, *dst;
	struct sl_endpoint_key ek = {};

	ek.family = key->family;
	__builtin_memcpy(ek.addr, key->saddr, sizeof(ek.addr));
	src = sl_endpoint_lookup(&ek);
	__builtin_memcpy(ek.addr, key->daddr, sizeof(ek.addr));
	dst = sl_endpoint_lookup(&ek);
	return sl_policy_flow(pkt, key, src, dst);
}

static __always_inline int sl_enforce(struct sl_ctx *ctx, struct sl_pkt *pkt, const struct sl_endpoint_info *src,
				      const struct sl_endpoint_info *dst, __u32 ifindex, const int at)
{
	struct sl_policy_config cfg;
	struct sl_ct_value *ct;
	struct sl_ct_key key;
	__u8 dir = 0;
	int ret;

	sl_policy_config_get(&cfg);
	if (pkt->l4_frag) {
		if (at == SL_AT_TO_POD || !cfg.enforce)
			return 0;
		sl_ct_tuple(&key, pkt, false);
		return sl_policy_flow(pkt, &key, src, dst);
	}
	if (pkt->icmp_error && sl_ct_related(ctx, pkt))
		return 0;

	ct = sl_ct_lookup(pkt, &key, &dir);
	if (ct && !sl_ct_reopens(ct, pkt)) {
		if (at == SL_AT_PREFILTER)
			return 0;
		if (at != SL_AT_TO_POD && cfg.enforce && cfg.ct_on_policy_change == SL_CT_ON_POLICY_CHANGE_DROP &&
		    ct->policy_rev != cfg.rev && !(ct->flags & SL_CT_F_HOST)) {
			ret = sl_enforce_recheck(pkt, &key);
			if (ret < 0) {
				sl_ct_delete(&key);
				return ret;
			}
			ct->policy_rev = cfg.rev;
		}
		sl_ct_update(ct, dir, pkt, ctx_len(ctx));
		return 0;
	}

	/* The first packet of a connection. */
	if (ct && at != SL_AT_PREFILTER)
		sl_ct_delete(&key); /* the closed one it reuses the tuple of, either way round */
	sl_ct_tuple(&key, pkt, false);
	if (at != SL_AT_TO_POD && cfg.enforce) {
		ret = sl_policy_flow(pkt, &key, src, dst);
		if (ret < 0)
			return ret;
	}
	if (at != SL_AT_PREFILTER)
		sl_ct_create(&key, pkt, ctx_len(ctx), ifindex, cfg.rev, at == SL_AT_TO_POD ? SL_CT_F_HOST : 0);
	return 0;
}

#endif /* SLUICE_LIB_ENFORCE_H */
