// SPDX-License-Identifier: Apache-2.0
/*
 * rtnetlink over libmnl. Every request carries NLM_F_ACK (dumps end with
 * NLMSG_DONE instead) and is answered before the next one is sent, so one
 * receive loop serves all: it skips what is not ours (another sequence
 * number, another port), hands data messages to a callback, and stops at the
 * ACK or DONE, draining the rest of a dump even after a callback failed so
 * the socket stays in step for the next request.
 */
#include "netlink/nl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "netlink/netns.h"

/* The kernel sizes dump messages after the largest read it has seen, up to
 * 32 KiB; twice that leaves room for any single reply. */
#define NL_RECV_SIZE (64 * 1024)
/* Requests are built from fixed parts: names, a few addresses. */
#define NL_REQ_SIZE 1024
/* A dump the kernel flags NLM_F_DUMP_INTR (the table changed under it) is
 * run again this many times before -EINTR reaches the caller. */
#define NL_DUMP_TRIES 4

struct nl_sock {
	struct mnl_socket *mnl;
	unsigned portid;
	unsigned seq;
	char *buf;
};

typedef int (*nl_msg_cb)(const struct nlmsghdr *nlh, void *data);

int nl_open(struct nl_sock **out)
{
	struct nl_sock *nl;
	int one = 1, err;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->buf = malloc(NL_RECV_SIZE);
	if (!nl->buf) {
		err = -ENOMEM;
		goto err_free;
	}
	nl->mnl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->mnl) {
		err = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(nl->mnl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto err_close;
	}
	/* Error strings for the debug log, and ACKs without a copy of the
	 * request; both optional (kernels before 4.12 lack EXT_ACK). */
	mnl_socket_setsockopt(nl->mnl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->mnl, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->mnl);
	*out = nl;
	return 0;

err_close:
	mnl_socket_close(nl->mnl);
err_free:
	free(nl->buf);
	free(nl);
	return err;
}

int nl_open_in_netns(int netns_fd, struct nl_sock **out)
{
	struct nl_sock *nl = NULL;
	int saved, err, rerr;

	err = netns_enter(netns_fd, &saved);
	if (err)
		return err;
	/* The socket belongs to the namespace current at socket() time. */
	err = nl_open(&nl);
	rerr = netns_restore(saved);
	if (rerr) {
		if (!err)
			nl_close(nl);
		return rerr;
	}
	if (!err)
		*out = nl;
	return err;
}

void nl_close(struct nl_sock *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->mnl);
	free(nl->buf);
	free(nl);
}

/* --- the request/response loop ---------------------------------------------- */

static const char *const msg_names[] = {
	[RTM_NEWLINK] = "RTM_NEWLINK",
	[RTM_DELLINK] = "RTM_DELLINK",
	[RTM_GETLINK] = "RTM_GETLINK",
	[RTM_NEWADDR] = "RTM_NEWADDR",
	[RTM_DELADDR] = "RTM_DELADDR",
	[RTM_GETADDR] = "RTM_GETADDR",
	[RTM_NEWROUTE] = "RTM_NEWROUTE",
	[RTM_DELROUTE] = "RTM_DELROUTE",
	[RTM_GETROUTE] = "RTM_GETROUTE",
	[RTM_NEWNEIGH] = "RTM_NEWNEIGH",
	[RTM_DELNEIGH] = "RTM_DELNEIGH",
	[RTM_GETNEIGH] = "RTM_GETNEIGH",
};

static const char *msg_name(uint16_t type)
{
	if (type < sizeof(msg_names) / sizeof(msg_names[0]) && msg_names[type])
		return msg_names[type];
	return "rtnetlink request";
}

static int extack_cb(const struct nlattr *attr, void *data)
{
	const char **msg = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		*msg = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static void log_nlerr(const struct nlmsghdr *nlh, const struct nlmsgerr *e, uint16_t req_type)
{
	const char *msg = NULL;
	size_t off = sizeof(*e);

	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (off < mnl_nlmsg_get_payload_len(nlh))
			mnl_attr_parse(nlh, off, extack_cb, &msg);
	}
	pr_debug("%s: %s%s%s", msg_name(req_type), strerror(-e->error), msg ? ": " : "", msg ? msg : "");
}

