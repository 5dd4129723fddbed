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

/* Free and not held back: may be handed out, or given back to the cloud. */
static bool slot_available(const struct ipam_slot *s)
{
	return owner_is_free(&s->owner) && s->hold == IPAM_HOLD_NONE;
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

			if (!slot_available(s))
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
	slot->hold = IPAM_HOLD_NONE;
	return 0;
}

int ipam_release(struct ipam *ipam, const struct ipam_owner *owner, struct sl_ip *released)
{
	struct ipam_slot *slot = ipam_find_owner(ipam, owner, NULL);

	if (!slot || owner_is_free(owner))
		return -ENOENT;
	memset(&slot->owner, 0, sizeof(slot->owner));
	slot->released_seq = ++ipam->release_seq;
	/* Traffic of the old owner may still be in flight towards it: the
	 * agent checks conntrack before anyone else gets it. */
	if (ipam->clock_ms) {
		slot->hold = IPAM_HOLD_PENDING;
		slot->freed_ms = ipam->clock_ms();
	}
	if (released)
		*released = slot->ip;
	return 0;
}

struct cloud_limits ipam_limits(const struct ipam *ipam)
{
	struct cloud_limits l = ipam->limits;

	if (ipam->caps.max_interfaces && ipam->caps.max_interfaces < l.max_interfaces)
		l.max_interfaces = ipam->caps.max_interfaces;
	if (ipam->caps.max_ips_per_interface && ipam->caps.max_ips_per_interface < l.max_ips_per_interface)
		l.max_ips_per_interface = ipam->caps.max_ips_per_interface;
	return l;
}

/* Pod IPs one interface can carry: its own primary IP counts against the
 * cloud's limit. */
static unsigned ips_per_iface(const struct ipam *ipam)
{
	struct cloud_limits l = ipam_limits(ipam);

	return l.max_ips_per_interface ? l.max_ips_per_interface - 1 : 0;
}

static unsigned iface_room(const struct ipam *ipam, const struct ipam_iface *iface)
{
	unsigned per = ips_per_iface(ipam);

	return per > iface->n_slots ? per - (unsigned)iface->n_slots : 0;
}

static unsigned max_own_ifaces(const struct ipam *ipam)
{
	struct cloud_limits l = ipam_limits(ipam);

	return l.max_interfaces > ipam->foreign_ifaces ? l.max_interfaces - ipam->foreign_ifaces : 0;
}

void ipam_count(const struct ipam *ipam, struct ipam_counts *out)
{
	memset(out, 0, sizeof(*out));
	out->interfaces = (unsigned)ipam->n_ifaces;
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++) {
			const struct ipam_slot *s = &ipam->ifaces[i].slots[j];

			if (!owner_is_free(&s->owner)) {
				out->used++;
				continue;
			}
			out->free++;
			out->held += s->hold != IPAM_HOLD_NONE;
		}
	}
	out->capacity = max_own_ifaces(ipam) * ips_per_iface(ipam);
}

unsigned ipam_allocatable(const struct ipam *ipam)
{
	unsigned n = 0;

	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		if (!ipam->ifaces[i].ifindex)
			continue;
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++)
			n += slot_available(&ipam->ifaces[i].slots[j]);
	}
	return n;
}

unsigned ipam_desired_free(const struct ipam *ipam, unsigned need)
{
	struct ipam_counts c;
	unsigned want = ipam->warm_ip_target;
	unsigned eni = ipam->warm_eni_target * ips_per_iface(ipam);

	ipam_count(ipam, &c);
	if (eni > want)
		want = eni;
	/* MINIMUM_IP_TARGET counts every IP, used or not. */
	if (ipam->min_ip_target > c.used && ipam->min_ip_target - c.used > want)
		want = ipam->min_ip_target - c.used;
	return want + need;
}

const char *ipam_step_name(enum ipam_step_kind kind)
{
	switch (kind) {
	case IPAM_STEP_ASSIGN: return "assign";
	case IPAM_STEP_ATTACH: return "attach";
	case IPAM_STEP_RELEASE: return "release";
	case IPAM_STEP_DETACH: return "detach";
	case IPAM_STEP_NONE: break;
	}
	return "none";
}

/* Free IPs that count towards the targets: held ones do not. */
static unsigned available(const struct ipam *ipam)
{
	struct ipam_counts c;

	ipam_count(ipam, &c);
	return c.free - c.held;
}

static bool iface_all_available(const struct ipam_iface *iface)
{
	for (size_t j = 0; j < iface->n_slots; j++) {
		if (!slot_available(&iface->slots[j]))
			return false;
	}
	return true;
}

/* An interface Sluice attached that is entirely free and whose IPs the
 * targets do not need: the biggest such one (one call gives back most). */
static const struct ipam_iface *detachable(const struct ipam *ipam, unsigned avail, unsigned desired)
{
	const struct ipam_iface *best = NULL;

	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		const struct ipam_iface *iface = &ipam->ifaces[i];

		/* device 0 is the instance's primary: never Sluice's to give back. */
		if (iface->device_index == 0 || !iface_all_available(iface))
			continue;
		if (avail < iface->n_slots || avail - iface->n_slots < desired)
			continue;
		if (!best || iface->n_slots > best->n_slots)
			best = iface;
	}
	return best;
}

/* With a warm interface target, IPs come and go by whole interfaces (as the
 * AWS VPC CNI does with WARM_ENI_TARGET): no single releases. */
