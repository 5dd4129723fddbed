// SPDX-License-Identifier: Apache-2.0
#include "maps/maps.h"

#include <errno.h>
#include <limits.h>
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
	};
	int *fds[] = { &m->endpoint_fd, &m->eni_fd, &m->metrics_fd, &m->events_fd, &m->meta_fd };
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
	int *fds[] = { &m->endpoint_fd, &m->eni_fd, &m->metrics_fd, &m->events_fd, &m->meta_fd };

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
