// SPDX-License-Identifier: Apache-2.0
/*
 * The warm-pool controller (docs/warm-pool.md): one thread that asks
 * ipam_plan what the pool needs, makes that cloud call WITHOUT the agent lock
 * (a real cloud takes seconds), and applies the answer under the lock. ADDs
 * that find no free IP wait on pool_cond.
 *
 * Each turn of the loop: the orphan reconcile when due, the conntrack check
 * of freed IPs, then a pass when the reconcile mode says one is due. A pass
 * runs steps until the plan is NONE; it is skipped whole when the hash of
 * the desired state equals the one of the last pass that needed no call.
 * Failures and an empty cloud-call budget put the pass off (backoff), never
 * block the loop: holds keep being checked and ADDs keep being answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "cloud/ibm.h"
#include "cloud/openstack.h"
#include "common/clock.h"
#include "common/log.h"

#define POOL_IDLE_MS 10000      /* a turn of the loop even without kicks */
#define POOL_BACKOFF_MIN_MS 200
#define POOL_BACKOFF_MAX_MS 30000
#define POOL_ASSIGN_MAX 16      /* IPs per assign call */
#define POOL_SWEEP_MS 10000     /* how often gone endpoints are looked for */
#define POOL_HOLD_RECHECK_MS 2000 /* conntrack re-read while IPs are held */
#define POOL_FAILING_AFTER 3    /* consecutive failures: "cloud failing" */
/* An -ENOSPC answer is not asked again for the same state for this long:
 * the subnet may get room from elsewhere, but not every second. */
#define POOL_NOSPACE_RETRY_MS 30000

static void deadline_at(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	deadline_at(ts, sl_now_ms() + ms);
}

const char *agent_cloud_call_name(enum agent_cloud_call kind)
{
	static const char *const names[AGENT_CALL_KINDS] = { "assign", "release", "attach", "detach", "list" };

	return kind < AGENT_CALL_KINDS ? names[kind] : "?";
}

const char *agent_pool_block_name(uint8_t block)
{
	switch (block) {
	case AGENT_POOL_INTERFACE_LIMIT: return "interface-limit";
	case AGENT_POOL_SUBNET_EXHAUSTED: return "subnet-exhausted";
	case AGENT_POOL_BUDGET: return "budget";
	case AGENT_POOL_CLOUD_FAILING: return "cloud-failing";
	}
	return "";
}

const char *agent_reconcile_mode_name(uint8_t mode)
{
	return mode == AGENT_RECONCILE_SCHEDULED ? "scheduled" : mode == AGENT_RECONCILE_MANUAL ? "manual" : "immediate";
}

void agent_pool_kick(struct agent *a)
{
	pthread_cond_broadcast(&a->pool_cond);
}

