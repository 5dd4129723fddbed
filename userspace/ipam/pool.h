/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's IP pool: which cloud interfaces Sluice owns, which secondary IPs
 * the cloud assigned to each, and which attachment (container ID + interface
 * name) holds each IP. Pure bookkeeping: no cloud calls, no kernel objects,
 * no locking (the agent serializes access).
 *
 * Allocation hands out the free IP released longest ago (never-used IPs
 * first), so an address just freed is the last to be reused. An IP belongs to
 * at most one attachment: ipam_alloc and ipam_claim refuse to double-assign.
 *
 * ipam_plan says what the warm-pool controller should ask the cloud next to
 * keep `warm_ip_target` free IPs: assign more IPs on an interface with room,
 * attach a new interface when all are full, or release IPs beyond the target
 * plus a hysteresis band.
 */
#ifndef SLUICE_IPAM_POOL_H
#define SLUICE_IPAM_POOL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/provider.h"
#include "common/addr.h"

#define IPAM_CONTAINER_ID_LEN 256

struct ipam_owner {
	char container_id[IPAM_CONTAINER_ID_LEN]; /* "" when the IP is free */
	char ifname[IF_NAMESIZE];
};

struct ipam_slot {
	struct sl_ip ip;
	struct ipam_owner owner;
	uint64_t released_seq; /* 0: never used; else the order of its release */
};

struct ipam_iface {
	char id[CLOUD_ID_LEN];
	char subnet_id[CLOUD_ID_LEN];
	uint8_t mac[6];
	unsigned device_index;
	struct sl_prefix subnet;
	struct sl_ip gateway;
	struct sl_ip primary_ip;
	char name[IF_NAMESIZE]; /* the node's netdev, once adopted */
	int ifindex;            /* 0 until the netdev is adopted: no allocation from it */
	struct ipam_slot *slots;
	size_t n_slots, cap_slots;
};

struct ipam {
	struct ipam_iface *ifaces;
	size_t n_ifaces;
	struct cloud_limits limits;
	unsigned foreign_ifaces; /* interfaces of the instance Sluice does not own (the primary) */
	unsigned warm_ip_target;
	unsigned release_hysteresis; /* free IPs tolerated above the target before releasing */
	uint64_t release_seq;
};

void ipam_init(struct ipam *ipam, unsigned warm_ip_target);
void ipam_free(struct ipam *ipam);

/* Adds a cloud interface and its IPs (all free); -EEXIST if known. Moves the
 * interface array: pointers into it from before the call are stale. */
int ipam_add_iface(struct ipam *ipam, const struct cloud_iface *c);
/* Removes an interface; -EBUSY while one of its IPs is in use. */
int ipam_remove_iface(struct ipam *ipam, const char *id);
struct ipam_iface *ipam_iface_find(struct ipam *ipam, const char *id);

/* Adds a free IP to an interface; -EEXIST if any interface has it. */
int ipam_add_ip(struct ipam *ipam, struct ipam_iface *iface, const struct sl_ip *ip);
/* Removes a free IP; -EBUSY if in use, -ENOENT if unknown. */
int ipam_remove_ip(struct ipam *ipam, const struct sl_ip *ip);
struct ipam_slot *ipam_find_ip(struct ipam *ipam, const struct sl_ip *ip, struct ipam_iface **iface);

/* Hands the best free IP to owner; -ENOSPC when none is free. Allocating for
 * an owner that already holds an IP returns that IP (idempotent ADD). */
int ipam_alloc(struct ipam *ipam, const struct ipam_owner *owner, struct ipam_slot **slot,
	       struct ipam_iface **iface);
/* Gives a specific IP to owner (restoring a checkpoint); -EBUSY if another
 * owner holds it, -ENOENT if the pool does not have it. */
int ipam_claim(struct ipam *ipam, const struct sl_ip *ip, const struct ipam_owner *owner);
/* Frees the IP held by owner; -ENOENT when it holds none. */
int ipam_release(struct ipam *ipam, const struct ipam_owner *owner, struct sl_ip *released);
struct ipam_slot *ipam_find_owner(struct ipam *ipam, const struct ipam_owner *owner,
				  struct ipam_iface **iface);

struct ipam_counts {
	unsigned free, used, interfaces;
	unsigned capacity; /* IPs the pool could hold with every allowed interface full */
};
void ipam_count(const struct ipam *ipam, struct ipam_counts *out);
/* Free IPs on adopted interfaces: what ipam_alloc can hand out right now. */
unsigned ipam_allocatable(const struct ipam *ipam);

/* An owner that marks an IP on its way back to the cloud: no container ID
 * can start with '~', so it never collides with an attachment. */
#define IPAM_OWNER_RELEASING "~releasing"

enum ipam_step_kind { IPAM_STEP_NONE = 0, IPAM_STEP_ASSIGN, IPAM_STEP_ATTACH, IPAM_STEP_RELEASE };

struct ipam_step {
	enum ipam_step_kind kind;
	char iface_id[CLOUD_ID_LEN]; /* ASSIGN, RELEASE */
	unsigned count;              /* ASSIGN */
	struct sl_ip ip;             /* RELEASE */
};
/* The next cloud call that brings the pool towards its target. NONE when it
 * is there, or when it is short but every limit is reached (the caller sees
 * that from the counts). `need` extra IPs are wanted on top of the target
 * (an ADD waiting for one). */
void ipam_plan(const struct ipam *ipam, unsigned need, struct ipam_step *step);

#endif /* SLUICE_IPAM_POOL_H */
