// SPDX-License-Identifier: Apache-2.0
#include "cloud/sim_state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/log.h"

#define SIM_STATE_MAX_BYTES (64u << 20)

int sim_state_open(const char *path, struct sim_state *st)
{
	char lock_path[PATH_MAX];
	json_error_t jerr;
	char *text = NULL;
	int err;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= (int)sizeof(lock_path))
		return -ENAMETOOLONG;
	st->lock_fd = fs_lock(lock_path);
	if (st->lock_fd < 0)
		return st->lock_fd;
	err = fs_read_all(path, SIM_STATE_MAX_BYTES, &text, NULL);
	if (err)
		goto out;
	st->root = json_loads(text, 0, &jerr);
	if (!st->root || !json_is_object(st->root)) {
		pr_err("sim: state %s: line %d: %s", path, jerr.line, jerr.text);
		err = -EIO;
		goto out;
	}
	if (json_integer_value(json_object_get(st->root, "version")) != SIM_STATE_VERSION) {
		pr_err("sim: state %s: unsupported version", path);
		err = -EPROTO;
		goto out;
	}
	st->path = strdup(path);
	if (!st->path)
		err = -ENOMEM;
out:
	free(text);
	if (err)
		sim_state_close(st);
	return err;
}

int sim_state_save(struct sim_state *st)
{
	char *text = json_dumps(st->root, JSON_INDENT(1) | JSON_SORT_KEYS);
	int err;

	if (!text)
		return -ENOMEM;
	err = fs_write_atomic(st->path, text, strlen(text), 0600);
	free(text);
	return err;
}

void sim_state_close(struct sim_state *st)
{
	json_decref(st->root);
	st->root = NULL;
	free(st->path);
	st->path = NULL;
	fs_unlock(st->lock_fd);
	st->lock_fd = -1;
}

static json_t *find_by_id(json_t *array, const char *id)
{
	size_t i;
	json_t *it;

	json_array_foreach(array, i, it) {
		const char *v = json_string_value(json_object_get(it, "id"));

		if (v && strcmp(v, id) == 0)
			return it;
	}
	return NULL;
}

json_t *sim_state_instance(struct sim_state *st, const char *instance)
{
	return find_by_id(json_object_get(st->root, "instances"), instance);
}

json_t *sim_state_subnet(struct sim_state *st, const char *subnet_id)
{
	return find_by_id(json_object_get(st->root, "subnets"), subnet_id);
}

json_t *sim_state_iface(struct sim_state *st, const char *iface_id, json_t **owner)
{
	json_t *inst, *iface;
	size_t i;

	json_array_foreach(json_object_get(st->root, "instances"), i, inst) {
		iface = find_by_id(json_object_get(inst, "interfaces"), iface_id);
		if (iface) {
			if (owner)
				*owner = inst;
			return iface;
		}
	}
	return NULL;
}

int sim_state_limits(struct sim_state *st, struct cloud_limits *out)
{
	json_t *l = json_object_get(st->root, "limits");

	out->max_interfaces = (unsigned)json_integer_value(json_object_get(l, "maxInterfaces"));
	out->max_ips_per_interface = (unsigned)json_integer_value(json_object_get(l, "maxIPsPerInterface"));
	return out->max_interfaces && out->max_ips_per_interface ? 0 : -EIO;
}

static int subnet_prefix(json_t *subnet, struct sl_prefix *p)
{
	return sl_prefix_parse(json_string_value(json_object_get(subnet, "cidr")), true, p);
}

/* Offset of ip inside p (its host bits as an integer); p is at most /16 wide
 * here (SIM_MAX_SUBNET_HOSTS), so the offset fits easily. */
static uint64_t prefix_offset(const struct sl_prefix *p, const struct sl_ip *ip)
{
	uint64_t off = 0;

	for (unsigned b = p->len; b < sl_ip_bytes(ip) * 8; b++)
		off = (off << 1) | ((ip->addr[b / 8] >> (7 - b % 8)) & 1);
	return off;
}