int agent_cloud_call(struct agent *a, enum agent_cloud_call kind)
{
	if (a->cloud_budget && !cloud_budget_take(a->cloud_budget)) {
		__atomic_add_fetch(&a->pool.budget_denied, 1, __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	__atomic_add_fetch(&a->pool.calls[kind], 1, __ATOMIC_RELAXED);
	return 0;
}

/* Lock NOT held: the error is written under it by record_error. */
static void call_failed(struct agent *a, enum agent_cloud_call kind)
{
	__atomic_add_fetch(&a->pool.failed[kind], 1, __ATOMIC_RELAXED);
}

/* Lock held. */
static void record_error(struct agent *a, const char *what, int err)
{
	snprintf(a->last_cloud_error, sizeof(a->last_cloud_error), "%s: %s", what, strerror(-err));
	snprintf(a->pool.last_error, sizeof(a->pool.last_error), "%s", a->last_cloud_error);
	a->pool.last_error_time = (int64_t)time(NULL);
	a->pool.errors_total++;
	a->pool.consecutive_failures++;
}

/* What one step carries between its unlocked call and its apply. */
struct step_io {
	struct ipam_step step;
	struct cloud_iface attached;
	struct ipam_iface adopted;
	struct sl_ip *ips;
	size_t n_ips;
	int detach_ifindex;        /* DETACH: the node side to clean after */
	struct sl_ip detach_primary;
	const char *what;          /* for the error line */
};

static enum agent_cloud_call call_kind(enum ipam_step_kind k)
{
	switch (k) {
	case IPAM_STEP_ASSIGN: return AGENT_CALL_ASSIGN;
	case IPAM_STEP_RELEASE: return AGENT_CALL_RELEASE;
	case IPAM_STEP_ATTACH: return AGENT_CALL_ATTACH;
	case IPAM_STEP_DETACH:
	case IPAM_STEP_NONE: break;
	}
	return AGENT_CALL_DETACH;
}

/* Runs one step's cloud call and node-side work; lock NOT held. The
 * budget's token for it is already taken. */
static int execute(struct agent *a, struct step_io *io)
{
	struct cloud_provider *p = a->cloud;
	const struct ipam_step *step = &io->step;
	int err = 0;

	switch (step->kind) {
	case IPAM_STEP_ASSIGN:
		io->what = "assign IPs";
		err = p->ops->assign_ips(p, step->iface_id, step->count, io->ips, &io->n_ips);
		break;
	case IPAM_STEP_ATTACH:
		io->what = "attach interface";
		err = p->ops->attach_interface(p, &io->attached);
		if (err)
			break;
		memset(&io->adopted, 0, sizeof(io->adopted));
		snprintf(io->adopted.id, sizeof(io->adopted.id), "%s", io->attached.id);
		memcpy(io->adopted.mac, io->attached.mac, 6);
		io->adopted.device_index = io->attached.device_index;
		io->adopted.gateway = io->attached.gateway;
		io->adopted.primary_ip = io->attached.primary_ip;
		err = agent_adopt_eni(a, &io->adopted);
		if (err) {
			/* No half-attached interface: give it back, whatever the
			 * budget says (counted all the same). */
			int derr;

			io->what = "adopt attached interface";
			__atomic_add_fetch(&a->pool.calls[AGENT_CALL_DETACH], 1, __ATOMIC_RELAXED);
			derr = p->ops->detach_interface(p, io->attached.id);
			if (derr) {
				call_failed(a, AGENT_CALL_DETACH);
				pr_err("pool: detach %s after failed adoption: %s", io->attached.id, strerror(-derr));
			}
			return err;
		}
		break;
	case IPAM_STEP_RELEASE:
		io->what = "release IP";
		err = p->ops->unassign_ip(p, step->iface_id, &step->ip);
		break;
	case IPAM_STEP_DETACH:
		io->what = "detach interface";
		err = p->ops->detach_interface(p, step->iface_id);
		break;
	case IPAM_STEP_NONE:
		break;
	}
	if (err)
		call_failed(a, call_kind(step->kind));
	return err;
}

/* Marks what a step takes away as on its way out, so that no ADD gets it
 * while the call runs without the lock; lock held. */
static void reserve(struct agent *a, struct step_io *io)
{
	struct ipam_iface *iface;
	struct ipam_slot *slot;

	switch (io->step.kind) {
	case IPAM_STEP_RELEASE:
		slot = ipam_find_ip(&a->ipam, &io->step.ip, NULL);
		snprintf(slot->owner.container_id, sizeof(slot->owner.container_id), "%s", IPAM_OWNER_RELEASING);
		break;
	case IPAM_STEP_DETACH:
		iface = ipam_iface_find(&a->ipam, io->step.iface_id);
		io->detach_ifindex = iface->ifindex;
		io->detach_primary = iface->primary_ip;
		for (size_t j = 0; j < iface->n_slots; j++)
			snprintf(iface->slots[j].owner.container_id, sizeof(iface->slots[j].owner.container_id), "%s",
				 IPAM_OWNER_RELEASING);
		break;
	default:
		break;
	}
}

/* Applies a step's outcome to the pool; lock held. */
static void apply(struct agent *a, struct step_io *io, int err)
{
	const struct ipam_step *step = &io->step;
	struct ipam_slot *slot;
	struct ipam_iface *iface;
	char buf[SL_IP_STRLEN];

	switch (step->kind) {
	case IPAM_STEP_ASSIGN:
		iface = ipam_iface_find(&a->ipam, step->iface_id);
		for (size_t i = 0; iface && i < io->n_ips; i++)
			ipam_add_ip(&a->ipam, iface, &io->ips[i]);
		if (io->n_ips)
			pr_info("pool: %zu IPs assigned on %s", io->n_ips, step->iface_id);
		break;
	case IPAM_STEP_ATTACH:
		if (err)
			break;
		if (!ipam_add_iface(&a->ipam, &io->attached)) {
			iface = ipam_iface_find(&a->ipam, io->attached.id);
			iface->ifindex = io->adopted.ifindex;
			iface->subnet = io->attached.subnet;
			snprintf(iface->name, sizeof(iface->name), "%s", io->adopted.name);
		}
		pr_info("pool: attached %s as %s", io->attached.id, io->adopted.name);
		break;
	case IPAM_STEP_RELEASE:
		slot = ipam_find_ip(&a->ipam, &step->ip, NULL);
		if (slot)
			memset(&slot->owner, 0, sizeof(slot->owner));
		if (!err) {
			ipam_remove_ip(&a->ipam, &step->ip);
			pr_info("pool: released %s on %s", sl_ip_fmt(&step->ip, buf), step->iface_id);
		}
		break;
	case IPAM_STEP_DETACH:
		iface = ipam_iface_find(&a->ipam, step->iface_id);
		for (size_t j = 0; iface && j < iface->n_slots; j++)
			memset(&iface->slots[j].owner, 0, sizeof(iface->slots[j].owner));
		if (err || !iface)
			break;
		ipam_remove_iface(&a->ipam, step->iface_id);
		/* The netdev left with the attachment; what the maps knew of
		 * it must go too, or a new netdev with its ifindex inherits it. */
		if (io->detach_ifindex)
			maps_eni_del(&a->maps, (__u32)io->detach_ifindex);
		agent_unmap_endpoint(a, &io->detach_primary);
		pr_info("pool: detached %s", step->iface_id);
		break;
	case IPAM_STEP_NONE:
		break;
	}
}

/* --- conntrack-aware reuse ------------------------------------------------- */

struct held_scan {
	struct sl_ip *ips; /* sorted */
	size_t n;
	bool *live;        /* per ips[i] */
	uint64_t now_ns;
};

static int ip_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct sl_ip));
}

