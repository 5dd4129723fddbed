// SPDX-License-Identifier: Apache-2.0
/*
 * sl-dropgen: packets per second a drop costs on one core. The kernel is the
 * generator: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs an XDP
 * program that redirects every frame out of a veth (ndo_xdp_xmit), so the
 * peer receives real frames with no userspace generator or extra tool. Run
 * it pinned to one CPU (taskset): generator, veth and the peer's NAPI then
 * share that core, and the rate is the whole pipeline's.
 *
 *   sl-dropgen --tx-netns NS --tx-dev DEV --dst-mac MAC --src-ip IP --dst-ip IP
 *              [--dport N] [--frames N]
 *              [--rx-netns NS --rx-dev DEV --attach xdp|tc]
 *
 * With --attach, sl-dropgen puts its own minimal drop (count + XDP_DROP, or
 * count + TC_ACT_SHOT) on the receiving device for the run, and reports how
 * many it dropped: the floor of that hook. Without it, something else drops
 * (iptables, Sluice) and the caller counts there. Prints one line:
 *   sent=N seconds=S tx_mpps=R dropped=D drop_mpps=R   (dropped: -1 without --attach)
 * The receiving device needs NAPI for skb-path drops: `ethtool -K DEV gro on`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dropgen.skel.h"

#define FRAME_LEN 64 /* Ethernet + IPv4 + UDP + payload, no FCS */

struct opts {
	const char *tx_netns, *tx_dev, *rx_netns, *rx_dev, *attach, *dst_mac, *src_ip, *dst_ip;
	unsigned dport;
	long frames;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int enter_netns(const char *name)
{
	char path[256];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	if (err)
		fprintf(stderr, "sl-dropgen: enter netns %s: %s\n", name, strerror(-err));
	return err;
}

static int dev_mac(const char *dev, unsigned char mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

static int parse_mac(const char *s, unsigned char mac[ETH_ALEN])
{
	unsigned v[ETH_ALEN];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != ETH_ALEN)
		return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = (unsigned char)v[i];
	return 0;
}

static __u16 ip_csum(const void *hdr, size_t len)
{
	const __u16 *p = hdr;
	__u32 sum = 0;

	for (size_t i = 0; i < len / 2; i++)
		sum += p[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* A UDP frame from the tx device to dst; the UDP checksum is left 0 (legal in IPv4). */
static int build_frame(const struct opts *o, const unsigned char src_mac[ETH_ALEN], unsigned char *f)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);

	memset(f, 0, FRAME_LEN);
	if (parse_mac(o->dst_mac, eth->h_dest))
		return -EINVAL;
	memcpy(eth->h_source, src_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(FRAME_LEN - sizeof(*eth));
	if (inet_pton(AF_INET, o->src_ip, &ip->saddr) != 1 || inet_pton(AF_INET, o->dst_ip, &ip->daddr) != 1)
		return -EINVAL;
	ip->check = ip_csum(ip, sizeof(*ip));
	udp->source = htons(9999);
	udp->dest = htons((__u16)o->dport);
	udp->len = htons(FRAME_LEN - sizeof(*eth) - sizeof(*ip));
	return 0;
}

static long long read_count(struct dropgen_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*vals));
	long long sum = 0;
	__u32 key = 0;

	if (!vals || ncpu <= 0 || bpf_map_lookup_elem(bpf_map__fd(skel->maps.dropgen_count), &key, vals)) {
		free(vals);
		return -1;
	}
	for (int i = 0; i < ncpu; i++)
		sum += (long long)vals[i];
	free(vals);
	return sum;
}

/* One live-frames test run of `frames` frames; returns seconds or < 0. */
static double generate(int prog_fd, unsigned char *frame, long frames)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = FRAME_LEN,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = (int)frames, .batch_size = 64);
	double t0 = now_s();
	int err = bpf_prog_test_run_opts(prog_fd, &t);

	if (err) {
		fprintf(stderr, "sl-dropgen: BPF_PROG_TEST_RUN (live frames): %s\n", strerror(errno));
		return -1;
	}
	return now_s() - t0;
}

