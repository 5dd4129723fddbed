// SPDX-License-Identifier: Apache-2.0
/*
 * The warm-pool controller: one thread that asks ipam_plan what the pool
 * needs, makes that cloud call WITHOUT the agent lock (a real cloud takes
 * seconds), and applies the answer under the lock. ADDs that find no free IP
 * wait on pool_cond; failures back off exponentially and are shown in
 * `sluicectl ipam show` and STATUS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/log.h"

#define POOL_IDLE_MS 10000     /* periodic pass even without kicks */
#define POOL_BACKOFF_MIN_MS 200
#define POOL_BACKOFF_MAX_MS 30000
#define POOL_ASSIGN_MAX 16     /* IPs per assign call */
#define POOL_SWEEP_MS 10000    /* how often gone endpoints are looked for */

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void agent_pool_kick(struct agent *a)
{
	pthread_cond_broadcast(&a->pool_cond);
}

static void set_cloud_error(struct agent *a, const char *what, int err)
{
	snprintf(a->last_cloud_error, sizeof(a->last_cloud_error), "%s: %s", what, strerror(-err));
}

/* Runs one step's cloud call and node-side work; lock NOT held. */
static int execute(struct agent *a, const struct ipam_step *step, struct cloud_iface *attached,
		   struct ipam_iface *adopted, struct sl_ip *ips, size_t *n_ips)
{
	struct cloud_provider *p = a->cloud;
	int err;

	switch (step->kind) {
	case IPAM_STEP_ASSIGN:
		err = p->ops->assign_ips(p, step->iface_id, step->count, ips, n_ips);
		if (err)
			set_cloud_error(a, "assign IPs", err);
		return err;
	case IPAM_STEP_ATTACH:
		err = p->ops->attach_interface(p, attached);
		if (err) {
			set_cloud_error(a, "attach interface", err);
			return err;
		}
		memset(adopted, 0, sizeof(*adopted));
		snprintf(adopted->id, sizeof(adopted->id), "%s", attached->id);
		memcpy(adopted->mac, attached->mac, 6);
		adopted->device_index = attached->device_index;
		adopted->gateway = attached->gateway;
		adopted->primary_ip = attached->primary_ip;
		err = agent_adopt_eni(a, adopted);
		if (err) {
			/* No half-attached interface: give it back. */
			int derr = p->ops->detach_interface(p, attached->id);

			set_cloud_error(a, "adopt attached interface", err);
			if (derr)
				pr_err("pool: detach %s after failed adoption: %s", attached->id,
				       strerror(-derr));
		}
		return err;
	case IPAM_STEP_RELEASE:
		err = p->ops->unassign_ip(p, step->iface_id, &step->ip);
		if (err)
			set_cloud_error(a, "release IP", err);
		return err;
	case IPAM_STEP_NONE:
		break;
	}
	return 0;
}

/* Applies a step's outcome to the pool; lock held. */
static void apply(struct agent *a, const struct ipam_step *step, int err, const struct cloud_iface *attached,
		  const struct ipam_iface *adopted, const struct sl_ip *ips, size_t n_ips)
{
	struct ipam_slot *slot;
	struct ipam_iface *iface;
	char buf[SL_IP_STRLEN];

	switch (step->kind) {
	case IPAM_STEP_ASSIGN:
		iface = ipam_iface_find(&a->ipam, step->iface_id);
		for (size_t i = 0; iface && i < n_ips; i++)
			ipam_add_ip(&a->ipam, iface, &ips[i]);
		if (n_ips)
			pr_info("pool: %zu IPs assigned on %s", n_ips, step->iface_id);
		break;
	case IPAM_STEP_ATTACH:
		if (err)
			break;
		if (!ipam_add_iface(&a->ipam, attached)) {
			iface = ipam_iface_find(&a->ipam, attached->id);
			iface->ifindex = adopted->ifindex;
			iface->subnet = attached->subnet;
			snprintf(iface->name, sizeof(iface->name), "%s", adopted->name);
		}
		pr_info("pool: attached %s as %s", attached->id, adopted->name);
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
	case IPAM_STEP_NONE:
		break;
	}
}

static void *pool_main(void *arg)
{
	struct agent *a = arg;
	unsigned backoff_ms = 0;
	struct sl_ip *ips = calloc(POOL_ASSIGN_MAX, sizeof(*ips));
	struct timespec last_sweep = { 0 };

	pthread_mutex_lock(&a->lock);
	while (!a->stopping && ips) {
		struct cloud_iface attached = { 0 };
		struct ipam_iface adopted = { 0 };
		struct ipam_step step;
		struct ipam_slot *slot;
		struct timespec ts;
		size_t n_ips = 0;
		int err;

		if (!a->ready) {
			deadline_in(&ts, 100);
			pthread_cond_timedwait(&a->pool_cond, &a->lock, &ts);
			continue;
		}
		/* Off the ADD path: at most one sweep per POOL_SWEEP_MS. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((ts.tv_sec - last_sweep.tv_sec) * 1000 + (ts.tv_nsec - last_sweep.tv_nsec) / 1000000 >=
		    POOL_SWEEP_MS) {
			agent_sweep_gone_endpoints(a);
			last_sweep = ts;
		}
		ipam_plan(&a->ipam, a->pool_waiters, &step);
		if (step.kind == IPAM_STEP_ASSIGN && step.count > POOL_ASSIGN_MAX)
			step.count = POOL_ASSIGN_MAX;
		if (step.kind == IPAM_STEP_NONE) {
			a->pool_stuck = ipam_allocatable(&a->ipam) == 0;
			a->pool_gen++;
			pthread_cond_broadcast(&a->pool_cond);
			deadline_in(&ts, POOL_IDLE_MS);
			pthread_cond_timedwait(&a->pool_cond, &a->lock, &ts);
			continue;
		}
		if (step.kind == IPAM_STEP_RELEASE) {
			slot = ipam_find_ip(&a->ipam, &step.ip, NULL);
			snprintf(slot->owner.container_id, sizeof(slot->owner.container_id), "%s",
				 IPAM_OWNER_RELEASING);
		}
		pthread_mutex_unlock(&a->lock);
		err = execute(a, &step, &attached, &adopted, ips, &n_ips);
		pthread_mutex_lock(&a->lock);
		apply(a, &step, err, &attached, &adopted, ips, n_ips);
		free(attached.ips);
		if (!err) {
			a->last_cloud_error[0] = '\0';
			a->pool_stuck = false;
			backoff_ms = 0;
			err = agent_checkpoint(a);
		}
		a->pool_gen++;
		pthread_cond_broadcast(&a->pool_cond);
		if (err) {
			/* -ENOSPC from the cloud is a limit, not a fault: stop asking
			 * until something changes (a DEL, a kick). */
			if (err == -ENOSPC)
				a->pool_stuck = ipam_allocatable(&a->ipam) == 0;
			backoff_ms = backoff_ms ? backoff_ms * 2 : POOL_BACKOFF_MIN_MS;
			if (backoff_ms > POOL_BACKOFF_MAX_MS)
				backoff_ms = POOL_BACKOFF_MAX_MS;
			pr_warn("pool: %s; next try in %u ms", a->last_cloud_error, backoff_ms);
			deadline_in(&ts, backoff_ms);
			while (!a->stopping && pthread_cond_timedwait(&a->pool_cond, &a->lock, &ts) == 0)
				;
		}
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
		/* Stuck after at least one controller pass since we asked: no
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