/* Sends nlh and reads until its ACK or NLMSG_DONE. Returns 0, the kernel's
 * -errno, the first callback error, or -EINTR for an inconsistent dump. */
static int nl_talk(struct nl_sock *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data)
{
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	bool done = false, intr = false;
	uint16_t req_type = nlh->nlmsg_type;
	unsigned seq;
	int err = 0;

	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	seq = ++nl->seq;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	if (mnl_socket_sendto(nl->mnl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	while (!done) {
		ssize_t len = mnl_socket_recvfrom(nl->mnl, nl->buf, NL_RECV_SIZE);
		const struct nlmsghdr *m;
		int left;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			/* ENOSPC: a reply larger than the buffer (MSG_TRUNC). */
			return err ? err : -errno;
		}
		left = (int)len;
		for (m = (const struct nlmsghdr *)nl->buf; !done && mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
			/* Leftovers of an earlier request on this socket. */
			if (m->nlmsg_seq != seq || m->nlmsg_pid != nl->portid) {
				pr_debug("rtnetlink: skipping message seq %u port %u (want %u/%u)", m->nlmsg_seq,
					 m->nlmsg_pid, seq, nl->portid);
				continue;
			}
			if (m->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			switch (m->nlmsg_type) {
			case NLMSG_NOOP:
				break;
			case NLMSG_OVERRUN:
				if (!err)
					err = -ENOBUFS;
				break;
			case NLMSG_DONE:
				/* Carries the dump's own error, e.g. -EMSGSIZE. */
				if (mnl_nlmsg_get_payload_len(m) >= sizeof(int)) {
					int derr = *(const int *)mnl_nlmsg_get_payload(m);

					if (derr < 0 && !err)
						err = derr;
				}
				done = true;
				break;
			case NLMSG_ERROR: {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) < sizeof(*e)) {
					if (!err)
						err = -EBADMSG;
				} else if (e->error) {
					log_nlerr(m, e, req_type);
					if (!err)
						err = e->error;
				}
				done = true;
				break;
			}
			default:
				if (!err && cb) {
					int r = cb(m, data);

					if (r < 0)
						err = r;
				}
				break;
			}
		}
	}
	if (!err && intr)
		err = -EINTR;
	return err;
}

/* A dump, run again while the kernel says it was inconsistent; reset
 * empties what the callback gathered before each run. */
static int nl_dump(struct nl_sock *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data, void (*reset)(void *))
{
	int err;

	for (int tries = 0;; tries++) {
		reset(data);
		err = nl_talk(nl, nlh, cb, data);
		if (err != -EINTR || tries + 1 == NL_DUMP_TRIES)
			return err;
		pr_debug("%s dump interrupted by a change, retrying", msg_name(nlh->nlmsg_type));
	}
}

static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* --- growable arrays for the dumps ------------------------------------------- */

struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *grown = realloc(v->items, cap * v->size);

		if (!grown)
			return NULL;
		v->items = grown;
		v->cap = cap;
	}
	return memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

static void vec_reset(void *data)
{
	((struct vec *)data)->n = 0;
}

/* Hands the array over on success, frees it on error. */
static int vec_finish(struct vec *v, int err, void *out, size_t *n)
{
	if (err) {
		free(v->items);
		return err;
	}
	*(void **)out = v->items;
	*n = v->n;
	return 0;
}

/* --- attribute helpers --------------------------------------------------------- */

struct attr_tb {
	const struct nlattr **tb;
	unsigned max;
};

static int attr_collect(const struct nlattr *attr, void *data)
{
	const struct attr_tb *t = data;
	unsigned type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

static int parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb, unsigned max)
{
	struct attr_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (mnl_nlmsg_get_payload_len(nlh) < hdrlen)
		return -EBADMSG;
	return mnl_attr_parse(nlh, hdrlen, attr_collect, &t) < 0 ? -EBADMSG : 0;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	struct attr_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	return mnl_attr_parse_nested(nest, attr_collect, &t) < 0 ? -EBADMSG : 0;
}

static bool attr_u32(const struct nlattr *attr, uint32_t *v)
{
	if (!attr || mnl_attr_get_payload_len(attr) < sizeof(uint32_t))
		return false;
	*v = mnl_attr_get_u32(attr);
	return true;
}

