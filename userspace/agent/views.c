// SPDX-License-Identifier: Apache-2.0
/* What the agent shows: /v1/status, /v1/endpoints, /v1/ipam and /metrics. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cloud/ibm.h"
#include "cloud/openstack.h"
#include "common/clock.h"
#include "common/log.h"
#include "drop_reasons.h"
#include "maps/reasons.h"
#include "pins.h"

static json_t *pool_json(struct agent *a)
{
	struct cloud_limits l = ipam_limits(&a->ipam);
	struct ipam_counts c;
	unsigned desired = ipam_desired_free(&a->ipam, a->pool_waiters);

	ipam_count(&a->ipam, &c);
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:s, s:s, s:{s:i, s:i}}", "free",
			 c.free, "used", c.used, "held", c.held, "allocatable", ipam_allocatable(&a->ipam),
			 "interfaces", c.interfaces, "capacity", c.capacity, "maxInterfaces", l.max_interfaces,
			 "maxIPsPerInterface", l.max_ips_per_interface, "warmIPTarget", a->ipam.warm_ip_target,
			 "stuck", a->pool_stuck, "blocked", agent_pool_block_name(a->pool.block), "mode",
			 agent_reconcile_mode_name(a->cfg.reconcile_mode), "debt", "ips",
			 c.free - c.held < desired ? desired - (c.free - c.held) : 0, "waitingAdds",
			 a->pool_waiters);
}

static uint64_t counter(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* The provider's own HTTP requests (retries and token calls included);
 * false for providers that do not speak HTTP (sim). */
static bool provider_http(struct agent *a, struct cloud_http_stats *out)
{
	if (!a->cloud)
		return false;
	if (!strcmp(a->cloud->ops->name, "ibm")) {
		struct ibm_stats st;

		ibm_provider_stats(a->cloud, &st);
		*out = st.http;
		return true;
	}
	if (!strcmp(a->cloud->ops->name, "openstack")) {
		struct openstack_stats st;

		openstack_provider_stats(a->cloud, &st);
		*out = st.http;
		return true;
	}
	return false;
}

static json_t *calls_json(struct agent *a)
{
	json_t *o = json_object();
	uint64_t total = 0, failed = 0;

	for (int k = 0; k < AGENT_CALL_KINDS; k++) {
		json_object_set_new(o, agent_cloud_call_name(k), json_integer((json_int_t)counter(&a->pool.calls[k])));
		total += counter(&a->pool.calls[k]);
		failed += counter(&a->pool.failed[k]);
	}
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	json_object_set_new(o, "failed", json_integer((json_int_t)failed));
	return o;
}

static json_t *policy_stats_json(struct agent *a)
{
	struct sl_policy_config cfg = { 0 };

	maps_polcfg_get(&a->maps, &cfg);
	return json_pack("{s:i, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:I}", "rev", (int)cfg.rev,
			 "ctOnPolicyChange", a->cfg.ct_on_policy_change ? "drop" : "keep", "syncs",
			 (json_int_t)a->policy_syncs, "ipcacheEntries", (json_int_t)a->policy.n_ipcache,
			 "trieEntries", (json_int_t)a->policy.n_trie, "lastCompileMs",
			 (double)a->policy_last_compile_ns / 1e6, "lastApplyMs",
			 (double)a->policy_last_apply_ns / 1e6, "lastChangeToEnforcedMs",
			 (double)a->policy_last_latency_ns / 1e6, "lastMapOperations",
			 (json_int_t)a->policy_last_ops);
}

