// SPDX-License-Identifier: Apache-2.0
/*
 * The openstack cloud provider: interfaces are Neutron ports attached with
 * Nova's os-interface API, pod IPs are extra fixed IPs of those ports. See
 * openstack.h for the model and the guarantees; openstack_session.c for
 * Keystone and the request layer.
 *
 * Every write whose outcome is unknown is settled by reading the port back.
 * A fixed_ips update goes out once (no retry by the http layer): a 412 then
 * always means someone else's change, and a lost, failed or unreadable answer
 * is resolved by reading the port: our new addresses are there (done), or
 * the revision is unchanged (not applied: try again), or it changed without
 * them (someone else's change: try again). The loop is bounded by
 * max_conflict_retries. A port create or a Nova attach may be repeated by the
 * http layer; what a repeat could leave behind is found and undone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud/openstack_int.h"
#include "common/clock.h"
#include "common/log.h"

#define PORT_NAME_PREFIX "sluice-eni"
#define PRIMARY_TAG "sluice-primary="
#define MAX_PAGES 1000

struct os_subnet {
	char id[CLOUD_ID_LEN];
	struct sl_prefix prefix;
	struct sl_ip gateway;
};

struct os_provider {
	struct os_session s;
	pthread_mutex_t lock;
	char description[CLOUD_ID_LEN + 8]; /* "sluice:<instance>" */
	char pod_subnet[CLOUD_ID_LEN];
	char pod_network[CLOUD_ID_LEN];
	json_t *security_groups;            /* array of ids, or NULL */
	struct cloud_limits limits;
	unsigned active_timeout_ms, detach_timeout_ms, detach_resend_ms, poll_ms, max_conflicts, page_size;
	void (*hook)(void *arg, const char *port_id);
	void *hook_arg;
	struct os_subnet *subnets;
	size_t n_subnets;
	uint64_t conflicts, readbacks, rollbacks, orphans_deleted;
};

static struct os_provider *priv(struct cloud_provider *p)
{
	return p->priv;
}

