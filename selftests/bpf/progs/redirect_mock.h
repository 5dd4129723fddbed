/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Records the redirects a program asks for instead of performing them
 * (BPF_PROG_TEST_RUN cannot show where a redirected packet would go).
 *
 * Included by userspace for struct redirect_record. A test object includes it
 * (BPF side) before the production program file; it defines
 * SL_REDIRECT_MOCK, which bpf/lib/redirect.h routes both wrappers to.
 */
#ifndef SLUICE_TEST_REDIRECT_MOCK_H
#define SLUICE_TEST_REDIRECT_MOCK_H

#include <linux/types.h>

enum redirect_mock_kind {
	REDIRECT_MOCK_PEER = 1,  /* bpf_redirect_peer() */
	REDIRECT_MOCK_NEIGH = 2, /* bpf_redirect_neigh() */
};

/* Value of test_redirect[0]: the last redirect, and a failure switch. */
struct redirect_record {
	__u32 calls;     /* redirects asked for since the test reset the record */
	__u32 kind;      /* enum redirect_mock_kind */
	__u32 ifindex;
	__u32 nh_family; /* AF_INET / AF_INET6; 0 for peer */
	__u8 nh_addr[16];
	__u64 flags;
	__u32 fail; /* set by the test: answer TC_ACT_SHOT, like a helper refusing its arguments */
	__u32 pad;
};

#ifdef __bpf__
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Written by the mock below, read and reset by test_datapath.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct redirect_record);
} test_redirect SEC(".maps");

static __always_inline long redirect_mock(__u32 kind, __u32 ifindex, const struct bpf_redir_neigh *nh,
					  __u64 flags)
{
	struct redirect_record *r;
	__u32 key = 0;

	r = bpf_map_lookup_elem(&test_redirect, &key);
	if (!r)
		return TC_ACT_SHOT;
	r->calls++;
	r->kind = kind;
	r->ifindex = ifindex;
	r->flags = flags;
	r->nh_family = 0;
	__builtin_memset(r->nh_addr, 0, sizeof(r->nh_addr));
	if (nh) {
		r->nh_family = nh->nh_family;
		__builtin_memcpy(r->nh_addr, nh->ipv6_nh, sizeof(r->nh_addr));
	}
	return r->fail ? TC_ACT_SHOT : TC_ACT_REDIRECT;
}

#define SL_REDIRECT_MOCK(kind, ifindex, nh, flags) redirect_mock(REDIRECT_MOCK_##kind, ifindex, nh, flags)
#endif /* __bpf__ */

#endif /* SLUICE_TEST_REDIRECT_MOCK_H */
