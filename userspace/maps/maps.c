// SPDX-License-Identifier: Apache-2.0
#include "maps/maps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "pins.h"

static const char *errname(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "E?";
}

struct map_spec {
	const char *name;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
};

/* Opens pin_dir/spec->name and checks that it is the map this build knows. */
static int open_pinned(const char *pin_dir, const struct map_spec *spec, int *out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err, n;

	n = snprintf(path, sizeof(path), "%s/%s", pin_dir, spec->name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		pr_err("open pinned map %s: -%s", path, errname(err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		pr_err("read info of pinned map %s: -%s", path, errname(err));
		goto fail;
	}
	if (info.type != spec->type || info.key_size != spec->key_size || info.value_size != spec->value_size) {
		pr_err("pinned map %s has type %u, key %u, value %u bytes; this build expects %u, %u, %u", path,
		       info.type, info.key_size, info.value_size, spec->type, spec->key_size, spec->value_size);
		err = -EPROTO;
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return err;
}

int maps_open(const char *pin_dir, struct sl_maps *m)
{
	const struct map_spec specs[] = {
		{ SL_MAP_ENDPOINT, BPF_MAP_TYPE_HASH, sizeof(struct sl_endpoint_key),
		  sizeof(struct sl_endpoint_info) },
		{ SL_MAP_ENI, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct sl_eni_info) },
		{ SL_MAP_METRICS, BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct sl_metrics_key),
		  sizeof(struct sl_metrics_value) },
		{ SL_MAP_EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0 },
		{ SL_MAP_META, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct sl_meta) },
		{ SL_MAP_IPCACHE, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct sl_ipcache_key),
		  sizeof(struct sl_ipcache_value) },
		{ SL_MAP_POLICY, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct sl_policy_key), sizeof(struct sl_policy_value) },
		{ SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct sl_ct_key), sizeof(struct sl_ct_value) },
		{ SL_MAP_POLCFG, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct sl_policy_config) },
	};
	int *fds[] = { &m->endpoint_fd, &m->eni_fd,     &m->metrics_fd, &m->events_fd, &m->meta_fd,
		       &m->ipcache_fd,  &m->policy_fd, &m->ct_fd,      &m->polcfg_fd };
	_Static_assert(sizeof(specs) / sizeof(specs[0]) == sizeof(fds) / sizeof(fds[0]), "one spec per map");
	struct sl_meta meta;
	int err = 0;

	if (!pin_dir)
		pin_dir = SL_PIN_DIR_DEFAULT;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		*fds[i] = -1;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		err = open_pinned(pin_dir, &specs[i], fds[i]);
		if (err)
			goto out;
	}
	err = maps_meta_get(m, &meta);
	if (err)
		goto out;
	/* 0: the loader that created the pins has not written meta yet. */
	if (meta.layout_version != SL_LAYOUT_VERSION && meta.layout_version != 0) {
		pr_err("pinned maps in %s have layout version %u, this build reads %u", pin_dir,
		       meta.layout_version, SL_LAYOUT_VERSION);
		err = -EPROTO;
	}
out:
	if (err)
		maps_close(m);
	return err;
}

