// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The drop benchmark's programs: a frame generator and the two minimal drops
 * that are the floor of each hook. Loaded by sl-dropgen only.
 *
 *   dropgen_tx      XDP, run by BPF_PROG_TEST_RUN with live frames: sends every
 *                   frame out of tx_ifindex (ndo_xdp_xmit to the veth peer)
 *   dropgen_xdp     XDP on the receiving device: count, XDP_DROP
 *   dropgen_tc      tc ingress on the receiving device: count, TC_ACT_SHOT
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* frames seen by the drop programs, per CPU; written by them, read by sl-dropgen */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropgen_count SEC(".maps");

/* set by sl-dropgen after load: the generator's output device */
__u32 tx_ifindex;

static __always_inline void count(void)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&dropgen_count, &key);

	if (v)
		*v += 1;
}

/* no device: BPF_PROG_TEST_RUN live frames, out of tx_ifindex */
SEC("xdp")
int dropgen_tx(struct xdp_md *ctx)
{
	return bpf_redirect(tx_ifindex, 0);
}

/* receiving veth, XDP (native): every frame the generator sends */
SEC("xdp")
int dropgen_xdp(struct xdp_md *ctx)
{
	count();
	return XDP_DROP;
}

/* receiving veth, tc ingress: every frame the generator sends, as an skb */
SEC("tc")
int dropgen_tc(struct __sk_buff *skb)
{
	count();
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