static bool releases_single_ips(const struct ipam *ipam, unsigned avail, unsigned desired)
{
	return ipam->warm_eni_target == 0 && avail > desired + ipam->release_hysteresis;
}

bool ipam_excess(const struct ipam *ipam, unsigned need)
{
	unsigned avail = available(ipam), desired = ipam_desired_free(ipam, need);

	return detachable(ipam, avail, desired) || releases_single_ips(ipam, avail, desired);
}

void ipam_tick(struct ipam *ipam, unsigned need, uint64_t now_ms)
{
	if (!ipam_excess(ipam, need))
		ipam->excess_since_ms = 0;
	else if (!ipam->excess_since_ms)
		ipam->excess_since_ms = now_ms ? now_ms : 1;
}

static bool release_due(const struct ipam *ipam, uint64_t now_ms)
{
	if (!ipam->release_delay_s)
		return true;
	return ipam->excess_since_ms && now_ms >= ipam->excess_since_ms &&
	       now_ms - ipam->excess_since_ms >= (uint64_t)ipam->release_delay_s * 1000;
}

void ipam_plan(const struct ipam *ipam, unsigned need, uint64_t now_ms, struct ipam_step *step)
{
	unsigned avail = available(ipam), desired = ipam_desired_free(ipam, need);
	const struct ipam_iface *iface;

	memset(step, 0, sizeof(*step));
	if (avail < desired) {
		unsigned short_by = desired - avail;

		/* Fill the interface with the most IPs first: fewer interfaces
		 * stay in use, and an empty one can be detached later. */
		const struct ipam_iface *best = NULL;

		for (size_t i = 0; i < ipam->n_ifaces; i++) {
			iface = &ipam->ifaces[i];
			if (!iface_room(ipam, iface))
				continue;
			if (!best || iface->n_slots > best->n_slots)
				best = iface;
		}
		if (best) {
			unsigned room = iface_room(ipam, best);

			step->kind = IPAM_STEP_ASSIGN;
			snprintf(step->iface_id, sizeof(step->iface_id), "%s", best->id);
			/* A warm interface target fills whole interfaces. */
			step->count = short_by < room && !ipam->warm_eni_target ? short_by : room;
		} else if (ipam->n_ifaces < max_own_ifaces(ipam)) {
			step->kind = IPAM_STEP_ATTACH;
		}
		return;
	}
	if (!release_due(ipam, now_ms))
		return;
	iface = detachable(ipam, avail, desired);
	if (iface) {
		step->kind = IPAM_STEP_DETACH;
		snprintf(step->iface_id, sizeof(step->iface_id), "%s", iface->id);
		return;
	}
	if (releases_single_ips(ipam, avail, desired)) {
		/* From the interface with the fewest IPs in use, so that it
		 * empties and can be detached; there, the free IP released
		 * longest ago: the least likely to have traffic in flight. */
		const struct ipam_slot *oldest = NULL;
		const struct ipam_iface *owner_iface = NULL;
		size_t owner_used = 0;

		for (size_t i = 0; i < ipam->n_ifaces; i++) {
			size_t used = 0;

			iface = &ipam->ifaces[i];
			for (size_t j = 0; j < iface->n_slots; j++)
				used += !owner_is_free(&iface->slots[j].owner);
			for (size_t j = 0; j < iface->n_slots; j++) {
				const struct ipam_slot *s = &iface->slots[j];

				if (!slot_available(s))
					continue;
				if (!oldest || used < owner_used ||
				    (used == owner_used && s->released_seq < oldest->released_seq)) {
					oldest = s;
					owner_iface = iface;
					owner_used = used;
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

/* FNV-1a, 64 bits: no need for more than change detection. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_U(h, v)                                     \
	do {                                            \
		uint64_t v_ = (uint64_t)(v);            \
		(h) = fnv((h), &v_, sizeof(v_));        \
	} while (0)

uint64_t ipam_state_hash(const struct ipam *ipam, unsigned need, uint64_t now_ms)
{
	struct cloud_limits l = ipam_limits(ipam);
	uint64_t h = 0xcbf29ce484222325ULL;

	FNV_U(h, l.max_interfaces);
	FNV_U(h, l.max_ips_per_interface);
	FNV_U(h, ipam->foreign_ifaces);
	FNV_U(h, ipam->warm_ip_target);
	FNV_U(h, ipam->min_ip_target);
	FNV_U(h, ipam->warm_eni_target);
	FNV_U(h, ipam->release_hysteresis);
	FNV_U(h, need);
	FNV_U(h, release_due(ipam, now_ms));
	for (size_t i = 0; i < ipam->n_ifaces; i++) {
		const struct ipam_iface *iface = &ipam->ifaces[i];

		h = fnv(h, iface->id, strlen(iface->id) + 1);
		FNV_U(h, iface->device_index);
		FNV_U(h, iface->n_slots);
		for (size_t j = 0; j < iface->n_slots; j++) {
			const struct ipam_slot *s = &iface->slots[j];

			h = fnv(h, &s->ip, sizeof(s->ip));
			FNV_U(h, owner_is_free(&s->owner) ? 0 : s->owner.container_id[0] == '~' ? 2 : 1);
			FNV_U(h, s->hold);
			/* The release order decides which IP goes first. */
			FNV_U(h, s->released_seq);
		}
	}
	return h;
}
