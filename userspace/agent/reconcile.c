// SPDX-License-Identifier: Apache-2.0
/*
 * Start-up reconcile: the checkpoint says what the agent promised, the cloud
 * says what it assigned, the kernel says what exists. The cloud is the truth
 * for interfaces and IPs, the checkpoint for who holds which IP, and the
 * kernel is brought in line with both: programs re-attached (an atomic swap,
 * so established traffic never stops), map entries rewritten or removed, and
 * links left behind by an ADD cut short deleted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "checkpoint/checkpoint.h"
#include "common/log.h"
#include "netlink/netns.h"
#include "netlink/nl.h"

#define ADOPT_WAIT_MS 10000

/* An address on the link that is not the interface's own: the link is
 * configured by someone else (the node's own NIC, an operator's interface),
 * whatever the cloud says, and Sluice leaves it alone. IPv6 link-local
 * addresses say nothing: the kernel adds them to any link that comes up. */
static bool has_foreign_addr(struct nl_sock *nl, int ifindex, const struct sl_ip *own, struct sl_ip *other)
{
	struct sl_prefix *addrs = NULL, ll;
	bool foreign = false;
	size_t n = 0;

	sl_prefix_parse("fe80::/10", false, &ll);
	if (nl_addr_list(nl, ifindex, &addrs, &n))
		return false;
	for (size_t i = 0; i < n && !foreign; i++) {
		if (sl_ip_equal(&addrs[i].ip, own) || sl_prefix_contains(&ll, &addrs[i].ip))
			continue;
		*other = addrs[i].ip;
		foreign = true;
	}
	free(addrs);
	return foreign;
}

/* The netdev the cloud attached appears with the interface's MAC; give it a
 * stable name (eni<device index>), the MTU, its primary IP, bring it up and
 * attach the ENI program; only then is it usable (the caller puts its IPs in
 * the pool after this returns 0). The instance's primary NIC never comes
 * here. A step that fails undoes the ones before it, unless the link was
 * already ours when we came (a restart re-adopting a live ENI: its pods'
 * traffic must not stop because, say, a map update failed). */
/*
 * The XDP prefilter is an optimisation in front of sluice_from_eni, which
 * enforces the same policy anyway: failing to attach it (another XDP
 * program there, a driver without XDP) is a warning, never a failed
 * adoption. Turned off, a prefilter an earlier run attached is removed.
 */
static void set_xdp_prefilter(struct agent *a, const struct nl_link *l)
{
	__u32 id;
	int err;

	if (a->cfg.xdp_prefilter) {
		err = loader_attach_xdp_eni(a->loader, l->ifindex);
		if (err)
			pr_warn("XDP prefilter on %s: %s (policy is still enforced at tc)", l->name,
				strerror(-err));
		return;
	}
	if (loader_query_at(l->ifindex, LOADER_HOOK_XDP, &id))
		return; /* none, or not ours */
	err = bpf_xdp_detach(l->ifindex, 0, NULL);
	if (err)
		pr_warn("remove the XDP prefilter from %s: %s", l->name, strerror(-err));
	else
		pr_info("removed the XDP prefilter from %s (--xdp-prefilter is off)", l->name);
}

