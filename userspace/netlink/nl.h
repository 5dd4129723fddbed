/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rtnetlink through libmnl: links, addresses, routes, neighbours.
 *
 * A struct nl_sock is bound to the network namespace it was opened in, for
 * its whole life: open one per namespace you need to change (nl_open_in_netns
 * does that without moving the calling thread). Every call returns 0 or the
 * kernel's -errno; "not found" is -ENODEV for links and -ENOENT otherwise.
 * Calls are synchronous (request + ACK) and not thread-safe per socket.
 */
#ifndef SLUICE_NL_H
#define SLUICE_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

struct nl_sock;

int nl_open(struct nl_sock **out);
int nl_open_in_netns(int netns_fd, struct nl_sock **out);
void nl_close(struct nl_sock *nl);

struct nl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	unsigned mtu;
	unsigned flags;  /* IFF_* */
	char kind[16];   /* "veth", ... ("" for devices without IFLA_INFO_KIND) */
	int peer_ifindex; /* IFLA_LINK: for a veth, the peer's ifindex (in its netns) */
};

int nl_link_get_by_name(struct nl_sock *nl, const char *name, struct nl_link *out);
int nl_link_get_by_index(struct nl_sock *nl, int ifindex, struct nl_link *out);
int nl_link_find_by_mac(struct nl_sock *nl, const uint8_t mac[6], struct nl_link *out);
/* All links of the namespace; *out is malloc'ed, caller frees. */
int nl_link_list(struct nl_sock *nl, struct nl_link **out, size_t *n);

struct nl_veth_req {
	const char *name;         /* created in nl's namespace */
	const uint8_t *mac;       /* NULL: kernel picks */
	const char *peer_name;
	const uint8_t *peer_mac;  /* NULL: kernel picks */
	int peer_netns_fd;        /* -1: same namespace as name */
	unsigned mtu;             /* 0: default; applied to both ends */
};
int nl_veth_create(struct nl_sock *nl, const struct nl_veth_req *req);

int nl_link_set_up(struct nl_sock *nl, int ifindex, bool up);
int nl_link_set_mtu(struct nl_sock *nl, int ifindex, unsigned mtu);
int nl_link_set_name(struct nl_sock *nl, int ifindex, const char *name); /* link must be down */
int nl_link_set_mac(struct nl_sock *nl, int ifindex, const uint8_t mac[6]);
int nl_link_set_netns(struct nl_sock *nl, int ifindex, int netns_fd);
/* IFF_NOARP on or off: a device that neither sends nor answers ARP. */
int nl_link_set_noarp(struct nl_sock *nl, int ifindex, bool noarp);
/* IPv6 addr_gen_mode none: no link-local address, so no DAD, RS or MLD. */
int nl_link_set_ipv6_addrgen_none(struct nl_sock *nl, int ifindex);
int nl_link_del(struct nl_sock *nl, int ifindex);

#define NL_ADDR_F_NOPREFIXROUTE (1u << 0) /* no connected route for the prefix */
int nl_addr_add(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr, unsigned flags);
int nl_addr_del(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr);
/* Addresses on ifindex (0 = every link); *out malloc'ed, caller frees. */
int nl_addr_list(struct nl_sock *nl, int ifindex, struct sl_prefix **out, size_t *n);

struct nl_route {
	struct sl_prefix dst;  /* 0.0.0.0/0 for a default route */
	struct sl_ip gw;       /* family 0: no gateway (a device route) */
	int oif;               /* 0: let the kernel choose from gw */
	unsigned char scope;   /* RT_SCOPE_*; 0 = universe */
	unsigned table;        /* 0 = main */
	bool onlink;           /* RTNH_F_ONLINK: gw needs no connected route */
	struct sl_ip prefsrc;  /* family 0: none */
};
/* replace: NLM_F_REPLACE instead of NLM_F_EXCL (idempotent add). */
int nl_route_add(struct nl_sock *nl, const struct nl_route *r, bool replace);
int nl_route_del(struct nl_sock *nl, const struct nl_route *r);

/* A permanent neighbour entry (add or replace). */
int nl_neigh_set_permanent(struct nl_sock *nl, int ifindex, const struct sl_ip *ip, const uint8_t mac[6]);
int nl_neigh_del(struct nl_sock *nl, int ifindex, const struct sl_ip *ip);

#endif /* SLUICE_NL_H */
