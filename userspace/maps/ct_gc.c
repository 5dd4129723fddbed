// SPDX-License-Identifier: Apache-2.0
#include "maps/ct_gc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include <bpf/bpf.h>

#include "common/clock.h"
#include "common/log.h"
#include "pins.h"

#define NSEC_PER_SEC 1000000000ull
#define CT_GC_BATCH 4096 /* entries per BPF_MAP_LOOKUP_BATCH */

static const char *errname(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "E?";
}

__u64 ct_gc_timeout_ns(__u8 proto, __u8 state)
{
	__u64 s;

	switch (proto) {
	case IPPROTO_TCP:
		switch (state) {
		case SL_CT_ESTABLISHED:
			s = CT_GC_TCP_ESTABLISHED_S;
			break;
		case SL_CT_CLOSING:
			s = CT_GC_TCP_CLOSING_S;
			break;
		case SL_CT_CLOSED:
			s = CT_GC_TCP_CLOSED_S;
			break;
		default:
			s = CT_GC_TCP_NEW_S;
		}
		break;
	case IPPROTO_UDP:
		s = CT_GC_UDP_S;
		break;
	case IPPROTO_SCTP:
		s = state == SL_CT_NEW ? CT_GC_SCTP_NEW_S : CT_GC_SCTP_ESTABLISHED_S;
		break;
	case IPPROTO_ICMP:
		s = CT_GC_ICMP_S;
		break;
	default:
		s = CT_GC_OTHER_S;
	}
	return s * NSEC_PER_SEC;
}

static int expired(const struct sl_ct_key *k, const struct sl_ct_value *v, __u64 now)
{
	__u64 idle = now > v->last_seen_ns ? now - v->last_seen_ns : 0;

	return idle > ct_gc_timeout_ns(k->proto, v->state);
}

/* A growable array of u32 (ifindexes) or of keys. */
struct vec {
	void *v;
	size_t n, cap, size;
};

static int vec_push(struct vec *a, const void *item)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 1024;
		void *g = realloc(a->v, cap * a->size);

		if (!g)
			return -ENOMEM;
		a->v = g;
		a->cap = cap;
	}
	memcpy((char *)a->v + a->n * a->size, item, a->size);
	a->n++;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Sorted ifindexes (one per live entry) into (ifindex, count) runs. */
static int counts_build(struct vec *ifs, struct ct_gc_counts *counts, __u32 *distinct)
{
	const __u32 *v = ifs->v;
	size_t n = 0;

	if (ifs->n)
		qsort(ifs->v, ifs->n, sizeof(__u32), cmp_u32);
	for (size_t i = 0; i < ifs->n; i++)
		n += i == 0 || v[i] != v[i - 1];
	*distinct = (__u32)n;
	if (!counts)
		return 0;
	counts->v = calloc(n + 1, sizeof(*counts->v));
	if (!counts->v)
		return -ENOMEM;
	for (size_t i = 0; i < ifs->n; i++) {
		if (i == 0 || v[i] != v[i - 1])
			counts->v[counts->n++].ifindex = v[i];
		counts->v[counts->n - 1].conns++;
	}
	return 0;
}

/* Reads the whole table in batches: idle keys into stale, the ifindex of
 * every live entry into ifs. */
static int scan(int fd, __u64 now, struct ct_gc_result *res, struct vec *stale, struct vec *ifs)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct sl_ct_key *keys = calloc(CT_GC_BATCH, sizeof(*keys));
	struct sl_ct_value *vals = calloc(CT_GC_BATCH, sizeof(*vals));
	struct sl_ct_key token; /* the hash map's cursor: a bucket number, key-sized */
	bool first = true, done = false;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (!done && !err) {
		__u32 count = CT_GC_BATCH;

		if (bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals, &count, &opts)) {
			err = -errno;
			if (err == -ENOENT) { /* the last batch, possibly with entries */
				err = 0;
				done = true;
			} else {
				pr_err("read %s (batch): -%s", SL_MAP_CT, errname(err));
				break;
			}
		}
		first = false;
		for (__u32 i = 0; i < count && !err; i++) {
			res->scanned++;
			if (expired(&keys[i], &vals[i], now))
				err = vec_push(stale, &keys[i]);
			else if (vals[i].state != SL_CT_CLOSED)
				err = vec_push(ifs, &vals[i].ifindex);
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

int ct_gc_pass(const struct sl_maps *m, __u64 now_ns, struct ct_gc_result *res, struct ct_gc_counts *counts)
{
	struct vec stale = { .size = sizeof(struct sl_ct_key) }, ifs = { .size = sizeof(__u32) };
	__u64 t0 = sl_now_ns();
	int err;

	memset(res, 0, sizeof(*res));
	if (counts)
		memset(counts, 0, sizeof(*counts));
	res->started_ns = now_ns ? now_ns : t0;
	err = scan(m->ct_fd, res->started_ns, res, &stale, &ifs);
	for (size_t i = 0; i < stale.n && !err; i++) {
		const struct sl_ct_key *k = (const struct sl_ct_key *)stale.v + i;
		struct sl_ct_value v;

		/* Read again: a packet since the scan makes it live. */
		if (bpf_map_lookup_elem(m->ct_fd, k, &v))
			continue; /* gone already (LRU eviction, another pass) */
		if (!expired(k, &v, res->started_ns)) {
			if (v.state != SL_CT_CLOSED)
				err = vec_push(&ifs, &v.ifindex);
			continue;
		}
		if (bpf_map_delete_elem(m->ct_fd, k)) {
			if (errno == ENOENT)
				continue;
			err = -errno;
			pr_err("delete from %s: -%s", SL_MAP_CT, errname(err));
			break;
		}
		res->removed++;
	}
	if (!err) {
		res->live = (__u32)ifs.n;
		err = counts_build(&ifs, counts, &res->ifindexes);
	}
	res->duration_ns = sl_now_ns() - t0;
	if (err && counts)
		ct_gc_counts_free(counts);
	free(stale.v);
	free(ifs.v);
	return err;
}

int ct_gc_run(const struct sl_maps *m, struct ct_gc_result *res)
{
	return ct_gc_pass(m, 0, res, NULL);
}

__u32 ct_gc_count_of(const struct ct_gc_counts *counts, __u32 ifindex)
{
	size_t lo = 0, hi = counts->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (counts->v[mid].ifindex == ifindex)
			return counts->v[mid].conns;
		if (counts->v[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void ct_gc_counts_free(struct ct_gc_counts *counts)
{
	free(counts->v);
	counts->v = NULL;
	counts->n = 0;
}