static void mark_live(struct held_scan *s, uint8_t family, const __u8 *addr)
{
	struct sl_ip key = { .family = family };
	struct sl_ip *hit;

	memcpy(key.addr, addr, family == SL_FAMILY_IPV4 ? 4 : 16);
	hit = bsearch(&key, s->ips, s->n, sizeof(*s->ips), ip_cmp);
	if (hit)
		s->live[hit - s->ips] = true;
}

static int held_entry(const struct sl_ct_key *k, const struct sl_ct_value *v, void *arg)
{
	struct held_scan *s = arg;

	/* Live as the GC sees it: not closed, not idle past its timeout. */
	if (v->state == SL_CT_CLOSED ||
	    (s->now_ns > v->last_seen_ns && s->now_ns - v->last_seen_ns > ct_gc_timeout_ns(k->proto, v->state)))
		return 0;
	mark_live(s, k->family, k->saddr);
	mark_live(s, k->family, k->daddr);
	return 0;
}

/* Settles the holds of freed IPs with ONE read of sluice_ct for all of them
 * (not one per ADD): an IP stays held while a live entry names it, at most
 * reuse_max_hold_s after it was freed. Lock held; released during the read. */
static void refresh_holds(struct agent *a)
{
	struct held_scan s = { 0 };
	uint64_t start = sl_now_ms(), hold_ms = (uint64_t)a->cfg.reuse_max_hold_s * 1000;
	size_t n = 0;

	for (size_t i = 0; i < a->ipam.n_ifaces; i++)
		for (size_t j = 0; j < a->ipam.ifaces[i].n_slots; j++)
			n += a->ipam.ifaces[i].slots[j].hold != IPAM_HOLD_NONE;
	if (!n)
		return;
	s.ips = calloc(n, sizeof(*s.ips));
	s.live = calloc(n, sizeof(*s.live));
	if (!s.ips || !s.live)
		goto out;
	for (size_t i = 0; i < a->ipam.n_ifaces; i++)
		for (size_t j = 0; j < a->ipam.ifaces[i].n_slots; j++)
			if (a->ipam.ifaces[i].slots[j].hold != IPAM_HOLD_NONE)
				s.ips[s.n++] = a->ipam.ifaces[i].slots[j].ip;
	qsort(s.ips, s.n, sizeof(*s.ips), ip_cmp);
	s.now_ns = sl_now_ns(); /* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	pthread_mutex_unlock(&a->lock);
	if (maps_ct_foreach(&a->maps, held_entry, &s))
		pr_warn("pool: read conntrack for held IPs failed; they stay held");
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->ipam.n_ifaces; i++) {
		for (size_t j = 0; j < a->ipam.ifaces[i].n_slots; j++) {
			struct ipam_slot *slot = &a->ipam.ifaces[i].slots[j];
			struct sl_ip *hit;
			bool live;

			/* Freed while we read: the next turn looks at it. */
			if (slot->hold == IPAM_HOLD_NONE || slot->freed_ms > start)
				continue;
			hit = bsearch(&slot->ip, s.ips, s.n, sizeof(*s.ips), ip_cmp);
			live = hit && s.live[hit - s.ips];
			if (live && start - slot->freed_ms < hold_ms) {
				if (slot->hold != IPAM_HOLD_CT)
					pr_info("pool: %s held: live conntrack entries",
						sl_ip_fmt(&slot->ip, (char[SL_IP_STRLEN]){ 0 }));
				slot->hold = IPAM_HOLD_CT;
			} else {
				if (slot->hold == IPAM_HOLD_CT)
					pr_info("pool: %s reusable again (%s)", sl_ip_fmt(&slot->ip, (char[SL_IP_STRLEN]){ 0 }),
						live ? "held for the longest hold" : "its connections are gone");
				slot->hold = IPAM_HOLD_NONE;
			}
		}
	}