json_t *agent_view_status(struct agent *a)
{
	json_t *s;

	pthread_mutex_lock(&a->lock);
	s = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:o, s:{s:i, s:[s, s]}, s:s}", "node", a->cfg.node,
		      "version", SLUICE_VERSION, "provider", a->cloud ? a->cloud->ops->name : "-", "ready",
		      a->ready, "pinDir", a->cfg.pin_dir, "socket", a->cfg.socket_path, "endpoints",
		      (int)a->n_endpoints, "pool", pool_json(a), "datapath", "layoutVersion", SL_LAYOUT_VERSION,
		      "programs", SL_PROG_FROM_POD, SL_PROG_FROM_ENI, "lastCloudError", a->last_cloud_error);
	json_object_set_new(s, "policy", policy_stats_json(a));
	json_object_set_new(s, "k8s", json_pack("{s:s, s:b, s:{s:I, s:I, s:I}}", "source",
						a->cfg.k8s_source[0] ? a->cfg.k8s_source : "none", "synced",
						agent_k8s_synced(a), "objects", "namespaces",
						(json_int_t)(a->store ? k8s_store_count(a->store, K8S_KIND_NAMESPACE) : 0),
						"pods",
						(json_int_t)(a->store ? k8s_store_count(a->store, K8S_KIND_POD) : 0),
						"networkPolicies",
						(json_int_t)(a->store ? k8s_store_count(a->store, K8S_KIND_NETWORK_POLICY)
								      : 0)));
	pthread_mutex_unlock(&a->lock);
	return s;
}

static json_t *labels_json(const struct k8s_labels *labels)
{
	json_t *o = json_object();

	for (size_t i = 0; labels && i < labels->n; i++)
		json_object_set_new(o, labels->v[i].key, json_string(labels->v[i].value));
	return o;
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "UDP" : p == IPPROTO_SCTP ? "SCTP" : "TCP";
}

static json_t *endpoint_json(struct agent *a, const struct endpoint *ep)
{
	const struct k8s_pod *pod = a->store ? k8s_store_pod(a->store, ep->k8s_namespace, ep->pod) : NULL;
	const struct ipam_iface *iface = ipam_iface_find(&a->ipam, ep->eni_id);
	char ip[SL_IP_STRLEN], mac[SL_MAC_STRLEN], hmac[SL_MAC_STRLEN];
	json_t *ports = json_array();

	for (size_t i = 0; pod && i < pod->n_ports; i++)
		json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", pod->ports[i].name,
						       "containerPort", pod->ports[i].port, "protocol",
						       proto_name(pod->ports[i].protocol)));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:o, s:o, s:b, s:I}",
			 "containerID", ep->key.container_id, "ifName", ep->key.ifname, "netns", ep->netns,
			 "namespace", ep->k8s_namespace, "pod", ep->pod, "ip", sl_ip_fmt(&ep->ip, ip), "mac",
			 sl_mac_fmt(ep->mac, mac), "hostVeth", ep->host_veth, "hostIfindex", ep->host_ifindex,
			 "hostMac", sl_mac_fmt(ep->host_mac, hmac), "eni", ep->eni_id, "eniName",
			 iface ? iface->name : "", "eniIfindex", ep->eni_ifindex, "labels",
			 labels_json(pod ? &pod->obj.labels : NULL), "ports", ports, "podKnown", pod != NULL,
			 "created", (json_int_t)ep->created);
}

static json_t *with_identity(json_t *ep_json, const struct endpoint *ep)
{
	json_object_set_new(ep_json, "identity", json_integer(ep->identity));
	return ep_json;
}

json_t *agent_view_endpoints(struct agent *a)
{
	json_t *list = json_array();

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_endpoints; i++)
		json_array_append_new(list, with_identity(endpoint_json(a, &a->endpoints[i]), &a->endpoints[i]));
	pthread_mutex_unlock(&a->lock);
	return json_pack("{s:o}", "endpoints", list);
}

static const struct endpoint *endpoint_of(struct agent *a, const struct ipam_owner *owner)
{
	return owner->container_id[0] ? agent_endpoint_find(a, owner) : NULL;
}

static json_t *limits_json(const struct cloud_limits *l)
{
	return json_pack("{s:i, s:i}", "maxInterfaces", l->max_interfaces, "maxIPsPerInterface",
			 l->max_ips_per_interface);
}

/* What the orphan passes did (orphans.c); lock held. */
static json_t *orphans_json(const struct agent_orphan_stats *o)
{
	json_t *lost = json_array();

	for (unsigned i = 0; i < o->n_lost; i++)
		json_array_append_new(lost, json_pack("{s:s, s:s}", "id", o->lost_ifaces[i].id, "name",
						      o->lost_ifaces[i].name));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "passes", (json_int_t)o->passes,
			 "failed", (json_int_t)o->failed, "readopted", (json_int_t)o->readopted, "detached",
			 (json_int_t)o->detached, "forgotten", (json_int_t)o->forgotten, "lost", (json_int_t)o->lost,
			 "ipsAdded", (json_int_t)o->ips_added, "ipsDropped", (json_int_t)o->ips_dropped,
			 "lastPassTime", (json_int_t)o->last_pass_time, "lastError", o->last_error,
			 "lostInterfaces", lost);
}