/* Query values: everything but RFC 3986's unreserved characters escaped. */
static void url_escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;

	for (; *in && j + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* --- Neutron reads --------------------------------------------------------------- */

static int port_get(struct os_provider *pv, const char *id, json_t **port)
{
	char path[CLOUD_ID_LEN + 16], what[CLOUD_ID_LEN + 32];
	struct os_resp r;
	int err;

	snprintf(path, sizeof(path), "ports/%s", id);
	err = os_call(&pv->s, OS_SVC_NETWORK, "GET", path, NULL, NULL, 0, &r);
	if (err) {
		pr_warn("openstack: GET port %s: %s", id, strerror(-err));
		return err;
	}
	if (r.status == 404) {
		err = -ENOENT;
	} else if (r.status != 200 || !json_is_object(json_object_get(r.json, "port"))) {
		snprintf(what, sizeof(what), "GET port %s", id);
		err = os_resp_fail(what, &r);
	} else {
		*port = json_incref(json_object_get(r.json, "port"));
	}
	os_resp_free(&r);
	return err;
}

/* Every port matching query, page by page (limit + marker). */
static int ports_list(struct os_provider *pv, const char *query, json_t **out)
{
	char marker[CLOUD_ID_LEN] = "";
	json_t *all = json_array();
	int err = 0;

	if (!all)
		return -ENOMEM;
	for (unsigned page = 0; page < MAX_PAGES; page++) {
		json_t *ports, *p, *links, *l;
		bool next = false;
		char *path;
		struct os_resp r;
		size_t i;

		if (asprintf(&path, "ports?%s&limit=%u%s%s", query, pv->page_size, marker[0] ? "&marker=" : "",
			     marker) < 0) {
			err = -ENOMEM;
			break;
		}
		err = os_call(&pv->s, OS_SVC_NETWORK, "GET", path, NULL, NULL, 0, &r);
		free(path);
		if (err) {
			pr_warn("openstack: list ports: %s", strerror(-err));
			break;
		}
		ports = json_object_get(r.json, "ports");
		if (r.status != 200 || !json_is_array(ports)) {
			err = os_resp_fail("list ports", &r);
			os_resp_free(&r);
			break;
		}
		json_array_foreach(ports, i, p)
			json_array_append(all, p);
		links = json_object_get(r.json, "ports_links");
		json_array_foreach(links, i, l)
			next |= !strcmp(jstr(l, "rel"), "next");
		p = json_array_get(ports, json_array_size(ports) - 1);
		/* A next link after a full page: continue after its last port. */
		next = next && p && json_array_size(ports) >= pv->page_size && strcmp(jstr(p, "id"), marker);
		if (next)
			snprintf(marker, sizeof(marker), "%s", jstr(p, "id"));
		os_resp_free(&r);
		if (!next)
			break;
	}
	if (err) {
		json_decref(all);
		return err;
	}
	*out = all;
	return 0;
}

static int subnet_get(struct os_provider *pv, const char *id, struct os_subnet **out, char *network,
		      size_t nlen)
{
	char path[CLOUD_ID_LEN + 16], what[CLOUD_ID_LEN + 32];
	struct os_subnet *grown, sn = { 0 };
	struct os_resp r;
	json_t *j;
	int err;

	for (size_t i = 0; i < pv->n_subnets && !network; i++) {
		if (!strcmp(pv->subnets[i].id, id)) {
			*out = &pv->subnets[i];
			return 0;
		}
	}
	snprintf(path, sizeof(path), "subnets/%s", id);
	err = os_call(&pv->s, OS_SVC_NETWORK, "GET", path, NULL, NULL, 0, &r);
	if (err) {
		pr_err("openstack: GET subnet %s: %s", id, strerror(-err));
		return err;
	}
	snprintf(what, sizeof(what), "GET subnet %s", id);
	j = json_object_get(r.json, "subnet");
	if (r.status != 200 || !j) {
		err = os_resp_fail(what, &r);
		goto out;
	}
	snprintf(sn.id, sizeof(sn.id), "%s", id);
	if (sl_prefix_parse(jstr(j, "cidr"), false, &sn.prefix)) {
		pr_err("openstack: subnet %s: bad cidr '%s'", id, jstr(j, "cidr"));
		err = -EIO;
		goto out;
	}
	/* A subnet without a gateway (gateway_ip null) routes nothing off-link. */
	sl_ip_parse(jstr(j, "gateway_ip"), &sn.gateway);
	if (network)
		snprintf(network, nlen, "%s", jstr(j, "network_id"));
	grown = realloc(pv->subnets, (pv->n_subnets + 1) * sizeof(*grown));
	if (!grown) {
		err = -ENOMEM;
		goto out;
	}
	pv->subnets = grown;
	pv->subnets[pv->n_subnets] = sn;
	*out = &pv->subnets[pv->n_subnets++];
out:
	os_resp_free(&r);
	return err;
}

/* --- what a port says --------------------------------------------------------------- */

static bool port_ours(const struct os_provider *pv, const json_t *port)
{
	return !strcmp(jstr(port, "description"), pv->description);
}

static unsigned port_index(const json_t *port)
{
	unsigned idx = 0;

	if (sscanf(jstr(port, "name"), PORT_NAME_PREFIX "%u", &idx) != 1)
		return 0;
	return idx;
}

static bool port_primary_tag(const json_t *port, struct sl_ip *ip)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(port, "tags"), i, t) {
		const char *s = json_string_value(t);

		if (s && !strncmp(s, PRIMARY_TAG, strlen(PRIMARY_TAG)) && !sl_ip_parse(s + strlen(PRIMARY_TAG), ip))
			return true;
	}
	return false;
}

static bool fixed_has(const json_t *fixed, const struct sl_ip *ip)
{
	size_t i;
	json_t *f;

	json_array_foreach(fixed, i, f) {
		struct sl_ip cur;

		if (!sl_ip_parse(jstr(f, "ip_address"), &cur) && sl_ip_equal(&cur, ip))
			return true;
	}
	return false;
}

static size_t fixed_in_subnet(const json_t *fixed, const char *subnet)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(fixed, i, f)
		n += !strcmp(jstr(f, "subnet_id"), subnet);
	return n;
}

/* Addresses of subnet in after but not in before (at most max). */
static size_t fixed_added(const json_t *before, const json_t *after, const char *subnet, struct sl_ip *out,
			  size_t max)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(after, i, f) {
		struct sl_ip ip;

		if (n >= max || strcmp(jstr(f, "subnet_id"), subnet) || sl_ip_parse(jstr(f, "ip_address"), &ip) ||
		    fixed_has(before, &ip))
			continue;
		out[n++] = ip;
	}
	return n;
}

/* The complete list to send: every address spelled out (a bare subnet entry
 * would be matched to an existing address), without `drop` if set. */
static json_t *fixed_explicit(const json_t *fixed, const struct sl_ip *drop)
{
	json_t *list = json_array(), *f;
	size_t i;

	json_array_foreach(fixed, i, f) {
		struct sl_ip ip;

		if (drop && !sl_ip_parse(jstr(f, "ip_address"), &ip) && sl_ip_equal(&ip, drop))
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s}", "subnet_id", jstr(f, "subnet_id"),
						      "ip_address", jstr(f, "ip_address")));
	}
	return list;
}