out:
	free(s.ips);
	free(s.live);
}

static bool any_hold(const struct ipam *ipam, uint8_t kind)
{
	for (size_t i = 0; i < ipam->n_ifaces; i++)
		for (size_t j = 0; j < ipam->ifaces[i].n_slots; j++)
			if (ipam->ifaces[i].slots[j].hold == kind)
				return true;
	return false;
}

/* --- the loop ---------------------------------------------------------------- */

struct pool_loop {
	bool started;
	bool active;       /* a pass is under way (more steps to come) */
	bool growth_only;  /* the pass serves waiting ADDs only (scheduled, manual) */
	bool deferred_counted;
	uint64_t serving;  /* request_seq the pass serves */
	bool have_noop;
	uint64_t noop_hash, noop_until;
	uint64_t retry_at; /* backoff or budget: no step before */
	unsigned backoff_ms;
	uint64_t next_sched, next_orphans, next_hold, last_sweep;
};

/* The configuration (flags, or POST /v1/ipam/config) as the pool sees it. */
static void apply_config(struct agent *a)
{
	a->ipam.warm_ip_target = a->cfg.warm_ip_target;
	a->ipam.min_ip_target = a->cfg.min_ip_target;
	a->ipam.warm_eni_target = a->cfg.warm_eni_target;
	a->ipam.release_delay_s = a->cfg.release_delay_s;
	a->ipam.caps.max_interfaces = a->cfg.max_interfaces;
	a->ipam.caps.max_ips_per_interface = a->cfg.max_ips_per_interface;
}

