// SPDX-License-Identifier: Apache-2.0
#include "endpoints/endpoint.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "consts.h"
#include "netlink/netns.h"
#include "netlink/nl.h"

void endpoint_host_veth_name(const struct ipam_owner *key, char name[IF_NAMESIZE])
{
	/* FNV-1a over "containerID\0ifName": 48 bits are plenty to keep the
	 * names of one node's attachments apart. */
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *parts[] = { key->container_id, key->ifname };

	for (size_t p = 0; p < 2; p++) {
		for (const char *c = parts[p];; c++) {
			h ^= (uint8_t)*c;
			h *= 0x100000001b3ULL;
			if (!*c)
				break;
		}
	}
	snprintf(name, IF_NAMESIZE, "sl%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

/* A random locally administered unicast MAC. */
static int random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6)
		return -errno;
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
	return 0;
}

static void host_prefix(const struct sl_ip *ip, struct sl_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->ip = *ip;
	p->len = (uint8_t)(sl_ip_bytes(ip) * 8);
}

/* Inside the pod: address, up, link-local gateway answered by a permanent
 * neighbour (no ARP ever), default route through it. */
static int plumb_pod_side(int pod_fd, const struct endpoint *ep)
{
	struct nl_route gw_route = { .scope = RT_SCOPE_LINK };
	struct nl_route def = { 0 };
	struct nl_sock *nl = NULL;
	struct sl_prefix addr;
	struct sl_ip gw;
	struct nl_link l;
	int err;

	err = nl_open_in_netns(pod_fd, &nl);
	if (err)
		return err;
	sl_ip_parse(SL_POD_GATEWAY_V4, &gw);
	host_prefix(&ep->ip, &addr);
	err = nl_link_get_by_name(nl, ep->key.ifname, &l);
	if (!err)
		err = nl_link_set_ipv6_addrgen_none(nl, l.ifindex);
	if (!err)
		err = nl_addr_add(nl, l.ifindex, &addr, NL_ADDR_F_NOPREFIXROUTE);
	if (!err)
		err = nl_link_set_up(nl, l.ifindex, true);
	if (!err)
		err = nl_neigh_set_permanent(nl, l.ifindex, &gw, ep->host_mac);
	if (!err) {
		host_prefix(&gw, &gw_route.dst);
		gw_route.oif = l.ifindex;
		err = nl_route_add(nl, &gw_route, true);
	}
	if (!err) {
		def.dst.ip.family = gw.family;
		def.gw = gw;
		def.oif = l.ifindex;
		err = nl_route_add(nl, &def, true);
	}
	nl_close(nl);
	return err;
}

/* On the node: the host side neither sends nor answers ARP (a pod must not
 * learn anything about the node's addresses), has no IPv6 link-local, and
 * the node reaches the pod through a /32 route and a permanent neighbour. */
static int plumb_host_side(struct nl_sock *nl, struct endpoint *ep)
{
	struct nl_route r = { .scope = RT_SCOPE_LINK };
	struct nl_link l;
	int err;

	err = nl_link_get_by_name(nl, ep->host_veth, &l);
	if (err)
		return err;
	ep->host_ifindex = l.ifindex;
	memcpy(ep->host_mac, l.mac, 6);
	err = nl_link_set_noarp(nl, l.ifindex, true);
	if (!err)
		err = nl_link_set_ipv6_addrgen_none(nl, l.ifindex);
	if (!err)
		err = nl_link_set_up(nl, l.ifindex, true);
	if (!err)
		err = nl_neigh_set_permanent(nl, l.ifindex, &ep->ip, ep->mac);
	if (!err) {
		host_prefix(&ep->ip, &r.dst);
		r.oif = l.ifindex;
		err = nl_route_add(nl, &r, true);
	}
	return err;
}