static int port_export(struct os_provider *pv, const json_t *port, struct cloud_iface *c)
{
	const json_t *fixed = json_object_get(port, "fixed_ips");
	const char *subnet_id;
	struct os_subnet *sn = NULL;
	size_t i, n = 0;
	json_t *f;
	int err;

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", jstr(port, "id"));
	if (sl_mac_parse(jstr(port, "mac_address"), c->mac)) {
		pr_err("openstack: port %s: bad MAC '%s'", c->id, jstr(port, "mac_address"));
		return -EIO;
	}
	c->primary = !port_ours(pv, port);
	c->sluice_owned = !c->primary;
	subnet_id = c->primary ? jstr(json_array_get(fixed, 0), "subnet_id") : pv->pod_subnet;
	snprintf(c->subnet_id, sizeof(c->subnet_id), "%s", subnet_id);
	if (*subnet_id) {
		err = subnet_get(pv, subnet_id, &sn, NULL, 0);
		if (err)
			return err;
		c->subnet = sn->prefix;
		c->gateway = sn->gateway;
	}
	if (c->primary) {
		/* Not Sluice's: described, never used or touched. */
		sl_ip_parse(jstr(json_array_get(fixed, 0), "ip_address"), &c->primary_ip);
		return 0;
	}
	c->device_index = port_index(port);
	if (!port_primary_tag(port, &c->primary_ip)) {
		/* Only a port whose attach was interrupted lacks it; it is never attached. */
		json_array_foreach(fixed, i, f) {
			if (!strcmp(jstr(f, "subnet_id"), pv->pod_subnet) &&
			    !sl_ip_parse(jstr(f, "ip_address"), &c->primary_ip))
				break;
		}
		pr_warn("openstack: port %s has no %s tag; taking its first address", c->id, PRIMARY_TAG);
	}
	c->ips = calloc(json_array_size(fixed) + 1, sizeof(*c->ips));
	if (!c->ips)
		return -ENOMEM;
	json_array_foreach(fixed, i, f) {
		struct sl_ip ip;

		if (strcmp(jstr(f, "subnet_id"), pv->pod_subnet) || sl_ip_parse(jstr(f, "ip_address"), &ip) ||
		    sl_ip_equal(&ip, &c->primary_ip))
			continue;
		c->ips[n++] = ip;
	}
	c->n_ips = n;
	return 0;
}

/* --- Neutron writes --------------------------------------------------------------- */

static int port_delete(struct os_provider *pv, const char *id)
{
	char path[CLOUD_ID_LEN + 16], what[CLOUD_ID_LEN + 32];
	struct os_resp r;
	int err;

	snprintf(path, sizeof(path), "ports/%s", id);
	err = os_call(&pv->s, OS_SVC_NETWORK, "DELETE", path, NULL, NULL, 0, &r);
	if (err) {
		pr_warn("openstack: DELETE port %s: %s", id, strerror(-err));
		return err;
	}
	if (r.status != 204 && r.status != 200 && r.status != 404) {
		snprintf(what, sizeof(what), "DELETE port %s", id);
		err = os_resp_fail(what, &r);
	}
	os_resp_free(&r);
	return err;
}

/* Deletes the ports with our description that are not attached to anything
 * (but `keep`): what an interrupted attach or a failed rollback left. */
static void delete_unattached(struct os_provider *pv, const char *keep)
{
	char esc[3 * sizeof(pv->description)], q[sizeof(esc) + 16];
	json_t *ports = NULL, *p;
	size_t i;

	url_escape(pv->description, esc, sizeof(esc));
	snprintf(q, sizeof(q), "description=%s", esc);
	if (ports_list(pv, q, &ports))
		return;
	json_array_foreach(ports, i, p) {
		if (*jstr(p, "device_id") || (keep && !strcmp(jstr(p, "id"), keep)))
			continue;
		pr_info("openstack: deleting port %s: ours, attached to nothing", jstr(p, "id"));
		if (!port_delete(pv, jstr(p, "id")))
			pv->orphans_deleted++;
	}
	json_decref(ports);
}

/* PUT fixed_ips guarded by the revision read, sent once. */
static int port_put_fixed(struct os_provider *pv, const char *id, json_t *list, json_int_t rev,
			  struct os_resp *r)
{
	char path[CLOUD_ID_LEN + 16], ifmatch[64];
	json_t *body = json_pack("{s:{s:O}}", "port", "fixed_ips", list);
	int err;

	if (!body)
		return -ENOMEM;
	snprintf(path, sizeof(path), "ports/%s", id);
	snprintf(ifmatch, sizeof(ifmatch), "If-Match: revision_number=%lld", (long long)rev);
	err = os_call(&pv->s, OS_SVC_NETWORK, "PUT", path, body, ifmatch, OS_F_NO_RETRY, r);
	pr_debug("openstack: port %s: fixed_ips update at revision %lld: %s %ld", id, (long long)rev,
		 err ? strerror(-err) : "HTTP", err ? 0 : r->status);
	json_decref(body);
	return err;
}