static void on_ready(struct agent *a, struct pool_loop *l, uint64_t now)
{
	/* IPs restored free may have connections of a pod deleted while the
	 * agent was away: checked like just-freed ones. */
	for (size_t i = 0; i < a->ipam.n_ifaces; i++) {
		for (size_t j = 0; j < a->ipam.ifaces[i].n_slots; j++) {
			struct ipam_slot *s = &a->ipam.ifaces[i].slots[j];

			if (!s->owner.container_id[0]) {
				s->hold = IPAM_HOLD_PENDING;
				s->freed_ms = now;
			}
		}
	}
	l->started = true;
	l->next_orphans = now;
	l->next_sched = now + (uint64_t)a->cfg.reconcile_interval_s * 1000;
	/* Start-up is a configuration change: one full pass in every mode. */
	a->pool.request_seq++;
}

/* Ends the pass: waiters for a reconcile learn it is over. */
static void end_pass(struct agent *a, struct pool_loop *l)
{
	l->active = false;
	l->growth_only = false;
	l->deferred_counted = false;
	if (l->serving > a->pool.done_seq)
		a->pool.done_seq = l->serving;
	l->serving = 0;
}

/* Is a pass due now, and what kind? */
static bool pass_due(struct agent *a, struct pool_loop *l, uint64_t now)
{
	bool waiting = a->pool_waiters && !ipam_allocatable(&a->ipam);

	if (l->active)
		return true;
	if (a->pool.request_seq > a->pool.done_seq) {
		l->serving = a->pool.request_seq;
		return true;
	}
	switch (a->cfg.reconcile_mode) {
	case AGENT_RECONCILE_SCHEDULED:
		if (now >= l->next_sched) {
			l->next_sched = now + (uint64_t)(a->cfg.reconcile_interval_s ? a->cfg.reconcile_interval_s : 1) * 1000;
			return true;
		}
		break;
	case AGENT_RECONCILE_MANUAL:
		break;
	default:
		return true; /* every pod event wakes us: every turn is a pass */
	}
	/* A pod must not fail because of a mode: an ADD that finds nothing
	 * free gets the one pass it needs, growth only. */
	if (waiting) {
		l->growth_only = true;
		return true;
	}
	return false;
}

static void backoff(struct pool_loop *l, uint64_t now)
{
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : POOL_BACKOFF_MIN_MS;
	if (l->backoff_ms > POOL_BACKOFF_MAX_MS)
		l->backoff_ms = POOL_BACKOFF_MAX_MS;
	l->retry_at = now + l->backoff_ms;
}

