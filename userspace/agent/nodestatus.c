// SPDX-License-Identifier: Apache-2.0
/*
 * The node's SluiceNodeStatus (sluice.dev/v1alpha1, cluster-scoped, named
 * after the node; schema in helm/crds/, fields in docs/node-status.md): the
 * instance, its interfaces with their IPs and state, the pool as
 * agent_view_ipam shows it, what the orphan passes did, and conditions.
 *
 * One thread builds the object every second and writes it when it changed
 * (ignoring counters that move on their own: the budget level, call counts)
 * and at least every HEARTBEAT_S, so a reader can tell a live agent from a
 * dead one by status.heartbeatTime. Where it goes follows --k8s-source:
 *   kube      the API server: PUT with the last resourceVersion, POST when
 *             the object does not exist, GET to refresh on a conflict. A
 *             missing CRD (404 on the collection) is logged once and retried
 *             slowly; nothing here is ever fatal to the agent.
 *   dir:PATH  PATH/sluicenodestatus-NODE.json, written atomically (the dir
 *             source skips these files by name).
 *   none      nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/kube_http.h"
#include "k8s/kubeconfig.h"

#define NODESTATUS_API "/apis/sluice.dev/v1alpha1/sluicenodestatuses"
#define TICK_MS 1000          /* builds per second: the debounce */
#define HEARTBEAT_S 60        /* written at least this often */
#define RETRY_S 5             /* after a failed write */
#define NO_CRD_RETRY_S 60     /* while the CRD is not installed */
#define REQUEST_TIMEOUT_S 10

enum { COND_READY, COND_POOL, COND_CLOUD, COND_MAX };
static const char *const cond_types[COND_MAX] = { "Ready", "PoolAvailable", "CloudReachable" };

struct agent_nodestatus {
	struct agent *a;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	atomic_bool http_stop;
	char path[PATH_MAX];        /* dir mode: the file */
	struct kube_auth auth;      /* kube mode */
	struct kube_http *http;
	char rv[64];                /* resourceVersion of our last write, "" unknown */
	char *last;                 /* what was last written, volatile fields left out */
	time_t last_write, retry_at; /* CLOCK_MONOTONIC seconds */
	bool crd_missing, logged_error;
	struct {
		bool status;
		char since[32];
	} conds[COND_MAX];
	uint64_t writes, failures;
};

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *iface_state(const struct agent *a, const struct ipam_iface *iface)
{
	(void)a;
	return iface->ifindex ? "adopted" : "pending";
}

static json_t *ip_json(const struct agent *a, const struct ipam_slot *s)
{
	char ip[SL_IP_STRLEN];
	json_t *o = json_pack("{s:s}", "ip", sl_ip_fmt(&s->ip, ip));

	if (!s->owner.container_id[0]) {
		json_object_set_new(o, "free", json_true());
		return o;
	}
	json_object_set_new(o, "free", json_false());
	json_object_set_new(o, "containerID", json_string(s->owner.container_id));
	for (size_t i = 0; i < a->n_endpoints; i++) {
		const struct endpoint *ep = &a->endpoints[i];

		if (!strcmp(ep->key.container_id, s->owner.container_id) && !strcmp(ep->key.ifname, s->owner.ifname)) {
			char owner[2 * ENDPOINT_K8S_NAME_LEN + 2];

			snprintf(owner, sizeof(owner), "%s/%s", ep->k8s_namespace, ep->pod);
			json_object_set_new(o, "owner", json_string(owner));
			break;
		}
	}
	return o;
}

