// SPDX-License-Identifier: Apache-2.0
/*
 * The `ibm` cloud provider: IBM Cloud VPC network attachments, VNIs and
 * subnet reserved IPs behind the cloud_provider vtable. See ibm.h.
 *
 * State kept here is a cache (attachment -> VNI and subnet, pod IP ->
 * reserved IP id, subnet CIDRs) and the queue of unconfirmed deletes; the
 * cloud stays the truth, and a cache miss asks it again.
 */
#include "cloud/ibm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cloud/ibm_int.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"

#define DEFAULT_ATTACH_TIMEOUT_MS 180000
#define DEFAULT_DETACH_TIMEOUT_MS 180000
#define DEFAULT_POLL_MIN_MS 1000
#define DEFAULT_POLL_MAX_MS 10000
#define MAX_DEVICE_INDEX 64
#define API_KEY_MAX 4096

static struct ibm *priv(struct cloud_provider *p)
{
	return p->priv;
}

/* Polling with backoff: sleeps the current interval (doubled each time, up
 * to poll_max_ms, never past the deadline); false once the deadline passed. */
static bool poll_wait(struct ibm *ibm, uint64_t deadline, unsigned *interval)
{
	uint64_t now = sl_now_ms();
	unsigned wait = *interval;

	if (now >= deadline)
		return false;
	if (now + wait > deadline)
		wait = (unsigned)(deadline - now);
	sl_sleep_ms(wait);
	*interval = *interval * 2 > ibm->poll_max_ms ? ibm->poll_max_ms : *interval * 2;
	return true;
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static const char *jpath(json_t *j, const char *key, const char *sub)
{
	return json_string_value(json_object_get(json_object_get(j, key), sub));
}

/* IBM ids and names are [A-Za-z0-9_.-]: safe in a URL path as they are. */
static bool id_ok(const char *s)
{
	if (!s || !*s || strlen(s) >= CLOUD_ID_LEN)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	}
	return true;
}

/* --- caches -------------------------------------------------------------------- */

static struct ibm_iface *iface_cached(struct ibm *ibm, const char *id)
{
	for (size_t i = 0; i < ibm->n_ifaces; i++) {
		if (!strcmp(ibm->ifaces[i].id, id))
			return &ibm->ifaces[i];
	}
	return NULL;
}