static uint8_t sl_family_of(int af)
{
	return af == AF_INET ? SL_FAMILY_IPV4 : af == AF_INET6 ? SL_FAMILY_IPV6 : 0;
}

/* An address attribute of family af into out; false if it does not fit. */
static bool attr_ip(const struct nlattr *attr, int af, struct sl_ip *out)
{
	struct sl_ip ip = { .family = sl_family_of(af) };
	unsigned bytes = sl_ip_bytes(&ip);

	if (!attr || !bytes || mnl_attr_get_payload_len(attr) != bytes)
		return false;
	memcpy(ip.addr, mnl_attr_get_payload(attr), bytes);
	*out = ip;
	return true;
}

static void put_ip(struct nlmsghdr *nlh, uint16_t type, const struct sl_ip *ip)
{
	mnl_attr_put(nlh, type, sl_ip_bytes(ip), ip->addr);
}

static bool name_ok(const char *name)
{
	return name && *name && strlen(name) < IF_NAMESIZE;
}

/* --- links ----------------------------------------------------------------------- */

static int parse_link(const struct nlmsghdr *nlh, struct nl_link *l)
{
	const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	uint32_t v;
	int err;

	err = parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX);
	if (err)
		return err;
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%.*s", (int)mnl_attr_get_payload_len(tb[IFLA_IFNAME]),
			 mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(l->mac))
		memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(l->mac));
	if (attr_u32(tb[IFLA_MTU], &v))
		l->mtu = v;
	if (attr_u32(tb[IFLA_LINK], &v))
		l->peer_ifindex = (int)v;
	if (tb[IFLA_LINKINFO] && parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX) == 0 && info[IFLA_INFO_KIND])
		snprintf(l->kind, sizeof(l->kind), "%.*s", (int)mnl_attr_get_payload_len(info[IFLA_INFO_KIND]),
			 mnl_attr_get_str(info[IFLA_INFO_KIND]));
	return 0;
}

struct link_one {
	struct nl_link *out;
	bool found;
};

static int link_one_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_one *one = data;
	int err;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	err = parse_link(nlh, one->out);
	if (!err)
		one->found = true;
	return err;
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = msg_start(buf, type, flags);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static int link_get(struct nl_sock *nl, int ifindex, const char *name, struct nl_link *out)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, ifindex);
	struct link_one one = { .out = out };
	int err;

	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = nl_talk(nl, nlh, link_one_cb, &one);
	if (!err && !one.found)
		err = -ENODEV;
	return err;
}

int nl_link_get_by_name(struct nl_sock *nl, const char *name, struct nl_link *out)
{
	if (!name_ok(name))
		return -EINVAL;
	return link_get(nl, 0, name, out);
}

int nl_link_get_by_index(struct nl_sock *nl, int ifindex, struct nl_link *out)
{
	if (ifindex <= 0)
		return -EINVAL;
	return link_get(nl, ifindex, NULL, out);
}

static int link_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_link *l;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	l = vec_push(data);
	if (!l)
		return -ENOMEM;
	return parse_link(nlh, l);
}

int nl_link_list(struct nl_sock *nl, struct nl_link **out, size_t *n)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
	struct vec v = { .size = sizeof(struct nl_link) };

	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return vec_finish(&v, nl_dump(nl, nlh, link_list_cb, &v, vec_reset), out, n);
}

int nl_link_find_by_mac(struct nl_sock *nl, const uint8_t mac[6], struct nl_link *out)
{
	struct nl_link *links;
	size_t n;
	int err;

	err = nl_link_list(nl, &links, &n);
	if (err)
		return err;
	err = -ENODEV;
	for (size_t i = 0; i < n; i++) {
		if (memcmp(links[i].mac, mac, sizeof(links[i].mac)) == 0) {
			*out = links[i];
			err = 0;
			break;
		}
	}
	free(links);
	return err;
}

/* Asks for a link dump without reading the answer: the wait below reads the
 * dump's messages and the group's events from the same socket, in order. */