json_t *agent_view_ipam(struct agent *a)
{
	json_t *ifaces = json_array(), *res;
	const struct agent_config *cfg = &a->cfg;
	struct cloud_limits eff;
	struct cloud_http_stats http;
	struct ipam_counts c;
	unsigned desired, avail;
	uint64_t excess_ms = 0;
	char hash[24];

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->ipam.n_ifaces; i++) {
		const struct ipam_iface *iface = &a->ipam.ifaces[i];
		char mac[SL_MAC_STRLEN], sub[SL_PREFIX_STRLEN], gw[SL_IP_STRLEN], pip[SL_IP_STRLEN];
		json_t *ips = json_array();

		for (size_t j = 0; j < iface->n_slots; j++) {
			const struct ipam_slot *s = &iface->slots[j];
			const struct endpoint *ep = endpoint_of(a, &s->owner);
			char ip[SL_IP_STRLEN];

			json_array_append_new(ips, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:b}", "ip",
							     sl_ip_fmt(&s->ip, ip), "containerID",
							     s->owner.container_id, "ifName", s->owner.ifname,
							     "namespace", ep ? ep->k8s_namespace : NULL, "pod",
							     ep ? ep->pod : NULL, "releasedSeq",
							     (json_int_t)s->released_seq, "held",
							     !s->owner.container_id[0] && s->hold != IPAM_HOLD_NONE));
		}
		json_array_append_new(ifaces, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:o}", "id",
							iface->id, "mac", sl_mac_fmt(iface->mac, mac), "name",
							iface->name, "ifindex", iface->ifindex, "subnet",
							sl_prefix_fmt(&iface->subnet, sub), "gateway",
							sl_ip_fmt(&iface->gateway, gw), "primaryIP",
							sl_ip_fmt(&iface->primary_ip, pip), "deviceIndex",
							(int)iface->device_index, "ips", ips));
	}
	ipam_count(&a->ipam, &c);
	eff = ipam_limits(&a->ipam);
	desired = ipam_desired_free(&a->ipam, a->pool_waiters);
	avail = c.free - c.held;
	if (a->ipam.excess_since_ms)
		excess_ms = sl_now_ms() - a->ipam.excess_since_ms;
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)a->pool.last_hash);
	res = json_pack("{s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i,"
			" s:i, s:i, s:{s:i, s:i}, s:I, s:b, s:b, s:s, s:s, s:{s:s, s:I, s:i, s:I}, s:o}",
			"mode", agent_reconcile_mode_name(cfg->reconcile_mode), "targets", "warmIPTarget",
			cfg->warm_ip_target, "minIPTarget", cfg->min_ip_target, "warmENITarget", cfg->warm_eni_target,
			"maxInterfaces", cfg->max_interfaces, "maxIPsPerInterface", cfg->max_ips_per_interface,
			"releaseDelaySeconds", cfg->release_delay_s, "reuseMaxHoldSeconds", cfg->reuse_max_hold_s,
			"reconcileIntervalSeconds", cfg->reconcile_interval_s, "limits", limits_json(&eff),
			"providerLimits", limits_json(&a->ipam.limits), "warmIPTarget", a->ipam.warm_ip_target, "free",
			c.free, "used", c.used, "held", c.held, "allocatable", ipam_allocatable(&a->ipam), "capacity",
			c.capacity, "interfaceCount", c.interfaces, "desiredFree", desired, "debt", "ips",
			avail < desired ? desired - avail : 0, "waitingAdds", a->pool_waiters, "excessSeconds",
			(json_int_t)(excess_ms / 1000), "excess", ipam_excess(&a->ipam, a->pool_waiters), "stuck",
			a->pool_stuck, "blocked",
			agent_pool_block_name(a->pool.block), "lastCloudError", a->last_cloud_error, "cloudErrors",
			"last", a->pool.last_error, "time", (json_int_t)a->pool.last_error_time, "consecutive",
			a->pool.consecutive_failures, "total", (json_int_t)a->pool.errors_total, "interfaces", ifaces);
	json_object_set_new(res, "budget",
			    json_pack("{s:f, s:f, s:i, s:I, s:I}", "level",
				      a->cloud_budget ? cloud_budget_level(a->cloud_budget) : 0.0, "ratePerSecond",
				      cfg->cloud_calls_per_s, "burst", cfg->cloud_burst, "denied",
				      (json_int_t)counter(&a->pool.budget_denied), "deferredPasses",
				      (json_int_t)a->pool.deferred_passes));
	json_object_set_new(res, "calls", calls_json(a));
	json_object_set_new(res, "passes",
			    json_pack("{s:I, s:I, s:s}", "total", (json_int_t)a->pool.passes, "unchanged",
				      (json_int_t)a->pool.passes_unchanged, "lastHash", hash));
	json_object_set_new(res, "orphans", orphans_json(&a->orphans));
	if (provider_http(a, &http))
		json_object_set_new(res, "providerHTTP",
				    json_pack("{s:I, s:I, s:I}", "requests", (json_int_t)http.requests, "retries",
					      (json_int_t)http.retries, "throttled", (json_int_t)http.throttled));
	pthread_mutex_unlock(&a->lock);
	return res;
}

