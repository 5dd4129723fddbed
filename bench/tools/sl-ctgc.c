// SPDX-License-Identifier: Apache-2.0
/*
 * sl-ctgc: how long one conntrack garbage-collection pass of the agent takes
 * at N entries. The agent runs ct_gc_pass() (userspace/maps/ct_gc.c) every
 * 10 s on sluice_ct but does not expose the pass's duration, so this runs
 * the same function on a private map of the same type and layout (LRU hash,
 * struct sl_ct_key -> struct sl_ct_value), filled with N connections of
 * which half are idle past their timeout, and times it.
 *
 *   sl-ctgc -n ENTRIES [-r ROUNDS]
 *     prints: entries=N max_entries=M ms=<median> scanned=S removed=R
 *
 * The map holds max(SL_MAX_CT, 1.25 N) entries, so an LRU map does not
 * evict while it is being filled; sluice_ct itself holds SL_MAX_CT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <netinet/in.h>

#include "consts.h"
#include "maps/ct_gc.h"
#include "maps/maps.h"
#include "policy_types.h"

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* N TCP connections from 10.x.y.z:port to 10.200.0.1:8080; the even ones
 * established and active a second ago, the odd ones NEW and idle for an hour
 * (past the 60 s timeout of an unanswered SYN). */
static int fill(int fd, __u32 n)
{
	const __u32 batch = 8192;
	struct sl_ct_key *keys = calloc(batch, sizeof(*keys));
	struct sl_ct_value *vals = calloc(batch, sizeof(*vals));
	__u64 now = mono_ns();
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 done = 0; done < n && !err;) {
		__u32 count = n - done < batch ? n - done : batch;
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		memset(keys, 0, count * sizeof(*keys));
		memset(vals, 0, count * sizeof(*vals));
		for (__u32 i = 0; i < count; i++) {
			__u32 c = done + i, saddr = htonl(0x0a000000u | (c >> 8)), daddr = htonl(0x0ac80001u);
			bool live = !(c & 1);

			keys[i].family = SL_FAMILY_IPV4;
			keys[i].proto = IPPROTO_TCP;
			keys[i].sport = htons((__u16)(1024 + (c & 0xff)));
			keys[i].dport = htons(8080);
			memcpy(keys[i].saddr, &saddr, 4);
			memcpy(keys[i].daddr, &daddr, 4);
			vals[i].created_ns = now - 7200ull * 1000000000ull;
			vals[i].last_seen_ns = live ? now - 1000000000ull : now - 3600ull * 1000000000ull;
			vals[i].state = live ? SL_CT_ESTABLISHED : SL_CT_NEW;
			vals[i].ifindex = 10 + (c % 100);
			vals[i].packets[0] = vals[i].packets[1] = 10;
		}
		if (bpf_map_update_batch(fd, keys, vals, &count, &opts)) {
			err = -errno;
			break;
		}
		done += count;
	}
out:
	free(keys);
	free(vals);
	return err;
}

int main(int argc, char **argv)
{
	struct sl_maps m = { .endpoint_fd = -1, .eni_fd = -1, .metrics_fd = -1, .events_fd = -1, .meta_fd = -1,
			     .ipcache_fd = -1, .policy_fd = -1, .ct_fd = -1, .polcfg_fd = -1 };
	unsigned rounds = 3, max;
	double ms[16];
	struct ct_gc_result res = { 0 };
	long n = 0;
	int opt, err = 0;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (n <= 0 || n > 16000000 || !rounds || rounds > 16)
		goto usage;
	max = (unsigned)n + (unsigned)n / 4;
	if (max < SL_MAX_CT)
		max = SL_MAX_CT;
	m.ct_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "sl_ctgc_bench", sizeof(struct sl_ct_key),
				 sizeof(struct sl_ct_value), max, NULL);
	if (m.ct_fd < 0) {
		fprintf(stderr, "sl-ctgc: create an LRU hash of %u entries: %s\n", max, strerror(errno));
		return 1;
	}
	for (unsigned r = 0; r < rounds && !err; r++) {
		err = fill(m.ct_fd, (__u32)n);
		if (err) {
			fprintf(stderr, "sl-ctgc: fill %ld entries: %s\n", n, strerror(-err));
			break;
		}
		err = ct_gc_pass(&m, 0, &res, NULL);
		if (err) {
			fprintf(stderr, "sl-ctgc: ct_gc_pass: %s\n", strerror(-err));
			break;
		}
		ms[r] = (double)res.duration_ns / 1e6;
	}
	close(m.ct_fd);
	if (err)
		return 1;
	qsort(ms, rounds, sizeof(ms[0]), cmp_double);
	printf("entries=%ld max_entries=%u ms=%.2f scanned=%u removed=%u\n", n, max, ms[rounds / 2], res.scanned,
	       res.removed);
	return 0;
usage:
	fprintf(stderr, "usage: sl-ctgc -n ENTRIES [-r ROUNDS]\n");
	return 2;
}
