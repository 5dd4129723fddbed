// SPDX-License-Identifier: Apache-2.0
/*
 * Orphan interfaces: what the cloud, the pool and the node disagree on.
 *
 * The cloud is the truth for which interfaces and IPs exist; the pool must
 * hold exactly the IPs the cloud assigned to Sluice's interfaces, and every
 * interface Sluice attached must either serve the pool or be given back.
 * Differences come from a crash between a cloud call and the checkpoint, a
 * detach that failed after a failed adoption, or an operator (or another
 * controller) changing the cloud behind the agent's back. One pass:
 *
 *   cloud lists it, Sluice's, pool does not know it
 *       netdev on the node -> adopt it again (its IPs join the pool free,
 *                             those a checkpointed endpoint holds claimed)
 *       no netdev          -> detach it in the cloud (nothing can use it),
 *                             when two passes in a row found it so
 *   pool knows it, cloud does not list it
 *       -> forget it: its free IPs go; IPs pods still hold stay with their
 *          pods (logged loudly) and the interface is "lost" until they go
 *   both know it: cloud IPs the pool lacks are added free; free pool IPs the
 *       cloud no longer lists are dropped; a pool interface whose netdev was
 *       never adopted is adopted when its netdev is there
 *
 * The primary interface and anything Sluice did not attach (cloud_iface.
 * sluice_owned false) are never looked at. Cloud calls are made without the
 * agent lock, one budget token each; the lock is taken to compare and apply.
 * The caller is the pool controller thread, so no pool step (attach, assign,
 * release) is in flight while a pass runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/log.h"
#include "netlink/nl.h"

/* Sluice interfaces seen unknown and without a netdev by the last pass. A
 * netdev can take seconds to appear after the cloud reports the attach (a
 * hot-plug, a slow hypervisor), so such an interface is detached only when
 * a second pass finds it in the same state. Only the pool controller thread
 * runs passes: no lock needed. */
#define SUSPECTS_MAX 64
static char suspects[SUSPECTS_MAX][CLOUD_ID_LEN], next_suspects[SUSPECTS_MAX][CLOUD_ID_LEN];
static unsigned n_suspects, n_next_suspects;

static bool was_suspect(const char *id)
{
	for (unsigned i = 0; i < n_suspects; i++) {
		if (!strcmp(suspects[i], id))
			return true;
	}
	return false;
}

static bool owner_free(const struct ipam_owner *o)
{
	return o->container_id[0] == '\0';
}

static bool cloud_has_ip(const struct cloud_iface *c, const struct sl_ip *ip)
{
	for (size_t i = 0; i < c->n_ips; i++) {
		if (sl_ip_equal(&c->ips[i], ip))
			return true;
	}
	return false;
}

static const struct cloud_iface *cloud_find(const struct cloud_iface *cloud, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(cloud[i].id, id))
			return &cloud[i];
	}
	return NULL;
}

bool agent_iface_lost(const struct agent *a, const char *iface_id)
{
	for (unsigned i = 0; i < a->orphans.n_lost; i++) {
		if (!strcmp(a->orphans.lost_ifaces[i].id, iface_id))
			return true;
	}
	return false;
}

/* Takes a token of the cloud-call budget for one provider call (and counts
 * the call with the pool's); false (and the pass stops its cloud work) when
 * the budget is spent: the next pass finishes the job. */
static bool take_token(struct agent *a, enum agent_cloud_call kind)
{
	if (agent_cloud_call(a, kind) == 0)
		return true;
	pr_warn("orphans: cloud-call budget spent; the rest waits for the next pass");
	return false;
}

/* What Sluice did on the node for an interface it no longer has: the netdev
 * (if the cloud left it) is no ENI of Sluice's now. */
static void undo_node_side(struct agent *a, int ifindex, const struct sl_ip *primary_ip)
{
	if (ifindex) {
		loader_detach(ifindex);
		maps_eni_del(&a->maps, (__u32)ifindex);
	}
	agent_unmap_endpoint(a, primary_ip);
}

static bool endpoint_on(const struct agent *a, const char *iface_id)
{
	for (size_t i = 0; i < a->n_endpoints; i++) {
		if (!strcmp(a->endpoints[i].eni_id, iface_id))
			return true;
	}
	return false;
}