int agent_adopt_eni(struct agent *a, struct ipam_iface *iface)
{
	struct sl_endpoint_info host = { .flags = SL_EP_F_HOST };
	struct sl_eni_info info = { 0 };
	struct sl_prefix primary = { .ip = iface->primary_ip };
	struct nl_sock *nl = NULL;
	struct nl_link l = { 0 }, taken;
	char want[IF_NAMESIZE], mac[SL_MAC_STRLEN], buf[SL_IP_STRLEN];
	bool was_ours = false, added_addr = false, touched = false, mapped = false;
	struct sl_ip other;
	__u32 prog_id;
	int err;

	err = nl_open(&nl);
	if (err)
		return err;
	err = nl_link_wait_mac(nl, iface->mac, ADOPT_WAIT_MS, &l);
	if (err) {
		pr_err("adopt %s: no netdev with MAC %s after %u ms: %s", iface->id, sl_mac_fmt(iface->mac, mac),
		       ADOPT_WAIT_MS, strerror(-err));
		goto out;
	}
	if ((l.flags & IFF_LOOPBACK) || has_foreign_addr(nl, l.ifindex, &iface->primary_ip, &other)) {
		pr_err("adopt %s: %s (MAC %s) carries %s, not an address of the interface: leaving it alone",
		       iface->id, l.name, sl_mac_fmt(iface->mac, mac),
		       (l.flags & IFF_LOOPBACK) ? "loopback" : sl_ip_fmt(&other, buf));
		err = -EEXIST;
		goto out;
	}
	was_ours = loader_query(l.ifindex, &prog_id) == 0;
	touched = true;
	snprintf(want, sizeof(want), "eni%u", iface->device_index);
	if (strcmp(l.name, want) != 0) {
		if (nl_link_get_by_name(nl, want, &taken) == 0) {
			pr_warn("adopt %s: name %s is taken, keeping %s", iface->id, want, l.name);
		} else {
			err = nl_link_set_up(nl, l.ifindex, false);
			if (!err)
				err = nl_link_set_name(nl, l.ifindex, want);
			if (err) {
				pr_err("adopt %s: rename %s to %s: %s", iface->id, l.name, want, strerror(-err));
				goto out;
			}
			snprintf(l.name, sizeof(l.name), "%s", want);
		}
	}
	primary.len = (uint8_t)(sl_ip_bytes(&iface->primary_ip) * 8);
	err = nl_link_set_mtu(nl, l.ifindex, a->cfg.eni_mtu);
	if (!err)
		err = nl_link_set_ipv6_addrgen_none(nl, l.ifindex);
	if (!err) {
		err = nl_addr_add(nl, l.ifindex, &primary, NL_ADDR_F_NOPREFIXROUTE);
		added_addr = !err;
		if (err == -EEXIST)
			err = 0;
	}
	if (!err)
		err = nl_link_set_up(nl, l.ifindex, true);
	if (err) {
		pr_err("adopt %s: configure %s: %s", iface->id, l.name, strerror(-err));
		goto out;
	}
	err = loader_attach_eni(a->loader, l.ifindex);
	if (err) {
		pr_err("adopt %s: attach the ENI program to %s: %s", iface->id, l.name, strerror(-err));
		goto out;
	}
	set_xdp_prefilter(a, &l);
	memcpy(info.gw_addr, iface->gateway.addr, 16);
	info.family = iface->gateway.family;
	memcpy(info.mac, iface->mac, 6);
	info.mtu = a->cfg.eni_mtu;
	err = maps_eni_set(&a->maps, (__u32)l.ifindex, &info);
	if (err) {
		pr_err("adopt %s: map ENI %s: %s", iface->id, l.name, strerror(-err));
		goto out;
	}
	mapped = true;
	/* The ENI's own address is the node's: to the stack, not an ENI. */
	err = agent_map_ip(a, &iface->primary_ip, &host);
	if (err) {
		pr_err("adopt %s: map host address: %s", iface->id, strerror(-err));
		goto out;
	}
	iface->ifindex = l.ifindex;
	snprintf(iface->name, sizeof(iface->name), "%s", l.name);
	pr_info("adopted %s (%s) as %s, ifindex %d", iface->id, sl_mac_fmt(iface->mac, mac), l.name,
		l.ifindex);
out:
	if (err && touched && !was_ours) {
		/* No half-adopted interface: down, no program, no map entry, no
		 * address of ours. The name stays: it is harmless, and the cloud
		 * takes the netdev away when the caller detaches. */
		if (mapped)
			maps_eni_del(&a->maps, (__u32)l.ifindex);
		loader_detach(l.ifindex);
		if (added_addr)
			nl_addr_del(nl, l.ifindex, &primary);
		nl_link_set_up(nl, l.ifindex, false);
	}
	nl_close(nl);
	return err;
}