/* One step of a pass; lock held, released around the cloud call. */
static void pass_step(struct agent *a, struct pool_loop *l, struct sl_ip *ips)
{
	uint64_t now = sl_now_ms(), hash;
	struct step_io io = { .ips = ips };
	bool short_now;
	int err;

	hash = ipam_state_hash(&a->ipam, a->pool_waiters, now);
	a->pool.last_hash = hash;
	if (!l->active) {
		a->pool.passes++;
		if (l->have_noop && hash == l->noop_hash && (!l->noop_until || now < l->noop_until)) {
			/* Nothing changed since a pass that needed no call. */
			a->pool.passes_unchanged++;
			end_pass(a, l);
			return;
		}
		l->active = true;
	}
	ipam_plan(&a->ipam, a->pool_waiters, now, &io.step);
	if (io.step.kind == IPAM_STEP_NONE) {
		struct ipam_counts c;

		/* The plan stops short of the targets only at the limits. */
		ipam_count(&a->ipam, &c);
		a->pool.block = c.free - c.held < ipam_desired_free(&a->ipam, a->pool_waiters)
					? AGENT_POOL_INTERFACE_LIMIT
					: AGENT_POOL_OK;
	}
	if (l->growth_only && (io.step.kind == IPAM_STEP_RELEASE || io.step.kind == IPAM_STEP_DETACH))
		io.step.kind = IPAM_STEP_NONE;
	if (l->growth_only && ipam_allocatable(&a->ipam))
		io.step.kind = IPAM_STEP_NONE; /* the waiters are served */
	if (io.step.kind == IPAM_STEP_ASSIGN && io.step.count > POOL_ASSIGN_MAX)
		io.step.count = POOL_ASSIGN_MAX;
	if (io.step.kind == IPAM_STEP_NONE) {
		short_now = ipam_allocatable(&a->ipam) == 0 &&
			    ipam_desired_free(&a->ipam, a->pool_waiters) > 0;
		a->pool_stuck = short_now && !any_hold(&a->ipam, IPAM_HOLD_PENDING);
		if (!l->growth_only) {
			l->have_noop = true;
			l->noop_hash = ipam_state_hash(&a->ipam, a->pool_waiters, now);
			l->noop_until = 0;
		}
		end_pass(a, l);
		return;
	}
	if (now < l->retry_at)
		return; /* backing off; the pass stays under way */
	if (agent_cloud_call(a, call_kind(io.step.kind))) {
		/* The budget is spent: put the pass off until a token is back,
		 * visibly, rather than fail a call the cloud never saw. */
		double rate = a->cfg.cloud_calls_per_s;

		if (!l->deferred_counted) {
			a->pool.deferred_passes++;
			l->deferred_counted = true;
			pr_warn("pool: cloud-call budget spent; %s put off", ipam_step_name(io.step.kind));
		}
		a->pool.block = AGENT_POOL_BUDGET;
		l->retry_at = now + (rate > 0 ? (uint64_t)(1000.0 / rate) + 1 : POOL_IDLE_MS);
		/* A reconcile asked for is answered: it shows the deferral. */
		if (l->serving > a->pool.done_seq)
			a->pool.done_seq = l->serving;
		return;
	}
	l->deferred_counted = false;
	reserve(a, &io);
	pthread_mutex_unlock(&a->lock);
	err = execute(a, &io);
	pthread_mutex_lock(&a->lock);
	apply(a, &io, err);
	free(io.attached.ips);
	if (!err) {
		a->last_cloud_error[0] = '\0';
		a->pool_stuck = false;
		a->pool.block = AGENT_POOL_OK;
		a->pool.consecutive_failures = 0;
		l->backoff_ms = 0;
		l->retry_at = 0;
		err = agent_checkpoint(a);
		if (err)
			pr_err("pool: checkpoint after %s: %s", ipam_step_name(io.step.kind), strerror(-err));
		return;
	}
	record_error(a, io.what, err);
	if (err == -ENOSPC) {
		/* A limit of the cloud, not a fault: stop asking for this
		 * state until something changes (a DEL, a new target) or a
		 * while has passed. */
		a->pool.block = AGENT_POOL_SUBNET_EXHAUSTED;
		a->pool_stuck = ipam_allocatable(&a->ipam) == 0;
		l->have_noop = true;
		l->noop_hash = hash;
		l->noop_until = now + POOL_NOSPACE_RETRY_MS;
		pr_warn("pool: %s; not asked again before something changes", a->last_cloud_error);
		end_pass(a, l);
		return;
	}
	if (a->pool.consecutive_failures >= POOL_FAILING_AFTER)
		a->pool.block = AGENT_POOL_CLOUD_FAILING;
	backoff(l, now);
	pr_warn("pool: %s; next try in %u ms", a->last_cloud_error, l->backoff_ms);
}

