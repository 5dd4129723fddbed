/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rtnetlink through libmnl: links, addresses, routes, neighbours.
 *
 * A struct nl_sock is bound to the network namespace it was opened in, for
 * its whole life: open one per namespace you need to change (nl_open_in_netns
 * does that without moving the calling thread). Every call returns 0 or the
 * kernel's -errno from the netlink ACK; "not found" is -ENODEV for links and
 * -ENOENT otherwise (the kernel's -EADDRNOTAVAIL for a missing address and
 * -ESRCH for a missing route are turned into -ENOENT, so a caller can make
 * every delete idempotent with one test); -EINVAL for arguments refused
 * before asking the kernel (a NULL or too long name, no address family).
 * Calls are synchronous (request + ACK) and not thread-safe per socket: one
 * socket per thread, or a lock.
 * Nothing is logged above debug level; callers log at the edge with context.
 */
#ifndef SLUICE_NL_H
#define SLUICE_NL_H

#include <net/if.h>
/* After net/if.h, linux/if.h adds only what glibc lacks (IFF_LOWER_UP). */
#include <linux/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

struct nl_sock;

int nl_open(struct nl_sock **out);
/* A socket in netns_fd's namespace; the calling thread enters it only for
 * the socket() call and is back in its own namespace on return, error or
 * not (if it cannot get back, the error is returned and no socket made). */
int nl_open_in_netns(int netns_fd, struct nl_sock **out);
void nl_close(struct nl_sock *nl);

struct nl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	unsigned mtu;
	unsigned flags;  /* IFF_* (IFF_LOWER_UP: carrier) */
	char kind[16];   /* "veth", ... ("" for devices without IFLA_INFO_KIND) */
	int peer_ifindex; /* IFLA_LINK: for a veth, the peer's ifindex (in its netns); 0 if none */
};

/* -ENODEV when there is no such link. */
int nl_link_get_by_name(struct nl_sock *nl, const char *name, struct nl_link *out);
int nl_link_get_by_index(struct nl_sock *nl, int ifindex, struct nl_link *out);
int nl_link_find_by_mac(struct nl_sock *nl, const uint8_t mac[6], struct nl_link *out);
/* Waits up to timeout_ms for a link with this MAC in nl's namespace (a
 * cloud interface's netdev appearing after the attach): 0 and *out, or
 * -ETIMEDOUT. nl joins RTNLGRP_LINK first, then dumps the links, then reads
 * link events, so a link that appears at any moment is seen, without polling;
 * it leaves the group before returning (events still queued are skipped by
 * the next request like any leftover). */
int nl_link_wait_mac(struct nl_sock *nl, const uint8_t mac[6], unsigned timeout_ms, struct nl_link *out);
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
/* Both ends in one RTM_NEWLINK; -EEXIST if either name is taken. */
int nl_veth_create(struct nl_sock *nl, const struct nl_veth_req *req);

int nl_link_set_up(struct nl_sock *nl, int ifindex, bool up);
int nl_link_set_mtu(struct nl_sock *nl, int ifindex, unsigned mtu);
/* Kernels before 6.2 refuse to rename a link that is up (-EBUSY): take it
 * down first where that matters. */
int nl_link_set_name(struct nl_sock *nl, int ifindex, const char *name);
/* Changing the MAC flushes every neighbour entry of the link, permanent ones too. */
int nl_link_set_mac(struct nl_sock *nl, int ifindex, const uint8_t mac[6]);
int nl_link_set_netns(struct nl_sock *nl, int ifindex, int netns_fd);
/* IFF_NOARP on or off: a device that neither sends nor answers ARP/NDISC;
 * its next hops then need permanent neighbour entries. Toggling the flag
 * flushes every neighbour entry of the link, permanent ones included: set it
 * before nl_neigh_set_permanent. */
int nl_link_set_noarp(struct nl_sock *nl, int ifindex, bool noarp);
/* IPv6 addr_gen_mode none: no link-local address, so no DAD, RS or MLD.
 * Set it while the link is down (or before it has carrier): the kernel
 * does not remove a link-local address that already exists. -EAFNOSUPPORT
 * when the link has no IPv6 (e.g. MTU below 1280). */
int nl_link_set_ipv6_addrgen_none(struct nl_sock *nl, int ifindex);
int nl_link_del(struct nl_sock *nl, int ifindex); /* a veth takes its peer along */

#define NL_ADDR_F_NOPREFIXROUTE (1u << 0) /* no connected route for the prefix */
#define NL_ADDR_F_NODAD (1u << 1)         /* IPv6: usable at once, no duplicate detection */
/* -EEXIST if the address is already on the link. */
int nl_addr_add(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr, unsigned flags);
/* -ENOENT if it is not there (addr->len must match for IPv4). */
int nl_addr_del(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr);
/* Addresses on ifindex (0 = every link); *out malloc'ed, caller frees. */
int nl_addr_list(struct nl_sock *nl, int ifindex, struct sl_prefix **out, size_t *n);

struct nl_route {
	struct sl_prefix dst;  /* 0.0.0.0/0 for a default route */
	struct sl_ip gw;       /* family 0: no gateway (a device route); another
	                        * family than dst's: RTA_VIA (IPv4 via IPv6) */
	int oif;               /* 0: let the kernel choose from gw */
	unsigned char scope;   /* RT_SCOPE_*; 0 = universe (delete: any scope) */
	unsigned table;        /* 0 = main */
	bool onlink;           /* RTNH_F_ONLINK: gw needs no connected route */
	struct sl_ip prefsrc;  /* family 0: none */
	unsigned char protocol; /* RTPROT_*; 0 = RTPROT_BOOT (delete: any) */
};
/* replace: NLM_F_REPLACE instead of NLM_F_EXCL (idempotent add). */
int nl_route_add(struct nl_sock *nl, const struct nl_route *r, bool replace);
/* Matches dst, table and, where set, gw, oif, scope, prefsrc, protocol;
 * -ENOENT when no route matches. */
int nl_route_del(struct nl_sock *nl, const struct nl_route *r);
/* Unicast routes of one table (0 = main) and family (SL_FAMILY_IPV4/6, 0 =
 * both); *out malloc'ed, caller frees. Each route reports its real table id
 * (RT_TABLE_MAIN, not 0) and protocol. Multipath routes are listed with no
 * gw and oif 0. */
int nl_route_list(struct nl_sock *nl, uint8_t family, unsigned table, struct nl_route **out, size_t *n);

/* A permanent neighbour entry (add or replace). It survives carrier loss but
 * not the link going admin down, a MAC change or an IFF_NOARP toggle, which
 * all flush the link's entries: set them last, after the link is up. */
int nl_neigh_set_permanent(struct nl_sock *nl, int ifindex, const struct sl_ip *ip, const uint8_t mac[6]);
int nl_neigh_del(struct nl_sock *nl, int ifindex, const struct sl_ip *ip); /* -ENOENT if absent */

struct nl_neigh {
	int ifindex;
	struct sl_ip ip;
	uint8_t mac[6];   /* zero when the entry has no link-layer address */
	uint16_t state;   /* NUD_* */
};
/* ARP and NDISC entries on ifindex (0 = every link); *out malloc'ed, caller frees. */
int nl_neigh_list(struct nl_sock *nl, int ifindex, struct nl_neigh **out, size_t *n);

#endif /* SLUICE_NL_H */