static int link_dump_send(struct nl_sock *nl, unsigned *seq)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);

	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	nlh->nlmsg_seq = *seq = ++nl->seq;
	if (mnl_socket_sendto(nl->mnl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

static long ms_until(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* One batch of messages: the first link with the MAC (from the dump or an
 * event) is the answer; our dump's end clears *dumping, its error returns. */
static int wait_mac_batch(struct nl_sock *nl, size_t len, unsigned seq, const uint8_t mac[6], bool *dumping,
			  struct nl_link *out, bool *found)
{
	int left = (int)len;

	for (const struct nlmsghdr *m = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(m, left);
	     m = mnl_nlmsg_next(m, &left)) {
		bool ours = m->nlmsg_seq == seq && m->nlmsg_pid == nl->portid;
		struct nl_link l;

		if (m->nlmsg_type == RTM_NEWLINK) {
			if (!*found && parse_link(m, &l) == 0 && memcmp(l.mac, mac, sizeof(l.mac)) == 0) {
				*out = l;
				*found = true;
			}
		} else if (ours && m->nlmsg_type == NLMSG_DONE) {
			*dumping = false;
		} else if (ours && m->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

			*dumping = false;
			if (mnl_nlmsg_get_payload_len(m) >= sizeof(*e) && e->error)
				return e->error;
		}
	}
	return 0;
}

int nl_link_wait_mac(struct nl_sock *nl, const uint8_t mac[6], unsigned timeout_ms, struct nl_link *out)
{
	int group = RTNLGRP_LINK, fd = mnl_socket_get_fd(nl->mnl), err;
	bool found = false, dumping, redump = false;
	struct timespec deadline;
	unsigned seq = 0;

	if (sl_mac_is_zero(mac))
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* Subscribe before the dump: a link that appears between the two is in
	 * the dump, in an event, or both; never in neither. */
	if (mnl_socket_setsockopt(nl->mnl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return -errno;
	err = link_dump_send(nl, &seq);
	dumping = !err;
	/* Once found, read on to the end of our dump: a dump left running on
	 * the socket would make the caller's next dump fail with -EBUSY. */
	while (!err && (!found || dumping)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = ms_until(&deadline);
		ssize_t len;
		int r;

		if (redump && !dumping) {
			redump = false;
			err = link_dump_send(nl, &seq);
			dumping = !err;
			continue;
		}
		if (left <= 0) {
			err = found ? 0 : -ETIMEDOUT;
			break;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			err = -errno;
		if (r <= 0)
			continue;
		len = recv(fd, nl->buf, NL_RECV_SIZE, MSG_DONTWAIT);
		if (len < 0) {
			if (errno == ENOBUFS) {
				/* The socket overflowed and events were lost: look
				 * at the whole list again (after a dump under way). */
				redump = true;
			} else if (errno != EINTR && errno != EAGAIN) {
				err = -errno;
			}
			continue;
		}
		err = wait_mac_batch(nl, (size_t)len, seq, mac, &dumping, out, &found);
	}
	mnl_socket_setsockopt(nl->mnl, NETLINK_DROP_MEMBERSHIP, &group, sizeof(group));
	return found ? 0 : err;
}

int nl_veth_create(struct nl_sock *nl, const struct nl_veth_req *req)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct nlattr *linkinfo, *data, *peer;
	struct ifinfomsg *pifi;

	if (!name_ok(req->name) || !name_ok(req->peer_name))
		return -EINVAL;
	nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, req->name);
	if (req->mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, req->mac);
	if (req->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, req->mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* The peer is described like a link of its own: an ifinfomsg, then
	 * its attributes, all inside VETH_INFO_PEER. */
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifi = mnl_nlmsg_get_payload_tail(nlh);
	memset(pifi, 0, sizeof(*pifi));
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, req->peer_name);
	if (req->peer_mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, req->peer_mac);
	if (req->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, req->mtu);
	if (req->peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)req->peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* RTM_NEWLINK on an existing link: the ifinfomsg flags under the change
 * mask, plus whatever attributes the caller adds. */
static struct nlmsghdr *link_set_msg(char *buf, int ifindex, unsigned flags, unsigned change)
{
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	return nlh;
}

static int link_set_flag(struct nl_sock *nl, int ifindex, unsigned flag, bool on)
{
	char buf[NL_REQ_SIZE];

	if (ifindex <= 0)
		return -EINVAL;
	return nl_talk(nl, link_set_msg(buf, ifindex, on ? flag : 0, flag), NULL, NULL);
}

int nl_link_set_up(struct nl_sock *nl, int ifindex, bool up)
{
	return link_set_flag(nl, ifindex, IFF_UP, up);
}

int nl_link_set_noarp(struct nl_sock *nl, int ifindex, bool noarp)
{
	return link_set_flag(nl, ifindex, IFF_NOARP, noarp);
}

int nl_link_set_mtu(struct nl_sock *nl, int ifindex, unsigned mtu)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -EINVAL;
	nlh = link_set_msg(buf, ifindex, 0, 0);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set_name(struct nl_sock *nl, int ifindex, const char *name)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0 || !name_ok(name))
		return -EINVAL;
	nlh = link_set_msg(buf, ifindex, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set_mac(struct nl_sock *nl, int ifindex, const uint8_t mac[6])
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -EINVAL;
	nlh = link_set_msg(buf, ifindex, 0, 0);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set_netns(struct nl_sock *nl, int ifindex, int netns_fd)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0 || netns_fd < 0)
		return -EINVAL;
	nlh = link_set_msg(buf, ifindex, 0, 0);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set_ipv6_addrgen_none(struct nl_sock *nl, int ifindex)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct nlattr *spec, *inet6;

	if (ifindex <= 0)
		return -EINVAL;
	nlh = link_set_msg(buf, ifindex, 0, 0);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	inet6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, inet6);
	mnl_attr_nest_end(nlh, spec);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_del(struct nl_sock *nl, int ifindex)
{
	char buf[NL_REQ_SIZE];

	if (ifindex <= 0)
		return -EINVAL;
	return nl_talk(nl, link_msg(buf, RTM_DELLINK, 0, ifindex), NULL, NULL);
}

/* --- addresses ------------------------------------------------------------------- */

static struct nlmsghdr *addr_msg(char *buf, uint16_t type, uint16_t flags, int ifindex, const struct sl_prefix *p)
{
	struct nlmsghdr *nlh = msg_start(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = (uint8_t)sl_ip_af(&p->ip);
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_index = (uint32_t)ifindex;
	/* Local and peer the same: an ordinary (not point-to-point) address. */
	put_ip(nlh, IFA_LOCAL, &p->ip);
	put_ip(nlh, IFA_ADDRESS, &p->ip);
	return nlh;
}

static bool prefix_ok(const struct sl_prefix *p)
{
	return sl_ip_bytes(&p->ip) && p->len <= sl_ip_bytes(&p->ip) * 8;
}

int nl_addr_add(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr, unsigned flags)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	uint32_t ifa_flags = 0;

	if (ifindex <= 0 || !prefix_ok(addr))
		return -EINVAL;
	if (flags & NL_ADDR_F_NOPREFIXROUTE)
		ifa_flags |= IFA_F_NOPREFIXROUTE;
	if (flags & NL_ADDR_F_NODAD)
		ifa_flags |= IFA_F_NODAD;
	nlh = addr_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr);
	/* IFA_F_NOPREFIXROUTE does not fit ifa_flags (8 bits): IFA_FLAGS. */
	((struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_flags = (uint8_t)ifa_flags;
	if (ifa_flags)
		mnl_attr_put_u32(nlh, IFA_FLAGS, ifa_flags);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_addr_del(struct nl_sock *nl, int ifindex, const struct sl_prefix *addr)
{
	char buf[NL_REQ_SIZE];
	int err;

	if (ifindex <= 0 || !prefix_ok(addr))
		return -EINVAL;
	err = nl_talk(nl, addr_msg(buf, RTM_DELADDR, 0, ifindex, addr), NULL, NULL);
	return err == -EADDRNOTAVAIL ? -ENOENT : err;
}

struct addr_dump {
	struct vec v; /* first: vec_reset takes the struct */
	int ifindex;
};

static int addr_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_dump *d = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1];
	struct sl_prefix *p;
	struct sl_ip ip;
	int err;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return 0;
	err = parse_attrs(nlh, sizeof(*ifa), tb, IFA_MAX);
	if (err)
		return err;
	if (d->ifindex && (int)ifa->ifa_index != d->ifindex)
		return 0;
	/* IFA_ADDRESS is the peer on a point-to-point link; IFA_LOCAL is ours
	 * and IPv6 leaves it out unless there is a peer. */
	if (!attr_ip(tb[IFA_LOCAL], ifa->ifa_family, &ip) && !attr_ip(tb[IFA_ADDRESS], ifa->ifa_family, &ip))
		return 0;
	p = vec_push(&d->v);
	if (!p)
		return -ENOMEM;
	p->ip = ip;
	p->len = ifa->ifa_prefixlen;
	return 0;
}

int nl_addr_list(struct nl_sock *nl, int ifindex, struct sl_prefix **out, size_t *n)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_dump d = { .v = { .size = sizeof(struct sl_prefix) }, .ifindex = ifindex };

	ifa->ifa_family = AF_UNSPEC;
	return vec_finish(&d.v, nl_dump(nl, nlh, addr_list_cb, &d, vec_reset), out, n);
}

/* --- routes ------------------------------------------------------------------------ */

static int route_msg(char *buf, uint16_t type, uint16_t flags, const struct nl_route *r, bool del,
		     struct nlmsghdr **out)
{
	unsigned table = r->table ? r->table : RT_TABLE_MAIN;
	int af = sl_ip_af(&r->dst.ip);
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (!prefix_ok(&r->dst) || r->oif < 0)
		return -EINVAL;
	if (sl_ip_is_set(&r->prefsrc) && r->prefsrc.family != r->dst.ip.family)
		return -EINVAL;
	nlh = msg_start(buf, type, flags);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)af;
	rtm->rtm_dst_len = r->dst.len;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	if (del) {
		/* Unset fields match any route, as `ip route del` does. */
		rtm->rtm_protocol = r->protocol;
		rtm->rtm_scope = r->scope ? r->scope : RT_SCOPE_NOWHERE;
		rtm->rtm_type = RTN_UNSPEC;
	} else {
		rtm->rtm_protocol = r->protocol ? r->protocol : RTPROT_BOOT;
		rtm->rtm_scope = r->scope;
		rtm->rtm_type = RTN_UNICAST;
	}
	if (r->onlink)
		rtm->rtm_flags |= RTNH_F_ONLINK;
	if (r->dst.len)
		put_ip(nlh, RTA_DST, &r->dst.ip);
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->oif);
	if (sl_ip_is_set(&r->gw)) {
		if (r->gw.family == r->dst.ip.family) {
			put_ip(nlh, RTA_GATEWAY, &r->gw);
		} else {
			/* An IPv4 route through an IPv6 next hop (RFC 5549). */
			struct {
				struct rtvia via;
				uint8_t addr[16];
			} via = { .via.rtvia_family = (uint16_t)sl_ip_af(&r->gw) };

			memcpy(via.addr, r->gw.addr, sl_ip_bytes(&r->gw));
			mnl_attr_put(nlh, RTA_VIA, sizeof(via.via) + sl_ip_bytes(&r->gw), &via);
		}
	}
	if (sl_ip_is_set(&r->prefsrc))
		put_ip(nlh, RTA_PREFSRC, &r->prefsrc);
	*out = nlh;
	return 0;
}