void maps_close(struct sl_maps *m)
{
	int *fds[] = { &m->endpoint_fd, &m->eni_fd,     &m->metrics_fd, &m->events_fd, &m->meta_fd,
		       &m->ipcache_fd,  &m->policy_fd, &m->ct_fd,      &m->polcfg_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Generic accessors; name is for messages. -ENOENT is an answer, not an error. */
static int map_set(int fd, const char *name, const void *key, const void *value)
{
	int err;

	if (!bpf_map_update_elem(fd, key, value, BPF_ANY))
		return 0;
	err = -errno;
	pr_err("update %s: -%s", name, errname(err));
	return err;
}

static int map_get(int fd, const char *name, const void *key, void *value)
{
	int err;

	if (!bpf_map_lookup_elem(fd, key, value))
		return 0;
	err = -errno;
	if (err != -ENOENT)
		pr_err("look up %s: -%s", name, errname(err));
	return err;
}

static int map_del(int fd, const char *name, const void *key)
{
	int err;

	if (!bpf_map_delete_elem(fd, key))
		return 0;
	err = -errno;
	if (err != -ENOENT)
		pr_err("delete from %s: -%s", name, errname(err));
	return err;
}

/* Walks a hash map: each_fn(key, value) for every entry that still exists
 * when it is read. */
typedef int (*walk_fn)(const void *key, const void *value, void *arg);

static int map_walk(int fd, const char *name, size_t key_size, size_t value_size, walk_fn fn, void *arg)
{
	void *key = calloc(1, key_size), *next = calloc(1, key_size), *value = calloc(1, value_size);
	void *prev = NULL;
	int err = 0;

	if (!key || !next || !value) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (bpf_map_get_next_key(fd, prev, next)) {
			err = errno == ENOENT ? 0 : -errno;
			if (err)
				pr_err("walk %s: -%s", name, errname(err));
			break;
		}
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, value)) {
			if (errno == ENOENT)
				continue; /* deleted since get_next_key */
			err = -errno;
			pr_err("look up %s: -%s", name, errname(err));
			break;
		}
		err = fn(key, value, arg);
		if (err)
			break;
	}
out:
	free(key);
	free(next);
	free(value);
	return err;
}

int maps_endpoint_set(const struct sl_maps *m, const struct sl_endpoint_key *key,
		      const struct sl_endpoint_info *info)
{
	return map_set(m->endpoint_fd, SL_MAP_ENDPOINT, key, info);
}

int maps_endpoint_get(const struct sl_maps *m, const struct sl_endpoint_key *key, struct sl_endpoint_info *info)
{
	return map_get(m->endpoint_fd, SL_MAP_ENDPOINT, key, info);
}

int maps_endpoint_del(const struct sl_maps *m, const struct sl_endpoint_key *key)
{
	return map_del(m->endpoint_fd, SL_MAP_ENDPOINT, key);
}

struct endpoint_walk {
	maps_endpoint_fn fn;
	void *arg;
};

static int endpoint_walk_one(const void *key, const void *value, void *arg)
{
	struct endpoint_walk *w = arg;

	return w->fn(key, value, w->arg);
}

int maps_endpoint_foreach(const struct sl_maps *m, maps_endpoint_fn fn, void *arg)
{
	struct endpoint_walk w = { fn, arg };

	return map_walk(m->endpoint_fd, SL_MAP_ENDPOINT, sizeof(struct sl_endpoint_key),
			sizeof(struct sl_endpoint_info), endpoint_walk_one, &w);
}

int maps_eni_set(const struct sl_maps *m, __u32 ifindex, const struct sl_eni_info *info)
{
	return map_set(m->eni_fd, SL_MAP_ENI, &ifindex, info);
}

int maps_eni_get(const struct sl_maps *m, __u32 ifindex, struct sl_eni_info *info)
{
	return map_get(m->eni_fd, SL_MAP_ENI, &ifindex, info);
}

int maps_eni_del(const struct sl_maps *m, __u32 ifindex)
{
	return map_del(m->eni_fd, SL_MAP_ENI, &ifindex);
}

struct eni_walk {
	maps_eni_fn fn;
	void *arg;
};

static int eni_walk_one(const void *key, const void *value, void *arg)
{
	struct eni_walk *w = arg;
	__u32 ifindex;

	memcpy(&ifindex, key, sizeof(ifindex));
	return w->fn(ifindex, value, w->arg);
}

int maps_eni_foreach(const struct sl_maps *m, maps_eni_fn fn, void *arg)
{
	struct eni_walk w = { fn, arg };

	return map_walk(m->eni_fd, SL_MAP_ENI, sizeof(__u32), sizeof(struct sl_eni_info), eni_walk_one, &w);
}

/* A per-CPU lookup returns one value per possible CPU (each rounded up to 8
 * bytes; sl_metrics_value already is). */
static int ncpus(void)
{
	int n = libbpf_num_possible_cpus();

	if (n <= 0)
		pr_err("count possible CPUs: -%s", errname(n));
	return n;
}

static void metrics_sum(const struct sl_metrics_value *percpu, int n, struct sl_metrics_value *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < n; i++) {
		sum->packets += percpu[i].packets;
		sum->bytes += percpu[i].bytes;
	}
}