static int iface_remember(struct ibm *ibm, const struct ibm_iface *f)
{
	struct ibm_iface *slot = iface_cached(ibm, f->id), *n;

	if (!slot) {
		n = realloc(ibm->ifaces, (ibm->n_ifaces + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ibm->ifaces = n;
		slot = &ibm->ifaces[ibm->n_ifaces++];
	}
	*slot = *f;
	return 0;
}

static void rip_forget(struct ibm *ibm, const char *iface, const struct sl_ip *ip)
{
	for (size_t i = 0; i < ibm->n_rips;) {
		if (!strcmp(ibm->rips[i].iface, iface) && (!ip || sl_ip_equal(&ibm->rips[i].ip, ip)))
			ibm->rips[i] = ibm->rips[--ibm->n_rips];
		else
			i++;
	}
}

static void iface_forget(struct ibm *ibm, const char *id)
{
	struct ibm_iface *f = iface_cached(ibm, id);

	rip_forget(ibm, id, NULL);
	if (f)
		*f = ibm->ifaces[--ibm->n_ifaces];
}

static const char *rip_cached(struct ibm *ibm, const char *iface, const struct sl_ip *ip)
{
	for (size_t i = 0; i < ibm->n_rips; i++) {
		if (!strcmp(ibm->rips[i].iface, iface) && sl_ip_equal(&ibm->rips[i].ip, ip))
			return ibm->rips[i].id;
	}
	return NULL;
}

static int rip_remember(struct ibm *ibm, const char *iface, const char *id, const struct sl_ip *ip)
{
	struct ibm_rip *n;

	if (rip_cached(ibm, iface, ip))
		rip_forget(ibm, iface, ip);
	n = realloc(ibm->rips, (ibm->n_rips + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ibm->rips = n;
	n = &ibm->rips[ibm->n_rips++];
	snprintf(n->iface, sizeof(n->iface), "%s", iface);
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->ip = *ip;
	return 0;
}

/* --- unconfirmed deletes ---------------------------------------------------------- */

static void cleanup_add(struct ibm *ibm, enum ibm_cleanup_kind kind, const char *key, const char *subnet,
			const char *vni)
{
	struct ibm_cleanup *n = realloc(ibm->cleanups, (ibm->n_cleanups + 1) * sizeof(*n));

	if (!n) {
		pr_err("ibm: out of memory queueing the cleanup of %s: it may leak", key);
		return;
	}
	ibm->cleanups = n;
	n = &ibm->cleanups[ibm->n_cleanups++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	snprintf(n->key, sizeof(n->key), "%s", key);
	snprintf(n->subnet, sizeof(n->subnet), "%s", subnet ? subnet : "");
	snprintf(n->vni, sizeof(n->vni), "%s", vni ? vni : "");
	pr_warn("ibm: cleanup of %s queued (%zu pending)", key, ibm->n_cleanups);
}

static int delete_attachment(struct ibm *ibm, const char *id)
{
	char path[512];
	int err;

	snprintf(path, sizeof(path), "/instances/%s/network_attachments/%s", ibm->instance, id);
	err = ibm_call(ibm, "delete network attachment", "DELETE", path, NULL, NULL, NULL, NULL);
	return err == -ENOENT ? 0 : err;
}

static int delete_rip(struct ibm *ibm, const char *subnet, const char *id)
{
	char path[512];
	int err;

	snprintf(path, sizeof(path), "/subnets/%s/reserved_ips/%s", subnet, id);
	err = ibm_call(ibm, "delete reserved IP", "DELETE", path, NULL, NULL, NULL, NULL);
	return err == -ENOENT ? 0 : err;
}

/* Deletes what it created, or queues the delete if the cloud says no. */
static void rollback_attachment(struct ibm *ibm, const char *id)
{
	if (delete_attachment(ibm, id))
		cleanup_add(ibm, IBM_CLEANUP_ATTACHMENT, id, NULL, NULL);
}

static void rollback_rip(struct ibm *ibm, const char *subnet, const char *id)
{
	if (delete_rip(ibm, subnet, id))
		cleanup_add(ibm, IBM_CLEANUP_RIP, id, subnet, NULL);
}

static int list_attachments(struct ibm *ibm, json_t **out)
{
	char path[256];

	snprintf(path, sizeof(path), "/instances/%s/network_attachments", ibm->instance);
	return ibm_list(ibm, "list network attachments", path, NULL, "network_attachments", out);
}

static json_t *find_by_name(json_t *items, const char *name)
{
	size_t i;
	json_t *it;

	json_array_foreach(items, i, it) {
		const char *n = jstr(it, "name");

		if (n && !strcmp(n, name))
			return it;
	}
	return NULL;
}

/* The reserved IPs bound to vni in subnet (by the target.id filter). */
static int list_bound_rips(struct ibm *ibm, const char *subnet, const char *vni, json_t **out)
{
	char path[256], query[256];

	snprintf(path, sizeof(path), "/subnets/%s/reserved_ips", subnet);
	snprintf(query, sizeof(query), "target.id=%s", vni);
	return ibm_list(ibm, "list reserved IPs", path, query, "reserved_ips", out);
}

static int sweep_one(struct ibm *ibm, const struct ibm_cleanup *c)
{
	json_t *items = NULL, *it;
	int err = 0;

	switch (c->kind) {
	case IBM_CLEANUP_ATTACHMENT:
		return delete_attachment(ibm, c->key);
	case IBM_CLEANUP_RIP:
		return delete_rip(ibm, c->subnet, c->key);
	case IBM_CLEANUP_ATTACHMENT_NAME:
		err = list_attachments(ibm, &items);
		it = err ? NULL : find_by_name(items, c->key);
		if (it && jstr(it, "id"))
			err = delete_attachment(ibm, jstr(it, "id"));
		break;
	case IBM_CLEANUP_RIP_NAME:
		err = list_bound_rips(ibm, c->subnet, c->vni, &items);
		it = err ? NULL : find_by_name(items, c->key);
		if (it && jstr(it, "id"))
			err = delete_rip(ibm, c->subnet, jstr(it, "id"));
		break;
	}
	json_decref(items);
	return err;
}

/* Retries the queued deletes in order until one fails: a cloud that
 * refuses one is likely refusing all, and every call would pay for it.
 * The one that failed goes to the back, so it blocks no other for good. */
static void sweep(struct ibm *ibm)
{
	while (ibm->n_cleanups) {
		struct ibm_cleanup head = ibm->cleanups[0];
		int err = sweep_one(ibm, &head);

		memmove(&ibm->cleanups[0], &ibm->cleanups[1], (ibm->n_cleanups - 1) * sizeof(head));
		if (err) {
			ibm->cleanups[ibm->n_cleanups - 1] = head;
			break;
		}
		ibm->n_cleanups--;
		pr_info("ibm: queued cleanup of %s done", head.key);
	}
}

/* --- lookups ---------------------------------------------------------------------- */

static int subnet_prefix(struct ibm *ibm, const char *id, struct sl_prefix *out)
{
	struct ibm_subnet *n;
	const char *cidr;
	char path[256];
	json_t *j = NULL;
	int err;

	for (size_t i = 0; i < ibm->n_subnets; i++) {
		if (!strcmp(ibm->subnets[i].id, id)) {
			*out = ibm->subnets[i].prefix;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/subnets/%s", id);
	err = ibm_call(ibm, "get subnet", "GET", path, NULL, NULL, NULL, &j);
	if (err)
		return err;
	cidr = jstr(j, "ipv4_cidr_block");
	if (!cidr || sl_prefix_parse(cidr, true, out)) {
		pr_warn("ibm: subnet %s: no usable ipv4_cidr_block", id);
		json_decref(j);
		return -EIO;
	}
	json_decref(j);
	n = realloc(ibm->subnets, (ibm->n_subnets + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ibm->subnets = n;
	snprintf(n[ibm->n_subnets].id, sizeof(n->id), "%s", id);
	n[ibm->n_subnets++].prefix = *out;
	return 0;
}

/* Fills f from an attachment's JSON; -EIO when fields are missing. */
static int parse_attachment(json_t *a, struct ibm_iface *f)
{
	const char *id = jstr(a, "id"), *vni = jpath(a, "virtual_network_interface", "id");
	const char *subnet = jpath(a, "subnet", "id"), *ip = jpath(a, "primary_ip", "address");

	memset(f, 0, sizeof(*f));
	if (!id_ok(id) || !id_ok(vni) || !id_ok(subnet)) {
		pr_warn("ibm: network attachment %s: no id, VNI or subnet", id ? id : "?");
		return -EIO;
	}
	snprintf(f->id, sizeof(f->id), "%s", id);
	snprintf(f->vni, sizeof(f->vni), "%s", vni);
	snprintf(f->subnet, sizeof(f->subnet), "%s", subnet);
	f->primary = jstr(a, "type") && !strcmp(jstr(a, "type"), "primary");
	if (ip && strcmp(ip, "0.0.0.0"))
		sl_ip_parse(ip, &f->primary_ip);
	return 0;
}

static int get_attachment(struct ibm *ibm, const char *id, json_t **out)
{
	char path[512];

	snprintf(path, sizeof(path), "/instances/%s/network_attachments/%s", ibm->instance, id);
	return ibm_call(ibm, "get network attachment", "GET", path, NULL, NULL, NULL, out);
}

/* The attachment behind iface_id, from the cache or the cloud. */
static int resolve_iface(struct ibm *ibm, const char *iface_id, struct ibm_iface *out)
{
	struct ibm_iface *f = iface_cached(ibm, iface_id);
	json_t *a = NULL;
	int err;

	if (f) {
		*out = *f;
		return 0;
	}
	if (!id_ok(iface_id))
		return -ENOENT;
	err = get_attachment(ibm, iface_id, &a);
	if (!err)
		err = parse_attachment(a, out);
	if (!err)
		err = iface_remember(ibm, out);
	json_decref(a);
	return err;
}

/* "<prefix>-eni<N>" -> N, or 0 when the name is not ours. */
static unsigned name_index(struct ibm *ibm, const char *name)
{
	size_t n = strlen(ibm->prefix);
	char *end;
	unsigned long v;

	if (!name || strncmp(name, ibm->prefix, n) || strncmp(name + n, "-eni", 4))
		return 0;
	v = strtoul(name + n + 4, &end, 10);
	return *end || v == 0 || v >= MAX_DEVICE_INDEX ? 0 : (unsigned)v;
}

/* --- limits ----------------------------------------------------------------------- */

/* {"type": "range", "min", "max"} | {"type": "fixed", "value"} |
 * {"type": "enum", "values": []} | {"type": "dependent"} */
static unsigned profile_count(json_t *c)
{
	const char *type = jstr(c, "type");
	json_int_t v = 0;

	if (!type)
		return 0;
	if (!strcmp(type, "range")) {
		v = json_integer_value(json_object_get(c, "max"));
	} else if (!strcmp(type, "fixed")) {
		v = json_integer_value(json_object_get(c, "value"));
	} else if (!strcmp(type, "enum")) {
		size_t i;
		json_t *it;

		json_array_foreach(json_object_get(c, "values"), i, it) {
			if (json_integer_value(it) > v)
				v = json_integer_value(it);
		}
	}
	return v > 0 && v < 1024 ? (unsigned)v : 0;
}

static int get_limits(struct ibm *ibm, struct cloud_limits *out)
{
	json_t *inst = NULL, *prof = NULL;
	char path[512];
	const char *profile;
	unsigned max;
	int err;

	if (ibm->have_limits) {
		*out = ibm->limits;
		return 0;
	}
	snprintf(path, sizeof(path), "/instances/%s", ibm->instance);
	err = ibm_call(ibm, "get instance", "GET", path, NULL, NULL, NULL, &inst);
	if (err)
		return err;
	profile = jpath(inst, "profile", "name");
	if (!id_ok(profile)) {
		pr_warn("ibm: instance %s: no profile name", ibm->instance);
		err = -EIO;
		goto out;
	}
	snprintf(path, sizeof(path), "/instance/profiles/%s", profile);
	err = ibm_call(ibm, "get instance profile", "GET", path, NULL, NULL, NULL, &prof);
	if (err)
		goto out;
	max = profile_count(json_object_get(prof, "network_attachment_count"));
	if (!max) {
		pr_info("ibm: profile %s: network_attachment_count is not a number; assuming %u", profile,
			IBM_MAX_INTERFACES_FALLBACK);
		max = IBM_MAX_INTERFACES_FALLBACK;
	}
	if (ibm->max_interfaces_cfg && ibm->max_interfaces_cfg < max)
		max = ibm->max_interfaces_cfg;
	ibm->limits.max_interfaces = max;
	ibm->limits.max_ips_per_interface = ibm->max_ips;
	ibm->have_limits = true;
	*out = ibm->limits;
	pr_info("ibm: instance %s (%s): %u interfaces of %u IPs", ibm->instance, profile, max, ibm->max_ips);
out:
	json_decref(inst);
	json_decref(prof);
	return err;
}

static int ibm_limits(struct cloud_provider *p, struct cloud_limits *out)
{
	struct ibm *ibm = priv(p);
	int err;

	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	err = get_limits(ibm, out);
	pthread_mutex_unlock(&ibm->lock);
	return err;
}

/* --- list --------------------------------------------------------------------------- */

/* The IPs bound to the interface's VNI but its own, remembered for release. */
static int iface_ips(struct ibm *ibm, const struct ibm_iface *f, struct sl_ip **out, size_t *n)
{
	json_t *items = NULL, *it;
	struct sl_ip *ips = NULL;
	char path[256];
	size_t i, count = 0;
	int err;

	snprintf(path, sizeof(path), "/virtual_network_interfaces/%s/ips", f->vni);
	err = ibm_list(ibm, "list VNI IPs", path, NULL, "ips", &items);
	if (err)
		return err;
	ips = calloc(json_array_size(items) + 1, sizeof(*ips));
	if (!ips) {
		err = -ENOMEM;
		goto out;
	}
	rip_forget(ibm, f->id, NULL);
	json_array_foreach(items, i, it) {
		struct sl_ip ip;

		if (!jstr(it, "address") || sl_ip_parse(jstr(it, "address"), &ip) || !id_ok(jstr(it, "id")))
			continue; /* 0.0.0.0 while pending is not parsed away: skip it */
		if (sl_ip_equal(&ip, &f->primary_ip) || !sl_ip_v4_be(&ip))
			continue;
		ips[count++] = ip;
		err = rip_remember(ibm, f->id, jstr(it, "id"), &ip);
		if (err)
			goto out;
	}
out:
	json_decref(items);
	if (err) {
		free(ips);
		return err;
	}
	*out = ips;
	*n = count;
	return 0;
}

/* An attachment as the agent sees it: MAC from its VNI, subnet and
 * gateway (the subnet's first host, as in every IBM VPC subnet), IPs. */
static int export_iface(struct ibm *ibm, json_t *a, unsigned device_index, bool with_ips,
			struct cloud_iface *out)
{
	struct ibm_iface f;
	json_t *vni = NULL;
	const char *mac;
	char path[256];
	int err;

	memset(out, 0, sizeof(*out));
	err = parse_attachment(a, &f);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/virtual_network_interfaces/%s", f.vni);
	err = ibm_call(ibm, "get virtual network interface", "GET", path, NULL, NULL, NULL, &vni);
	if (err)
		return err;
	mac = jstr(vni, "mac_address");
	if (!mac || sl_mac_parse(mac, out->mac)) {
		pr_warn("ibm: VNI %s of %s has no MAC address yet", f.vni, f.id);
		err = -EAGAIN;
		goto out;
	}
	if (!sl_ip_is_set(&f.primary_ip) && jpath(vni, "primary_ip", "address"))
		sl_ip_parse(jpath(vni, "primary_ip", "address"), &f.primary_ip);
	if (!sl_ip_is_set(&f.primary_ip)) {
		pr_warn("ibm: attachment %s has no primary IP yet", f.id);
		err = -EAGAIN;
		goto out;
	}
	err = subnet_prefix(ibm, f.subnet, &out->subnet);
	if (!err)
		err = sl_prefix_nth(&out->subnet, 1, &out->gateway);
	if (!err)
		err = iface_remember(ibm, &f);
	if (!err && with_ips && !f.primary)
		err = iface_ips(ibm, &f, &out->ips, &out->n_ips);
	if (err)
		goto out;
	snprintf(out->id, sizeof(out->id), "%s", f.id);
	snprintf(out->subnet_id, sizeof(out->subnet_id), "%s", f.subnet);
	out->primary = f.primary;
	out->sluice_owned = !f.primary && name_index(ibm, jstr(a, "name")) != 0;
	out->device_index = f.primary ? 0 : device_index;
	out->primary_ip = f.primary_ip;
out:
	json_decref(vni);
	return err;
}

static bool usable(json_t *a)
{
	const char *state = jstr(a, "lifecycle_state");

	/* pending: not there yet; deleting, failed: going or gone. */
	return state && (!strcmp(state, "stable") || !strcmp(state, "updating") || !strcmp(state, "waiting"));
}

static int ibm_list_ifaces(struct cloud_provider *p, struct cloud_iface **out, size_t *n)
{
	struct ibm *ibm = priv(p);
	struct cloud_iface *list = NULL;
	json_t *atts = NULL, *a;
	unsigned *index = NULL;
	uint64_t used = 1; /* bit i: device index i taken; 0 is the primary's */
	size_t i, count = 0;
	int err;

	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	err = list_attachments(ibm, &atts);
	if (err)
		goto out;
	list = calloc(json_array_size(atts) + 1, sizeof(*list));
	index = calloc(json_array_size(atts) + 1, sizeof(*index));
	if (!list || !index) {
		err = -ENOMEM;
		goto out;
	}
	/* Our names carry the device index; anything else takes a free one. */
	json_array_foreach(atts, i, a) {
		index[i] = name_index(ibm, jstr(a, "name"));
		if (index[i] && !(used & (1ull << index[i])))
			used |= 1ull << index[i];
		else
			index[i] = 0;
	}
	json_array_foreach(atts, i, a) {
		bool primary = jstr(a, "type") && !strcmp(jstr(a, "type"), "primary");

		if (!index[i] && !primary) {
			for (unsigned d = MAX_DEVICE_INDEX - 1; d > 0; d--) {
				if (!(used & (1ull << d))) {
					index[i] = d;
					used |= 1ull << d;
					break;
				}
			}
		}
		if (!usable(a))
			continue;
		err = export_iface(ibm, a, index[i], true, &list[count]);
		if (err == -ENOENT) {
			/* detached (or its VNI deleted) while we were listing */
			free(list[count].ips);
			memset(&list[count], 0, sizeof(list[count]));
			err = 0;
			continue;
		}
		if (err)
			goto out;
		count++;
	}
out:
	pthread_mutex_unlock(&ibm->lock);
	json_decref(atts);
	free(index);
	if (err) {
		cloud_iface_free_array(list, count);
		return err;
	}
	*out = list;
	*n = count;
	return 0;
}

/* --- attach / detach -------------------------------------------------------------- */

/* The create's outcome is unknown: find the attachment by its name. 0 and
 * *out when it exists, -ENOENT when it does not, else the lookup failed. */
static int find_attachment(struct ibm *ibm, const char *name, json_t **out)
{
	json_t *atts = NULL, *a;
	int err;

	err = list_attachments(ibm, &atts);
	if (err)
		return err;
	a = find_by_name(atts, name);
	*out = a ? json_incref(a) : NULL;
	json_decref(atts);
	return a ? 0 : -ENOENT;
}

static bool name_queued(struct ibm *ibm, const char *name)
{
	for (size_t i = 0; i < ibm->n_cleanups; i++) {
		if (ibm->cleanups[i].kind == IBM_CLEANUP_ATTACHMENT_NAME && !strcmp(ibm->cleanups[i].key, name))
			return true;
	}
	return false;
}

/* POSTs the attachment; on an unknown outcome, looks it up by name. */
static int create_attachment(struct ibm *ibm, const char *name, json_t **out)
{
	struct ibm_result res;
	json_t *body, *j = NULL;
	char path[256];
	int err, ferr;

	body = json_pack("{s:s, s:{s:{s:s}, s:b, s:b, s:b, s:s, s:{s:b}}}", "name", name,
			 "virtual_network_interface", "subnet", "id", ibm->subnet_id, "auto_delete", 1,
			 "allow_ip_spoofing", 0, "enable_infrastructure_nat", 1,
			 "protocol_state_filtering_mode", "auto", "primary_ip", "auto_delete", 1);
	if (!body)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/instances/%s/network_attachments", ibm->instance);
	err = ibm_call(ibm, "create network attachment", "POST", path, NULL, body, &res, &j);
	json_decref(body);
	if (!err && !id_ok(jstr(j, "id"))) {
		pr_warn("ibm: create network attachment %s: answer without an id", name);
		err = -EIO;
	}
	if (!err) {
		*out = j;
		return 0;
	}
	json_decref(j);
	if (!res.sent)
		return err;
	/* It may exist: a lost answer, a retry that met our own first attempt
	 * (409), a body we could not read. The name says. */
	ferr = find_attachment(ibm, name, out);
	if (ferr == 0) {
		pr_info("ibm: create network attachment %s: %s, but it exists: using it", name, strerror(-err));
		return 0;
	}
	if (ferr != -ENOENT)
		cleanup_add(ibm, IBM_CLEANUP_ATTACHMENT_NAME, name, NULL, NULL);
	return err;
}

/* Polls the attachment until stable, then its VNI until it has a MAC. */
static int wait_stable(struct ibm *ibm, const char *id, unsigned device_index, struct cloud_iface *out)
{
	uint64_t deadline = sl_now_ms() + ibm->attach_timeout_ms;
	unsigned interval = ibm->poll_min_ms;
	json_t *a = NULL;
	int err;

	for (;;) {
		const char *state;

		json_decref(a);
		a = NULL;
		err = get_attachment(ibm, id, &a);
		state = err ? NULL : jstr(a, "lifecycle_state");
		if (err == -ENOENT) {
			pr_err("ibm: network attachment %s vanished while pending", id);
			err = -EIO;
			break;
		}
		if (state && (!strcmp(state, "failed") || !strcmp(state, "suspended") ||
			      !strcmp(state, "deleting"))) {
			pr_err("ibm: network attachment %s is %s", id, state);
			err = -EIO;
			break;
		}
		if (state && !strcmp(state, "stable")) {
			err = export_iface(ibm, a, device_index, false, out);
			if (!err)
				break;
		}
		/* pending, or a failed poll: the cloud may answer next time */
		if (!poll_wait(ibm, deadline, &interval)) {
			pr_err("ibm: network attachment %s not stable after %u ms", id, ibm->attach_timeout_ms);
			err = -ETIMEDOUT;
			break;
		}
	}
	json_decref(a);
	return err;
}

static int ibm_attach(struct cloud_provider *p, struct cloud_iface *out)
{
	struct ibm *ibm = priv(p);
	struct cloud_limits limits;
	json_t *atts = NULL, *a, *created = NULL;
	uint64_t used = 1;
	unsigned device = 0;
	char name[CLOUD_ID_LEN];
	size_t i;
	int err;

	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	err = get_limits(ibm, &limits);
	if (!err)
		err = list_attachments(ibm, &atts);
	if (err)
		goto out;
	if (json_array_size(atts) >= limits.max_interfaces) {
		pr_warn("ibm: %s has %zu of %u network attachments: limit reached", ibm->instance,
			json_array_size(atts), limits.max_interfaces);
		err = -ENOSPC;
		goto out;
	}
	/* The lowest free device index, also skipping names whose create is in doubt. */
	json_array_foreach(atts, i, a) {
		unsigned d = name_index(ibm, jstr(a, "name"));

		if (d)
			used |= 1ull << d;
	}
	for (unsigned d = 1; d < MAX_DEVICE_INDEX && !device; d++) {
		snprintf(name, sizeof(name), "%s-eni%u", ibm->prefix, d);
		if (!(used & (1ull << d)) && !name_queued(ibm, name))
			device = d;
	}
	if (!device) {
		err = -ENOSPC;
		goto out;
	}
	snprintf(name, sizeof(name), "%s-eni%u", ibm->prefix, device);
	err = create_attachment(ibm, name, &created);
	if (err)
		goto out;
	err = wait_stable(ibm, jstr(created, "id"), device, out);
	if (err) {
		/* No half-created attachment: its VNI and IPs go with it (auto_delete). */
		iface_forget(ibm, jstr(created, "id"));
		rollback_attachment(ibm, jstr(created, "id"));
		goto out;
	}
	pr_info("ibm: attached %s (%s) to %s", out->id, name, ibm->instance);
out:
	pthread_mutex_unlock(&ibm->lock);
	json_decref(created);
	json_decref(atts);
	return err;
}

static int ibm_detach(struct cloud_provider *p, const char *iface_id)
{
	struct ibm *ibm = priv(p);
	uint64_t deadline;
	unsigned interval;
	json_t *a = NULL;
	const char *state;
	int err, derr;

	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	if (!id_ok(iface_id)) {
		err = -ENOENT;
		goto out;
	}
	err = get_attachment(ibm, iface_id, &a);
	if (err == -ENOENT)
		iface_forget(ibm, iface_id);
	if (err)
		goto out;
	if (jstr(a, "type") && !strcmp(jstr(a, "type"), "primary")) {
		pr_err("ibm: refusing to detach %s, the primary network attachment of %s", iface_id,
		       ibm->instance);
		err = -EPERM;
		goto out;
	}
	/* Even when the DELETE's answer is lost, the polls below say whether it happened. */
	derr = delete_attachment(ibm, iface_id);
	deadline = sl_now_ms() + ibm->detach_timeout_ms;
	interval = ibm->poll_min_ms;
	for (;;) {
		json_decref(a);
		a = NULL;
		err = get_attachment(ibm, iface_id, &a);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		state = err ? NULL : jstr(a, "lifecycle_state");
		if (derr && state && strcmp(state, "deleting")) {
			err = derr; /* the delete did not happen */
			break;
		}
		if (!poll_wait(ibm, deadline, &interval)) {
			pr_err("ibm: network attachment %s still %s after %u ms", iface_id,
			       state ? state : "there", ibm->detach_timeout_ms);
			err = -ETIMEDOUT;
			break;
		}
	}
	if (!err) {
		iface_forget(ibm, iface_id);
		pr_info("ibm: detached %s from %s", iface_id, ibm->instance);
	}
out:
	pthread_mutex_unlock(&ibm->lock);
	json_decref(a);
	return err;
}

/* --- pod IPs ---------------------------------------------------------------------- */

static int get_rip(struct ibm *ibm, const char *subnet, const char *id, json_t **out)
{
	char path[512];

	snprintf(path, sizeof(path), "/subnets/%s/reserved_ips/%s", subnet, id);
	return ibm_call(ibm, "get reserved IP", "GET", path, NULL, NULL, NULL, out);
}

/* A reserved IP's address once it is stable and selected. */
static int rip_address(json_t *r, struct sl_ip *ip)
{
	const char *state = jstr(r, "lifecycle_state"), *addr = jstr(r, "address");

	if (state && strcmp(state, "stable"))
		return -EAGAIN;
	if (!addr || !strcmp(addr, "0.0.0.0"))
		return -EAGAIN;
	return sl_ip_parse(addr, ip) ? -EIO : 0;
}

static int create_rip(struct ibm *ibm, const struct ibm_iface *f, struct sl_ip *ip)
{
	struct ibm_result res;
	json_t *body, *r = NULL;
	char path[256], name[CLOUD_ID_LEN], rid[CLOUD_ID_LEN];
	uint64_t deadline;
	unsigned interval;
	int err;

	snprintf(name, sizeof(name), "%s-%08x%08x", ibm->prefix, (unsigned)rand_r(&ibm->seed),
		 (unsigned)rand_r(&ibm->seed));
	body = json_pack("{s:s, s:b, s:{s:s}}", "name", name, "auto_delete", 1, "target", "id", f->vni);
	if (!body)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/subnets/%s/reserved_ips", f->subnet);
	err = ibm_call(ibm, "create reserved IP", "POST", path, NULL, body, &res, &r);
	json_decref(body);
	if (!err && !id_ok(jstr(r, "id")))
		err = -EIO;
	if (err && res.sent) {
		json_t *items = NULL, *found;
		int ferr = list_bound_rips(ibm, f->subnet, f->vni, &items);

		found = ferr ? NULL : find_by_name(items, name);
		if (found && id_ok(jstr(found, "id"))) {
			pr_info("ibm: create reserved IP %s: %s, but it exists: using it", name, strerror(-err));
			json_decref(r);
			r = json_incref(found);
			err = 0;
		} else if (ferr) {
			cleanup_add(ibm, IBM_CLEANUP_RIP_NAME, name, f->subnet, f->vni);
		}
		json_decref(items);
	}
	if (err)
		goto out;
	snprintf(rid, sizeof(rid), "%s", jstr(r, "id"));
	deadline = sl_now_ms() + ibm->attach_timeout_ms;
	interval = ibm->poll_min_ms;
	while ((err = rip_address(r, ip)) == -EAGAIN) {
		json_t *n = NULL;

		if (!poll_wait(ibm, deadline, &interval)) {
			err = -ETIMEDOUT;
			break;
		}
		if (get_rip(ibm, f->subnet, rid, &n) == 0) {
			json_decref(r);
			r = n;
		}
	}
	if (!err && !sl_ip_v4_be(ip))
		err = -EIO;
	if (!err)
		err = rip_remember(ibm, f->id, rid, ip);
	if (err) {
		pr_warn("ibm: reserved IP %s (%s) unusable: %s; deleting it", rid, name, strerror(-err));
		rollback_rip(ibm, f->subnet, rid);
	}
out:
	json_decref(r);
	return err;
}

static int ibm_assign(struct cloud_provider *p, const char *iface_id, unsigned count, struct sl_ip *out,
		      size_t *n_out)
{
	struct ibm *ibm = priv(p);
	struct cloud_limits limits;
	struct ibm_iface f;
	json_t *bound = NULL;
	char path[256];
	size_t bound_n, room, done = 0;
	int err;

	*n_out = 0;
	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	err = get_limits(ibm, &limits);
	if (!err)
		err = resolve_iface(ibm, iface_id, &f);
	if (err)
		goto out;
	/* The cloud's count, not ours: the primary IP is in it. */
	snprintf(path, sizeof(path), "/virtual_network_interfaces/%s/ips", f.vni);
	err = ibm_list(ibm, "list VNI IPs", path, NULL, "ips", &bound);
	if (err)
		goto out;
	bound_n = json_array_size(bound) ? json_array_size(bound) : 1;
	room = limits.max_ips_per_interface > bound_n ? limits.max_ips_per_interface - bound_n : 0;
	if (!room) {
		err = -ENOSPC;
		goto out;
	}
	while (done < count && done < room) {
		err = create_rip(ibm, &f, &out[done]);
		if (err)
			break;
		done++;
	}
	if (done && err) {
		pr_warn("ibm: %zu of %u IPs assigned on %s: %s", done, count, iface_id, strerror(-err));
		err = 0;
	}
	*n_out = done;
out:
	pthread_mutex_unlock(&ibm->lock);
	json_decref(bound);
	return err;
}

static int ibm_unassign(struct cloud_provider *p, const char *iface_id, const struct sl_ip *ip)
{
	struct ibm *ibm = priv(p);
	struct ibm_iface f;
	char rid[CLOUD_ID_LEN], buf[SL_IP_STRLEN];
	const char *id;
	int err;

	pthread_mutex_lock(&ibm->lock);
	sweep(ibm);
	err = resolve_iface(ibm, iface_id, &f);
	if (err)
		goto out;
	if (sl_ip_equal(ip, &f.primary_ip)) {
		err = -EPERM;
		goto out;
	}
	id = rip_cached(ibm, iface_id, ip);
	if (!id) {
		struct sl_ip *ips = NULL;
		size_t n = 0;

		err = iface_ips(ibm, &f, &ips, &n);
		free(ips);
		if (err)
			goto out;
		id = rip_cached(ibm, iface_id, ip);
	}
	if (!id) {
		pr_warn("ibm: %s is not bound to %s", sl_ip_fmt(ip, buf), iface_id);
		err = -ENOENT;
		goto out;
	}
	snprintf(rid, sizeof(rid), "%s", id);
	err = delete_rip(ibm, f.subnet, rid);
	if (err) {
		/* The DELETE may have happened with every answer lost: ask. */
		json_t *r = NULL;

		if (get_rip(ibm, f.subnet, rid, &r) == -ENOENT)
			err = 0;
		json_decref(r);
	}
	if (!err)
		rip_forget(ibm, iface_id, ip);
out:
	pthread_mutex_unlock(&ibm->lock);
	return err;
}

/* --- life cycle ------------------------------------------------------------------ */

static void ibm_free(struct ibm *ibm)
{
	if (!ibm)
		return;
	if (ibm->n_cleanups)
		pr_warn("ibm: %zu queued cleanups not done at exit; a restarted agent finds the "
			"attachments by listing, reserved IPs by their '%s-' names",
			ibm->n_cleanups, ibm->prefix);
	ibm_iam_free(ibm->iam);
	cloud_http_free(ibm->http);
	free(ibm->vpc_url);
	free(ibm->api_version);
	free(ibm->prefix);
	free(ibm->subnet_id);
	free(ibm->ifaces);
	free(ibm->rips);
	free(ibm->subnets);
	free(ibm->cleanups);
	pthread_mutex_destroy(&ibm->lock);
	free(ibm);
}

static void ibm_destroy(struct cloud_provider *p)
{
	ibm_free(priv(p));
	free(p);
}

void ibm_provider_stats(struct cloud_provider *p, struct ibm_stats *out)
{
	struct ibm *ibm = priv(p);
	struct ibm_iam_stats is;

	pthread_mutex_lock(&ibm->lock);
	cloud_http_stats(ibm->http, &out->http);
	ibm_iam_get_stats(ibm->iam, &is);
	out->token_fetches = is.fetches;
	out->pending_cleanups = ibm->n_cleanups;
	pthread_mutex_unlock(&ibm->lock);
}

static const struct cloud_provider_ops ibm_ops = {
	.name = "ibm",
	.limits = ibm_limits,
	.list_interfaces = ibm_list_ifaces,
	.attach_interface = ibm_attach,
	.detach_interface = ibm_detach,
	.assign_ips = ibm_assign,
	.unassign_ip = ibm_unassign,
	.destroy = ibm_destroy,
};

/* The key: explicit, else $IBMCLOUD_API_KEY, else the file's first line;
 * NULL (and 0) when there is none: the metadata flow. */
static int read_api_key(const struct ibm_config *cfg, char **out)
{
	const char *env = getenv("IBMCLOUD_API_KEY");
	char *data = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if (cfg->api_key && *cfg->api_key)
		return (*out = strdup(cfg->api_key)) ? 0 : -ENOMEM;
	if (env && *env)
		return (*out = strdup(env)) ? 0 : -ENOMEM;
	if (!cfg->api_key_file || !*cfg->api_key_file)
		return 0;
	err = fs_read_all(cfg->api_key_file, API_KEY_MAX, &data, &len);
	if (err) {
		pr_err("ibm: read the API key file %s: %s", cfg->api_key_file, strerror(-err));
		return err;
	}
	len = strcspn(data, "\r\n");
	data[len] = '\0';
	while (len && isspace((unsigned char)data[len - 1]))
		data[--len] = '\0';
	if (!len || strspn(data, " \t") == len) {
		pr_err("ibm: the API key file %s is empty", cfg->api_key_file);
		free(data);
		return -EINVAL;
	}
	memmove(data, data + strspn(data, " \t"), len - strspn(data, " \t") + 1);
	*out = data;
	return 0;
}

int ibm_provider_create(const struct ibm_config *cfg, struct cloud_provider **out)
{
	struct ibm_iam_config ic = {
		.iam_url = cfg->iam_url,
		.metadata_url = cfg->metadata_url,
		.trusted_profile = cfg->trusted_profile,
		.clock = cfg->clock,
	};
	struct cloud_provider *p = NULL;
	struct ibm *ibm = NULL;
	char instance[CLOUD_ID_LEN], *key = NULL;
	const char *version = cfg->api_version ? cfg->api_version : IBM_API_VERSION_DEFAULT;
	const char *prefix = cfg->name_prefix ? cfg->name_prefix : IBM_NAME_PREFIX_DEFAULT;
	int err;

	if (!id_ok(cfg->subnet_id)) {
		pr_err("ibm: a subnet id for new interfaces is required");
		return -EINVAL;
	}
	if (!cfg->vpc_url && !id_ok(cfg->region)) {
		pr_err("ibm: a region or a VPC API URL is required");
		return -EINVAL;
	}
	if (cfg->instance_id && !id_ok(cfg->instance_id)) {
		pr_err("ibm: invalid instance id '%s'", cfg->instance_id);
		return -EINVAL;
	}
	if (strlen(version) != 10 || version[4] != '-' || version[7] != '-') {
		pr_err("ibm: API version '%s' is not YYYY-MM-DD", version);
		return -EINVAL;
	}
	/* Names: lower-case letters, digits and hyphens, starting with a letter. */
	if (!*prefix || strlen(prefix) > 40 || !islower((unsigned char)prefix[0]) ||
	    strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(prefix)) {
		pr_err("ibm: name prefix '%s' is not a valid IBM name", prefix);
		return -EINVAL;
	}
	err = read_api_key(cfg, &key);
	if (err)
		return err;
	ic.api_key = key;
	p = calloc(1, sizeof(*p));
	ibm = calloc(1, sizeof(*ibm));
	if (!p || !ibm) {
		err = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&ibm->lock, NULL);
	if (cfg->vpc_url) {
		ibm->vpc_url = strdup(cfg->vpc_url);
		for (size_t n = ibm->vpc_url ? strlen(ibm->vpc_url) : 0; n && ibm->vpc_url[n - 1] == '/'; n--)
			ibm->vpc_url[n - 1] = '\0';
	} else if (asprintf(&ibm->vpc_url, "https://%s.iaas.cloud.ibm.com/v1", cfg->region) < 0) {
		ibm->vpc_url = NULL;
	}
	ibm->api_version = strdup(version);
	ibm->prefix = strdup(prefix);
	ibm->subnet_id = strdup(cfg->subnet_id);
	if (!ibm->vpc_url || !ibm->api_version || !ibm->prefix || !ibm->subnet_id) {
		err = -ENOMEM;
		goto fail;
	}
	ibm->max_interfaces_cfg = cfg->max_interfaces;
	ibm->max_ips = cfg->max_ips_per_interface ? cfg->max_ips_per_interface : IBM_MAX_IPS_PER_INTERFACE;
	ibm->attach_timeout_ms = cfg->attach_timeout_ms ? cfg->attach_timeout_ms : DEFAULT_ATTACH_TIMEOUT_MS;
	ibm->detach_timeout_ms = cfg->detach_timeout_ms ? cfg->detach_timeout_ms : DEFAULT_DETACH_TIMEOUT_MS;
	ibm->poll_min_ms = cfg->poll_min_ms ? cfg->poll_min_ms : DEFAULT_POLL_MIN_MS;
	ibm->poll_max_ms = cfg->poll_max_ms ? cfg->poll_max_ms : DEFAULT_POLL_MAX_MS;
	if (ibm->poll_max_ms < ibm->poll_min_ms)
		ibm->poll_max_ms = ibm->poll_min_ms;
	if (getrandom(&ibm->seed, sizeof(ibm->seed), GRND_NONBLOCK) != sizeof(ibm->seed))
		ibm->seed = (unsigned)sl_now_ms() ^ (unsigned)getpid();
	err = cloud_http_new(&cfg->http, &ibm->http);
	if (!err)
		err = ibm_iam_new(&ic, ibm->http, &ibm->iam);
	if (err)
		goto fail;
	if (cfg->instance_id) {
		snprintf(instance, sizeof(instance), "%s", cfg->instance_id);
	} else {
		err = ibm_iam_instance_id(ibm->iam, instance, sizeof(instance));
		if (!err && !id_ok(instance))
			err = -EIO;
		if (err) {
			pr_err("ibm: no instance id given and none from the metadata service: %s",
			       strerror(-err));
			goto fail;
		}
	}
	snprintf(p->instance, sizeof(p->instance), "%s", instance);
	ibm->instance = p->instance;
	p->ops = &ibm_ops;
	p->priv = ibm;
	pr_info("ibm: instance %s, VPC API %s (version %s), subnet %s, %s", instance, ibm->vpc_url,
		ibm->api_version, ibm->subnet_id, key ? "API key" : "metadata token flow");
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	*out = p;
	return 0;
fail:
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	ibm_free(ibm);
	free(p);
	return err;
}