/* Between two tries of an update whose answer was lost or refused for now. */
static void update_backoff(struct os_provider *pv, unsigned attempt, const struct os_resp *r)
{
	const char *ra = r->raw.headers ? cloud_http_header(&r->raw, "Retry-After") : NULL;
	unsigned ms = pv->poll_ms * (attempt + 1);

	if (ra && atoi(ra) > 0)
		ms = (unsigned)atoi(ra) * 1000;
	sl_sleep_ms(ms > 30000 ? 30000 : ms);
}

/* Waits until the port is unbound from the instance (or gone). */
static int nova_detach(struct os_provider *pv, const char *port_id, struct cloud_provider *p);

/*
 * Until Nova has unbound the port (device_id empty) or it is gone. Nova may
 * accept a detach (202) and then lose it (a compute service restarting):
 * the DELETE is idempotent, so it is sent again every detach_resend_ms
 * while the port stays bound, rather than waiting out the whole timeout
 * with every other cloud call of the node queued behind this one.
 */
static int wait_unbound(struct os_provider *pv, struct cloud_provider *p, const char *id)
{
	uint64_t deadline = sl_now_ms() + pv->detach_timeout_ms;
	uint64_t resend = sl_now_ms() + pv->detach_resend_ms;
	int err;

	for (;;) {
		json_t *port = NULL;
		bool done;

		err = port_get(pv, id, &port);
		if (err == -ENOENT)
			return 0;
		done = !err && !*jstr(port, "device_id");
		json_decref(port);
		if (done)
			return 0;
		if (sl_now_ms() >= deadline) {
			pr_warn("openstack: port %s still attached after %u ms", id, pv->detach_timeout_ms);
			return -ETIMEDOUT;
		}
		if (sl_now_ms() >= resend) {
			pr_info("openstack: port %s still bound %u ms after its detach: asking Nova again", id,
				pv->detach_resend_ms);
			nova_detach(pv, id, p); /* a failure is logged; the next poll decides */
			resend = sl_now_ms() + pv->detach_resend_ms;
		}
		sl_sleep_ms(pv->poll_ms);
	}
}

/* Nova DELETE os-interface: 202 (asynchronous) or 404 (not attached). */
static int nova_detach(struct os_provider *pv, const char *port_id, struct cloud_provider *p)
{
	char path[2 * CLOUD_ID_LEN + 32], what[CLOUD_ID_LEN + 32];
	struct os_resp r;
	int err;

	snprintf(path, sizeof(path), "servers/%s/os-interface/%s", p->instance, port_id);
	err = os_call(&pv->s, OS_SVC_COMPUTE, "DELETE", path, NULL, NULL, 0, &r);
	if (err) {
		pr_warn("openstack: nova detach %s: %s", port_id, strerror(-err));
		return err;
	}
	if (r.status != 202 && r.status != 204 && r.status != 200 && r.status != 404) {
		snprintf(what, sizeof(what), "nova detach %s", port_id);
		err = os_resp_fail(what, &r);
	}
	os_resp_free(&r);
	return err;
}

/* Undoes an attach: detach if Nova may have attached the port, delete it. */
static void rollback_attach(struct os_provider *pv, struct cloud_provider *p, const char *id)
{
	json_t *port = NULL;
	int err;

	pv->rollbacks++;
	err = port_get(pv, id, &port);
	if (err == -ENOENT)
		return;
	if (err || *jstr(port, "device_id")) {
		err = nova_detach(pv, id, p);
		if (!err)
			err = wait_unbound(pv, p, id);
	}
	json_decref(port);
	if (!err)
		err = port_delete(pv, id);
	if (err)
		pr_err("openstack: rollback of port %s failed (%s): a later list_interfaces cleans it up", id,
		       strerror(-err));
}

/* --- the provider ------------------------------------------------------------------ */

static int os_limits(struct cloud_provider *p, struct cloud_limits *out)
{
	*out = priv(p)->limits;
	return 0;
}

static int instance_ports(struct os_provider *pv, struct cloud_provider *p, json_t **ports)
{
	char esc[3 * CLOUD_ID_LEN], q[sizeof(esc) + 16];

	url_escape(p->instance, esc, sizeof(esc));
	snprintf(q, sizeof(q), "device_id=%s", esc);
	return ports_list(pv, q, ports);
}

static int os_list(struct cloud_provider *p, struct cloud_iface **out, size_t *n)
{
	struct os_provider *pv = priv(p);
	struct cloud_iface *list = NULL;
	json_t *ports = NULL, *port;
	size_t i, count = 0;
	int err;

	pthread_mutex_lock(&pv->lock);
	delete_unattached(pv, NULL);
	err = instance_ports(pv, p, &ports);
	if (err)
		goto out;
	list = calloc(json_array_size(ports) + 1, sizeof(*list));
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(ports, i, port) {
		err = port_export(pv, port, &list[count]);
		if (err)
			break;
		count++;
	}
out:
	json_decref(ports);
	pthread_mutex_unlock(&pv->lock);
	if (err) {
		cloud_iface_free_array(list, count);
		return err;
	}
	*out = list;
	*n = count;
	return 0;
}