int nl_route_add(struct nl_sock *nl, const struct nl_route *r, bool replace)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int err;

	err = route_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), r, false, &nlh);
	if (err)
		return err;
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_route_del(struct nl_sock *nl, const struct nl_route *r)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int err;

	err = route_msg(buf, RTM_DELROUTE, 0, r, true, &nlh);
	if (err)
		return err;
	err = nl_talk(nl, nlh, NULL, NULL);
	return err == -ESRCH ? -ENOENT : err;
}

struct route_dump {
	struct vec v; /* first: vec_reset takes the struct */
	unsigned table;
};

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1];
	struct nl_route *r;
	uint32_t v, table;
	int err;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	err = parse_attrs(nlh, sizeof(*rtm), tb, RTA_MAX);
	if (err)
		return err;
	table = attr_u32(tb[RTA_TABLE], &v) ? v : rtm->rtm_table;
	if (table != d->table || rtm->rtm_type != RTN_UNICAST || (rtm->rtm_flags & RTM_F_CLONED))
		return 0;
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return 0;
	r = vec_push(&d->v);
	if (!r)
		return -ENOMEM;
	r->dst.ip.family = sl_family_of(rtm->rtm_family);
	r->dst.len = rtm->rtm_dst_len;
	attr_ip(tb[RTA_DST], rtm->rtm_family, &r->dst.ip);
	if (!attr_ip(tb[RTA_GATEWAY], rtm->rtm_family, &r->gw) && tb[RTA_VIA] &&
	    mnl_attr_get_payload_len(tb[RTA_VIA]) >= sizeof(struct rtvia)) {
		const struct rtvia *via = mnl_attr_get_payload(tb[RTA_VIA]);
		struct sl_ip gw = { .family = sl_family_of(via->rtvia_family) };
		unsigned bytes = sl_ip_bytes(&gw);

		if (bytes && mnl_attr_get_payload_len(tb[RTA_VIA]) >= sizeof(*via) + bytes) {
			memcpy(gw.addr, via->rtvia_addr, bytes);
			r->gw = gw;
		}
	}
	if (attr_u32(tb[RTA_OIF], &v))
		r->oif = (int)v;
	attr_ip(tb[RTA_PREFSRC], rtm->rtm_family, &r->prefsrc);
	r->scope = rtm->rtm_scope;
	r->table = table;
	r->onlink = rtm->rtm_flags & RTNH_F_ONLINK;
	r->protocol = rtm->rtm_protocol;
	return 0;
}