static int run(const struct opts *o)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc_opts, .handle = 0xd09, .priority = 1);
	unsigned char src_mac[ETH_ALEN], frame[FRAME_LEN];
	bool xdp_attached = false, tc_attached = false, hook_created = false;
	struct dropgen_bpf *skel;
	int rx_ifindex = 0, tx_ifindex, err;
	long long before = -1, after = -1;
	double secs;

	skel = dropgen_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "sl-dropgen: load dropgen.bpf.o: %s\n", strerror(-err));
		return err;
	}
	if (o->attach) {
		err = enter_netns(o->rx_netns);
		if (err)
			goto out;
		rx_ifindex = (int)if_nametoindex(o->rx_dev);
		if (!rx_ifindex) {
			err = -errno;
			fprintf(stderr, "sl-dropgen: no device %s in %s\n", o->rx_dev, o->rx_netns);
			goto out;
		}
		if (!strcmp(o->attach, "xdp")) {
			err = bpf_xdp_attach(rx_ifindex, bpf_program__fd(skel->progs.dropgen_xdp),
					     XDP_FLAGS_DRV_MODE, NULL);
			xdp_attached = !err;
		} else {
			hook.ifindex = rx_ifindex;
			err = bpf_tc_hook_create(&hook);
			hook_created = !err;
			if (err == -EEXIST)
				err = 0;
			tc_opts.prog_fd = bpf_program__fd(skel->progs.dropgen_tc);
			if (!err)
				err = bpf_tc_attach(&hook, &tc_opts);
			tc_attached = !err;
		}
		if (err) {
			fprintf(stderr, "sl-dropgen: attach %s on %s: %s\n", o->attach, o->rx_dev, strerror(-err));
			goto out;
		}
	}
	err = enter_netns(o->tx_netns);
	if (err)
		goto out;
	tx_ifindex = (int)if_nametoindex(o->tx_dev);
	err = tx_ifindex ? dev_mac(o->tx_dev, src_mac) : -ENODEV;
	if (!err)
		err = build_frame(o, src_mac, frame);
	if (err) {
		fprintf(stderr, "sl-dropgen: tx device %s or addresses: %s\n", o->tx_dev, strerror(-err));
		goto out;
	}
	skel->bss->tx_ifindex = (__u32)tx_ifindex;

	/* Warm up (page pool, NAPI, caches), then measure. */
	if (generate(bpf_program__fd(skel->progs.dropgen_tx), frame, o->frames / 20 + 1) < 0) {
		err = -EIO;
		goto out;
	}
	usleep(50000);
	before = read_count(skel);
	secs = generate(bpf_program__fd(skel->progs.dropgen_tx), frame, o->frames);
	if (secs <= 0) {
		err = -EIO;
		goto out;
	}
	usleep(50000); /* what NAPI still had queued */
	after = read_count(skel);
	if (o->attach)
		printf("sent=%ld seconds=%.6f tx_mpps=%.4f dropped=%lld drop_mpps=%.4f\n", o->frames, secs,
		       (double)o->frames / secs / 1e6, after - before, (double)(after - before) / secs / 1e6);
	else
		printf("sent=%ld seconds=%.6f tx_mpps=%.4f dropped=-1 drop_mpps=-1\n", o->frames, secs,
		       (double)o->frames / secs / 1e6);
out:
	if (xdp_attached || tc_attached || hook_created)
		enter_netns(o->rx_netns);
	if (xdp_attached)
		bpf_xdp_detach(rx_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (tc_attached) {
		tc_opts.prog_fd = tc_opts.prog_id = 0;
		tc_opts.flags = 0;
		bpf_tc_detach(&hook, &tc_opts);
	}
	if (hook_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	dropgen_bpf__destroy(skel);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tx-netns", required_argument, NULL, 'T' }, { "tx-dev", required_argument, NULL, 't' },
		{ "rx-netns", required_argument, NULL, 'R' }, { "rx-dev", required_argument, NULL, 'r' },
		{ "attach", required_argument, NULL, 'a' },   { "dst-mac", required_argument, NULL, 'm' },
		{ "src-ip", required_argument, NULL, 's' },   { "dst-ip", required_argument, NULL, 'd' },
		{ "dport", required_argument, NULL, 'p' },    { "frames", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct opts o = { .dport = 9, .frames = 5000000 };
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'T': o.tx_netns = optarg; break;
		case 't': o.tx_dev = optarg; break;
		case 'R': o.rx_netns = optarg; break;
		case 'r': o.rx_dev = optarg; break;
		case 'a': o.attach = optarg; break;
		case 'm': o.dst_mac = optarg; break;
		case 's': o.src_ip = optarg; break;
		case 'd': o.dst_ip = optarg; break;
		case 'p': o.dport = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': o.frames = strtol(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!o.tx_netns || !o.tx_dev || !o.dst_mac || !o.src_ip || !o.dst_ip || o.frames <= 0 ||
	    o.frames > 0x7fffffff ||
	    (o.attach && (!o.rx_netns || !o.rx_dev || (strcmp(o.attach, "xdp") && strcmp(o.attach, "tc"))))) {
		fprintf(stderr, "usage: sl-dropgen --tx-netns NS --tx-dev DEV --dst-mac MAC --src-ip IP --dst-ip IP\n"
				"                  [--dport N] [--frames N] [--rx-netns NS --rx-dev DEV --attach xdp|tc]\n");
		return 2;
	}
	return run(&o) ? 1 : 0;
}