static int create_port(struct os_provider *pv, unsigned idx, json_t **port)
{
	struct cloud_http_stats a, b;
	char name[32];
	struct os_resp r;
	json_t *body, *created;
	bool repeated;
	int err;

	snprintf(name, sizeof(name), PORT_NAME_PREFIX "%u", idx);
	body = json_pack("{s:{s:s, s:s, s:s, s:b, s:[{s:s}]}}", "port", "network_id", pv->pod_network, "name", name,
			 "description", pv->description, "admin_state_up", 1, "fixed_ips", "subnet_id",
			 pv->pod_subnet);
	if (!body)
		return -ENOMEM;
	if (pv->security_groups)
		json_object_set(json_object_get(body, "port"), "security_groups", pv->security_groups);
	cloud_http_stats(pv->s.http, &a);
	err = os_call(&pv->s, OS_SVC_NETWORK, "POST", "ports", body, NULL, 0, &r);
	cloud_http_stats(pv->s.http, &b);
	json_decref(body);
	repeated = b.retries > a.retries;
	created = err ? NULL : json_object_get(r.json, "port");
	if (!err && r.status == 201 && created && *jstr(created, "id") &&
	    json_array_size(json_object_get(created, "fixed_ips")) == 1) {
		*port = json_incref(created);
		/* A lost answer repeated: the first attempt's port is ours too. */
		if (repeated)
			delete_unattached(pv, jstr(created, "id"));
	} else {
		/* Lost, failed on the server's side or unreadable: a port may exist. */
		bool unknown = err || r.status == 429 || r.status >= 500 || r.status < 300;

		if (err)
			pr_warn("openstack: create port: %s", strerror(-err));
		else
			err = os_resp_fail("create port", &r);
		if (unknown)
			delete_unattached(pv, NULL);
	}
	os_resp_free(&r);
	return err;
}

static int tag_primary(struct os_provider *pv, const char *id, const struct sl_ip *ip)
{
	char path[CLOUD_ID_LEN + 16], tag[SL_IP_STRLEN + 16], buf[SL_IP_STRLEN];
	struct os_resp r;
	json_t *body;
	int err;

	snprintf(path, sizeof(path), "ports/%s/tags", id);
	snprintf(tag, sizeof(tag), PRIMARY_TAG "%s", sl_ip_fmt(ip, buf));
	body = json_pack("{s:[s]}", "tags", tag);
	if (!body)
		return -ENOMEM;
	err = os_call(&pv->s, OS_SVC_NETWORK, "PUT", path, body, NULL, 0, &r);
	json_decref(body);
	if (err)
		pr_warn("openstack: tag port %s: %s", id, strerror(-err));
	else if (r.status != 200 && r.status != 201)
		err = os_resp_fail("tag port", &r);
	os_resp_free(&r);
	return err;
}

static int nova_attach(struct os_provider *pv, struct cloud_provider *p, const char *id)
{
	char path[CLOUD_ID_LEN + 32], what[CLOUD_ID_LEN + 32];
	struct cloud_http_stats a, b;
	struct os_resp r;
	json_t *body, *port = NULL;
	int err;

	snprintf(path, sizeof(path), "servers/%s/os-interface", p->instance);
	body = json_pack("{s:{s:s}}", "interfaceAttachment", "port_id", id);
	if (!body)
		return -ENOMEM;
	cloud_http_stats(pv->s.http, &a);
	err = os_call(&pv->s, OS_SVC_COMPUTE, "POST", path, body, NULL, 0, &r);
	cloud_http_stats(pv->s.http, &b);
	json_decref(body);
	if (err) {
		pr_warn("openstack: nova attach %s: %s", id, strerror(-err));
		return err;
	}
	/* 200 is the answer that counts; the body only repeats the port. */
	if (r.status != 200) {
		snprintf(what, sizeof(what), "nova attach %s", id);
		err = os_resp_fail(what, &r);
	}
	/* Repeated after a lost answer, and "in use": in use by us, if the
	 * port says so (the first attempt did it). */
	if (r.status == 409 && b.retries > a.retries && !port_get(pv, id, &port) &&
	    !strcmp(jstr(port, "device_id"), p->instance)) {
		pr_info("openstack: nova attach %s: the answer was lost, the port is attached", id);
		err = 0;
	}
	json_decref(port);
	os_resp_free(&r);
	return err;
}

