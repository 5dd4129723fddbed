/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ipcache (sluice_ipcache): who an address is, as the policy trie
 * knows peers. sl_ipcache_peer() never fails: an address no prefix holds
 * (the agent always writes 0.0.0.0/0, so only before it has) is the world,
 * SL_ID_WORLD, with no CIDR class.
 *
 * Needs: maps.h.
 */
#ifndef SLUICE_LIB_IPCACHE_H
#define SLUICE_LIB_IPCACHE_H

#include "maps.h"

struct sl_peer {
	__u32 identity;      /* label set, SL_ID_HOST, SL_ID_WORLD or a CIDR class */
	__u32 cidr_identity; /* the ipBlock class holding the address, 0: none */
};

/* addr: 16 bytes as in every Sluice key (IPv4 in the first 4, zero after). */
static __always_inline void sl_ipcache_peer(__u8 family, const __u8 *addr, struct sl_peer *peer)
{
	struct sl_ipcache_key key = {};
	const struct sl_ipcache_value *v;

	key.prefixlen = SL_IPCACHE_KEY_BASE_BITS + (family == SL_FAMILY_IPV6 ? 128 : 32);
	key.family = family;
	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	v = bpf_map_lookup_elem(&sluice_ipcache, &key);
	if (!v) {
		peer->identity = SL_ID_WORLD;
		peer->cidr_identity = 0;
		return;
	}
	peer->identity = v->identity;
	peer->cidr_identity = v->cidr_identity;
}

#endif /* SLUICE_LIB_IPCACHE_H */