/* Interfaces and orphan counts (lock held). */
static json_t *interfaces_json(struct agent *a)
{
	json_t *list = json_array();
	char mac[SL_MAC_STRLEN], sub[SL_PREFIX_STRLEN], ip[SL_IP_STRLEN];

	for (size_t i = 0; i < a->ipam.n_ifaces; i++) {
		const struct ipam_iface *iface = &a->ipam.ifaces[i];
		json_t *ips = json_array();

		for (size_t j = 0; j < iface->n_slots; j++)
			json_array_append_new(ips, ip_json(a, &iface->slots[j]));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o}", "id", iface->id,
						      "mac", sl_mac_fmt(iface->mac, mac), "name", iface->name,
						      "subnet", sl_prefix_fmt(&iface->subnet, sub), "subnetID",
						      iface->subnet_id, "primaryIP", sl_ip_fmt(&iface->primary_ip, ip),
						      "deviceIndex", (int)iface->device_index, "state",
						      iface_state(a, iface), "ips", ips));
	}
	/* Gone from the cloud, still holding pods: the IPs are the pods'. */
	for (unsigned i = 0; i < a->orphans.n_lost; i++) {
		const struct agent_lost_iface *l = &a->orphans.lost_ifaces[i];
		json_t *ips = json_array();

		for (size_t j = 0; j < a->n_endpoints; j++) {
			const struct endpoint *ep = &a->endpoints[j];
			char owner[2 * ENDPOINT_K8S_NAME_LEN + 2];

			if (strcmp(ep->eni_id, l->id))
				continue;
			snprintf(owner, sizeof(owner), "%s/%s", ep->k8s_namespace, ep->pod);
			json_array_append_new(ips, json_pack("{s:s, s:b, s:s, s:s}", "ip", sl_ip_fmt(&ep->ip, ip),
							     "free", 0, "containerID", ep->key.container_id, "owner",
							     owner));
		}
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", l->id, "mac",
						      sl_mac_fmt(l->mac, mac), "name", l->name, "primaryIP",
						      sl_ip_fmt(&l->primary_ip, ip), "state", "lost", "ips", ips));
	}
	return list;
}

static json_t *orphans_json(const struct agent_orphan_stats *o)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "passes", (json_int_t)o->passes,
			 "failedPasses", (json_int_t)o->failed, "readopted", (json_int_t)o->readopted, "detached",
			 (json_int_t)o->detached, "forgotten", (json_int_t)o->forgotten, "lost",
			 (json_int_t)o->lost, "ipsAdded", (json_int_t)o->ips_added, "ipsDropped",
			 (json_int_t)o->ips_dropped, "lastPassTime", (json_int_t)o->last_pass_time, "lastError",
			 o->last_error);
}

static json_t *condition(struct agent_nodestatus *ns, int type, bool ok, const char *reason, const char *message)
{
	if (!ns->conds[type].since[0] || ns->conds[type].status != ok) {
		ns->conds[type].status = ok;
		now_rfc3339(ns->conds[type].since, sizeof(ns->conds[type].since));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", cond_types[type], "status", ok ? "True" : "False",
			 "reason", reason, "message", message, "lastTransitionTime", ns->conds[type].since);
}

static json_t *build(struct agent *a, struct agent_nodestatus *ns)
{
	json_t *pool = agent_view_ipam(a), *status, *conds = json_array();
	const char *block;
	char cloud_msg[600];
	bool cloud_ok;

	/* The interfaces are below, with their state; the rest is the pool
	 * as `sluicectl ipam show` has it. */
	json_object_del(pool, "interfaces");
	pthread_mutex_lock(&a->lock);
	status = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "nodeName", a->cfg.node, "instanceID",
			   a->cloud ? a->cloud->instance : "", "provider", a->cloud ? a->cloud->ops->name : "",
			   "interfaces", interfaces_json(a), "pool", pool, "orphans", orphans_json(&a->orphans));
	block = agent_pool_block_name(a->pool.block);
	json_array_append_new(conds, condition(ns, COND_READY, a->ready, a->ready ? "AgentReady" : "Starting",
					       a->ready ? "" : "start-up reconcile under way"));
	json_array_append_new(conds,
			      condition(ns, COND_POOL, !a->pool_stuck && !*block,
					*block ? block : a->pool_stuck ? "PoolStuck" : "Available",
					a->pool_stuck || *block ? a->last_cloud_error : ""));
	cloud_ok = a->pool.consecutive_failures == 0 && !a->orphans.last_error[0];
	snprintf(cloud_msg, sizeof(cloud_msg), "%s%s%s", a->pool.consecutive_failures ? a->last_cloud_error : "",
		 a->pool.consecutive_failures && a->orphans.last_error[0] ? "; " : "", a->orphans.last_error);
	json_array_append_new(conds, condition(ns, COND_CLOUD, cloud_ok,
					       cloud_ok ? "CloudAnswers" :
					       a->pool.consecutive_failures ? "CloudCallsFailing" : "OrphanPassFailed",
					       cloud_msg));
	pthread_mutex_unlock(&a->lock);
	json_object_set_new(status, "conditions", conds);
	return json_pack("{s:s, s:s, s:{s:s}, s:{}, s:o}", "apiVersion", "sluice.dev/v1alpha1", "kind",
			 "SluiceNodeStatus", "metadata", "name", a->cfg.node, "spec", "status", status);
}

json_t *agent_nodestatus_build(struct agent *a)
{
	struct agent_nodestatus tmp = { .a = a };

	return build(a, a->nodestatus ? a->nodestatus : &tmp);
}