static int wait_active(struct os_provider *pv, struct cloud_provider *p, const char *id, json_t **port)
{
	uint64_t deadline = sl_now_ms() + pv->active_timeout_ms;

	for (;;) {
		json_t *cur = NULL;
		int err = port_get(pv, id, &cur);

		if (err)
			return err;
		if (!strcmp(jstr(cur, "device_id"), p->instance) && !strcmp(jstr(cur, "status"), "ACTIVE")) {
			*port = cur;
			return 0;
		}
		json_decref(cur);
		if (sl_now_ms() >= deadline) {
			pr_warn("openstack: port %s not ACTIVE after %u ms", id, pv->active_timeout_ms);
			return -ETIMEDOUT;
		}
		sl_sleep_ms(pv->poll_ms);
	}
}

static int os_attach(struct cloud_provider *p, struct cloud_iface *out)
{
	struct os_provider *pv = priv(p);
	json_t *ports = NULL, *port = NULL, *it;
	char id[CLOUD_ID_LEN];
	struct sl_ip primary;
	unsigned idx = 1;
	size_t i;
	int err;

	pthread_mutex_lock(&pv->lock);
	err = instance_ports(pv, p, &ports);
	if (err)
		goto out;
	if (json_array_size(ports) >= pv->limits.max_interfaces) {
		pr_warn("openstack: %s has %zu of %u interfaces: limit reached", p->instance, json_array_size(ports),
			pv->limits.max_interfaces);
		err = -ENOSPC;
		goto out;
	}
	/* The lowest free device index among ours, as a hypervisor hands out slots. */
	for (bool taken = true; taken; idx += taken) {
		taken = false;
		json_array_foreach(ports, i, it)
			taken |= port_ours(pv, it) && port_index(it) == idx;
	}
	err = create_port(pv, idx, &port);
	if (err)
		goto out;
	snprintf(id, sizeof(id), "%s", jstr(port, "id"));
	if (sl_ip_parse(jstr(json_array_get(json_object_get(port, "fixed_ips"), 0), "ip_address"), &primary)) {
		err = -EIO;
	} else {
		err = tag_primary(pv, id, &primary);
	}
	if (!err)
		err = nova_attach(pv, p, id);
	json_decref(port);
	port = NULL;
	if (!err)
		err = wait_active(pv, p, id, &port);
	if (!err)
		err = port_export(pv, port, out);
	if (err) {
		rollback_attach(pv, p, id);
		goto out;
	}
	pr_info("openstack: attached port %s (eni%u) to %s", id, idx, p->instance);
out:
	json_decref(port);
	json_decref(ports);
	pthread_mutex_unlock(&pv->lock);
	return err;
}

static int os_detach(struct cloud_provider *p, const char *iface_id)
{
	struct os_provider *pv = priv(p);
	json_t *port = NULL;
	const char *dev;
	int err;

	pthread_mutex_lock(&pv->lock);
	err = port_get(pv, iface_id, &port);
	if (err)
		goto out;
	dev = jstr(port, "device_id");
	if (!port_ours(pv, port) || (*dev && strcmp(dev, p->instance))) {
		pr_err("openstack: refusing to detach port %s: not one Sluice attached to %s", iface_id,
		       p->instance);
		err = -EPERM;
		goto out;
	}
	if (*dev) {
		err = nova_detach(pv, iface_id, p);
		if (!err)
			err = wait_unbound(pv, p, iface_id);
	}
	if (!err)
		err = port_delete(pv, iface_id);
	if (!err)
		pr_info("openstack: detached and deleted port %s", iface_id);
out:
	json_decref(port);
	pthread_mutex_unlock(&pv->lock);
	return err;
}

/* Reads the port back after a write with an unknown outcome. */
static int readback(struct os_provider *pv, const char *id, json_t **port)
{
	pv->readbacks++;
	return port_get(pv, id, port);
}

static int own_port(struct os_provider *pv, struct cloud_provider *p, const char *id, json_t **port)
{
	int err = port_get(pv, id, port);

	if (err)
		return err;
	if (!port_ours(pv, *port) || strcmp(jstr(*port, "device_id"), p->instance)) {
		pr_err("openstack: port %s is not one of Sluice's on %s", id, p->instance);
		json_decref(*port);
		*port = NULL;
		return -ENOENT;
	}
	return 0;
}

