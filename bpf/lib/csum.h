/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624).
 *
 * Written out rather than calling bpf_l3_csum_replace() so the code does not
 * depend on an skb (XDP can use it) and works on a header reached through a
 * direct packet pointer. Values are in network byte order; one's complement
 * sums do not care about byte order as long as all operands agree.
 */
#ifndef SLUICE_LIB_CSUM_H
#define SLUICE_LIB_CSUM_H

#include <linux/types.h>

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* A 16-bit word covered by *sum changes from old to new: RFC 1624 eqn. 3,
 * HC' = ~(~HC + ~m + m'), which (unlike eqn. 2) never yields -0. */
static __always_inline void csum_replace2(__sum16 *sum, __be16 old, __be16 new)
{
	__u32 s = (__u16)~(__u16)*sum;

	s += (__u16)~(__u16)old;
	s += (__u16)new;
	*sum = (__sum16)(__u16)~csum_fold32(s);
}

#endif /* SLUICE_LIB_CSUM_H */
