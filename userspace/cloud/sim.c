// SPDX-License-Identifier: Apache-2.0
/*
 * The sim cloud: VPC and instance lifecycle for the lab, and the
 * cloud_provider an agent uses for its own instance. See sim.h.
 *
 * Every operation locks the state file, changes the kernel objects, and saves
 * the state before unlocking; a step that fails undoes the steps before it,
 * so the file and the router never disagree after an error.
 */
#include "cloud/sim.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/sim_router.h"
#include "cloud/sim_state.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "netlink/netns.h"

#define SIM_DEFAULT_MAX_INTERFACES 4
#define SIM_DEFAULT_MAX_IPS 8

static const struct sim_subnet_spec default_subnets[] = {
	{ SIM_SUBNET_NODES, "198.18.0.0/24" },
	{ SIM_SUBNET_HOSTS, "198.18.1.0/24" },
	{ SIM_SUBNET_PODS, "198.18.16.0/20" },
};

static int build_subnets(const struct sim_vpc_spec *spec, json_t *out)
{
	const struct sim_subnet_spec *subnets = spec->subnets ? spec->subnets : default_subnets;
	unsigned n = spec->subnets ? spec->n_subnets : sizeof(default_subnets) / sizeof(default_subnets[0]);

	for (unsigned i = 0; i < n; i++) {
		char gw_str[SL_IP_STRLEN];
		struct sl_prefix p;
		struct sl_ip gw;
		uint64_t size;

		if (sl_prefix_parse(subnets[i].cidr, true, &p)) {
			pr_err("sim: subnet %s: invalid CIDR '%s'", subnets[i].id, subnets[i].cidr);
			return -EINVAL;
		}
		size = sl_prefix_size(&p);
		if (size < 8 || size > SIM_MAX_SUBNET_HOSTS) {
			pr_err("sim: subnet %s: %s must hold 8 to %u addresses", subnets[i].id,
			       subnets[i].cidr, SIM_MAX_SUBNET_HOSTS);
			return -EINVAL;
		}
		sl_prefix_nth(&p, 1, &gw); /* the gateway is the first host, as in IBM VPC */
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:i}", "id", subnets[i].id, "cidr",
						     subnets[i].cidr, "gateway", sl_ip_fmt(&gw, gw_str),
						     "cursor", 4));
	}
	return 0;
}

int sim_vpc_create(const struct sim_vpc_spec *spec)
{
	char lock_path[4096];
	json_t *root = NULL, *subnets;
	const char *pod_subnet = spec->pod_subnet ? spec->pod_subnet : SIM_SUBNET_PODS;
	struct stat st;
	bool found = false;
	size_t i;
	json_t *it;
	char *text = NULL;
	int lock_fd = -1, err;

	snprintf(lock_path, sizeof(lock_path), "%s.lock", spec->state_path);
	lock_fd = fs_lock(lock_path);
	if (lock_fd < 0)
		return lock_fd;
	if (stat(spec->state_path, &st) == 0) {
		err = -EEXIST;
		goto out;
	}
	subnets = json_array();
	root = json_pack("{s:i, s:s, s:s, s:{s:i, s:i}, s:i, s:o, s:[]}", "version", SIM_STATE_VERSION,
			 "routerNetns", spec->router_netns, "podSubnet", pod_subnet, "limits",
			 "maxInterfaces",
			 spec->limits.max_interfaces ? spec->limits.max_interfaces : SIM_DEFAULT_MAX_INTERFACES,
			 "maxIPsPerInterface",
			 spec->limits.max_ips_per_interface ? spec->limits.max_ips_per_interface
							    : SIM_DEFAULT_MAX_IPS,
			 "nextInterface", 1, "subnets", subnets, "instances");
	if (!root) {
		err = -ENOMEM;
		goto out;
	}
	err = build_subnets(spec, subnets);
	if (err)
		goto out;
	json_array_foreach(subnets, i, it)
		found |= strcmp(json_string_value(json_object_get(it, "id")), pod_subnet) == 0;
	if (!found) {
		pr_err("sim: pod subnet %s is not one of the VPC's subnets", pod_subnet);
		err = -EINVAL;
		goto out;
	}
	err = netns_create(spec->router_netns);
	if (err) {
		pr_err("sim: create router namespace %s: %d", spec->router_netns, err);
		goto out;
	}
	err = sim_router_setup(spec->router_netns);
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!err && !text)
		err = -ENOMEM;
	if (!err)
		err = fs_write_atomic(spec->state_path, text, strlen(text), 0600);
	if (err)
		netns_delete(spec->router_netns);