static int os_assign(struct cloud_provider *p, const char *iface_id, unsigned count, struct sl_ip *out,
		     size_t *n_out)
{
	struct os_provider *pv = priv(p);
	unsigned want = count, attempt;
	int err = 0;

	*n_out = 0;
	if (!count)
		return 0;
	pthread_mutex_lock(&pv->lock);
	for (attempt = 0; attempt <= pv->max_conflicts; attempt++) {
		json_t *port = NULL, *fixed = NULL, *list, *after = NULL;
		struct os_resp r = { 0 };
		json_int_t rev;
		size_t used;
		unsigned n;
		bool unknown;
		int cerr;

		err = own_port(pv, p, iface_id, &port);
		if (err)
			break;
		fixed = json_incref(json_object_get(port, "fixed_ips"));
		rev = json_integer_value(json_object_get(port, "revision_number"));
		json_decref(port);
		used = fixed_in_subnet(fixed, pv->pod_subnet);
		if (used >= pv->limits.max_ips_per_interface) {
			json_decref(fixed);
			err = -ENOSPC;
			break;
		}
		n = want < pv->limits.max_ips_per_interface - used ? want
								    : (unsigned)(pv->limits.max_ips_per_interface - used);
		list = fixed_explicit(fixed, NULL);
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(list, json_pack("{s:s}", "subnet_id", pv->pod_subnet));
		if (pv->hook)
			pv->hook(pv->hook_arg, iface_id);
		cerr = port_put_fixed(pv, iface_id, list, rev, &r);
		json_decref(list);
		unknown = cerr || r.status == 429 || r.status >= 500 || (r.status == 200 && r.garbage);
		if (!unknown && r.status == 200) {
			after = json_object_get(json_object_get(r.json, "port"), "fixed_ips");
			*n_out = fixed_added(fixed, after, pv->pod_subnet, out, n);
		} else if (unknown) {
			json_t *back = NULL;

			if (cerr)
				pr_warn("openstack: assign IPs on %s: %s; reading the port back", iface_id,
					strerror(-cerr));
			else
				os_resp_fail("assign IPs", &r);
			err = readback(pv, iface_id, &back);
			if (!err) {
				/* Ours if there: the port is this node's, and an address
				 * on it that the pool did not know would be a leak. */
				*n_out = fixed_added(fixed, json_object_get(back, "fixed_ips"), pv->pod_subnet, out, n);
				json_decref(back);
				if (!*n_out) {
					update_backoff(pv, attempt, &r);
					err = -EAGAIN; /* not applied (or someone else's change): again */
				}
			}
		} else if (r.status == 412) {
			pv->conflicts++;
			pr_debug("openstack: port %s changed under us (412), reading it again", iface_id);
			err = -EAGAIN;
		} else {
			err = os_resp_fail("assign IPs", &r);
			/* An exhausted subnet may still have room for fewer. */
			if (err == -ENOSPC && n > 1) {
				want = n / 2;
				err = -EAGAIN;
			}
		}
		os_resp_free(&r);
		json_decref(fixed);
		if (*n_out) {
			err = 0;
			break;
		}
		if (err != -EAGAIN)
			break;
	}
	if (attempt > pv->max_conflicts)
		pr_warn("openstack: assign IPs on %s: gave up after %u attempts", iface_id, attempt);
	pthread_mutex_unlock(&pv->lock);
	return err;
}

static int os_unassign(struct cloud_provider *p, const char *iface_id, const struct sl_ip *ip)
{
	struct os_provider *pv = priv(p);
	char buf[SL_IP_STRLEN];
	unsigned attempt;
	int err = 0;

	pthread_mutex_lock(&pv->lock);
	for (attempt = 0; attempt <= pv->max_conflicts; attempt++) {
		json_t *port = NULL, *list;
		struct sl_ip primary;
		struct os_resp r = { 0 };
		json_int_t rev;
		bool unknown, has;
		int cerr;

		err = own_port(pv, p, iface_id, &port);
		if (err)
			break;
		if (port_primary_tag(port, &primary) && sl_ip_equal(&primary, ip)) {
			pr_err("openstack: %s is the own address of port %s, not a pod IP", sl_ip_fmt(ip, buf),
			       iface_id);
			json_decref(port);
			err = -EINVAL;
			break;
		}
		has = fixed_has(json_object_get(port, "fixed_ips"), ip);
		rev = json_integer_value(json_object_get(port, "revision_number"));
		list = has ? fixed_explicit(json_object_get(port, "fixed_ips"), ip) : NULL;
		json_decref(port);
		if (!has)
			break; /* released already (a lost answer, or someone else) */
		if (pv->hook)
			pv->hook(pv->hook_arg, iface_id);
		cerr = port_put_fixed(pv, iface_id, list, rev, &r);
		json_decref(list);
		unknown = cerr || r.status == 429 || r.status >= 500;
		if (!unknown && r.status == 200) {
			err = 0;
		} else if (r.status == 412) {
			pv->conflicts++;
			err = -EAGAIN;
		} else if (unknown) {
			json_t *back = NULL;

			if (cerr)
				pr_warn("openstack: release IP on %s: %s; reading the port back", iface_id,
					strerror(-cerr));
			else
				os_resp_fail("release IP", &r);
			err = readback(pv, iface_id, &back);
			if (!err && fixed_has(json_object_get(back, "fixed_ips"), ip)) {
				update_backoff(pv, attempt, &r);
				err = -EAGAIN;
			}
			json_decref(back);
		} else {
			err = os_resp_fail("release IP", &r);
		}
		os_resp_free(&r);
		if (err != -EAGAIN)
			break;
	}
	pthread_mutex_unlock(&pv->lock);
	return err;
}