/* The object without what moves on its own: what decides "changed". */
static char *fingerprint(const json_t *obj)
{
	json_t *copy = json_deep_copy(obj);
	json_t *pool = json_object_get(json_object_get(copy, "status"), "pool");
	char *s;

	json_object_del(pool, "budget");
	json_object_del(pool, "calls");
	json_object_del(pool, "passes");
	json_object_del(pool, "excessSeconds");
	json_object_del(pool, "providerHTTP");
	json_object_del(json_object_get(json_object_get(copy, "status"), "orphans"), "passes");
	json_object_del(json_object_get(json_object_get(copy, "status"), "orphans"), "lastPassTime");
	s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	return s;
}

/* --- kube --------------------------------------------------------------------------- */

struct body {
	char *data;
	size_t len;
};

static int body_cb(void *arg, const char *data, size_t len)
{
	struct body *b = arg;
	char *grown = realloc(b->data, b->len + len + 1);

	if (!grown)
		return -ENOMEM;
	memcpy(grown + b->len, data, len);
	b->len += len;
	grown[b->len] = '\0';
	b->data = grown;
	return 0;
}

/* One request; 0 and the HTTP status in *status, or a transport error. The
 * answer's resourceVersion (2xx) is remembered. */
static int kube_call(struct agent_nodestatus *ns, const char *method, const char *path, const char *payload,
		     long *status, char *why, size_t why_len)
{
	struct kube_http_result res;
	struct body b = { 0 };
	int err;

	err = kube_http_request(ns->http, method, path, payload, REQUEST_TIMEOUT_S, body_cb, &b, &res);
	*status = res.status;
	if (err) {
		snprintf(why, why_len, "%s %s: %s", method, path, res.error);
	} else if (res.status >= 200 && res.status < 300) {
		json_t *o = b.data ? json_loads(b.data, 0, NULL) : NULL;
		const char *rv = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));

		snprintf(ns->rv, sizeof(ns->rv), "%s", rv ? rv : "");
		json_decref(o);
	} else {
		json_t *st = res.body ? json_loads(res.body, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(st, "message"));

		snprintf(why, why_len, "%s %s: HTTP %ld%s%s", method, path, res.status, msg ? ": " : "",
			 msg ? msg : "");
		json_decref(st);
	}
	free(b.data);
	free(res.body);
	return err;
}

/* Create or replace; -ENOENT when the CRD is not installed. */
static int write_kube(struct agent_nodestatus *ns, json_t *obj, char *why, size_t why_len)
{
	char item[512], *payload = NULL;
	long status = 0;
	int err = 0;

	snprintf(item, sizeof(item), NODESTATUS_API "/%s", ns->a->cfg.node);
	/* A replace names the version it replaces; a conflict or an unknown
	 * version is settled by reading the current one, once. */
	for (int round = 0; round < 3; round++) {
		json_t *meta = json_object_get(obj, "metadata");

		if (ns->rv[0])
			json_object_set_new(meta, "resourceVersion", json_string(ns->rv));
		else
			json_object_del(meta, "resourceVersion");
		free(payload);
		payload = json_dumps(obj, JSON_COMPACT);
		if (!payload) {
			err = -ENOMEM;
			break;
		}
		if (ns->rv[0]) {
			err = kube_call(ns, "PUT", item, payload, &status, why, why_len);
			if (err || (status >= 200 && status < 300))
				break;
			if (status != 409 && status != 404)
				break;
			ns->rv[0] = '\0';
			if (status == 409) {
				err = kube_call(ns, "GET", item, NULL, &status, why, why_len);
				if (err || status != 200)
					break;
				continue;
			}
		}
		err = kube_call(ns, "POST", NODESTATUS_API, payload, &status, why, why_len);
		if (err || (status >= 200 && status < 300))
			break;
		if (status == 404) {
			err = -ENOENT; /* no such resource: the CRD is not installed */
			break;
		}
		if (status != 409)
			break;
		/* Exists already (an earlier agent made it): read its version. */
		err = kube_call(ns, "GET", item, NULL, &status, why, why_len);
		if (err || status != 200)
			break;
	}
	free(payload);
	if (!err && (status < 200 || status >= 300))
		err = status == 401 || status == 403 ? -EACCES : -EIO;
	return err;
}

/* --- the writer ----------------------------------------------------------------------- */

static int write_once(struct agent_nodestatus *ns, json_t *obj, char *why, size_t why_len)
{
	char hb[32], *text;
	int err;

	now_rfc3339(hb, sizeof(hb));
	json_object_set_new(json_object_get(obj, "status"), "heartbeatTime", json_string(hb));
	if (ns->http)
		return write_kube(ns, obj, why, why_len);
	text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	err = fs_write_atomic(ns->path, text, strlen(text), 0644);
	if (err)
		snprintf(why, why_len, "write %.400s: %s", ns->path, strerror(-err));
	free(text);
	return err;
}