static int metric_line(const struct sl_metrics_key *key, const struct sl_metrics_value *v, void *arg)
{
	FILE *f = arg;
	const char *dir = sl_dir_name(key->dir);

	if (key->reason == SL_METRIC_FORWARDED) {
		fprintf(f, "sluice_forwarded_packets_total{direction=\"%s\"} %llu\n", dir,
			(unsigned long long)v->packets);
		fprintf(f, "sluice_forwarded_bytes_total{direction=\"%s\"} %llu\n", dir,
			(unsigned long long)v->bytes);
	} else {
		fprintf(f, "sluice_drops_total{reason=\"%s\",direction=\"%s\"} %llu\n",
			sl_drop_reason_name(key->reason), dir, (unsigned long long)v->packets);
		fprintf(f, "sluice_drop_bytes_total{reason=\"%s\",direction=\"%s\"} %llu\n",
			sl_drop_reason_name(key->reason), dir, (unsigned long long)v->bytes);
	}
	return 0;
}

/* Lock held. */
static void pool_metrics(FILE *f, struct agent *a, const struct ipam_counts *c)
{
	unsigned desired = ipam_desired_free(&a->ipam, a->pool_waiters), avail = c->free - c->held;
	struct cloud_http_stats http;

	fprintf(f, "# HELP sluice_ipam_allocatable IPs an ADD can get now.\n# TYPE sluice_ipam_allocatable gauge\n"
		   "sluice_ipam_allocatable %u\n"
		   "# HELP sluice_ipam_capacity IPs the pool could hold at its limits.\n"
		   "# TYPE sluice_ipam_capacity gauge\nsluice_ipam_capacity %u\n"
		   "# HELP sluice_ipam_debt_ips Free IPs short of the targets.\n# TYPE sluice_ipam_debt_ips gauge\n"
		   "sluice_ipam_debt_ips %u\n"
		   "# HELP sluice_ipam_waiting_adds ADDs waiting for an IP.\n# TYPE sluice_ipam_waiting_adds gauge\n"
		   "sluice_ipam_waiting_adds %u\n"
		   "# HELP sluice_ipam_passes_total Warm-pool controller passes.\n"
		   "# TYPE sluice_ipam_passes_total counter\nsluice_ipam_passes_total %llu\n"
		   "# HELP sluice_ipam_passes_unchanged_total Passes skipped: desired state unchanged.\n"
		   "# TYPE sluice_ipam_passes_unchanged_total counter\nsluice_ipam_passes_unchanged_total %llu\n",
		ipam_allocatable(&a->ipam), c->capacity, avail < desired ? desired - avail : 0, a->pool_waiters,
		(unsigned long long)a->pool.passes, (unsigned long long)a->pool.passes_unchanged);
	fprintf(f, "# HELP sluice_cloud_calls_total Cloud provider calls, by kind.\n"
		   "# TYPE sluice_cloud_calls_total counter\n");
	for (int k = 0; k < AGENT_CALL_KINDS; k++)
		fprintf(f, "sluice_cloud_calls_total{kind=\"%s\"} %llu\n", agent_cloud_call_name(k),
			(unsigned long long)counter(&a->pool.calls[k]));
	fprintf(f, "# HELP sluice_cloud_call_failures_total Cloud provider calls that failed, by kind.\n"
		   "# TYPE sluice_cloud_call_failures_total counter\n");
	for (int k = 0; k < AGENT_CALL_KINDS; k++)
		fprintf(f, "sluice_cloud_call_failures_total{kind=\"%s\"} %llu\n", agent_cloud_call_name(k),
			(unsigned long long)counter(&a->pool.failed[k]));
	fprintf(f, "# HELP sluice_cloud_budget_tokens Tokens left in the cloud-call budget.\n"
		   "# TYPE sluice_cloud_budget_tokens gauge\nsluice_cloud_budget_tokens %.3f\n"
		   "# HELP sluice_cloud_budget_denied_total Calls the empty budget refused.\n"
		   "# TYPE sluice_cloud_budget_denied_total counter\nsluice_cloud_budget_denied_total %llu\n",
		a->cloud_budget ? cloud_budget_level(a->cloud_budget) : 0.0,
		(unsigned long long)counter(&a->pool.budget_denied));
	if (provider_http(a, &http))
		fprintf(f, "# HELP sluice_cloud_http_requests_total HTTP requests the provider sent.\n"
			   "# TYPE sluice_cloud_http_requests_total counter\nsluice_cloud_http_requests_total %llu\n",
			(unsigned long long)http.requests);
}