static uint64_t next_wake(struct agent *a, struct pool_loop *l, uint64_t now)
{
	uint64_t t = now + POOL_IDLE_MS;

#define SOONER(x)                         \
	do {                              \
		if ((x) > now && (x) < t) \
			t = (x);          \
	} while (0)
	if (l->active)
		t = l->retry_at > now ? l->retry_at : now;
	if (a->cfg.orphan_interval_s)
		SOONER(l->next_orphans);
	if (any_hold(&a->ipam, IPAM_HOLD_CT))
		SOONER(l->next_hold);
	if (a->cfg.reconcile_mode == AGENT_RECONCILE_SCHEDULED)
		SOONER(l->next_sched);
	else if (a->cfg.reconcile_mode == AGENT_RECONCILE_IMMEDIATE && a->ipam.excess_since_ms)
		SOONER(a->ipam.excess_since_ms + (uint64_t)a->cfg.release_delay_s * 1000 + 1);
#undef SOONER
	return t;
}

static void *pool_main(void *arg)
{
	struct agent *a = arg;
	struct sl_ip *ips = calloc(POOL_ASSIGN_MAX, sizeof(*ips));
	struct pool_loop l = { 0 };

	pthread_mutex_lock(&a->lock);
	while (!a->stopping && ips) {
		struct timespec ts;
		uint64_t now;

		if (!a->ready) {
			deadline_in(&ts, 100);
			pthread_cond_timedwait(&a->pool_cond, &a->lock, &ts);
			continue;
		}
		now = sl_now_ms();
		if (!l.started)
			on_ready(a, &l, now);
		apply_config(a);
		if (now >= l.next_orphans && (a->cfg.orphan_interval_s || l.next_orphans)) {
			int err;

			l.next_orphans = a->cfg.orphan_interval_s ? now + (uint64_t)a->cfg.orphan_interval_s * 1000 : 0;
			pthread_mutex_unlock(&a->lock);
			err = agent_orphans_reconcile(a);
			pthread_mutex_lock(&a->lock);
			if (err)
				pr_warn("pool: orphan reconcile: %s", strerror(-err));
			continue;
		}
		/* Off the ADD path: at most one sweep per POOL_SWEEP_MS. */
		if (now - l.last_sweep >= POOL_SWEEP_MS) {
			agent_sweep_gone_endpoints(a);
			l.last_sweep = now;
		}
		if (any_hold(&a->ipam, IPAM_HOLD_PENDING) || (any_hold(&a->ipam, IPAM_HOLD_CT) && now >= l.next_hold)) {
			refresh_holds(a);
			l.next_hold = now + POOL_HOLD_RECHECK_MS;
			pthread_cond_broadcast(&a->pool_cond);
			if (a->stopping)
				break;
		}
		now = sl_now_ms();
		ipam_tick(&a->ipam, a->pool_waiters, now);
		if (pass_due(a, &l, now))
			pass_step(a, &l, ips);
		a->pool_gen++;
		pthread_cond_broadcast(&a->pool_cond);
		if (a->stopping)
			break;
		/* More steps of a pass under way: go on at once (or after the
		 * backoff); otherwise sleep until a kick or the next deadline. */
		now = sl_now_ms();
		if (l.active && l.retry_at <= now)
			continue;
		deadline_at(&ts, next_wake(a, &l, now));
		pthread_cond_timedwait(&a->pool_cond, &a->lock, &ts);
	}
	pthread_mutex_unlock(&a->lock);
	free(ips);
	return NULL;
}

int agent_pool_start(struct agent *a)
{
	pthread_condattr_t attr;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->pool_cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Freed IPs wait for the conntrack check (ipam_release stamps them). */
	a->ipam.clock_ms = sl_now_ms;
	apply_config(a);
	err = pthread_create(&a->pool_thread, NULL, pool_main, a);
	return -err;
}

void agent_pool_stop(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->pool_cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->pool_thread, NULL);
}