/* The node's own addresses go to the stack, never to an ENI. */
int agent_sync_host_addresses(struct agent *a)
{
	struct sl_endpoint_info host = { .flags = SL_EP_F_HOST };
	struct sl_prefix *addrs = NULL;
	struct nl_sock *nl = NULL;
	size_t n = 0;
	int err;

	err = nl_open(&nl);
	if (!err)
		err = nl_addr_list(nl, 0, &addrs, &n);
	nl_close(nl);
	if (err) {
		pr_err("list node addresses: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		if (addrs[i].ip.family == SL_FAMILY_IPV4)
			err = agent_map_ip(a, &addrs[i].ip, &host);
	}
	free(addrs);
	return err;
}

struct stale_keys {
	struct sl_ip *ips;
	size_t n, cap;
	struct agent *a;
};

static int collect_stale_endpoint(const struct sl_endpoint_key *key, const struct sl_endpoint_info *info,
				  void *ctx)
{
	struct stale_keys *s = ctx;
	struct sl_ip ip;

	if (!(info->flags & SL_EP_F_POD))
		return 0;
	sl_ip_from_raw(&ip, key->family, key->addr);
	for (size_t i = 0; i < s->a->n_endpoints; i++) {
		if (sl_ip_equal(&s->a->endpoints[i].ip, &ip) && s->a->endpoints[i].host_ifindex)
			return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct sl_ip *grown = realloc(s->ips, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->ips = grown;
		s->cap = cap;
	}
	s->ips[s->n++] = ip;
	return 0;
}

static void remove_stale_map_entries(struct agent *a)
{
	struct stale_keys s = { .a = a };

	if (maps_endpoint_foreach(&a->maps, collect_stale_endpoint, &s) == 0) {
		for (size_t i = 0; i < s.n; i++) {
			char buf[SL_IP_STRLEN];

			pr_info("reconcile: removing stale datapath entry %s", sl_ip_fmt(&s.ips[i], buf));
			agent_unmap_endpoint(a, &s.ips[i]);
		}
	}
	free(s.ips);
}

static bool is_endpoint_link_name(const char *name)
{
	if (strncmp(name, "sl", 2) != 0 || strlen(name) != 14)
		return false;
	for (const char *c = name + 2; *c; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	}
	return true;
}

/* Links with our naming that no endpoint owns: an ADD the agent did not
 * finish before it died. They hold no IP (the checkpoint does not list them). */
static void remove_orphan_links(struct agent *a)
{
	struct nl_sock *nl = NULL;
	struct nl_link *links = NULL;
	size_t n = 0;

	if (nl_open(&nl) || nl_link_list(nl, &links, &n)) {
		nl_close(nl);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool owned = false;

		if (!is_endpoint_link_name(links[i].name))
			continue;
		for (size_t j = 0; j < a->n_endpoints && !owned; j++)
			owned = strcmp(a->endpoints[j].host_veth, links[i].name) == 0;
		if (!owned) {
			pr_info("reconcile: deleting orphan link %s", links[i].name);
			nl_link_del(nl, links[i].ifindex);
		}
	}
	free(links);
	nl_close(nl);
}

struct stale_enis {
	__u32 ifindex[64];
	size_t n;
	struct agent *a;
};

static int collect_stale_eni(__u32 ifindex, const struct sl_eni_info *info, void *ctx)
{
	struct stale_enis *s = ctx;

	(void)info;
	for (size_t i = 0; i < s->a->ipam.n_ifaces; i++) {
		if ((__u32)s->a->ipam.ifaces[i].ifindex == ifindex)
			return 0;
	}
	if (s->n < sizeof(s->ifindex) / sizeof(s->ifindex[0]))
		s->ifindex[s->n++] = ifindex;
	return 0;
}

/* ENI entries whose interface Sluice no longer holds. */
static void remove_stale_enis(struct agent *a)
{
	struct stale_enis s = { .a = a };

	maps_eni_foreach(&a->maps, collect_stale_eni, &s);
	for (size_t i = 0; i < s.n; i++)
		maps_eni_del(&a->maps, s.ifindex[i]);
}

/* Brings one checkpointed endpoint back: its IP claimed, its program
 * re-attached, its map entry rewritten. */
static void restore_endpoint(struct agent *a, struct nl_sock *nl, struct endpoint ep)
{
	struct ipam_iface *iface = NULL;
	char buf[SL_IP_STRLEN];
	struct nl_link l;
	int err;

	err = ipam_claim(&a->ipam, &ep.ip, &ep.key);
	if (err == -EBUSY) {
		pr_err("reconcile: %s/%s claims %s, which another endpoint holds: dropped",
		       ep.key.container_id, ep.key.ifname, sl_ip_fmt(&ep.ip, buf));
		return;
	}
	if (err)
		pr_err("reconcile: %s/%s: IP %s is no longer assigned by the cloud", ep.key.container_id,
		       ep.key.ifname, sl_ip_fmt(&ep.ip, buf));
	ipam_find_ip(&a->ipam, &ep.ip, &iface);
	ep.eni_ifindex = iface ? iface->ifindex : 0;
	ep.host_ifindex = 0;
	if (nl_link_get_by_name(nl, ep.host_veth, &l) == 0) {
		ep.host_ifindex = l.ifindex;
		memcpy(ep.host_mac, l.mac, 6);
		err = loader_attach_pod(a->loader, l.ifindex);
		if (!err)
			err = agent_map_endpoint(a, &ep);
		if (err)
			pr_err("reconcile: %s/%s: restore datapath on %s: %s", ep.key.container_id,
			       ep.key.ifname, ep.host_veth, strerror(-err));
	} else {
		/* The link died with the pod's namespace while we were down. The
		 * sweep after the restore releases it if the namespace is gone
		 * too; until then it keeps its IP. */
		agent_unmap_endpoint(a, &ep.ip);
	}
	agent_endpoint_add(a, &ep);
}

static bool netns_gone(const char *path)
{
	int fd = netns_open(path);

	if (fd >= 0)
		close(fd);
	return fd == -ENOENT || fd == -EINVAL;
}

int agent_sweep_gone_endpoints(struct agent *a)
{
	struct nl_sock *nl = NULL;
	unsigned released = 0;
	int err;

	err = nl_open(&nl);
	if (err)
		return err;
	for (size_t i = 0; i < a->n_endpoints;) {
		struct endpoint *ep = &a->endpoints[i];
		struct nl_link l;

		/* Both gone: the pod can never send or receive again, and no
		 * runtime will DEL it (podman and ctr do not retry a DEL that
		 * failed while the agent was down, and cannot send GC). */
		if (nl_link_get_by_name(nl, ep->host_veth, &l) != -ENODEV || !netns_gone(ep->netns)) {
			i++;
			continue;
		}
		pr_info("releasing %s/%s (%s/%s): its link and namespace are gone", ep->key.container_id,
			ep->key.ifname, ep->k8s_namespace, ep->pod);
		agent_unmap_endpoint(a, &ep->ip);
		ipam_release(&a->ipam, &ep->key, NULL);
		agent_endpoint_remove(a, ep);
		released++;
	}
	nl_close(nl);
	if (released) {
		agent_pool_kick(a);
		agent_policy_mark_dirty(a);
		return agent_checkpoint(a);
	}
	return 0;
}

int agent_reconcile(struct agent *a)
{
	struct cloud_iface *cloud = NULL;
	struct checkpoint cp;
	struct nl_sock *nl = NULL;
	size_t n_cloud = 0;
	int err;

	err = checkpoint_load(a->checkpoint_path, &cp);
	if (err == -ENOENT) {
		memset(&cp, 0, sizeof(cp));
		err = 0;
	}
	if (err)
		return err;
	if (cp.node[0] && strcmp(cp.node, a->cfg.node) != 0) {
		pr_err("checkpoint %s belongs to node %s, not %s", a->checkpoint_path, cp.node, a->cfg.node);
		err = -EINVAL;
		goto out;
	}
	err = a->cloud->ops->limits(a->cloud, &a->ipam.limits);
	if (!err)
		err = a->cloud->ops->list_interfaces(a->cloud, &cloud, &n_cloud);
	if (err) {
		pr_err("reconcile: cloud: %s", strerror(-err));
		goto out;
	}
	a->ipam.release_seq = cp.release_seq;
	a->ipam.foreign_ifaces = 0;
	for (size_t i = 0; i < n_cloud; i++) {
		struct ipam_iface *iface;

		/* The node's own NIC and anything someone else attached count
		 * against the instance's limit but are never touched. */
		if (cloud[i].primary || !cloud[i].sluice_owned) {
			a->ipam.foreign_ifaces++;
			continue;
		}
		err = ipam_add_iface(&a->ipam, &cloud[i]);
		if (err)
			goto out;
		iface = ipam_iface_find(&a->ipam, cloud[i].id);
		for (size_t c = 0; c < cp.n_ifaces; c++) {
			if (strcmp(cp.ifaces[c].id, iface->id) != 0)
				continue;
			for (size_t s = 0; s < cp.ifaces[c].n_slots; s++) {
				struct ipam_slot *slot = ipam_find_ip(&a->ipam, &cp.ifaces[c].slots[s].ip, NULL);

				if (slot)
					slot->released_seq = cp.ifaces[c].slots[s].released_seq;
			}
		}
		if (agent_adopt_eni(a, iface))
			pr_err("reconcile: %s stays unusable until it can be adopted", iface->id);
	}
	for (size_t c = 0; c < cp.n_ifaces; c++) {
		if (!ipam_iface_find(&a->ipam, cp.ifaces[c].id))
			pr_warn("reconcile: interface %s is no longer attached in the cloud", cp.ifaces[c].id);
	}
	/* Identity numbers as they were, so the restored endpoint entries keep
	 * the identities the policy trie and live connections refer to. */
	if (cp.identities) {
		err = identity_table_from_json(a->ids, cp.identities);
		if (err) {
			pr_err("checkpoint %s: the policy identities are damaged", a->checkpoint_path);
			goto out;
		}
	}
	err = nl_open(&nl);
	if (err)
		goto out;
	for (size_t i = 0; i < cp.n_endpoints; i++)
		restore_endpoint(a, nl, cp.endpoints[i]);
	agent_sweep_gone_endpoints(a);
	remove_stale_map_entries(a);
	remove_stale_enis(a);
	remove_orphan_links(a);
	err = agent_sync_host_addresses(a);
	/* The policy as it is now, before the agent says it is ready, diffed
	 * against what the maps really hold. A source still syncing (the API
	 * server is slow or away) leaves the maps as they are until it has. */
	if (!err)
		err = agent_policy_load_maps(a);
	if (!err) {
		agent_policy_mark_dirty(a);
		err = agent_policy_sync(a);
		if (err == -EAGAIN) {
			pr_info("reconcile: the Kubernetes source is syncing; the datapath keeps its policy until then");
			err = 0;
		}
	}
	if (!err)
		err = agent_checkpoint(a);
	if (!err)
		pr_info("reconcile: %zu interfaces, %zu endpoints restored", a->ipam.n_ifaces, a->n_endpoints);
out:
	nl_close(nl);
	cloud_iface_free_array(cloud, n_cloud);
	checkpoint_free(&cp);
	return err;
}