static void mark_ip(const struct sl_prefix *p, uint8_t *used, uint64_t size, json_t *ip_json)
{
	struct sl_ip ip;
	uint64_t off;

	if (sl_ip_parse(json_string_value(ip_json), &ip) || !sl_prefix_contains(p, &ip))
		return;
	off = prefix_offset(p, &ip);
	if (off < size)
		used[off / 8] |= (uint8_t)(1u << (off % 8));
}

/* Marks every address of the subnet that some interface holds. */
static void mark_used(struct sim_state *st, const struct sl_prefix *p, uint8_t *used, uint64_t size)
{
	json_t *inst, *iface, *ip;
	size_t i, j, k;

	json_array_foreach(json_object_get(st->root, "instances"), i, inst) {
		json_array_foreach(json_object_get(inst, "interfaces"), j, iface) {
			mark_ip(p, used, size, json_object_get(iface, "primaryIP"));
			json_array_foreach(json_object_get(iface, "ips"), k, ip)
				mark_ip(p, used, size, ip);
		}
	}
}

int sim_state_alloc_ip(struct sim_state *st, json_t *subnet, struct sl_ip *out)
{
	struct sl_prefix p;
	uint64_t size, cursor, first = 4, n;
	uint8_t *used;
	int err = -ENOSPC;

	if (subnet_prefix(subnet, &p))
		return -EIO;
	size = sl_prefix_size(&p);
	if (size > SIM_MAX_SUBNET_HOSTS || size < 8)
		return -EIO;
	used = calloc(1, size / 8 + 1);
	if (!used)
		return -ENOMEM;
	mark_used(st, &p, used, size);
	cursor = (uint64_t)json_integer_value(json_object_get(subnet, "cursor"));
	if (cursor < first || cursor >= size - 1)
		cursor = first;
	/* One lap over [first, size - 1), starting at the cursor. */
	for (n = 0; n < size - 1 - first; n++) {
		uint64_t off = first + (cursor - first + n) % (size - 1 - first);

		if (used[off / 8] & (1u << (off % 8)))
			continue;
		err = sl_prefix_nth(&p, off, out);
		if (!err)
			json_object_set_new(subnet, "cursor", json_integer((json_int_t)(off + 1)));
		break;
	}
	free(used);
	return err;
}

int sim_state_iface_export(struct sim_state *st, json_t *iface, struct cloud_iface *out)
{
	json_t *subnet, *ips, *ip;
	const char *id, *subnet_id;
	size_t i;

	memset(out, 0, sizeof(*out));
	id = json_string_value(json_object_get(iface, "id"));
	subnet_id = json_string_value(json_object_get(iface, "subnet"));
	subnet = subnet_id ? sim_state_subnet(st, subnet_id) : NULL;
	if (!id || !subnet)
		return -EIO;
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->subnet_id, sizeof(out->subnet_id), "%s", subnet_id);
	if (sl_mac_parse(json_string_value(json_object_get(iface, "mac")), out->mac) ||
	    subnet_prefix(subnet, &out->subnet) ||
	    sl_ip_parse(json_string_value(json_object_get(subnet, "gateway")), &out->gateway) ||
	    sl_ip_parse(json_string_value(json_object_get(iface, "primaryIP")), &out->primary_ip))
		return -EIO;
	out->device_index = (unsigned)json_integer_value(json_object_get(iface, "deviceIndex"));
	out->primary = json_is_true(json_object_get(iface, "primary"));
	/* "foreign": attached by someone else (a test playing the operator). */
	out->sluice_owned = !out->primary && !json_is_true(json_object_get(iface, "foreign"));
	ips = json_object_get(iface, "ips");
	if (json_array_size(ips)) {
		out->ips = calloc(json_array_size(ips), sizeof(*out->ips));
		if (!out->ips)
			return -ENOMEM;
	}
	json_array_foreach(ips, i, ip) {
		if (sl_ip_parse(json_string_value(ip), &out->ips[out->n_ips])) {
			free(out->ips);
			out->ips = NULL;
			out->n_ips = 0;
			return -EIO;
		}
		out->n_ips++;
	}
	return 0;
}