static void lost_remove(struct agent *a, unsigned i)
{
	struct agent_orphan_stats *s = &a->orphans;

	memmove(&s->lost_ifaces[i], &s->lost_ifaces[i + 1], (s->n_lost - i - 1) * sizeof(s->lost_ifaces[0]));
	s->n_lost--;
}

/* Lost interfaces whose last pod went: forgotten for good (lock held). */
static void sweep_lost(struct agent *a)
{
	struct agent_orphan_stats *s = &a->orphans;

	for (unsigned i = s->n_lost; i-- > 0;) {
		struct agent_lost_iface *l = &s->lost_ifaces[i];

		if (endpoint_on(a, l->id))
			continue;
		pr_warn("orphans: the last pod on lost interface %s is gone: forgotten", l->id);
		undo_node_side(a, l->ifindex, &l->primary_ip);
		s->forgotten++;
		lost_remove(a, i);
	}
}

/* The pool's interface at i is no longer Sluice's in the cloud (lock held).
 * The pool mirrors the cloud, so it goes from the pool in any case; pods
 * holding IPs on it keep their endpoints, and the interface is remembered
 * as lost until they are gone. */
static void forget_iface(struct agent *a, size_t i)
{
	struct ipam_iface *iface = &a->ipam.ifaces[i];
	struct agent_lost_iface lost = { .ifindex = iface->ifindex, .primary_ip = iface->primary_ip };
	char buf[SL_IP_STRLEN];
	unsigned used = 0;
	int err;

	snprintf(lost.id, sizeof(lost.id), "%s", iface->id);
	snprintf(lost.name, sizeof(lost.name), "%s", iface->name);
	memcpy(lost.mac, iface->mac, 6);
	for (size_t j = iface->n_slots; j-- > 0;) {
		struct ipam_slot *s = &iface->slots[j];

		if (owner_free(&s->owner)) {
			a->orphans.ips_dropped++;
			continue;
		}
		used++;
		pr_err("orphans: interface %s is no longer Sluice's in the cloud, but %s/%s still holds %s on it: "
		       "the pod keeps its endpoint and likely has no network until it is deleted",
		       lost.id, s->owner.container_id, s->owner.ifname, sl_ip_fmt(&s->ip, buf));
		ipam_release(&a->ipam, &s->owner, NULL);
	}
	err = ipam_remove_iface(&a->ipam, lost.id);
	if (err) {
		pr_err("orphans: remove %s from the pool: %s", lost.id, strerror(-err));
		return;
	}
	if (!used) {
		pr_warn("orphans: forgot interface %s: the cloud no longer lists it as Sluice's", lost.id);
		undo_node_side(a, lost.ifindex, &lost.primary_ip);
		a->orphans.forgotten++;
		return;
	}
	a->orphans.lost++;
	if (a->orphans.n_lost < AGENT_LOST_MAX && !agent_iface_lost(a, lost.id))
		a->orphans.lost_ifaces[a->orphans.n_lost++] = lost;
}

/* Brings the IPs of a known interface in line with the cloud's (lock held). */
static bool settle_ips(struct agent *a, struct ipam_iface *iface, const struct cloud_iface *c)
{
	char buf[SL_IP_STRLEN];
	bool changed = false;
	int err;

	for (size_t i = 0; i < c->n_ips; i++) {
		if (sl_ip_equal(&c->ips[i], &iface->primary_ip) || ipam_find_ip(&a->ipam, &c->ips[i], NULL))
			continue;
		err = ipam_add_ip(&a->ipam, iface, &c->ips[i]);
		if (err) {
			pr_err("orphans: add %s of %s to the pool: %s", sl_ip_fmt(&c->ips[i], buf), iface->id,
			       strerror(-err));
			continue;
		}
		pr_info("orphans: %s on %s is assigned in the cloud: added to the pool", sl_ip_fmt(&c->ips[i], buf),
			iface->id);
		a->orphans.ips_added++;
		changed = true;
	}
	for (size_t j = iface->n_slots; j-- > 0;) {
		struct ipam_slot *s = &iface->slots[j];

		if (cloud_has_ip(c, &s->ip))
			continue;
		if (!owner_free(&s->owner)) {
			if (strcmp(s->owner.container_id, IPAM_OWNER_RELEASING))
				pr_err("orphans: the cloud no longer assigns %s (held by %s/%s) to %s",
				       sl_ip_fmt(&s->ip, buf), s->owner.container_id, s->owner.ifname, iface->id);
			continue;
		}
		pr_info("orphans: %s is no longer assigned to %s in the cloud: dropped from the pool",
			sl_ip_fmt(&s->ip, buf), iface->id);
		ipam_remove_ip(&a->ipam, &s->ip);
		a->orphans.ips_dropped++;
		changed = true;
	}
	return changed;
}