int maps_metrics_get(const struct sl_maps *m, __u8 reason, __u8 dir, struct sl_metrics_value *sum)
{
	struct sl_metrics_key key = { .reason = reason, .dir = dir };
	struct sl_metrics_value *percpu;
	int n = ncpus(), err;

	if (n <= 0)
		return n ? n : -EINVAL;
	percpu = calloc(n, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	err = map_get(m->metrics_fd, SL_MAP_METRICS, &key, percpu);
	if (!err)
		metrics_sum(percpu, n, sum);
	free(percpu);
	return err;
}

struct metrics_walk {
	maps_metrics_fn fn;
	void *arg;
	int ncpus;
};

static int metrics_walk_one(const void *key, const void *value, void *arg)
{
	struct metrics_walk *w = arg;
	struct sl_metrics_value sum;

	metrics_sum(value, w->ncpus, &sum);
	return w->fn(key, &sum, w->arg);
}

int maps_metrics_foreach(const struct sl_maps *m, maps_metrics_fn fn, void *arg)
{
	struct metrics_walk w = { fn, arg, ncpus() };

	if (w.ncpus <= 0)
		return w.ncpus ? w.ncpus : -EINVAL;
	return map_walk(m->metrics_fd, SL_MAP_METRICS, sizeof(struct sl_metrics_key),
			(size_t)w.ncpus * sizeof(struct sl_metrics_value), metrics_walk_one, &w);
}

int maps_metrics_clear(const struct sl_maps *m)
{
	struct sl_metrics_key key;
	int err;

	/* Always delete the first key: deleting under a walk would restart it. */
	while (!bpf_map_get_next_key(m->metrics_fd, NULL, &key)) {
		err = map_del(m->metrics_fd, SL_MAP_METRICS, &key);
		if (err && err != -ENOENT)
			return err;
	}
	if (errno != ENOENT) {
		err = -errno;
		pr_err("walk %s: -%s", SL_MAP_METRICS, errname(err));
		return err;
	}
	return 0;
}

int maps_meta_get(const struct sl_maps *m, struct sl_meta *meta)
{
	__u32 key = 0;

	return map_get(m->meta_fd, SL_MAP_META, &key, meta);
}

/* --- NetworkPolicy maps --------------------------------------------------------- */

/* Writes n entries with BPF_MAP_UPDATE_BATCH. A kernel without batch
 * operations for the map type (tries before 6.x answer -EINVAL or
 * -ENOTSUPP on the very first call) gets them one by one, in order. */
static int map_put_batch(int fd, const char *name, const void *keys, size_t key_size, const void *vals,
			 size_t val_size, __u32 n, __u32 *done)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 count = n;
	int err = 0;

	*done = 0;
	if (!n)
		return 0;
	if (!bpf_map_update_batch(fd, keys, vals, &count, &opts)) {
		*done = n;
		return 0;
	}
	err = -errno;
	if (count || (err != -EINVAL && err != -ENOTSUP && err != -EOPNOTSUPP && err != -524 /* ENOTSUPP */)) {
		*done = count;
		pr_err("update %s (batch, entry %u of %u): -%s", name, count + 1, n, errname(err));
		return err;
	}
	for (__u32 i = 0; i < n; i++) {
		err = map_set(fd, name, (const char *)keys + i * key_size, (const char *)vals + i * val_size);
		if (err)
			return err;
		*done = i + 1;
	}
	return 0;
}

int maps_ipcache_key(struct sl_ipcache_key *key, __u8 family, const void *addr, unsigned int prefix_bits)
{
	unsigned int len = family == SL_FAMILY_IPV4 ? 4 : family == SL_FAMILY_IPV6 ? 16 : 0;

	memset(key, 0, sizeof(*key));
	if (!len || prefix_bits > len * 8)
		return -EINVAL;
	key->prefixlen = SL_IPCACHE_KEY_BASE_BITS + prefix_bits;
	key->family = family;
	memcpy(key->addr, addr, len);
	for (unsigned int bit = prefix_bits; bit < len * 8; bit++)
		key->addr[bit / 8] &= (__u8)~(0x80u >> (bit % 8));
	return 0;
}