out:
	free(text);
	json_decref(root);
	fs_unlock(lock_fd);
	return err;
}

int sim_vpc_destroy(const char *state_path)
{
	char lock_path[4096];
	struct sim_state st;
	int err;

	snprintf(lock_path, sizeof(lock_path), "%s.lock", state_path);
	err = sim_state_open(state_path, &st);
	if (err == -ENOENT) {
		unlink(lock_path);
		return 0;
	}
	if (err)
		return err;
	err = netns_delete(json_string_value(json_object_get(st.root, "routerNetns")));
	if (!err && unlink(state_path) && errno != ENOENT)
		err = -errno;
	sim_state_close(&st);
	unlink(lock_path);
	return err;
}

/* A new interface record (not yet in the state): id, MAC, primary IP. */
static int new_iface(struct sim_state *st, json_t *subnet, unsigned device_index, bool primary,
		     json_t **out)
{
	json_int_t n = json_integer_value(json_object_get(st->root, "nextInterface"));
	uint8_t mac[6] = { 0x02, 0x5e, 0x10, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	char id[32], mac_str[SL_MAC_STRLEN], ip_str[SL_IP_STRLEN];
	struct sl_ip ip;
	int err;

	err = sim_state_alloc_ip(st, subnet, &ip);
	if (err) {
		pr_err("sim: subnet %s has no free address",
		       json_string_value(json_object_get(subnet, "id")));
		return err;
	}
	snprintf(id, sizeof(id), "eni-%lld", (long long)n);
	json_object_set_new(st->root, "nextInterface", json_integer(n + 1));
	*out = json_pack("{s:s, s:s, s:s, s:i, s:b, s:s, s:[]}", "id", id, "mac", sl_mac_fmt(mac, mac_str),
			 "subnet", json_string_value(json_object_get(subnet, "id")), "deviceIndex",
			 (int)device_index, "primary", primary, "primaryIP", sl_ip_fmt(&ip, ip_str), "ips");
	return *out ? 0 : -ENOMEM;
}

/* Plumbs a new interface record into the router and the instance. */
static int plumb_iface(struct sim_state *st, json_t *inst, json_t *iface, struct cloud_iface *c)
{
	const char *router = json_string_value(json_object_get(st->root, "routerNetns"));
	const char *netns = json_string_value(json_object_get(inst, "netns"));
	char ifname[IF_NAMESIZE];
	int err;

	err = sim_state_iface_export(st, iface, c);
	if (err)
		return err;
	snprintf(ifname, sizeof(ifname), "eth%u", c->device_index);
	err = sim_router_attach(router, c->id, netns, ifname, c->mac, &c->gateway);
	if (!err)
		err = sim_router_route_ip(router, c->id, &c->primary_ip, c->mac, true);
	if (err)
		sim_router_detach(router, c->id);
	return err;
}

int sim_instance_create(const char *state_path, const char *instance, const char *netns,
			const char *subnet_id, struct sl_ip *primary_ip)
{
	struct sim_state st;
	struct cloud_iface c = { 0 };
	json_t *inst, *iface = NULL, *subnet;
	struct sl_prefix addr;
	int err;

	err = sim_state_open(state_path, &st);
	if (err)
		return err;
	if (sim_state_instance(&st, instance)) {
		err = -EEXIST;
		goto out;
	}
	subnet = sim_state_subnet(&st, subnet_id);
	if (!subnet) {
		pr_err("sim: no subnet %s", subnet_id);
		err = -ENOENT;
		goto out;
	}
	err = new_iface(&st, subnet, 0, true, &iface);
	if (err)
		goto out;
	inst = json_pack("{s:s, s:s, s:[O]}", "id", instance, "netns", netns, "interfaces", iface);
	json_array_append_new(json_object_get(st.root, "instances"), inst);
	err = plumb_iface(&st, inst, iface, &c);
	if (err)
		goto out;
	addr.ip = c.primary_ip;
	addr.len = c.subnet.len;
	err = sim_instance_configure(netns, "eth0", &addr, &c.gateway);
	if (!err)
		err = sim_state_save(&st);
	if (err)
		sim_router_detach(json_string_value(json_object_get(st.root, "routerNetns")), c.id);
	else if (primary_ip)
		*primary_ip = c.primary_ip;
out:
	free(c.ips);
	json_decref(iface);
	sim_state_close(&st);
	return err;
}

/* --- the provider ------------------------------------------------------------ */

struct sim_priv {
	char *state_path;
};

static const char *sim_path(struct cloud_provider *p)
{
	return ((struct sim_priv *)p->priv)->state_path;
}

static int sim_limits(struct cloud_provider *p, struct cloud_limits *out)
{
	struct sim_state st;
	int err = sim_state_open(sim_path(p), &st);

	if (err)
		return err;
	err = sim_state_limits(&st, out);
	sim_state_close(&st);
	return err;
}

static int sim_list(struct cloud_provider *p, struct cloud_iface **out, size_t *n)
{
	struct cloud_iface *list = NULL;
	struct sim_state st;
	json_t *inst, *ifaces, *iface;
	size_t i, count = 0;
	int err;

	err = sim_state_open(sim_path(p), &st);
	if (err)
		return err;
	inst = sim_state_instance(&st, p->instance);
	if (!inst) {
		pr_err("sim: no instance %s in the VPC", p->instance);
		err = -ENOENT;
		goto out;
	}
	ifaces = json_object_get(inst, "interfaces");
	list = calloc(json_array_size(ifaces) + 1, sizeof(*list));
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(ifaces, i, iface) {
		err = sim_state_iface_export(&st, iface, &list[count]);
		if (err)
			break;
		count++;
	}
out:
	sim_state_close(&st);
	if (err) {
		cloud_iface_free_array(list, count);
		return err;
	}
	*out = list;
	*n = count;
	return 0;
}

static int sim_attach(struct cloud_provider *p, struct cloud_iface *out)
{
	struct cloud_limits limits;
	struct sim_state st;
	struct cloud_iface c = { 0 };
	json_t *inst, *ifaces, *iface = NULL, *it, *subnet;
	unsigned device = 1;
	size_t i;
	int err;

	err = sim_state_open(sim_path(p), &st);
	if (err)
		return err;
	inst = sim_state_instance(&st, p->instance);
	err = inst ? sim_state_limits(&st, &limits) : -ENOENT;
	if (err)
		goto out;
	ifaces = json_object_get(inst, "interfaces");
	if (json_array_size(ifaces) >= limits.max_interfaces) {
		pr_warn("sim: %s has %zu of %u interfaces: limit reached", p->instance,
			json_array_size(ifaces), limits.max_interfaces);
		err = -ENOSPC;
		goto out;
	}
	/* The lowest free device index, as a hypervisor hands out PCI slots. */
	for (bool taken = true; taken; device += taken) {
		taken = false;
		json_array_foreach(ifaces, i, it)
			taken |= json_integer_value(json_object_get(it, "deviceIndex")) == device;
	}
	subnet = sim_state_subnet(&st, json_string_value(json_object_get(st.root, "podSubnet")));
	err = subnet ? new_iface(&st, subnet, device, false, &iface) : -EIO;
	if (err)
		goto out;
	json_array_append(ifaces, iface);
	err = plumb_iface(&st, inst, iface, &c);
	if (err)
		goto out;
	err = sim_state_save(&st);
	if (err) {
		sim_router_detach(json_string_value(json_object_get(st.root, "routerNetns")), c.id);
		goto out;
	}
	*out = c;
	c.ips = NULL;
out:
	free(c.ips);
	json_decref(iface);
	sim_state_close(&st);
	return err;
}

/* The interface iface_id, which must belong to this provider's instance. */
static json_t *own_iface(struct cloud_provider *p, struct sim_state *st, const char *iface_id)
{
	json_t *owner = NULL, *iface = sim_state_iface(st, iface_id, &owner);

	if (!iface || strcmp(json_string_value(json_object_get(owner, "id")), p->instance))
		return NULL;
	return iface;
}

static int sim_detach(struct cloud_provider *p, const char *iface_id)
{
	struct sim_state st;
	json_t *iface, *owner = NULL, *ifaces;
	size_t i;
	json_t *it;
	int err;

	err = sim_state_open(sim_path(p), &st);
	if (err)
		return err;
	iface = own_iface(p, &st, iface_id);
	if (!iface) {
		err = -ENOENT;
		goto out;
	}
	if (json_is_true(json_object_get(iface, "primary"))) {
		pr_err("sim: refusing to detach %s, the primary interface of %s", iface_id, p->instance);
		err = -EPERM;
		goto out;
	}
	err = sim_router_detach(json_string_value(json_object_get(st.root, "routerNetns")), iface_id);
	if (err)
		goto out;
	sim_state_iface(&st, iface_id, &owner);
	ifaces = json_object_get(owner, "interfaces");
	json_array_foreach(ifaces, i, it) {
		if (it == iface) {
			json_array_remove(ifaces, i);
			break;
		}
	}
	err = sim_state_save(&st);
out:
	sim_state_close(&st);
	return err;
}

static int sim_assign(struct cloud_provider *p, const char *iface_id, unsigned count, struct sl_ip *out,
		      size_t *n_out)
{
	struct cloud_limits limits;
	struct sim_state st;
	json_t *iface, *ips, *subnet;
	const char *router;
	uint8_t mac[6];
	size_t room, done = 0;
	int err;

	*n_out = 0;
	err = sim_state_open(sim_path(p), &st);
	if (err)
		return err;
	iface = own_iface(p, &st, iface_id);
	err = iface ? sim_state_limits(&st, &limits) : -ENOENT;
	if (err)
		goto out;
	router = json_string_value(json_object_get(st.root, "routerNetns"));
	ips = json_object_get(iface, "ips");
	subnet = sim_state_subnet(&st, json_string_value(json_object_get(iface, "subnet")));
	if (!subnet || sl_mac_parse(json_string_value(json_object_get(iface, "mac")), mac)) {
		err = -EIO;
		goto out;
	}
	/* The interface's own primary IP counts against the limit. */
	room = limits.max_ips_per_interface > json_array_size(ips) + 1
		       ? limits.max_ips_per_interface - json_array_size(ips) - 1
		       : 0;
	if (room == 0) {
		err = -ENOSPC;
		goto out;
	}
	while (done < count && done < room) {
		char buf[SL_IP_STRLEN];

		err = sim_state_alloc_ip(&st, subnet, &out[done]);
		if (!err)
			err = sim_router_route_ip(router, iface_id, &out[done], mac, true);
		if (err)
			break;
		json_array_append_new(ips, json_string(sl_ip_fmt(&out[done], buf)));
		done++;
	}
	/* A partial assignment is a success: report what was assigned. */
	if (done) {
		int serr = sim_state_save(&st);

		if (serr) {
			for (size_t i = 0; i < done; i++)
				sim_router_route_ip(router, iface_id, &out[i], mac, false);
			done = 0;
		}
		err = serr;
	}
	*n_out = done;
out:
	sim_state_close(&st);
	return err;
}

static int sim_unassign(struct cloud_provider *p, const char *iface_id, const struct sl_ip *ip)
{
	struct sim_state st;
	json_t *iface, *ips, *it;
	uint8_t mac[6];
	size_t i;
	int err;

	err = sim_state_open(sim_path(p), &st);
	if (err)
		return err;
	iface = own_iface(p, &st, iface_id);
	if (!iface || sl_mac_parse(json_string_value(json_object_get(iface, "mac")), mac)) {
		err = -ENOENT;
		goto out;
	}
	ips = json_object_get(iface, "ips");
	err = -ENOENT;
	json_array_foreach(ips, i, it) {
		struct sl_ip cur;

		if (sl_ip_parse(json_string_value(it), &cur) || !sl_ip_equal(&cur, ip))
			continue;
		err = sim_router_route_ip(json_string_value(json_object_get(st.root, "routerNetns")),
					  iface_id, ip, mac, false);
		if (!err) {
			json_array_remove(ips, i);
			err = sim_state_save(&st);
		}
		break;
	}
out:
	sim_state_close(&st);
	return err;
}

static void sim_destroy(struct cloud_provider *p)
{
	struct sim_priv *priv = p->priv;

	free(priv->state_path);
	free(priv);
	free(p);
}

static const struct cloud_provider_ops sim_ops = {
	.name = "sim",
	.limits = sim_limits,
	.list_interfaces = sim_list,
	.attach_interface = sim_attach,
	.detach_interface = sim_detach,
	.assign_ips = sim_assign,
	.unassign_ip = sim_unassign,
	.destroy = sim_destroy,
};

int sim_provider_create(const char *state_path, const char *instance, struct cloud_provider **out)
{
	struct cloud_provider *p = calloc(1, sizeof(*p));
	struct sim_priv *priv = calloc(1, sizeof(*priv));

	if (!p || !priv || !(priv->state_path = strdup(state_path))) {
		free(p);
		free(priv);
		return -ENOMEM;
	}
	p->ops = &sim_ops;
	p->priv = priv;
	snprintf(p->instance, sizeof(p->instance), "%s", instance);
	*out = p;
	return 0;
}

int sim_inventory(const char *state_path, struct cloud_iface **out, char ***out_instances, size_t *n)
{
	struct cloud_iface *list = NULL;
	char **owners = NULL;
	struct sim_state st;
	json_t *inst, *iface;
	size_t i, j, total = 0, count = 0;
	int err;

	err = sim_state_open(state_path, &st);
	if (err)
		return err;
	json_array_foreach(json_object_get(st.root, "instances"), i, inst)
		total += json_array_size(json_object_get(inst, "interfaces"));
	list = calloc(total + 1, sizeof(*list));
	owners = calloc(total + 1, sizeof(*owners));
	if (!list || !owners) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(st.root, "instances"), i, inst) {
		json_array_foreach(json_object_get(inst, "interfaces"), j, iface) {
			err = sim_state_iface_export(&st, iface, &list[count]);
			if (err)
				goto out;
			owners[count] = strdup(json_string_value(json_object_get(inst, "id")));
			count++;
		}
	}
out:
	sim_state_close(&st);
	if (err) {
		sim_inventory_free(list, owners, count);
		return err;
	}
	*out = list;
	*out_instances = owners;
	*n = count;
	return 0;
}

void sim_inventory_free(struct cloud_iface *ifaces, char **instances, size_t n)
{
	for (size_t i = 0; instances && i < n; i++)
		free(instances[i]);
	free(instances);
	cloud_iface_free_array(ifaces, n);
}
