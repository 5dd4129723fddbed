// SPDX-License-Identifier: Apache-2.0
#include "ipam/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ipam_init(struct ipam *ipam, unsigned warm_ip_target)
{
	memset(ipam, 0, sizeof(*ipam));
	ipam->warm_ip_target = warm_ip_target;
	ipam->release_hysteresis = 8;
	ipam->foreign_ifaces = 1;
}

void ipam_free(struct ipam *ipam)
{
	for (size_t i = 0; i < ipam->n_ifaces; i++)
		free(ipam->ifaces[i].slots);
	free(ipam->ifaces);
	ipam->ifaces = NULL;
	ipam->n_ifaces = 0;
}

static bool owner_is_free(const struct ipam_owner *o)
{
	return o->container_id[0] == '\0';
}

static bool owner_equal(const struct ipam_owner *a, const struct ipam_owner *b)
{
	return strcmp(a->container_id, b->container_id) == 0 && strcmp(a->ifname, b->ifname) == 0;
}

struct ipam_iface *ipam_iface_find(struct ipam *ipam, const char *id)
{
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		if (strcmp(ipam->ifaces[i].id, id) == 0)
			return &ipam->ifaces[i];
	}
	return NULL;
}

struct ipam_slot *ipam_find_ip(struct ipam *ipam, const struct sl_ip *ip, struct ipam_iface **iface)
{
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++) {
			if (sl_ip_equal(&ipam->ifaces[i].slots[j].ip, ip)) {
				if (iface)
					*iface = &ipam->ifaces[i];
				return &ipam->ifaces[i].slots[j];
			}
		}
	}
	return NULL;
}

int ipam_add_iface(struct ipam *ipam, const struct cloud_iface *c)
{
	struct ipam_iface *grown, *iface;
	int err;

	if (ipam_iface_find(ipam, c->id))
		return -EEXIST;
	grown = realloc(ipam->ifaces, (ipam->n_ifaces + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	ipam->ifaces = grown;
	iface = &ipam->ifaces[ipam->n_ifaces++];
	memset(iface, 0, sizeof(*iface));
	snprintf(iface->id, sizeof(iface->id), "%s", c->id);
	snprintf(iface->subnet_id, sizeof(iface->subnet_id), "%s", c->subnet_id);
	memcpy(iface->mac, c->mac, 6);
	iface->device_index = c->device_index;
	iface->subnet = c->subnet;
	iface->gateway = c->gateway;
	iface->primary_ip = c->primary_ip;
	for (size_t i = 0; i < c->n_ips; i++) {
		err = ipam_add_ip(ipam, iface, &c->ips[i]);
		if (err && err != -EEXIST)
			return err;
	}
	return 0;
}

int ipam_remove_iface(struct ipam *ipam, const char *id)
{
	struct ipam_iface *iface = ipam_iface_find(ipam, id);
	size_t idx;

	if (!iface)
		return -ENOENT;
	for (size_t j = 0; j < iface->n_slots; j++) {
		if (!owner_is_free(&iface->slots[j].owner))
			return -EBUSY;
	}
	free(iface->slots);
	idx = (size_t)(iface - ipam->ifaces);
	memmove(iface, iface + 1, (ipam->n_ifaces - idx - 1) * sizeof(*iface));
	ipam->n_ifaces--;
	return 0;
}

int ipam_add_ip(struct ipam *ipam, struct ipam_iface *iface, const struct sl_ip *ip)
{
	if (ipam_find_ip(ipam, ip, NULL))
		return -EEXIST;
	if (iface->n_slots == iface->cap_slots) {
		size_t cap = iface->cap_slots ? iface->cap_slots * 2 : 8;
		struct ipam_slot *grown = realloc(iface->slots, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		iface->slots = grown;
		iface->cap_slots = cap;
	}
	memset(&iface->slots[iface->n_slots], 0, sizeof(iface->slots[0]));
	iface->slots[iface->n_slots].ip = *ip;
	iface->n_slots++;
	return 0;
}

int ipam_remove_ip(struct ipam *ipam, const struct sl_ip *ip)
{
	struct ipam_iface *iface;
	struct ipam_slot *slot = ipam_find_ip(ipam, ip, &iface);
	size_t idx;

	if (!slot)
		return -ENOENT;
	if (!owner_is_free(&slot->owner))
		return -EBUSY;
	idx = (size_t)(slot - iface->slots);
	memmove(slot, slot + 1, (iface->n_slots - idx - 1) * sizeof(*slot));
	iface->n_slots--;
	return 0;
}

struct ipam_slot *ipam_find_owner(struct ipam *ipam, const struct ipam_owner *owner,
				  struct ipam_iface **iface)
{
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++) {
			if (owner_equal(&ipam->ifaces[i].slots[j].owner, owner)) {
				if (iface)
					*iface = &ipam->ifaces[i];
				return &ipam->ifaces[i].slots[j];
			}
		}
	}
	return NULL;
}

int ipam_alloc(struct ipam *ipam, const struct ipam_owner *owner, struct ipam_slot **slot_out,
	       struct ipam_iface **iface_out)
{
	struct ipam_slot *best = NULL;
	struct ipam_iface *best_iface = NULL;

	if (owner_is_free(owner))
		return -EINVAL;
	best = ipam_find_owner(ipam, owner, &best_iface);
	if (best)
		goto out;
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		struct ipam_iface *iface = &ipam->ifaces[i];

		if (!iface->ifindex)
			continue; /* the node has not adopted its netdev yet */
		for (size_t j = 0; j < iface->n_slots; j++) {
			struct ipam_slot *s = &iface->slots[j];

			if (!owner_is_free(&s->owner))
				continue;
			if (!best || s->released_seq < best->released_seq) {
				best = s;
				best_iface = iface;
			}
		}
	}
	if (!best)
		return -ENOSPC;
	best->owner = *owner;
out:
	if (slot_out)
		*slot_out = best;
	if (iface_out)
		*iface_out = best_iface;
	return 0;
}