char *agent_view_metrics(struct agent *a)
{
	struct ipam_counts c;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "# HELP sluice_forwarded_packets_total Packets the datapath forwarded, by direction.\n"
		   "# TYPE sluice_forwarded_packets_total counter\n"
		   "# HELP sluice_drops_total Packets the datapath dropped, by reason and direction.\n"
		   "# TYPE sluice_drops_total counter\n");
	maps_metrics_foreach(&a->maps, metric_line, f);
	pthread_mutex_lock(&a->lock);
	ipam_count(&a->ipam, &c);
	fprintf(f, "# HELP sluice_endpoints Pods attached on this node.\n# TYPE sluice_endpoints gauge\n"
		   "sluice_endpoints %zu\n",
		a->n_endpoints);
	fprintf(f, "# HELP sluice_ipam_ips IPs in the node's pool, by state (held: free, kept back for conntrack).\n"
		   "# TYPE sluice_ipam_ips gauge\n"
		   "sluice_ipam_ips{state=\"free\"} %u\nsluice_ipam_ips{state=\"used\"} %u\n"
		   "sluice_ipam_ips{state=\"held\"} %u\n"
		   "# HELP sluice_ipam_interfaces Cloud interfaces Sluice holds.\n"
		   "# TYPE sluice_ipam_interfaces gauge\nsluice_ipam_interfaces %u\n"
		   "# HELP sluice_ready 1 once the start-up reconcile is done.\n# TYPE sluice_ready gauge\n"
		   "sluice_ready %d\n",
		c.free, c.used, c.held, c.interfaces, a->ready ? 1 : 0);
	pool_metrics(f, a, &c);
	fprintf(f, "# HELP sluice_policy_syncs_total Policy recomputations applied to the datapath.\n"
		   "# TYPE sluice_policy_syncs_total counter\nsluice_policy_syncs_total %llu\n"
		   "# HELP sluice_policy_change_to_enforced_seconds Latest object change to maps updated.\n"
		   "# TYPE sluice_policy_change_to_enforced_seconds gauge\n"
		   "sluice_policy_change_to_enforced_seconds %.6f\n"
		   "# HELP sluice_policy_entries Entries the policy occupies in the datapath.\n"
		   "# TYPE sluice_policy_entries gauge\nsluice_policy_entries{map=\"ipcache\"} %zu\n"
		   "sluice_policy_entries{map=\"policy\"} %zu\n",
		(unsigned long long)a->policy_syncs, (double)a->policy_last_latency_ns / 1e9, a->policy.n_ipcache,
		a->policy.n_trie);
	pthread_mutex_unlock(&a->lock);
	fclose(f);
	return text;
}