/* An interface now adopted on the node joins the pool: its IPs free, except
 * those checkpointed endpoints hold (lock held). */
static int join_pool(struct agent *a, const struct cloud_iface *c, const struct ipam_iface *adopted)
{
	struct ipam_iface *iface = ipam_iface_find(&a->ipam, c->id);
	int err;

	if (!iface) {
		err = ipam_add_iface(&a->ipam, c);
		if (err)
			return err;
		iface = ipam_iface_find(&a->ipam, c->id);
	}
	/* Listed again (a cloud that answered wrongly for a while): it is
	 * the pool's again, and its node side must stay. */
	for (unsigned i = 0; i < a->orphans.n_lost; i++) {
		if (!strcmp(a->orphans.lost_ifaces[i].id, c->id)) {
			lost_remove(a, i);
			break;
		}
	}
	iface->ifindex = adopted->ifindex;
	iface->subnet = c->subnet;
	snprintf(iface->name, sizeof(iface->name), "%s", adopted->name);
	for (size_t i = 0; i < a->n_endpoints; i++) {
		struct endpoint *ep = &a->endpoints[i];
		struct ipam_iface *owner = NULL;

		if (!ipam_find_ip(&a->ipam, &ep->ip, &owner) || owner != iface)
			continue;
		ipam_claim(&a->ipam, &ep->ip, &ep->key);
		ep->eni_ifindex = iface->ifindex;
		snprintf(ep->eni_id, sizeof(ep->eni_id), "%s", iface->id);
		if (ep->host_ifindex)
			agent_map_endpoint(a, ep);
	}
	return 0;
}

static void iface_from_cloud(struct ipam_iface *out, const struct cloud_iface *c)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", c->id);
	memcpy(out->mac, c->mac, 6);
	out->device_index = c->device_index;
	out->gateway = c->gateway;
	out->primary_ip = c->primary_ip;
	out->subnet = c->subnet;
}

/* A Sluice interface the pool does not use (unknown, or known but never
 * adopted): adopt it if its netdev is on the node; an unknown one without
 * a netdev is detached in the cloud. Lock NOT held. Returns true when the
 * pool changed. */
static bool settle_unused(struct agent *a, struct nl_sock *nl, const struct cloud_iface *c, bool known,
			  bool *budget_ok, bool *failed)
{
	struct ipam_iface adopted;
	struct nl_link l;
	char mac[SL_MAC_STRLEN];
	bool changed = false;
	int err;

	if (nl_link_find_by_mac(nl, c->mac, &l) == 0) {
		iface_from_cloud(&adopted, c);
		err = agent_adopt_eni(a, &adopted);
		if (!err) {
			pthread_mutex_lock(&a->lock);
			err = join_pool(a, c, &adopted);
			if (!err) {
				pr_warn("orphans: %s interface %s (%s) adopted as %s", known ? "pending" : "unknown",
					c->id, sl_mac_fmt(c->mac, mac), adopted.name);
				a->orphans.readopted++;
				changed = true;
			} else {
				pr_err("orphans: add %s to the pool: %s", c->id, strerror(-err));
			}
			pthread_mutex_unlock(&a->lock);
			if (!err)
				return changed;
		}
	}
	/* A known interface keeps waiting for its netdev: the pool counts it,
	 * and the cloud may still be plugging it in. */
	if (known || !*budget_ok)
		return false;
	if (!was_suspect(c->id)) {
		if (n_next_suspects < SUSPECTS_MAX)
			snprintf(next_suspects[n_next_suspects++], CLOUD_ID_LEN, "%s", c->id);
		pr_info("orphans: %s (%s) is Sluice's but unknown to the pool and has no netdev yet: "
			"detached if the next pass finds it so", c->id, sl_mac_fmt(c->mac, mac));
		return false;
	}
	if (!take_token(a, AGENT_CALL_DETACH)) {
		*budget_ok = false;
		return false;
	}
	err = a->cloud->ops->detach_interface(a->cloud, c->id);
	pthread_mutex_lock(&a->lock);
	if (!err || err == -ENOENT) {
		pr_warn("orphans: detached %s (%s): Sluice's, unknown to the pool, no netdev on the node", c->id,
			sl_mac_fmt(c->mac, mac));
		a->orphans.detached++;
	} else {
		pr_err("orphans: detach %s: %s", c->id, strerror(-err));
		*failed = true;
		snprintf(a->orphans.last_error, sizeof(a->orphans.last_error), "detach %s: %s", c->id,
			 strerror(-err));
	}
	pthread_mutex_unlock(&a->lock);
	return false;
}

