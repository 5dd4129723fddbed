// SPDX-License-Identifier: Apache-2.0
/*
 * The sim VPC router's side of interfaces: veth pairs into instances, the
 * gateway address, and a /32 route plus permanent neighbour per assigned IP.
 */
#include "cloud/sim_router.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "netlink/netns.h"
#include "netlink/nl.h"

#define SIM_LINK_MTU 1500

/* Router-wide settings, made once when the VPC is created: it forwards, and
 * every link created later inherits strict reverse-path filtering (a packet
 * whose source the cloud did not assign to that interface is dropped, like a
 * real SDN's anti-spoofing) and proxy ARP (it answers for the whole subnet,
 * as a real VPC gateway does). No IPv6 on the router for now. */
static const struct {
	const char *name, *value;
} router_sysctls[] = {
	{ "net/ipv4/ip_forward", "1" },
	{ "net/ipv4/conf/all/rp_filter", "0" },
	{ "net/ipv4/conf/default/rp_filter", "1" },
	{ "net/ipv4/conf/default/proxy_arp", "1" },
	{ "net/ipv6/conf/all/disable_ipv6", "1" },
	{ "net/ipv6/conf/default/disable_ipv6", "1" },
};

int sim_router_setup(const char *router_netns)
{
	int fd, saved = -1, err;

	fd = netns_open(router_netns);
	if (fd < 0)
		return fd;
	err = netns_enter(fd, &saved);
	if (err)
		goto out;
	for (size_t i = 0; i < sizeof(router_sysctls) / sizeof(router_sysctls[0]); i++) {
		err = sysctl_write(router_sysctls[i].name, router_sysctls[i].value);
		if (err) {
			pr_err("sim: router %s: sysctl %s: %d", router_netns, router_sysctls[i].name, err);
			break;
		}
	}
	netns_restore(saved);
out:
	close(fd);
	return err;
}

static int host_prefix(const struct sl_ip *ip, struct sl_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->ip = *ip;
	p->len = (uint8_t)(sl_ip_bytes(ip) * 8);
	return 0;
}

int sim_router_attach(const char *router_netns, const char *link, const char *inst_netns,
		      const char *inst_ifname, const uint8_t mac[6], const struct sl_ip *gateway)
{
	struct nl_veth_req req = {
		.name = link,
		.peer_name = inst_ifname,
		.peer_mac = mac,
		.mtu = SIM_LINK_MTU,
	};
	struct nl_sock *nl = NULL;
	struct nl_link l;
	struct sl_prefix gw;
	int rfd, ifd = -1, err;

	rfd = netns_open(router_netns);
	if (rfd < 0)
		return rfd;
	ifd = netns_open(inst_netns);
	if (ifd < 0) {
		err = ifd;
		goto out;
	}
	err = nl_open_in_netns(rfd, &nl);
	if (err)
		goto out;
	req.peer_netns_fd = ifd;
	err = nl_veth_create(nl, &req);
	if (err) {
		pr_err("sim: create link %s <-> %s/%s: %d", link, inst_netns, inst_ifname, err);
		goto out;
	}
	err = nl_link_get_by_name(nl, link, &l);
	if (!err)
		err = nl_link_set_ipv6_addrgen_none(nl, l.ifindex);
	host_prefix(gateway, &gw);
	if (!err)
		err = nl_addr_add(nl, l.ifindex, &gw, NL_ADDR_F_NOPREFIXROUTE);
	if (!err)
		err = nl_link_set_up(nl, l.ifindex, true);
	if (err) {
		pr_err("sim: configure router link %s: %d", link, err);
		if (nl_link_get_by_name(nl, link, &l) == 0)
			nl_link_del(nl, l.ifindex);
	}
out:
	nl_close(nl);
	if (ifd >= 0)
		close(ifd);
	close(rfd);
	return err;
}

int sim_router_detach(const char *router_netns, const char *link)
{
	struct nl_sock *nl = NULL;
	struct nl_link l;
	int rfd, err;

	rfd = netns_open(router_netns);
	if (rfd < 0)
		return rfd == -ENOENT ? 0 : rfd;
	err = nl_open_in_netns(rfd, &nl);
	if (!err) {
		err = nl_link_get_by_name(nl, link, &l);
		if (!err)
			err = nl_link_del(nl, l.ifindex);
		if (err == -ENODEV)
			err = 0;
	}
	nl_close(nl);
	close(rfd);
	return err;
}

int sim_router_route_ip(const char *router_netns, const char *link, const struct sl_ip *ip,
			const uint8_t mac[6], bool add)
{
	struct nl_sock *nl = NULL;
	struct nl_route r = { .scope = RT_SCOPE_LINK };
	struct nl_link l;
	int rfd, err;

	rfd = netns_open(router_netns);
	if (rfd < 0)
		return rfd;
	err = nl_open_in_netns(rfd, &nl);
	if (err)
		goto out;
	err = nl_link_get_by_name(nl, link, &l);
	if (err) {
		if (!add && err == -ENODEV)
			err = 0; /* the link is gone, and its routes with it */
		goto out;
	}
	host_prefix(ip, &r.dst);
	r.oif = l.ifindex;
	if (add) {
		err = nl_neigh_set_permanent(nl, l.ifindex, ip, mac);
		if (!err)
			err = nl_route_add(nl, &r, true);
	} else {
		int nerr;

		err = nl_route_del(nl, &r);
		if (err == -ENOENT || err == -ESRCH)
			err = 0;
		nerr = nl_neigh_del(nl, l.ifindex, ip);
		if (!err && nerr && nerr != -ENOENT)
			err = nerr;
	}
	if (err) {
		char buf[SL_IP_STRLEN];

		pr_err("sim: %s route for %s via %s: %d", add ? "add" : "delete", sl_ip_fmt(ip, buf), link,
		       err);
	}
out:
	nl_close(nl);
	close(rfd);
	return err;
}

int sim_instance_configure(const char *inst_netns, const char *ifname, const struct sl_prefix *addr,
			   const struct sl_ip *gateway)
{
	struct nl_sock *nl = NULL;
	struct nl_route def = { 0 };
	struct nl_link l;
	int fd, err;

	fd = netns_open(inst_netns);
	if (fd < 0)
		return fd;
	err = nl_open_in_netns(fd, &nl);
	if (!err)
		err = nl_link_get_by_name(nl, ifname, &l);
	if (!err)
		err = nl_link_set_ipv6_addrgen_none(nl, l.ifindex);
	if (!err)
		err = nl_addr_add(nl, l.ifindex, addr, 0);
	if (!err)
		err = nl_link_set_up(nl, l.ifindex, true);
	if (!err) {
		def.dst.ip.family = gateway->family;
		def.gw = *gateway;
		def.oif = l.ifindex;
		err = nl_route_add(nl, &def, true);
	}
	if (err)
		pr_err("sim: configure %s in %s: %d", ifname, inst_netns, err);
	nl_close(nl);
	close(fd);
	return err;
}
