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
 * meet the targets (docs/warm-pool.md): assign more IPs on an interface with
 * room, attach a new interface when all are full, or, once the pool has been
 * above its targets for release_delay_s, detach an interface Sluice attached
 * that is entirely free, or release single IPs beyond the target plus a
 * hysteresis band.
 *
 * Conntrack-aware reuse: when a clock is set, a released IP is "held"
 * (IPAM_HOLD_PENDING) until the agent has checked the datapath's conntrack
 * for it, and stays held (IPAM_HOLD_CT) while live entries name it, at most
 * reuse_max_hold_s. A held IP is neither handed out nor given back to the
 * cloud, and does not count towards the warm target.
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
	uint8_t hold;          /* IPAM_HOLD_*: not to be handed out or released yet */
	uint64_t freed_ms;     /* ipam->clock_ms() when it was last released */
};

enum {
	IPAM_HOLD_NONE = 0,
	IPAM_HOLD_PENDING, /* released; conntrack not checked since */
	IPAM_HOLD_CT,      /* conntrack had live entries with it at the last check */
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
	struct cloud_limits caps;    /* the operator's caps on limits (0: none) */
	unsigned warm_ip_target;     /* free IPs to keep ready */
	unsigned min_ip_target;      /* free + used IPs to hold at least */
	unsigned warm_eni_target;    /* whole interfaces' worth of free IPs to keep */
	unsigned release_delay_s;    /* excess must last this long before it goes back */
	unsigned release_hysteresis; /* free IPs tolerated above the target before releasing */
	uint64_t release_seq;
	uint64_t excess_since_ms;    /* clock when the pool went above its targets; 0: it is not */
	/* Monotonic milliseconds; NULL: no holds (a released IP is free at once). */
	uint64_t (*clock_ms)(void);
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
	unsigned held;     /* free IPs held back (IPAM_HOLD_*), part of free */
	unsigned capacity; /* IPs the pool could hold with every allowed interface full */
};
void ipam_count(const struct ipam *ipam, struct ipam_counts *out);
/* Free, unheld IPs on adopted interfaces: what ipam_alloc can hand out now. */
unsigned ipam_allocatable(const struct ipam *ipam);
/* The provider's limits with the operator's caps applied. */
struct cloud_limits ipam_limits(const struct ipam *ipam);
/* Free IPs the targets ask for, plus need (ADDs waiting). */
unsigned ipam_desired_free(const struct ipam *ipam, unsigned need);

/* An owner that marks an IP on its way back to the cloud: no container ID
 * can start with '~', so it never collides with an attachment. */
#define IPAM_OWNER_RELEASING "~releasing"

enum ipam_step_kind {
	IPAM_STEP_NONE = 0,
	IPAM_STEP_ASSIGN,
	IPAM_STEP_ATTACH,
	IPAM_STEP_RELEASE,
	IPAM_STEP_DETACH,
};

struct ipam_step {
	enum ipam_step_kind kind;
	char iface_id[CLOUD_ID_LEN]; /* ASSIGN, RELEASE, DETACH */
	unsigned count;              /* ASSIGN */
	struct sl_ip ip;             /* RELEASE */
};
const char *ipam_step_name(enum ipam_step_kind kind);

/* Marks (now_ms) when the pool went above its targets, or clears the mark
 * when it is not: the release delay counts from there. */
void ipam_tick(struct ipam *ipam, unsigned need, uint64_t now_ms);
/* Is the pool above its targets (an IP to release or an interface to detach)? */
bool ipam_excess(const struct ipam *ipam, unsigned need);
/* The next cloud call that brings the pool towards its targets. NONE when it
 * is there, when it is short but every limit is reached (the caller sees
 * that from the counts), or when it is above them for less than the release
 * delay. `need` extra IPs are wanted on top of the targets (ADDs waiting). */
void ipam_plan(const struct ipam *ipam, unsigned need, uint64_t now_ms, struct ipam_step *step);
/* A hash of everything ipam_plan looks at, need and whether the release
 * delay is over included: equal hashes plan equal steps. */
uint64_t ipam_state_hash(const struct ipam *ipam, unsigned need, uint64_t now_ms);

#endif /* SLUICE_IPAM_POOL_H */