static void tick(struct agent_nodestatus *ns)
{
	json_t *obj = build(ns->a, ns);
	char *fp = fingerprint(obj), why[512] = "";
	time_t now = mono_s();
	bool changed = !ns->last || !fp || strcmp(ns->last, fp);
	int err;

	if (now < ns->retry_at || (!changed && now - ns->last_write < HEARTBEAT_S)) {
		free(fp);
		json_decref(obj);
		return;
	}
	err = write_once(ns, obj, why, sizeof(why));
	if (!err) {
		if (ns->crd_missing || ns->logged_error)
			pr_info("node status: written again");
		free(ns->last);
		ns->last = fp;
		fp = NULL;
		ns->last_write = now;
		ns->crd_missing = ns->logged_error = false;
		ns->writes++;
	} else if (err == -ENOENT && ns->http) {
		if (!ns->crd_missing)
			pr_warn("node status: the SluiceNodeStatus CRD is not installed (helm/crds/); "
				"retrying every %d s", NO_CRD_RETRY_S);
		ns->crd_missing = true;
		ns->retry_at = now + NO_CRD_RETRY_S;
		ns->failures++;
	} else {
		if (!ns->logged_error)
			pr_warn("node status: %s (%s); retrying every %d s", why[0] ? why : "write failed",
				strerror(-err), RETRY_S);
		ns->logged_error = true;
		ns->retry_at = now + RETRY_S;
		ns->failures++;
	}
	free(fp);
	json_decref(obj);
}

static void *nodestatus_main(void *arg)
{
	struct agent_nodestatus *ns = arg;

	pthread_mutex_lock(&ns->mu);
	while (!ns->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&ns->mu);
		tick(ns);
		pthread_mutex_lock(&ns->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += TICK_MS / 1000;
		while (!ns->stop && pthread_cond_timedwait(&ns->cond, &ns->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&ns->mu);
	return NULL;
}

static void nodestatus_free(struct agent_nodestatus *ns)
{
	kube_http_free(ns->http);
	kube_auth_free(&ns->auth);
	pthread_mutex_destroy(&ns->mu);
	pthread_cond_destroy(&ns->cond);
	free(ns->last);
	free(ns);
}

int agent_nodestatus_start(struct agent *a)
{
	const char *src = a->cfg.k8s_source;
	struct agent_nodestatus *ns;
	pthread_condattr_t attr;
	char msg[512] = "";
	int err = 0;

	if (strncmp(src, "dir:", 4) && strcmp(src, "kube"))
		return 0; /* no Kubernetes: nowhere to publish */
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->a = a;
	pthread_mutex_init(&ns->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ns->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!strcmp(src, "kube")) {
		err = kube_auth_load(a->cfg.kubeconfig[0] ? a->cfg.kubeconfig : NULL,
				     a->cfg.kube_context[0] ? a->cfg.kube_context : NULL, NULL, &ns->auth, msg,
				     sizeof(msg));
		if (!err)
			err = kube_http_new(&ns->auth, &ns->http_stop, &ns->http);
		if (err)
			pr_err("node status: API server credentials: %s", msg[0] ? msg : strerror(-err));
	} else if (snprintf(ns->path, sizeof(ns->path), "%s/" K8S_NODESTATUS_FILE_PREFIX "%s.json", src + 4,
			    a->cfg.node) >= (int)sizeof(ns->path)) {
		err = -ENAMETOOLONG;
		pr_err("node status: path for %s is too long", src + 4);
	}
	if (!err) {
		a->nodestatus = ns;
		err = -pthread_create(&ns->thread, NULL, nodestatus_main, ns);
		if (err)
			a->nodestatus = NULL;
	}
	if (err)
		nodestatus_free(ns);
	return err;
}

void agent_nodestatus_stop(struct agent *a)
{
	struct agent_nodestatus *ns = a->nodestatus;

	if (!ns)
		return;
	pthread_mutex_lock(&ns->mu);
	ns->stop = true;
	pthread_cond_broadcast(&ns->cond);
	pthread_mutex_unlock(&ns->mu);
	atomic_store(&ns->http_stop, true);
	if (ns->http)
		kube_http_wakeup(ns->http);
	pthread_join(ns->thread, NULL);
	a->nodestatus = NULL;
	nodestatus_free(ns);
}