int nl_route_list(struct nl_sock *nl, uint8_t family, unsigned table, struct nl_route **out, size_t *n)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct route_dump d = { .v = { .size = sizeof(struct nl_route) }, .table = table ? table : RT_TABLE_MAIN };
	struct sl_ip probe = { .family = family };

	if (family && !sl_ip_bytes(&probe))
		return -EINVAL;
	rtm->rtm_family = (uint8_t)sl_ip_af(&probe);
	return vec_finish(&d.v, nl_dump(nl, nlh, route_list_cb, &d, vec_reset), out, n);
}

/* --- neighbours -------------------------------------------------------------------- */

static struct nlmsghdr *neigh_msg(char *buf, uint16_t type, uint16_t flags, int ifindex, const struct sl_ip *ip,
				  uint16_t state)
{
	struct nlmsghdr *nlh = msg_start(buf, type, flags);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = (uint8_t)sl_ip_af(ip);
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = state;
	put_ip(nlh, NDA_DST, ip);
	return nlh;
}

int nl_neigh_set_permanent(struct nl_sock *nl, int ifindex, const struct sl_ip *ip, const uint8_t mac[6])
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0 || !sl_ip_bytes(ip))
		return -EINVAL;
	nlh = neigh_msg(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ifindex, ip, NUD_PERMANENT);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_neigh_del(struct nl_sock *nl, int ifindex, const struct sl_ip *ip)
{
	char buf[NL_REQ_SIZE];

	if (ifindex <= 0 || !sl_ip_bytes(ip))
		return -EINVAL;
	return nl_talk(nl, neigh_msg(buf, RTM_DELNEIGH, 0, ifindex, ip, 0), NULL, NULL);
}