int agent_pool_wait_for_ip(struct agent *a)
{
	struct timespec deadline;
	unsigned gen0 = a->pool_gen;
	int err = 0;

	deadline_in(&deadline, a->cfg.add_wait_ms);
	a->pool_waiters++;
	pthread_cond_broadcast(&a->pool_cond);
	while (!ipam_allocatable(&a->ipam)) {
		/* Stuck after at least one controller turn since we asked: no
		 * cloud call can help, fail now rather than at the deadline. */
		if (a->pool_stuck && a->pool_gen != gen0) {
			err = -ENOSPC;
			break;
		}
		if (a->stopping) {
			err = -ESHUTDOWN;
			break;
		}
		if (pthread_cond_timedwait(&a->pool_cond, &a->lock, &deadline) == ETIMEDOUT) {
			err = ipam_allocatable(&a->ipam) ? 0 : -ETIMEDOUT;
			break;
		}
	}
	a->pool_waiters--;
	return err;
}

/* --- runtime configuration ---------------------------------------------------- */

struct knob {
	const char *key;
	size_t off;
	unsigned max;
};

#define KNOB(k, field, mx) { k, offsetof(struct agent_config, field), mx }
static const struct knob knobs[] = {
	KNOB("warmIPTarget", warm_ip_target, 4096),
	KNOB("minIPTarget", min_ip_target, 4096),
	KNOB("warmENITarget", warm_eni_target, 64),
	KNOB("maxInterfaces", max_interfaces, 256),
	KNOB("maxIPsPerInterface", max_ips_per_interface, 4096),
	KNOB("releaseDelaySeconds", release_delay_s, 86400),
	KNOB("reuseMaxHoldSeconds", reuse_max_hold_s, 86400),
	KNOB("reconcileIntervalSeconds", reconcile_interval_s, 86400),
};

int agent_pool_configure(struct agent *a, json_t *body, char *why, size_t why_len)
{
	unsigned vals[sizeof(knobs) / sizeof(knobs[0])];
	bool set[sizeof(knobs) / sizeof(knobs[0])] = { 0 };
	int mode = -1;
	const char *key;
	json_t *v;

	if (!json_is_object(body)) {
		snprintf(why, why_len, "the body must be a JSON object");
		return -EINVAL;
	}
	/* Everything checked before anything changes. */
	json_object_foreach(body, key, v) {
		size_t i;

		if (!strcmp(key, "mode")) {
			const char *m = json_string_value(v);

			mode = !m ? -2
			     : !strcmp(m, "immediate") ? AGENT_RECONCILE_IMMEDIATE
			     : !strcmp(m, "scheduled") ? AGENT_RECONCILE_SCHEDULED
			     : !strcmp(m, "manual")    ? AGENT_RECONCILE_MANUAL
						       : -2;
			if (mode == -2) {
				snprintf(why, why_len, "mode must be immediate, scheduled or manual");
				return -EINVAL;
			}
			continue;
		}
		for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
			if (!strcmp(key, knobs[i].key))
				break;
		if (i == sizeof(knobs) / sizeof(knobs[0])) {
			snprintf(why, why_len, "unknown key %s", key);
			return -EINVAL;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > knobs[i].max) {
			snprintf(why, why_len, "%s must be an integer 0..%u", key, knobs[i].max);
			return -EINVAL;
		}
		vals[i] = (unsigned)json_integer_value(v);
		set[i] = true;
	}
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		if (set[i])
			*(unsigned *)((char *)&a->cfg + knobs[i].off) = vals[i];
	}
	if (mode >= 0)
		a->cfg.reconcile_mode = (uint8_t)mode;
	apply_config(a);
	a->pool.request_seq++;
	pthread_cond_broadcast(&a->pool_cond);
	pthread_mutex_unlock(&a->lock);
	pr_info("pool: configuration changed through the API");
	return 0;
}

int agent_pool_reconcile_now(struct agent *a, unsigned wait_ms)
{
	struct timespec deadline;
	uint64_t seq;
	int err = 0;

	deadline_in(&deadline, wait_ms);
	pthread_mutex_lock(&a->lock);
	seq = ++a->pool.request_seq;
	pthread_cond_broadcast(&a->pool_cond);
	while (a->pool.done_seq < seq && !a->stopping) {
		if (pthread_cond_timedwait(&a->pool_cond, &a->lock, &deadline) == ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return err;
}