int endpoint_plumb(struct endpoint *ep)
{
	struct nl_veth_req req = { 0 };
	struct nl_sock *nl = NULL;
	struct nl_link stale;
	const char *step = "open pod netns";
	int pod_fd, err;

	if (!ep->mtu)
		ep->mtu = ENDPOINT_MTU_DEFAULT;
	endpoint_host_veth_name(&ep->key, ep->host_veth);
	pod_fd = netns_open(ep->netns);
	if (pod_fd < 0) {
		err = pod_fd;
		goto log;
	}
	step = "open netlink";
	err = nl_open(&nl);
	if (err)
		goto out;
	/* A link with our name is a leftover of an earlier attempt for the same
	 * attachment that the agent no longer tracks: it holds no IP of ours. */
	if (nl_link_get_by_name(nl, ep->host_veth, &stale) == 0)
		nl_link_del(nl, stale.ifindex);
	step = "random mac";
	err = random_mac(ep->mac);
	if (err)
		goto out;
	req.name = ep->host_veth;
	req.peer_name = ep->key.ifname;
	req.peer_mac = ep->mac;
	req.peer_netns_fd = pod_fd;
	req.mtu = ep->mtu;
	step = "create veth";
	err = nl_veth_create(nl, &req);
	if (err)
		goto out;
	step = "configure node side";
	err = plumb_host_side(nl, ep);
	if (!err) {
		step = "configure pod side";
		err = plumb_pod_side(pod_fd, ep);
	}
	if (err) {
		struct nl_link l;

		if (nl_link_get_by_name(nl, ep->host_veth, &l) == 0)
			nl_link_del(nl, l.ifindex);
	}
out:
	nl_close(nl);
	close(pod_fd);
log:
	if (err)
		pr_err("endpoint %s/%s: %s (%s, netns %s): %s", ep->key.container_id, ep->key.ifname, step,
		       ep->host_veth, ep->netns, strerror(-err));
	return err;
}

int endpoint_unplumb(const struct endpoint *ep)
{
	struct nl_sock *nl = NULL;
	struct nl_link l;
	char name[IF_NAMESIZE];
	int err;

	endpoint_host_veth_name(&ep->key, name);
	err = nl_open(&nl);
	if (err)
		return err;
	err = nl_link_get_by_name(nl, name, &l);
	if (!err)
		err = nl_link_del(nl, l.ifindex);
	if (err == -ENODEV)
		err = 0; /* the pod's netns is gone, and the pair with it */
	if (err)
		pr_err("endpoint %s/%s: delete %s: %s", ep->key.container_id, ep->key.ifname, name,
		       strerror(-err));
	nl_close(nl);
	return err;
}

static bool has_addr(struct nl_sock *nl, int ifindex, const struct sl_ip *ip)
{
	struct sl_prefix *addrs = NULL;
	size_t n = 0;
	bool found = false;

	if (nl_addr_list(nl, ifindex, &addrs, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		found |= sl_ip_equal(&addrs[i].ip, ip);
	free(addrs);
	return found;
}

int endpoint_verify(const struct endpoint *ep, char *why, size_t why_len)
{
	struct nl_sock *nl = NULL, *pod_nl = NULL;
	struct nl_link host, pod;
	char ipbuf[SL_IP_STRLEN];
	int pod_fd = -1, err;

	why[0] = '\0';
	err = nl_open(&nl);
	if (err) {
		snprintf(why, why_len, "netlink: %s", strerror(-err));
		return err;
	}
	err = nl_link_get_by_name(nl, ep->host_veth, &host);
	if (err) {
		snprintf(why, why_len, "host-side link %s is missing", ep->host_veth);
		goto out;
	}
	if (!(host.flags & IFF_UP)) {
		snprintf(why, why_len, "host-side link %s is down", ep->host_veth);
		err = -ENETDOWN;
		goto out;
	}
	pod_fd = netns_open(ep->netns);
	if (pod_fd < 0) {
		err = pod_fd;
		snprintf(why, why_len, "netns %s: %s", ep->netns, strerror(-err));
		goto out;
	}
	err = nl_open_in_netns(pod_fd, &pod_nl);
	if (!err)
		err = nl_link_get_by_name(pod_nl, ep->key.ifname, &pod);
	if (err) {
		snprintf(why, why_len, "interface %s is missing in %s", ep->key.ifname, ep->netns);
		goto out;
	}
	if (memcmp(pod.mac, ep->mac, 6) != 0) {
		snprintf(why, why_len, "interface %s has another MAC", ep->key.ifname);
		err = -EINVAL;
		goto out;
	}
	if (!has_addr(pod_nl, pod.ifindex, &ep->ip)) {
		snprintf(why, why_len, "interface %s lacks address %s", ep->key.ifname,
			 sl_ip_fmt(&ep->ip, ipbuf));
		err = -EADDRNOTAVAIL;
	}
out:
	nl_close(pod_nl);
	nl_close(nl);
	if (pod_fd >= 0)
		close(pod_fd);
	return err;
}