int maps_ipcache_put(const struct sl_maps *m, const struct sl_ipcache_key *key, const struct sl_ipcache_value *val)
{
	return map_set(m->ipcache_fd, SL_MAP_IPCACHE, key, val);
}

int maps_ipcache_put_batch(const struct sl_maps *m, const struct sl_ipcache_key *keys,
			   const struct sl_ipcache_value *vals, __u32 n, __u32 *done)
{
	return map_put_batch(m->ipcache_fd, SL_MAP_IPCACHE, keys, sizeof(*keys), vals, sizeof(*vals), n, done);
}

int maps_ipcache_get(const struct sl_maps *m, const struct sl_ipcache_key *key, struct sl_ipcache_value *val)
{
	return map_get(m->ipcache_fd, SL_MAP_IPCACHE, key, val);
}

int maps_ipcache_del(const struct sl_maps *m, const struct sl_ipcache_key *key)
{
	return map_del(m->ipcache_fd, SL_MAP_IPCACHE, key);
}

struct ipcache_walk {
	maps_ipcache_fn fn;
	void *arg;
};

static int ipcache_walk_one(const void *key, const void *value, void *arg)
{
	struct ipcache_walk *w = arg;

	return w->fn(key, value, w->arg);
}

int maps_ipcache_foreach(const struct sl_maps *m, maps_ipcache_fn fn, void *arg)
{
	struct ipcache_walk w = { fn, arg };

	return map_walk(m->ipcache_fd, SL_MAP_IPCACHE, sizeof(struct sl_ipcache_key),
			sizeof(struct sl_ipcache_value), ipcache_walk_one, &w);
}

void maps_policy_key(struct sl_policy_key *key, __u32 subject, __u8 direction, __u32 peer, __u8 proto, __u16 dport,
		     __u32 prefixlen)
{
	memset(key, 0, sizeof(*key));
	key->prefixlen = prefixlen;
	key->subject = subject;
	key->direction = direction;
	if (prefixlen > SL_POLICY_PREFIX_ISOLATED)
		key->peer = peer;
	if (prefixlen > SL_POLICY_PREFIX_ALL_PORTS)
		key->proto = proto;
	if (prefixlen > SL_POLICY_PREFIX_PROTO) {
		unsigned int host_bits = prefixlen >= SL_POLICY_PREFIX_FULL ? 0 : SL_POLICY_PREFIX_FULL - prefixlen;

		key->dport = htons((__u16)(dport & ~((1u << host_bits) - 1)));
	}
}

int maps_policy_put(const struct sl_maps *m, const struct sl_policy_key *key, const struct sl_policy_value *val)
{
	return map_set(m->policy_fd, SL_MAP_POLICY, key, val);
}

int maps_policy_put_batch(const struct sl_maps *m, const struct sl_policy_key *keys,
			  const struct sl_policy_value *vals, __u32 n, __u32 *done)
{
	return map_put_batch(m->policy_fd, SL_MAP_POLICY, keys, sizeof(*keys), vals, sizeof(*vals), n, done);
}

int maps_policy_get(const struct sl_maps *m, const struct sl_policy_key *key, struct sl_policy_value *val)
{
	return map_get(m->policy_fd, SL_MAP_POLICY, key, val);
}

int maps_policy_del(const struct sl_maps *m, const struct sl_policy_key *key)
{
	return map_del(m->policy_fd, SL_MAP_POLICY, key);
}

struct policy_walk {
	maps_policy_fn fn;
	void *arg;
};

static int policy_walk_one(const void *key, const void *value, void *arg)
{
	struct policy_walk *w = arg;

	return w->fn(key, value, w->arg);
}

int maps_policy_foreach(const struct sl_maps *m, maps_policy_fn fn, void *arg)
{
	struct policy_walk w = { fn, arg };

	return map_walk(m->policy_fd, SL_MAP_POLICY, sizeof(struct sl_policy_key), sizeof(struct sl_policy_value),
			policy_walk_one, &w);
}