int agent_orphans_reconcile(struct agent *a)
{
	struct cloud_iface *cloud = NULL;
	struct nl_sock *nl = NULL;
	bool *unused = NULL, *known = NULL, changed = false, budget_ok = true, failed = false;
	size_t n = 0;
	int err;

	if (!take_token(a, AGENT_CALL_LIST)) {
		err = -EAGAIN;
		goto done;
	}
	err = a->cloud->ops->list_interfaces(a->cloud, &cloud, &n);
	if (err) {
		pr_err("orphans: list the cloud's interfaces: %s", strerror(-err));
		goto done;
	}
	unused = calloc(n + 1, sizeof(*unused));
	known = calloc(n + 1, sizeof(*known));
	if (!unused || !known) {
		err = -ENOMEM;
		goto done;
	}

	pthread_mutex_lock(&a->lock);
	for (size_t i = a->ipam.n_ifaces; i-- > 0;) {
		const struct cloud_iface *c = cloud_find(cloud, n, a->ipam.ifaces[i].id);

		if (!c || !c->sluice_owned) {
			forget_iface(a, i);
			changed = true;
		}
	}
	sweep_lost(a);
	for (size_t i = 0; i < n; i++) {
		struct ipam_iface *iface;

		if (cloud[i].primary || !cloud[i].sluice_owned)
			continue;
		iface = ipam_iface_find(&a->ipam, cloud[i].id);
		if (iface)
			changed |= settle_ips(a, iface, &cloud[i]);
		known[i] = iface != NULL;
		unused[i] = !iface || !iface->ifindex;
	}
	pthread_mutex_unlock(&a->lock);

	err = nl_open(&nl);
	if (err) {
		pr_err("orphans: netlink: %s", strerror(-err));
		goto done;
	}
	n_next_suspects = 0;
	for (size_t i = 0; i < n; i++) {
		if (unused[i])
			changed |= settle_unused(a, nl, &cloud[i], known[i], &budget_ok, &failed);
	}
	memcpy(suspects, next_suspects, sizeof(suspects[0]) * n_next_suspects);
	n_suspects = n_next_suspects;
done:
	nl_close(nl);
	pthread_mutex_lock(&a->lock);
	if (err) {
		a->orphans.failed++;
		snprintf(a->orphans.last_error, sizeof(a->orphans.last_error), "%s",
			 err == -EAGAIN ? "cloud-call budget spent" : strerror(-err));
	} else {
		a->orphans.passes++;
		a->orphans.last_pass_time = (int64_t)time(NULL);
		if (!budget_ok)
			snprintf(a->orphans.last_error, sizeof(a->orphans.last_error), "cloud-call budget spent");
		else if (!failed)
			a->orphans.last_error[0] = '\0';
	}
	if (changed) {
		agent_checkpoint(a);
		agent_pool_kick(a);
	}
	pthread_mutex_unlock(&a->lock);
	free(unused);
	free(known);
	cloud_iface_free_array(cloud, n);
	return err;
}