struct neigh_dump {
	struct vec v; /* first: vec_reset takes the struct */
	int ifindex;
};

static int neigh_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct neigh_dump *d = data;
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[NDA_MAX + 1];
	struct nl_neigh *e;
	struct sl_ip ip;
	int err;

	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return 0;
	err = parse_attrs(nlh, sizeof(*ndm), tb, NDA_MAX);
	if (err)
		return err;
	if (d->ifindex && ndm->ndm_ifindex != d->ifindex)
		return 0;
	if (!attr_ip(tb[NDA_DST], ndm->ndm_family, &ip))
		return 0; /* bridge FDB and other families */
	e = vec_push(&d->v);
	if (!e)
		return -ENOMEM;
	e->ifindex = ndm->ndm_ifindex;
	e->ip = ip;
	e->state = ndm->ndm_state;
	if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == sizeof(e->mac))
		memcpy(e->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), sizeof(e->mac));
	return 0;
}

int nl_neigh_list(struct nl_sock *nl, int ifindex, struct nl_neigh **out, size_t *n)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETNEIGH, NLM_F_DUMP);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	struct neigh_dump d = { .v = { .size = sizeof(struct nl_neigh) }, .ifindex = ifindex };

	ndm->ndm_family = AF_UNSPEC;
	return vec_finish(&d.v, nl_dump(nl, nlh, neigh_list_cb, &d, vec_reset), out, n);
}