int maps_port_range_blocks(__u16 first, __u16 last, struct maps_port_block blocks[MAPS_PORT_BLOCKS_MAX])
{
	__u32 port = first, end = (__u32)last + 1;
	int n = 0;

	if (first > last)
		return -EINVAL;
	while (port < end) {
		/* The largest block aligned at port that does not pass last:
		 * at most 2 x 16 of them (growing, then shrinking). */
		unsigned int k = port ? (unsigned int)__builtin_ctz(port) : 16;

		while (port + (1u << k) > end)
			k--;
		blocks[n].port = (__u16)port;
		blocks[n].prefixlen = SL_POLICY_PREFIX_FULL - k;
		n++;
		port += 1u << k;
	}
	return n;
}

int maps_ct_get(const struct sl_maps *m, const struct sl_ct_key *key, struct sl_ct_value *val)
{
	return map_get(m->ct_fd, SL_MAP_CT, key, val);
}

int maps_ct_del(const struct sl_maps *m, const struct sl_ct_key *key)
{
	return map_del(m->ct_fd, SL_MAP_CT, key);
}

struct ct_walk {
	maps_ct_fn fn;
	void *arg;
};

static int ct_walk_one(const void *key, const void *value, void *arg)
{
	struct ct_walk *w = arg;

	return w->fn(key, value, w->arg);
}

int maps_ct_foreach(const struct sl_maps *m, maps_ct_fn fn, void *arg)
{
	struct ct_walk w = { fn, arg };

	return map_walk(m->ct_fd, SL_MAP_CT, sizeof(struct sl_ct_key), sizeof(struct sl_ct_value), ct_walk_one, &w);
}

int maps_ct_clear(const struct sl_maps *m)
{
	struct sl_ct_key key, next;
	bool have = false;
	int err = 0;

	/* Step to the next key, then delete the one behind: restarting from
	 * the first key after every delete would scan the buckets n times. */
	for (;;) {
		if (bpf_map_get_next_key(m->ct_fd, have ? &key : NULL, &next)) {
			err = errno == ENOENT ? 0 : -errno;
			break;
		}
		if (have) {
			err = map_del(m->ct_fd, SL_MAP_CT, &key);
			if (err && err != -ENOENT)
				return err;
		}
		key = next;
		have = true;
	}
	if (err) {
		pr_err("walk %s: -%s", SL_MAP_CT, errname(err));
		return err;
	}
	if (have) {
		err = map_del(m->ct_fd, SL_MAP_CT, &key);
		if (err && err != -ENOENT)
			return err;
	}
	return 0;
}

int maps_polcfg_get(const struct sl_maps *m, struct sl_policy_config *cfg)
{
	__u32 key = 0;

	return map_get(m->polcfg_fd, SL_MAP_POLCFG, &key, cfg);
}

int maps_polcfg_set(const struct sl_maps *m, const struct sl_policy_config *cfg)
{
	__u32 key = 0;

	return map_set(m->polcfg_fd, SL_MAP_POLCFG, &key, cfg);
}

/* --- drop events ------------------------------------------------------------------ */

struct maps_events {
	struct ring_buffer *rb;
	maps_drop_event_fn fn;
	void *arg;
};

static int events_sample(void *ctx, void *data, size_t size)
{
	struct maps_events *ev = ctx;
	struct sl_drop_event e;

	if (size < sizeof(e))
		return 0; /* not a record this build knows: skip it */
	memcpy(&e, data, sizeof(e));
	return ev->fn(&e, ev->arg);
}

int maps_events_open(const struct sl_maps *m, maps_drop_event_fn fn, void *arg, struct maps_events **out)
{
	struct maps_events *ev;
	int err;

	*out = NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->fn = fn;
	ev->arg = arg;
	ev->rb = ring_buffer__new(m->events_fd, events_sample, ev, NULL);
	if (!ev->rb) {
		err = -errno;
		pr_err("open ring buffer %s: -%s", SL_MAP_EVENTS, errname(err));
		free(ev);
		return err;
	}
	*out = ev;
	return 0;
}

int maps_events_poll(struct maps_events *ev, int timeout_ms)
{
	return ring_buffer__poll(ev->rb, timeout_ms);
}

int maps_events_fd(const struct maps_events *ev)
{
	return ring_buffer__epoll_fd(ev->rb);
}

void maps_events_close(struct maps_events *ev)
{
	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	free(ev);
}
