// SPDX-License-Identifier: Apache-2.0
#include "checkpoint/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/log.h"

#define CHECKPOINT_MAX_BYTES (256u << 20)

static json_t *ip_json(const struct sl_ip *ip)
{
	char buf[SL_IP_STRLEN];

	return json_string(sl_ip_fmt(ip, buf));
}

static json_t *mac_json(const uint8_t mac[6])
{
	char buf[SL_MAC_STRLEN];

	return json_string(sl_mac_fmt(mac, buf));
}

static json_t *prefix_json(const struct sl_prefix *p)
{
	char buf[SL_PREFIX_STRLEN];

	return json_string(sl_prefix_fmt(p, buf));
}

static json_t *iface_to_json(const struct ipam_iface *iface)
{
	json_t *slots = json_array();

	for (size_t i = 0; i < iface->n_slots; i++)
		json_array_append_new(slots, json_pack("{s:o, s:I}", "ip", ip_json(&iface->slots[i].ip),
						       "releasedSeq",
						       (json_int_t)iface->slots[i].released_seq));
	return json_pack("{s:s, s:s, s:o, s:i, s:o, s:o, s:o, s:s, s:o}", "id", iface->id, "subnetId",
			 iface->subnet_id, "mac", mac_json(iface->mac), "deviceIndex",
			 (int)iface->device_index, "subnet", prefix_json(&iface->subnet), "gateway",
			 ip_json(&iface->gateway), "primaryIP", ip_json(&iface->primary_ip), "name",
			 iface->name, "ips", slots);
}

static json_t *endpoint_to_json(const struct endpoint *ep)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:s, s:i, s:I, s:I}", "containerID",
			 ep->key.container_id, "ifName", ep->key.ifname, "netns", ep->netns, "namespace",
			 ep->k8s_namespace, "pod", ep->pod, "ip", ip_json(&ep->ip), "mac", mac_json(ep->mac),
			 "hostVeth", ep->host_veth, "hostMac", mac_json(ep->host_mac), "eni", ep->eni_id,
			 "mtu", (int)ep->mtu, "created", (json_int_t)ep->created, "identity",
			 (json_int_t)ep->identity);
}

int checkpoint_save(const char *path, const char *node, const struct ipam *ipam,
		    const struct endpoint *endpoints, size_t n_endpoints, const json_t *identities)
{
	json_t *ifaces = json_array(), *eps = json_array(), *root;
	char *text;
	int err;

	for (size_t i = 0; i < ipam->n_ifaces; i++)
		json_array_append_new(ifaces, iface_to_json(&ipam->ifaces[i]));
	for (size_t i = 0; i < n_endpoints; i++)
		json_array_append_new(eps, endpoint_to_json(&endpoints[i]));
	root = json_pack("{s:i, s:s, s:I, s:o, s:o}", "version", CHECKPOINT_VERSION, "node", node,
			 "releaseSeq", (json_int_t)ipam->release_seq, "interfaces", ifaces, "endpoints", eps);
	if (!root)
		return -ENOMEM;
	if (identities)
		json_object_set_new(root, "identities", json_deep_copy(identities));
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text)
		return -ENOMEM;
	err = fs_write_atomic(path, text, strlen(text), 0600);
	free(text);
	if (err)
		pr_err("checkpoint: write %s: %s", path, strerror(-err));
	return err;
}

/* Copies a JSON string field into a fixed buffer; -EINVAL when missing, not a
 * string, or too long (a damaged file must not be half-read). */
static int get_str(json_t *obj, const char *key, char *dst, size_t len)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s || strlen(s) >= len)
		return -EINVAL;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int get_ip(json_t *obj, const char *key, struct sl_ip *ip)
{
	return sl_ip_parse(json_string_value(json_object_get(obj, key)), ip);
}

static int get_mac(json_t *obj, const char *key, uint8_t mac[6])
{
	return sl_mac_parse(json_string_value(json_object_get(obj, key)), mac);
}

