// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's half of CNI: ADD, DEL, CHECK, STATUS and GC on the state it
 * owns. Each operation runs under a->lock, changes the kernel and the maps,
 * writes the checkpoint, and only then answers: what the runtime is told has
 * happened has been persisted. A step that fails undoes the steps before it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cni_codes.h"
#include "common/log.h"
#include "consts.h"
#include "netlink/netns.h"


static json_t *cni_error(int code, const char *msg, const char *details)
{
	return json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "msg", msg, "details",
			 details ? details : "");
}

static json_t *cni_errorf(int code, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *cni_errorf(int code, const char *msg, const char *fmt, ...)
{
	char details[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(details, sizeof(details), fmt, ap);
	va_end(ap);
	return cni_error(code, msg, details);
}

static json_t *cni_ok(json_t *result)
{
	return json_pack("{s:o}", "result", result ? result : json_object());
}

/* Value of KEY in CNI_ARGS ("K1=V1;K2=V2"); "" when absent. */
static void cni_arg(const char *args, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	const char *p = args;

	out[0] = '\0';
	while (p && *p) {
		const char *end = strchr(p, ';');
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		if (plen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = plen - klen - 1;

			if (vlen >= len)
				vlen = len - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return;
		}
		p = end ? end + 1 : NULL;
	}
}

/* The kernel's rules for a name (dev_valid_name), so ADD fails cleanly here
 * rather than halfway through netlink. */
static bool valid_ifname(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++) {
		if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
			return false;
	}
	return true;
}

static bool valid_container_id(const char *s)
{
	/* SPEC.md: alphanumeric first, then alphanumerics, '_', '.', '-'. */
	if (!s[0] || strlen(s) >= IPAM_CONTAINER_ID_LEN || !((s[0] >= 'a' && s[0] <= 'z') ||
							      (s[0] >= 'A' && s[0] <= 'Z') ||
							      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

struct cni_req {
	const char *command;
	struct ipam_owner key;
	const char *netns;
	const char *args;
	json_t *config;
};

static json_t *parse_req(json_t *req, struct cni_req *r, bool need_key, bool need_netns)
{
	const char *cid = json_string_value(json_object_get(req, "containerID"));
	const char *ifname = json_string_value(json_object_get(req, "ifName"));

	memset(r, 0, sizeof(*r));
	r->command = json_string_value(json_object_get(req, "command"));
	r->netns = json_string_value(json_object_get(req, "netns"));
	r->args = json_string_value(json_object_get(req, "args"));
	r->config = json_object_get(req, "config");
	if (!r->netns)
		r->netns = "";
	if (!r->args)
		r->args = "";
	if (!json_is_object(r->config))
		return cni_error(CNI_ERR_INVALID_CONFIG, "invalid network configuration", "config is not an object");
	if (!need_key)
		return NULL;
	if (!cid || !valid_container_id(cid))
		return cni_errorf(CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID", "'%s'", cid ? cid : "");
	if (!ifname || !valid_ifname(ifname))
		return cni_errorf(CNI_ERR_INVALID_ENV, "invalid CNI_IFNAME", "'%s'", ifname ? ifname : "");
	if (need_netns && !r->netns[0])
		return cni_error(CNI_ERR_INVALID_ENV, "CNI_NETNS is required", NULL);
	snprintf(r->key.container_id, sizeof(r->key.container_id), "%s", cid);
	snprintf(r->key.ifname, sizeof(r->key.ifname), "%s", ifname);
	return NULL;
}

static json_t *add_result(const struct endpoint *ep)
{
	char ip[SL_IP_STRLEN], addr[SL_PREFIX_STRLEN + 8], hmac[SL_MAC_STRLEN], pmac[SL_MAC_STRLEN];

	snprintf(addr, sizeof(addr), "%s/%u", sl_ip_fmt(&ep->ip, ip), sl_ip_bytes(&ep->ip) * 8);
	return json_pack("{s:[{s:s, s:s}, {s:s, s:s, s:s}], s:[{s:s, s:s, s:i}], s:[{s:s, s:s}], s:{}}",
			 "interfaces", "name", ep->host_veth, "mac", sl_mac_fmt(ep->host_mac, hmac), "name",
			 ep->key.ifname, "mac", sl_mac_fmt(ep->mac, pmac), "sandbox", ep->netns, "ips",
			 "address", addr, "gateway", SL_POD_GATEWAY_V4, "interface", 1, "routes", "dst",
			 "0.0.0.0/0", "gw", SL_POD_GATEWAY_V4, "dns");
}

static int config_mtu(struct agent *a, json_t *config, unsigned *mtu)
{
	json_t *m = json_object_get(config, "mtu");

	*mtu = a->cfg.eni_mtu;
	if (!m)
		return 0;
	if (!json_is_integer(m) || json_integer_value(m) < 576 || json_integer_value(m) > 65535)
		return -EINVAL;
	*mtu = (unsigned)json_integer_value(m);
	return 0;
}

/* Removes everything of ep (lock held): map entry, links, its IP back to the
 * pool. The endpoint stays in the table; the caller drops it. */
static int teardown(struct agent *a, struct endpoint *ep)
{
	int err = agent_unmap_endpoint(a, &ep->ip);

	if (!err)
		err = endpoint_unplumb(ep);
	if (!err)
		ipam_release(&a->ipam, &ep->key, NULL);
	return err;
}

static json_t *cni_add(struct agent *a, struct cni_req *r)
{
	struct endpoint ep = { 0 }, *existing;
	struct ipam_slot *slot;
	struct ipam_iface *iface;
	const char *step;
	int fd, err;

	fd = netns_open(r->netns);
	if (fd < 0)
		return cni_errorf(CNI_ERR_UNKNOWN_CONTAINER, "network namespace not found", "%s: %s",
				  r->netns, strerror(-fd));
	close(fd);
	ep.key = r->key;
	snprintf(ep.netns, sizeof(ep.netns), "%s", r->netns);
	cni_arg(r->args, "K8S_POD_NAMESPACE", ep.k8s_namespace, sizeof(ep.k8s_namespace));
	cni_arg(r->args, "K8S_POD_NAME", ep.pod, sizeof(ep.pod));
	if (config_mtu(a, r->config, &ep.mtu))
		return cni_error(CNI_ERR_INVALID_CONFIG, "invalid network configuration", "mtu must be an integer 576..65535");

	pthread_mutex_lock(&a->lock);
	/* A kubelet's pod has its labels in the API before the ADD; a pod of
	 * another runtime has none to wait for. Starting a pod whose labels are
	 * unknown would start it outside its policy. */
	if (ep.k8s_namespace[0] && ep.pod[0] && agent_k8s_wait_pod(a, ep.k8s_namespace, ep.pod)) {
		pthread_mutex_unlock(&a->lock);
		return cni_errorf(CNI_ERR_TRY_AGAIN_LATER, "pod not known yet",
				  "Pod %s/%s has no object in %s after %u ms; its labels decide its policy",
				  ep.k8s_namespace, ep.pod, a->cfg.k8s_source, a->cfg.add_wait_ms);
	}
	existing = agent_endpoint_find(a, &r->key);
	if (existing) {
		/* A repeated ADD for the same attachment and namespace gets the
		 * same answer; one for another namespace is a runtime bug. */
		json_t *res = strcmp(existing->netns, r->netns) == 0
				      ? cni_ok(add_result(existing))
				      : cni_errorf(CNI_ERR_INVALID_CONFIG, "attachment exists in another netns",
						   "%s/%s is in %s", r->key.container_id, r->key.ifname,
						   existing->netns);
		pthread_mutex_unlock(&a->lock);
		return res;
	}
	err = ipam_alloc(&a->ipam, &ep.key, &slot, &iface);
	if (err == -ENOSPC) {
		err = agent_pool_wait_for_ip(a);
		if (!err)
			err = ipam_alloc(&a->ipam, &ep.key, &slot, &iface);
	}
	if (err) {
		json_t *res = cni_errorf(CNI_ERR_TRY_AGAIN_LATER, "no IP address available on this node", "%s%s%s",
					 a->pool_stuck ? "interface and IP limits reached" : "the pool is refilling",
					 a->last_cloud_error[0] ? "; last cloud error: " : "", a->last_cloud_error);
		pthread_mutex_unlock(&a->lock);
		return res;
	}
	ep.ip = slot->ip;
	snprintf(ep.eni_id, sizeof(ep.eni_id), "%s", iface->id);
	ep.eni_ifindex = iface->ifindex;
	ep.created = (int64_t)time(NULL);

	step = "plumb";
	err = endpoint_plumb(&ep);
	if (err)
		goto release;
	step = "attach program";
	err = loader_attach_pod(a->loader, ep.host_ifindex);
	if (err)
		goto unplumb;
	step = "record endpoint";
	err = agent_endpoint_add(a, &ep);
	if (err)
		goto unplumb;
	/* The pod's identity, its ipcache entry and its policy are in the maps
	 * before its endpoint entry, and all of it before ADD answers: the
	 * first packet meets the policy. */
	step = "apply policy";
	agent_policy_mark_dirty(a);
	err = agent_policy_sync(a);
	if (!err) {
		ep = *agent_endpoint_find(a, &ep.key);
		step = "map endpoint";
		err = agent_map_endpoint(a, &ep);
	}
	if (!err) {
		step = "checkpoint";
		err = agent_checkpoint(a);
	}
	if (err) {
		agent_endpoint_remove(a, agent_endpoint_find(a, &ep.key));
		agent_policy_mark_dirty(a);
		goto unmap;
	}
	agent_pool_kick(a);
	pthread_mutex_unlock(&a->lock);
	pr_info("ADD %s/%s: %s/%s ip %s via %s", ep.key.container_id, ep.key.ifname, ep.k8s_namespace,
		ep.pod, sl_ip_fmt(&ep.ip, (char[SL_IP_STRLEN]){ 0 }), ep.eni_id);
	return cni_ok(add_result(&ep));

unmap:
	agent_unmap_endpoint(a, &ep.ip);
unplumb:
	endpoint_unplumb(&ep);
release:
	ipam_release(&a->ipam, &ep.key, NULL);
	pthread_mutex_unlock(&a->lock);
	return cni_errorf(err == -ENOENT ? CNI_ERR_UNKNOWN_CONTAINER : CNI_ERR_INTERNAL, "ADD failed",
			  "%s: %s", step, strerror(-err));
}

static json_t *cni_del(struct agent *a, struct cni_req *r)
{
	struct endpoint *ep, stale = { 0 };
	int err;

	pthread_mutex_lock(&a->lock);
	ep = agent_endpoint_find(a, &r->key);
	if (!ep) {
		/* Unknown attachment: DEL is idempotent, but a link with its name
		 * would be a leftover of an ADD cut short: remove it. */
		stale.key = r->key;
		err = endpoint_unplumb(&stale);
		pthread_mutex_unlock(&a->lock);
		return err ? cni_errorf(CNI_ERR_TRY_AGAIN_LATER, "DEL failed", "delete link: %s", strerror(-err))
			   : cni_ok(NULL);
	}
	err = teardown(a, ep);
	if (!err) {
		agent_endpoint_remove(a, ep);
		agent_policy_mark_dirty(a);
		err = agent_checkpoint(a);
	}
	agent_pool_kick(a);
	pthread_mutex_unlock(&a->lock);
	if (err)
		return cni_errorf(CNI_ERR_TRY_AGAIN_LATER, "DEL failed", "%s", strerror(-err));
	pr_info("DEL %s/%s", r->key.container_id, r->key.ifname);
	return cni_ok(NULL);
}

/* CHECK: prevResult must name our IP, and the live state must match. */
static json_t *cni_check(struct agent *a, struct cni_req *r)
{
	json_t *prev = json_object_get(r->config, "prevResult"), *ip;
	struct sl_endpoint_key key;
	struct sl_endpoint_info info;
	struct endpoint ep, *found;
	char why[256], buf[SL_IP_STRLEN];
	bool listed = false;
	size_t i;

	pthread_mutex_lock(&a->lock);
	found = agent_endpoint_find(a, &r->key);
	if (found)
		ep = *found;
	pthread_mutex_unlock(&a->lock);
	if (!found)
		return cni_errorf(CNI_ERR_CHECK_FAILED, "CHECK failed", "no attachment %s/%s",
				  r->key.container_id, r->key.ifname);
	if (strcmp(ep.netns, r->netns) != 0)
		return cni_errorf(CNI_ERR_CHECK_FAILED, "CHECK failed", "attachment is in %s, not %s",
				  ep.netns, r->netns);
	if (json_is_object(prev)) {
		json_array_foreach(json_object_get(prev, "ips"), i, ip) {
			struct sl_prefix p;

			if (!sl_prefix_parse(json_string_value(json_object_get(ip, "address")), false, &p) &&
			    sl_ip_equal(&p.ip, &ep.ip))
				listed = true;
		}
		if (!listed)
			return cni_errorf(CNI_ERR_CHECK_FAILED, "CHECK failed",
					  "prevResult does not list %s", sl_ip_fmt(&ep.ip, buf));
	}
	if (endpoint_verify(&ep, why, sizeof(why)))
		return cni_error(CNI_ERR_CHECK_FAILED, "CHECK failed", why);
	sl_endpoint_key_from_ip(&key, &ep.ip);
	if (maps_endpoint_get(&a->maps, &key, &info) || info.ifindex != (__u32)ep.host_ifindex)
		return cni_errorf(CNI_ERR_CHECK_FAILED, "CHECK failed", "datapath has no entry for %s",
				  sl_ip_fmt(&ep.ip, buf));
	return cni_ok(NULL);
}

/* Why the pool cannot give an ADD an IP, or NULL when it can (now, or
 * after the controller's next calls). Lock held. */
static const char *pool_unavailable(struct agent *a, const struct ipam_counts *c)
{
	if (!a->ready)
		return "agent is starting";
	/* A free IP, or one only held back for a while by conntrack, will
	 * serve an ADD; so does a pool that can still grow. */
	if (ipam_allocatable(&a->ipam) || c->held)
		return NULL;
	switch (a->pool.block) {
	case AGENT_POOL_INTERFACE_LIMIT:
		return "no free IP and the interface and IP limits are reached";
	case AGENT_POOL_SUBNET_EXHAUSTED:
		return "no free IP and the cloud has no room (subnet exhausted)";
	case AGENT_POOL_BUDGET:
		return "no free IP and the cloud-call budget is spent";
	case AGENT_POOL_CLOUD_FAILING:
		return "no free IP and the cloud API is failing";
	}
	return NULL;
}

static json_t *cni_status(struct agent *a)
{
	struct ipam_counts c;
	const char *why;
	json_t *res;

	pthread_mutex_lock(&a->lock);
	ipam_count(&a->ipam, &c);
	why = pool_unavailable(a, &c);
	res = !why ? cni_ok(NULL)
		   : cni_errorf(CNI_ERR_NOT_AVAILABLE, "plugin not available",
				"%s; free IPs %u, used %u, capacity %u%s%s", why, c.free, c.used, c.capacity,
				a->pool.last_error[0] ? "; last cloud error: " : "", a->pool.last_error);
	pthread_mutex_unlock(&a->lock);
	return res;
}

static bool attachment_valid(json_t *valid, const struct ipam_owner *key)
{
	json_t *it;
	size_t i;

	json_array_foreach(valid, i, it) {
		const char *cid = json_string_value(json_object_get(it, "containerID"));
		const char *ifname = json_string_value(json_object_get(it, "ifname"));

		if (cid && ifname && !strcmp(cid, key->container_id) && !strcmp(ifname, key->ifname))
			return true;
	}
	return false;
}

/* GC: every attachment the runtime no longer lists goes, as if DELeted. */
static json_t *cni_gc(struct agent *a, struct cni_req *r)
{
	/* libcni sends the list under both names (cni#1101). */
	json_t *valid = json_object_get(r->config, "cni.dev/valid-attachments");

	if (!valid)
		valid = json_object_get(r->config, "cni.dev/attachments");
	unsigned removed = 0;
	int err = 0;

	if (!valid) /* no list: nothing is known to be stale, remove nothing */
		return cni_ok(NULL);
	if (!json_is_array(valid))
		return cni_error(CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				 "cni.dev/valid-attachments must be a list");
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_endpoints;) {
		struct endpoint *ep = &a->endpoints[i];

		if (attachment_valid(valid, &ep->key)) {
			i++;
			continue;
		}
		pr_info("GC %s/%s (%s/%s)", ep->key.container_id, ep->key.ifname, ep->k8s_namespace, ep->pod);
		err = teardown(a, ep);
		if (err)
			break;
		agent_endpoint_remove(a, ep);
		removed++;
	}
	/* IPs the pool gives to attachments that have no endpoint (an agent
	 * stopped halfway through an ADD) and that the runtime does not list:
	 * free them too. They go back to the cloud like any free IP, by the
	 * controller's release logic, after the release delay. */
	for (size_t i = 0; !err && i < a->ipam.n_ifaces; i++) {
		for (size_t j = 0; j < a->ipam.ifaces[i].n_slots; j++) {
			struct ipam_owner o = a->ipam.ifaces[i].slots[j].owner;

			if (!o.container_id[0] || o.container_id[0] == '~' || agent_endpoint_find(a, &o) ||
			    attachment_valid(valid, &o))
				continue;
			pr_info("GC %s/%s: IP without an endpoint", o.container_id, o.ifname);
			ipam_release(&a->ipam, &o, NULL);
			removed++;
		}
	}
	if (removed) {
		int cerr;

		agent_policy_mark_dirty(a);
		cerr = agent_checkpoint(a);

		err = err ? err : cerr;
		agent_pool_kick(a);
	}
	pthread_mutex_unlock(&a->lock);
	return err ? cni_errorf(CNI_ERR_TRY_AGAIN_LATER, "GC failed", "%s", strerror(-err)) : cni_ok(NULL);
}

json_t *agent_cni(struct agent *a, json_t *req)
{
	struct cni_req r;
	const char *cmd = json_string_value(json_object_get(req, "command"));
	json_t *bad;

	if (!cmd)
		return cni_error(CNI_ERR_DECODE, "missing command", NULL);
	if (!a->ready && strcmp(cmd, "STATUS") != 0)
		return cni_error(CNI_ERR_TRY_AGAIN_LATER, "agent is starting", "the start-up reconcile is not done");
	if (!strcmp(cmd, "ADD")) {
		bad = parse_req(req, &r, true, true);
		return bad ? bad : cni_add(a, &r);
	}
	if (!strcmp(cmd, "DEL")) {
		bad = parse_req(req, &r, true, false);
		return bad ? bad : cni_del(a, &r);
	}
	if (!strcmp(cmd, "CHECK")) {
		bad = parse_req(req, &r, true, true);
		return bad ? bad : cni_check(a, &r);
	}
	if (!strcmp(cmd, "STATUS"))
		return cni_status(a);
	if (!strcmp(cmd, "GC")) {
		bad = parse_req(req, &r, false, false);
		return bad ? bad : cni_gc(a, &r);
	}
	return cni_errorf(CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND", "'%s'", cmd);
}