static void os_destroy(struct cloud_provider *p)
{
	struct os_provider *pv;

	if (!p)
		return;
	pv = priv(p);
	if (pv) {
		os_session_fini(&pv->s);
		json_decref(pv->security_groups);
		free(pv->subnets);
		pthread_mutex_destroy(&pv->lock);
		free(pv);
	}
	free(p);
}

static const struct cloud_provider_ops openstack_ops = {
	.name = "openstack",
	.limits = os_limits,
	.list_interfaces = os_list,
	.attach_interface = os_attach,
	.detach_interface = os_detach,
	.assign_ips = os_assign,
	.unassign_ip = os_unassign,
	.destroy = os_destroy,
};

void openstack_provider_stats(struct cloud_provider *p, struct openstack_stats *out)
{
	struct os_provider *pv = priv(p);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&pv->lock);
	cloud_http_stats(pv->s.http, &out->http);
	out->auths = pv->s.auths;
	out->reauth_401 = pv->s.reauth_401;
	out->conflicts = pv->conflicts;
	out->readbacks = pv->readbacks;
	out->rollbacks = pv->rollbacks;
	out->orphans_deleted = pv->orphans_deleted;
	pthread_mutex_unlock(&pv->lock);
}

static int parse_security_groups(const char *s, json_t **out)
{
	json_t *arr;

	*out = NULL;
	if (!s || !*s)
		return 0;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	while (*s) {
		size_t n = strcspn(s, ",");

		if (n)
			json_array_append_new(arr, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	*out = arr;
	return 0;
}

int openstack_provider_create(const struct openstack_config *cfg, struct cloud_provider **out)
{
	struct cloud_provider *p = calloc(1, sizeof(*p));
	struct os_provider *pv = calloc(1, sizeof(*pv));
	struct os_subnet *sn;
	int err;

	if (!p || !pv) {
		free(p);
		free(pv);
		return -ENOMEM;
	}
	pthread_mutex_init(&pv->lock, NULL);
	p->ops = &openstack_ops;
	p->priv = pv;
	if (!cfg->pod_subnet_id || !*cfg->pod_subnet_id || strlen(cfg->pod_subnet_id) >= CLOUD_ID_LEN) {
		pr_err("openstack: no pod subnet (the Neutron subnet id for pod interfaces and IPs)");
		os_destroy(p);
		return -EINVAL;
	}
	err = os_session_init(&pv->s, cfg);
	if (err) {
		free(pv->subnets);
		pthread_mutex_destroy(&pv->lock);
		free(pv);
		free(p);
		return err;
	}
	snprintf(pv->pod_subnet, sizeof(pv->pod_subnet), "%s", cfg->pod_subnet_id);
	pv->limits.max_interfaces = cfg->limits.max_interfaces ?: OPENSTACK_DEFAULT_MAX_INTERFACES;
	pv->limits.max_ips_per_interface = cfg->limits.max_ips_per_interface ?: OPENSTACK_DEFAULT_MAX_IPS;
	pv->active_timeout_ms = cfg->active_timeout_ms ?: 60000;
	pv->detach_timeout_ms = cfg->detach_timeout_ms ?: 180000;
	pv->detach_resend_ms = cfg->detach_resend_ms ?: 10000;
	pv->poll_ms = cfg->poll_interval_ms ?: 500;
	pv->max_conflicts = cfg->max_conflict_retries ?: 8;
	pv->page_size = cfg->page_size ?: 200;
	pv->hook = cfg->before_port_update;
	pv->hook_arg = cfg->hook_arg;
	err = parse_security_groups(cfg->security_groups, &pv->security_groups);
	if (!err)
		err = os_instance_id(cfg, p->instance, sizeof(p->instance));
	if (!err) {
		snprintf(pv->description, sizeof(pv->description), "sluice:%s", p->instance);
		err = os_authenticate(&pv->s);
	}
	if (!err)
		err = subnet_get(pv, pv->pod_subnet, &sn, pv->pod_network, sizeof(pv->pod_network));
	if (!err && !pv->pod_network[0]) {
		pr_err("openstack: subnet %s has no network_id", pv->pod_subnet);
		err = -EIO;
	}
	if (err) {
		pr_err("openstack: provider for instance %s not created: %s", p->instance[0] ? p->instance : "?",
		       strerror(-err));
		os_destroy(p);
		return err;
	}
	pr_info("openstack: instance %s, pod subnet %s (network %s), network %s, compute %s", p->instance,
		pv->pod_subnet, pv->pod_network, pv->s.network_url, pv->s.compute_url);
	*out = p;
	return 0;
}