int ipam_claim(struct ipam *ipam, const struct sl_ip *ip, const struct ipam_owner *owner)
{
	struct ipam_slot *slot = ipam_find_ip(ipam, ip, NULL);

	if (!slot)
		return -ENOENT;
	if (!owner_is_free(&slot->owner) && !owner_equal(&slot->owner, owner))
		return -EBUSY;
	slot->owner = *owner;
	return 0;
}

int ipam_release(struct ipam *ipam, const struct ipam_owner *owner, struct sl_ip *released)
{
	struct ipam_slot *slot = ipam_find_owner(ipam, owner, NULL);

	if (!slot || owner_is_free(owner))
		return -ENOENT;
	memset(&slot->owner, 0, sizeof(slot->owner));
	slot->released_seq = ++ipam->release_seq;
	if (released)
		*released = slot->ip;
	return 0;
}

static unsigned iface_room(const struct ipam *ipam, const struct ipam_iface *iface)
{
	/* The interface's own primary IP counts against the cloud's limit. */
	size_t held = iface->n_slots + 1;

	return ipam->limits.max_ips_per_interface > held ? (unsigned)(ipam->limits.max_ips_per_interface - held)
							  : 0;
}

static unsigned max_own_ifaces(const struct ipam *ipam)
{
	return ipam->limits.max_interfaces > ipam->foreign_ifaces
		       ? ipam->limits.max_interfaces - ipam->foreign_ifaces
		       : 0;
}

void ipam_count(const struct ipam *ipam, struct ipam_counts *out)
{
	unsigned per_iface = ipam->limits.max_ips_per_interface ? ipam->limits.max_ips_per_interface - 1 : 0;

	memset(out, 0, sizeof(*out));
	out->interfaces = (unsigned)ipam->n_ifaces;
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++) {
			if (owner_is_free(&ipam->ifaces[i].slots[j].owner))
				out->free++;
			else
				out->used++;
		}
	}
	out->capacity = max_own_ifaces(ipam) * per_iface;
}

unsigned ipam_allocatable(const struct ipam *ipam)
{
	unsigned n = 0;

	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		if (!ipam->ifaces[i].ifindex)
			continue;
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++)
			n += owner_is_free(&ipam->ifaces[i].slots[j].owner);
	}
	return n;
}

void ipam_plan(const struct ipam *ipam, unsigned need, struct ipam_step *step)
{
	struct ipam_counts c;
	unsigned want;

	memset(step, 0, sizeof(*step));
	ipam_count(ipam, &c);
	want = ipam->warm_ip_target + need;
	if (c.free < want) {
		unsigned short_by = want - c.free;

		/* Fill the interface with the most IPs first: fewer interfaces
		 * stay in use, and an empty one can be detached later. */
		const struct ipam_iface *best = NULL;

		for (size_t i = 0; i < ipam->n_ifaces; i++) {
			const struct ipam_iface *iface = &ipam->ifaces[i];

			if (!iface_room(ipam, iface))
				continue;
			if (!best || iface->n_slots > best->n_slots)
				best = iface;
		}
		if (best) {
			unsigned room = iface_room(ipam, best);

			step->kind = IPAM_STEP_ASSIGN;
			snprintf(step->iface_id, sizeof(step->iface_id), "%s", best->id);
			step->count = short_by < room ? short_by : room;
		} else if (ipam->n_ifaces < max_own_ifaces(ipam)) {
			step->kind = IPAM_STEP_ATTACH;
		}
		return;
	}
	if (c.free > want + ipam->release_hysteresis) {
		/* Give back the free IP released longest ago: the least likely to
		 * still have traffic in flight towards it. */
		const struct ipam_slot *oldest = NULL;
		const struct ipam_iface *owner_iface = NULL;

		for (size_t i = 0; i < ipam->n_ifaces; i++) {
			for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++) {
				const struct ipam_slot *s = &ipam->ifaces[i].slots[j];

				if (!owner_is_free(&s->owner))
					continue;
				if (!oldest || s->released_seq < oldest->released_seq) {
					oldest = s;
					owner_iface = &ipam->ifaces[i];
				}
			}
		}
		if (oldest) {
			step->kind = IPAM_STEP_RELEASE;
			snprintf(step->iface_id, sizeof(step->iface_id), "%s", owner_iface->id);
			step->ip = oldest->ip;
		}
	}
}