static int iface_from_json(json_t *j, struct ipam_iface *iface)
{
	json_t *slots = json_object_get(j, "ips"), *s;
	size_t i;

	memset(iface, 0, sizeof(*iface));
	if (get_str(j, "id", iface->id, sizeof(iface->id)) ||
	    get_str(j, "subnetId", iface->subnet_id, sizeof(iface->subnet_id)) ||
	    get_str(j, "name", iface->name, sizeof(iface->name)) || get_mac(j, "mac", iface->mac) ||
	    sl_prefix_parse(json_string_value(json_object_get(j, "subnet")), true, &iface->subnet) ||
	    get_ip(j, "gateway", &iface->gateway) || get_ip(j, "primaryIP", &iface->primary_ip) ||
	    !json_is_array(slots))
		return -EINVAL;
	iface->device_index = (unsigned)json_integer_value(json_object_get(j, "deviceIndex"));
	iface->slots = calloc(json_array_size(slots) + 1, sizeof(*iface->slots));
	if (!iface->slots)
		return -ENOMEM;
	iface->cap_slots = json_array_size(slots) + 1;
	json_array_foreach(slots, i, s) {
		struct ipam_slot *slot = &iface->slots[iface->n_slots];

		if (get_ip(s, "ip", &slot->ip))
			return -EINVAL;
		slot->released_seq = (uint64_t)json_integer_value(json_object_get(s, "releasedSeq"));
		iface->n_slots++;
	}
	return 0;
}

static int endpoint_from_json(json_t *j, struct endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (get_str(j, "containerID", ep->key.container_id, sizeof(ep->key.container_id)) ||
	    get_str(j, "ifName", ep->key.ifname, sizeof(ep->key.ifname)) ||
	    get_str(j, "netns", ep->netns, sizeof(ep->netns)) ||
	    get_str(j, "namespace", ep->k8s_namespace, sizeof(ep->k8s_namespace)) ||
	    get_str(j, "pod", ep->pod, sizeof(ep->pod)) || get_ip(j, "ip", &ep->ip) ||
	    get_mac(j, "mac", ep->mac) || get_str(j, "hostVeth", ep->host_veth, sizeof(ep->host_veth)) ||
	    get_mac(j, "hostMac", ep->host_mac) || get_str(j, "eni", ep->eni_id, sizeof(ep->eni_id)) ||
	    !ep->key.container_id[0])
		return -EINVAL;
	ep->mtu = (unsigned)json_integer_value(json_object_get(j, "mtu"));
	ep->created = (int64_t)json_integer_value(json_object_get(j, "created"));
	ep->identity = (uint32_t)json_integer_value(json_object_get(j, "identity"));
	return 0;
}

int checkpoint_load(const char *path, struct checkpoint *out)
{
	json_t *root = NULL, *ifaces, *eps, *it;
	json_error_t jerr;
	char *text = NULL;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	err = fs_read_all(path, CHECKPOINT_MAX_BYTES, &text, NULL);
	if (err)
		return err;
	root = json_loads(text, 0, &jerr);
	free(text);
	if (!root || !json_is_object(root)) {
		pr_err("checkpoint: %s: line %d: %s", path, jerr.line, jerr.text);
		err = -EINVAL;
		goto out;
	}
	if (json_integer_value(json_object_get(root, "version")) != CHECKPOINT_VERSION) {
		pr_err("checkpoint: %s: version %lld is not %d", path,
		       (long long)json_integer_value(json_object_get(root, "version")), CHECKPOINT_VERSION);
		err = -EPROTO;
		goto out;
	}
	ifaces = json_object_get(root, "interfaces");
	eps = json_object_get(root, "endpoints");
	if (get_str(root, "node", out->node, sizeof(out->node)) || !json_is_array(ifaces) ||
	    !json_is_array(eps)) {
		err = -EINVAL;
		goto out;
	}
	out->release_seq = (uint64_t)json_integer_value(json_object_get(root, "releaseSeq"));
	out->ifaces = calloc(json_array_size(ifaces) + 1, sizeof(*out->ifaces));
	out->endpoints = calloc(json_array_size(eps) + 1, sizeof(*out->endpoints));
	if (!out->ifaces || !out->endpoints) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(ifaces, i, it) {
		err = iface_from_json(it, &out->ifaces[i]);
		out->n_ifaces++;
		if (err)
			goto out;
	}
	json_array_foreach(eps, i, it) {
		err = endpoint_from_json(it, &out->endpoints[i]);
		if (err)
			goto out;
		out->n_endpoints++;
	}
	out->identities = json_incref(json_object_get(root, "identities"));
out:
	if (err == -EINVAL)
		pr_err("checkpoint: %s is damaged", path);
	json_decref(root);
	if (err)
		checkpoint_free(out);
	return err;
}

void checkpoint_free(struct checkpoint *cp)
{
	for (size_t i = 0; i < cp->n_ifaces; i++)
		free(cp->ifaces[i].slots);
	free(cp->ifaces);
	free(cp->endpoints);
	json_decref(cp->identities);
	memset(cp, 0, sizeof(*cp));
}
