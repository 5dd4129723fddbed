// SPDX-License-Identifier: Apache-2.0
/* What the agent shows: /v1/status, /v1/endpoints, /v1/ipam and /metrics. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/log.h"
#include "drop_reasons.h"
#include "maps/reasons.h"
#include "pins.h"

static json_t *pool_json(struct agent *a)
{
	struct ipam_counts c;

	ipam_count(&a->ipam, &c);
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "free", c.free, "used", c.used,
			 "allocatable", ipam_allocatable(&a->ipam), "interfaces", c.interfaces, "capacity",
			 c.capacity, "maxInterfaces", a->ipam.limits.max_interfaces, "maxIPsPerInterface",
			 a->ipam.limits.max_ips_per_interface, "warmIPTarget", a->ipam.warm_ip_target, "stuck",
			 a->pool_stuck);
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

json_t *agent_view_endpoints(struct agent *a)
{
	json_t *list = json_array();

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_endpoints; i++)
		json_array_append_new(list, endpoint_json(a, &a->endpoints[i]));
	pthread_mutex_unlock(&a->lock);
	return json_pack("{s:o}", "endpoints", list);
}

static const struct endpoint *endpoint_of(struct agent *a, const struct ipam_owner *owner)
{
	return owner->container_id[0] ? agent_endpoint_find(a, owner) : NULL;
}

json_t *agent_view_ipam(struct agent *a)
{
	json_t *ifaces = json_array(), *res;
	struct ipam_counts c;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->ipam.n_ifaces; i++) {
		const struct ipam_iface *iface = &a->ipam.ifaces[i];
		char mac[SL_MAC_STRLEN], sub[SL_PREFIX_STRLEN], gw[SL_IP_STRLEN], pip[SL_IP_STRLEN];
		json_t *ips = json_array();

		for (size_t j = 0; j < iface->n_slots; j++) {
			const struct ipam_slot *s = &iface->slots[j];
			const struct endpoint *ep = endpoint_of(a, &s->owner);
			char ip[SL_IP_STRLEN];

			json_array_append_new(ips, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I}", "ip",
							     sl_ip_fmt(&s->ip, ip), "containerID",
							     s->owner.container_id, "ifName", s->owner.ifname,
							     "namespace", ep ? ep->k8s_namespace : NULL, "pod",
							     ep ? ep->pod : NULL, "releasedSeq",
							     (json_int_t)s->released_seq));
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
	res = json_pack("{s:{s:i, s:i}, s:i, s:i, s:i, s:i, s:o, s:s, s:b}", "limits", "maxInterfaces",
			a->ipam.limits.max_interfaces, "maxIPsPerInterface", a->ipam.limits.max_ips_per_interface,
			"warmIPTarget", a->ipam.warm_ip_target, "free", c.free, "used", c.used, "capacity",
			c.capacity, "interfaces", ifaces, "lastCloudError", a->last_cloud_error, "stuck",
			a->pool_stuck);
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
	fprintf(f, "# HELP sluice_ipam_ips IPs in the node's pool, by state.\n# TYPE sluice_ipam_ips gauge\n"
		   "sluice_ipam_ips{state=\"free\"} %u\nsluice_ipam_ips{state=\"used\"} %u\n"
		   "# HELP sluice_ipam_interfaces Cloud interfaces Sluice holds.\n"
		   "# TYPE sluice_ipam_interfaces gauge\nsluice_ipam_interfaces %u\n"
		   "# HELP sluice_ready 1 once the start-up reconcile is done.\n# TYPE sluice_ready gauge\n"
		   "sluice_ready %d\n",
		c.free, c.used, c.interfaces, a->ready ? 1 : 0);
	pthread_mutex_unlock(&a->lock);
	fclose(f);
	return text;
}