struct identity_view {
	struct agent *a;
	json_t *list;
};

static int identity_json(const struct identity *id, void *arg)
{
	struct identity_view *v = arg;
	json_t *pods = json_array();

	for (size_t i = 0; i < v->a->n_endpoints; i++) {
		const struct endpoint *ep = &v->a->endpoints[i];
		char name[2 * ENDPOINT_K8S_NAME_LEN + 2];

		if (ep->identity != id->id)
			continue;
		snprintf(name, sizeof(name), "%s/%s", ep->k8s_namespace, ep->pod);
		json_array_append_new(pods, json_string(name));
	}
	json_array_append_new(v->list, json_pack("{s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)id->id, "namespace",
						 id->ns, "labels", labels_json(&id->labels), "namespaceLabels",
						 labels_json(&id->ns_labels), "localPods", pods));
	return 0;
}

json_t *agent_view_identities(struct agent *a)
{
	struct identity_view v = { .a = a, .list = json_array() };

	pthread_mutex_lock(&a->lock);
	if (a->ids)
		identity_table_for_each(a->ids, identity_json, &v);
	pthread_mutex_unlock(&a->lock);
	return json_pack("{s:[{s:i, s:s}, {s:i, s:s}], s:o}", "reserved", "id", SL_ID_HOST, "name", "host", "id",
			 SL_ID_WORLD, "name", "world", "identities", v.list);
}

/* The rules of one direction for subject, from the applied state: the
 * isolation marker, and every allow entry's rule (each rule once). */
static json_t *direction_json(struct agent *a, uint32_t subject, uint8_t dir)
{
	json_t *rules = json_array();
	bool isolated = false;
	uint8_t *seen = calloc(a->policy.n_rules + 1, 1);

	for (size_t i = 0; i < a->policy.n_trie; i++) {
		const struct policy_trie_entry *e = &a->policy.trie[i];
		const struct policy_rule_info *r;
		char name[600];

		if (e->key.subject != subject || e->key.direction != dir)
			continue;
		if (e->val.action != SL_POLICY_ALLOW) {
			isolated = true;
			continue;
		}
		if (e->val.rule >= a->policy.n_rules || (seen && seen[e->val.rule]))
			continue;
		if (seen)
			seen[e->val.rule] = 1;
		r = &a->policy.rules[e->val.rule];
		snprintf(name, sizeof(name), "%s/%s", r->policy_ns, r->policy_name);
		json_array_append_new(rules, json_pack("{s:s, s:s}", "policy", name, "rule", r->text));
	}
	free(seen);
	return json_pack("{s:b, s:o}", "isolated", isolated, "allow", rules);
}

json_t *agent_view_policy(struct agent *a, const char *pod)
{
	const char *slash = strchr(pod, '/');
	const struct endpoint *ep = NULL;
	const struct k8s_pod *obj;
	json_t *res;

	if (!slash)
		return NULL;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_endpoints && !ep; i++) {
		if (strlen(a->endpoints[i].k8s_namespace) == (size_t)(slash - pod) &&
		    !strncmp(a->endpoints[i].k8s_namespace, pod, (size_t)(slash - pod)) &&
		    !strcmp(a->endpoints[i].pod, slash + 1))
			ep = &a->endpoints[i];
	}
	if (!ep) {
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	obj = a->store ? k8s_store_pod(a->store, ep->k8s_namespace, ep->pod) : NULL;
	res = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}", "pod", pod, "ip",
			sl_ip_fmt(&ep->ip, (char[SL_IP_STRLEN]){ 0 }), "identity", (json_int_t)ep->identity, "labels",
			labels_json(obj ? &obj->obj.labels : NULL), "ingress",
			direction_json(a, ep->identity, SL_POLICY_INGRESS), "egress",
			direction_json(a, ep->identity, SL_POLICY_EGRESS));
	pthread_mutex_unlock(&a->lock);
	return res;
}
