// SPDX-License-Identifier: Apache-2.0
/*
 * rtnetlink through the nl.h API against the running kernel: links, veths
 * across namespaces, addresses, routes, neighbours, the errors callers rely
 * on, and a pod-like topology that carries a UDP datagram each way.
 *
 * Each test gets two fresh namespaces, "slnl<pid>-<n>a" and "...b", and
 * sockets in them; the per-test teardown releases and deletes them whether
 * the test passed or not, and the group teardown deletes anything left with
 * the run's prefix. Nothing runs in the caller's own namespace.
 */
#include "lib/sl_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netlink/netns.h"
#include "netlink/nl.h"

#define THREAD_NETNS "/proc/thread-self/ns/net"

static char prefix[32];
static ino_t home_ns;
static int test_seq;

static struct fixture {
	char name_a[64], name_b[64];
	int fd_a, fd_b;
	struct nl_sock *a, *b;
	int saved;       /* netns_enter's saved fd while the test is inside */
	int socks[4];    /* UDP sockets of the traffic test */
} fx;

static const uint8_t mac1[6] = { 0x02, 0x5c, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t mac2[6] = { 0x02, 0x5c, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t mac3[6] = { 0x02, 0x5c, 0x00, 0x00, 0x00, 0x03 };

static ino_t thread_ns(void)
{
	struct stat st;

	return stat(THREAD_NETNS, &st) ? 0 : st.st_ino;
}

#define assert_home() assert_true(thread_ns() == home_ns)

static void delete_ours(void)
{
	DIR *d = opendir(NETNS_RUN_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			netns_delete(de->d_name);
	}
	closedir(d);
}

static int setup(void **state)
{
	int err;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.fd_a = fx.fd_b = fx.saved = -1;
	for (int i = 0; i < 4; i++)
		fx.socks[i] = -1;
	test_seq++;
	snprintf(fx.name_a, sizeof(fx.name_a), "%s%da", prefix, test_seq);
	snprintf(fx.name_b, sizeof(fx.name_b), "%s%db", prefix, test_seq);
	err = netns_create(fx.name_a);
	if (!err)
		err = netns_create(fx.name_b);
	if (!err) {
		fx.fd_a = netns_open(fx.name_a);
		fx.fd_b = netns_open(fx.name_b);
		if (fx.fd_a < 0 || fx.fd_b < 0)
			err = fx.fd_a < 0 ? fx.fd_a : fx.fd_b;
	}
	if (!err)
		err = nl_open_in_netns(fx.fd_a, &fx.a);
	if (!err)
		err = nl_open_in_netns(fx.fd_b, &fx.b);
	if (err)
		fprintf(stderr, "# setup: %s\n", strerror(-err));
	return err ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fx.saved >= 0)
		netns_restore(fx.saved);
	for (int i = 0; i < 4; i++) {
		if (fx.socks[i] >= 0)
			close(fx.socks[i]);
	}
	nl_close(fx.a);
	nl_close(fx.b);
	if (fx.fd_a >= 0)
		close(fx.fd_a);
	if (fx.fd_b >= 0)
		close(fx.fd_b);
	netns_delete(fx.name_a);
	netns_delete(fx.name_b);
	if (thread_ns() != home_ns) {
		fprintf(stderr, "# teardown: the test thread is not in its own namespace\n");
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(prefix, sizeof(prefix), "slnl%d-", (int)getpid());
	home_ns = thread_ns();
	return home_ns ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	delete_ours();
	return 0;
}

/* --- helpers ------------------------------------------------------------------- */

static struct sl_ip ip(const char *s)
{
	struct sl_ip out;

	assert_int_equal(sl_ip_parse(s, &out), 0);
	return out;
}

static struct sl_prefix pfx(const char *s)
{
	struct sl_prefix out;

	assert_int_equal(sl_prefix_parse(s, false, &out), 0);
	return out;
}

static int ifindex(struct nl_sock *nl, const char *name)
{
	struct nl_link l;

	assert_int_equal(nl_link_get_by_name(nl, name, &l), 0);
	return l.ifindex;
}

/* A veth: name in a, peer in b (or in a with peer_fd -1). */
static void veth(struct nl_sock *nl, const char *name, const uint8_t *mac, const char *peer, const uint8_t *peer_mac,
		 int peer_fd)
{
	struct nl_veth_req req = {
		.name = name, .mac = mac, .peer_name = peer, .peer_mac = peer_mac, .peer_netns_fd = peer_fd,
	};

	assert_int_equal(nl_veth_create(nl, &req), 0);
}

/* v0 in a, p0 in b, both up. */
static void veth_up_pair(int *v0, int *p0)
{
	veth(fx.a, "v0", mac1, "p0", mac2, fx.fd_b);
	*v0 = ifindex(fx.a, "v0");
	*p0 = ifindex(fx.b, "p0");
	assert_int_equal(nl_link_set_up(fx.a, *v0, true), 0);
	assert_int_equal(nl_link_set_up(fx.b, *p0, true), 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Carrier comes from the link watcher, asynchronously, after both ends are up. */
static void wait_carrier(struct nl_sock *nl, int idx)
{
	struct nl_link l;

	for (int i = 0; i < 300; i++) {
		assert_int_equal(nl_link_get_by_index(nl, idx, &l), 0);
		if (l.flags & IFF_LOWER_UP)
			return;
		sleep_ms(10);
	}
	fail_msg("ifindex %d: no carrier after 3s", idx);
}

static bool has_addr(struct nl_sock *nl, int idx, const char *want)
{
	struct sl_prefix *addrs, w = pfx(want);
	bool found = false;
	size_t n;

	assert_int_equal(nl_addr_list(nl, idx, &addrs, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= addrs[i].len == w.len && sl_ip_equal(&addrs[i].ip, &w.ip);
	free(addrs);
	return found;
}

static bool has_link_local(struct nl_sock *nl, int idx)
{
	struct sl_prefix *addrs, ll = pfx("fe80::/10");
	bool found = false;
	size_t n;

	assert_int_equal(nl_addr_list(nl, idx, &addrs, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= sl_prefix_contains(&ll, &addrs[i].ip);
	free(addrs);
	return found;
}

/* Routes of table (0 = main) to dst; *out gets the last one found. */
static int count_routes(struct nl_sock *nl, unsigned table, const char *dst, struct nl_route *out)
{
	struct sl_prefix d = pfx(dst);
	struct nl_route *routes;
	size_t n;
	int count = 0;

	assert_int_equal(nl_route_list(nl, d.ip.family, table, &routes, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (routes[i].dst.len == d.len && sl_ip_equal(&routes[i].dst.ip, &d.ip)) {
			count++;
			if (out)
				*out = routes[i];
		}
	}
	free(routes);
	return count;
}

static bool find_neigh(struct nl_sock *nl, int idx, const char *addr, struct nl_neigh *out)
{
	struct sl_ip want = ip(addr);
	struct nl_neigh *ns;
	bool found = false;
	size_t n;

	assert_int_equal(nl_neigh_list(nl, idx, &ns, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (sl_ip_equal(&ns[i].ip, &want)) {
			*out = ns[i];
			found = true;
		}
	}
	free(ns);
	return found;
}

/* --- links ----------------------------------------------------------------------- */

static void test_veth_peer_in_other_netns(void **state)
{
	struct nl_veth_req req = {
		.name = "v0", .mac = mac1, .peer_name = "p0", .peer_mac = mac2, .peer_netns_fd = -1, .mtu = 1400,
	};
	struct nl_link v0, p0, l;

	(void)state;
	req.peer_netns_fd = fx.fd_b;
	assert_int_equal(nl_veth_create(fx.a, &req), 0);
	assert_home();
	assert_int_equal(nl_link_get_by_name(fx.a, "v0", &v0), 0);
	assert_int_equal(nl_link_get_by_name(fx.b, "p0", &p0), 0);
	assert_string_equal(v0.name, "v0");
	assert_memory_equal(v0.mac, mac1, 6);
	assert_memory_equal(p0.mac, mac2, 6);
	assert_int_equal(v0.mtu, 1400);
	assert_int_equal(p0.mtu, 1400);
	assert_string_equal(v0.kind, "veth");
	assert_string_equal(p0.kind, "veth");
	/* IFLA_LINK names the peer by its ifindex in the peer's namespace. */
	assert_int_equal(v0.peer_ifindex, p0.ifindex);
	assert_int_equal(p0.peer_ifindex, v0.ifindex);
	assert_int_equal(nl_link_get_by_name(fx.a, "p0", &l), -ENODEV);
	assert_int_equal(nl_link_get_by_name(fx.b, "v0", &l), -ENODEV);
	assert_int_equal(nl_link_get_by_index(fx.a, v0.ifindex, &l), 0);
	assert_string_equal(l.name, "v0");
}

static void test_veth_same_netns_and_list(void **state)
{
	struct nl_link *links;
	bool lo = false, v0 = false, v1 = false;
	size_t n;

	(void)state;
	veth(fx.a, "v0", NULL, "v1", NULL, -1);
	assert_int_equal(nl_link_list(fx.a, &links, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(links[i].name, "lo")) {
			lo = true;
			assert_string_equal(links[i].kind, "");
			assert_true(links[i].flags & IFF_LOOPBACK);
		} else if (!strcmp(links[i].name, "v0")) {
			v0 = true;
			assert_string_equal(links[i].kind, "veth");
			assert_false(sl_mac_is_zero(links[i].mac));
		} else if (!strcmp(links[i].name, "v1")) {
			v1 = true;
		}
	}
	free(links);
	assert_true(lo && v0 && v1);
}

static void test_find_by_mac(void **state)
{
	struct nl_link l;

	(void)state;
	veth(fx.a, "v0", mac1, "v1", mac2, -1);
	assert_int_equal(nl_link_find_by_mac(fx.a, mac2, &l), 0);
	assert_string_equal(l.name, "v1");
	assert_int_equal(nl_link_find_by_mac(fx.a, mac3, &l), -ENODEV);
	/* Per namespace: b does not see a's links. */
	assert_int_equal(nl_link_find_by_mac(fx.b, mac1, &l), -ENODEV);
}

/* Creates v0/v1 (v1 with mac3) in namespace a after 200 ms, from its own
 * thread and socket, as a hypervisor hot-plugs a NIC while the agent waits. */
static void *late_veth(void *arg)
{
	struct nl_veth_req req = { .name = "v0", .peer_name = "v1", .peer_mac = mac3, .peer_netns_fd = -1 };
	struct nl_sock *nl = NULL;
	intptr_t err;

	(void)arg;
	sleep_ms(200);
	err = nl_open_in_netns(fx.fd_a, &nl);
	if (!err)
		err = nl_veth_create(nl, &req);
	nl_close(nl);
	return (void *)err;
}

static void test_wait_mac_appears_later(void **state)
{
	struct nl_link l;
	pthread_t t;
	void *ret;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, late_veth, NULL), 0);
	assert_int_equal(nl_link_wait_mac(fx.a, mac3, 10000, &l), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((intptr_t)ret, 0);
	assert_string_equal(l.name, "v1");
	assert_memory_equal(l.mac, mac3, 6);
	assert_int_equal(l.ifindex, ifindex(fx.a, "v1"));
	/* The socket is usable for requests and dumps afterwards. */
	assert_int_equal(nl_link_find_by_mac(fx.a, mac3, &l), 0);
	assert_home();
}

static void test_wait_mac_already_there(void **state)
{
	struct nl_link l;

	(void)state;
	veth(fx.a, "v0", mac1, "v1", mac2, -1);
	assert_int_equal(nl_link_wait_mac(fx.a, mac2, 10000, &l), 0);
	assert_string_equal(l.name, "v1");
}

static void test_wait_mac_times_out(void **state)
{
	struct nl_link l;

	(void)state;
	/* Links come and go in the namespace meanwhile, none with the MAC. */
	veth(fx.a, "v0", mac1, "v1", mac2, -1);
	assert_int_equal(nl_link_wait_mac(fx.a, mac3, 300, &l), -ETIMEDOUT);
	/* In b, not in a: still nothing in a. */
	veth(fx.b, "w0", mac3, "w1", NULL, -1);
	assert_int_equal(nl_link_wait_mac(fx.a, mac3, 200, &l), -ETIMEDOUT);
	assert_int_equal(nl_link_wait_mac(fx.b, mac3, 200, &l), 0);
	assert_string_equal(l.name, "w0");
	/* Events that arrived after the wait ended do not confuse later calls. */
	assert_int_equal(nl_link_set_up(fx.a, ifindex(fx.a, "v0"), true), 0);
	assert_int_equal(nl_link_find_by_mac(fx.a, mac2, &l), 0);
	assert_int_equal(nl_link_wait_mac(fx.a, (const uint8_t[6]){ 0 }, 10, &l), -EINVAL);
}

static void test_link_mtu_mac_up_down(void **state)
{
	struct nl_link l;
	int v0;

	(void)state;
	veth(fx.a, "v0", NULL, "v1", NULL, -1);
	v0 = ifindex(fx.a, "v0");
	assert_int_equal(nl_link_set_mtu(fx.a, v0, 1300), 0);
	assert_int_equal(nl_link_set_mac(fx.a, v0, mac3), 0);
	assert_int_equal(nl_link_set_up(fx.a, v0, true), 0);
	assert_int_equal(nl_link_get_by_index(fx.a, v0, &l), 0);
	assert_int_equal(l.mtu, 1300);
	assert_memory_equal(l.mac, mac3, 6);
	assert_true(l.flags & IFF_UP);
	assert_int_equal(nl_link_set_up(fx.a, v0, false), 0);
	assert_int_equal(nl_link_get_by_index(fx.a, v0, &l), 0);
	assert_false(l.flags & IFF_UP);
	/* Below the minimum: the kernel says so. */
	assert_int_equal(nl_link_set_mtu(fx.a, v0, 10), -EINVAL);
}

static void test_rename(void **state)
{
	struct nl_link l;
	int v0;

	(void)state;
	veth(fx.a, "v0", NULL, "v1", NULL, -1);
	v0 = ifindex(fx.a, "v0");
	assert_int_equal(nl_link_set_up(fx.a, v0, false), 0);
	assert_int_equal(nl_link_set_name(fx.a, v0, "eth0"), 0);
	assert_int_equal(nl_link_get_by_name(fx.a, "eth0", &l), 0);
	assert_int_equal(l.ifindex, v0);
	assert_int_equal(nl_link_get_by_name(fx.a, "v0", &l), -ENODEV);
	/* A name in use, and one too long. */
	assert_int_equal(nl_link_set_name(fx.a, v0, "v1"), -EEXIST);
	assert_int_equal(nl_link_set_name(fx.a, v0, "a-name-longer-than-15"), -EINVAL);
}

static void test_set_netns(void **state)
{
	struct nl_link l;
	int v1;

	(void)state;
	veth(fx.a, "v0", NULL, "v1", mac2, -1);
	v1 = ifindex(fx.a, "v1");
	assert_int_equal(nl_link_set_netns(fx.a, v1, fx.fd_b), 0);
	assert_home();
	assert_int_equal(nl_link_get_by_name(fx.a, "v1", &l), -ENODEV);
	assert_int_equal(nl_link_get_by_name(fx.b, "v1", &l), 0);
	assert_memory_equal(l.mac, mac2, 6);
	assert_int_equal(ifindex(fx.a, "v0"), l.peer_ifindex);
}

static void test_noarp(void **state)
{
	struct nl_link l;
	int v0;

	(void)state;
	veth(fx.a, "v0", NULL, "v1", NULL, -1);
	v0 = ifindex(fx.a, "v0");
	assert_int_equal(nl_link_set_up(fx.a, v0, true), 0);
	assert_int_equal(nl_link_set_noarp(fx.a, v0, true), 0);
	assert_int_equal(nl_link_get_by_index(fx.a, v0, &l), 0);
	assert_true(l.flags & IFF_NOARP);
	/* ifi_change masks the other flags: UP stays as it was. */
	assert_true(l.flags & IFF_UP);
	assert_int_equal(nl_link_set_noarp(fx.a, v0, false), 0);
	assert_int_equal(nl_link_get_by_index(fx.a, v0, &l), 0);
	assert_false(l.flags & IFF_NOARP);
	assert_true(l.flags & IFF_UP);
}

/* addr_gen_mode none, set while down, keeps the link without fe80::; a
 * control veth shows the address would have appeared by then. The mode set
 * on a link that already has its fe80:: does not remove it. */
static void test_ipv6_addrgen_none(void **state)
{
	int v0, p0, c0, c1;
	bool control_ll = false;

	(void)state;
	veth(fx.a, "v0", NULL, "p0", NULL, fx.fd_b);
	veth(fx.a, "c0", NULL, "c1", NULL, -1);
	v0 = ifindex(fx.a, "v0");
	p0 = ifindex(fx.b, "p0");
	c0 = ifindex(fx.a, "c0");
	c1 = ifindex(fx.a, "c1");
	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.a, v0), 0);
	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.b, p0), 0);
	assert_int_equal(nl_link_set_up(fx.a, v0, true), 0);
	assert_int_equal(nl_link_set_up(fx.b, p0, true), 0);
	assert_int_equal(nl_link_set_up(fx.a, c0, true), 0);
	assert_int_equal(nl_link_set_up(fx.a, c1, true), 0);
	wait_carrier(fx.a, v0);
	wait_carrier(fx.b, p0);
	wait_carrier(fx.a, c0);
	for (int i = 0; i < 300 && !control_ll; i++) {
		control_ll = has_link_local(fx.a, c0);
		if (!control_ll)
			sleep_ms(10);
	}
	assert_true(control_ll);
	assert_false(has_link_local(fx.a, v0));
	assert_false(has_link_local(fx.b, p0));

	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.a, c0), 0);
	assert_true(has_link_local(fx.a, c0));
	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.a, 99999), -ENODEV);
}

/* Below 1280 bytes a link gets no IPv6 state at all, so no mode to set. */
static void test_ipv6_addrgen_small_mtu(void **state)
{
	struct nl_veth_req req = { .name = "s0", .peer_name = "s1", .peer_netns_fd = -1, .mtu = 1200 };

	(void)state;
	assert_int_equal(nl_veth_create(fx.a, &req), 0);
	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.a, ifindex(fx.a, "s0")), -EAFNOSUPPORT);
}

static void test_link_del(void **state)
{
	struct nl_link l;
	int v0;

	(void)state;
	veth(fx.a, "v0", NULL, "p0", NULL, fx.fd_b);
	v0 = ifindex(fx.a, "v0");
	assert_int_equal(nl_link_del(fx.a, v0), 0);
	assert_int_equal(nl_link_get_by_name(fx.a, "v0", &l), -ENODEV);
	/* The peer goes in the same unregister batch. */
	assert_int_equal(nl_link_get_by_name(fx.b, "p0", &l), -ENODEV);
	assert_int_equal(nl_link_del(fx.a, v0), -ENODEV);
}

static void test_link_errors(void **state)
{
	struct nl_veth_req dup = { .name = "v0", .peer_name = "x1", .peer_netns_fd = -1 };
	struct nl_veth_req dup_peer = { .name = "x0", .peer_name = "p0", .peer_netns_fd = -1 };
	struct sl_prefix a = pfx("10.9.0.1/24");
	struct nl_link l;

	(void)state;
	assert_int_equal(nl_link_get_by_name(fx.a, "nosuch0", &l), -ENODEV);
	assert_int_equal(nl_link_get_by_index(fx.a, 99999, &l), -ENODEV);
	assert_int_equal(nl_link_set_up(fx.a, 99999, true), -ENODEV);
	assert_int_equal(nl_link_set_mtu(fx.a, 99999, 1400), -ENODEV);
	assert_int_equal(nl_link_del(fx.a, 99999), -ENODEV);
	assert_int_equal(nl_addr_add(fx.a, 99999, &a, 0), -ENODEV);

	veth(fx.a, "v0", NULL, "p0", NULL, fx.fd_b);
	assert_int_equal(nl_veth_create(fx.a, &dup), -EEXIST);
	/* The peer's name is taken in the peer's namespace. */
	dup_peer.peer_netns_fd = fx.fd_b;
	assert_int_equal(nl_veth_create(fx.a, &dup_peer), -EEXIST);
	/* Nothing half-made is left behind. */
	assert_int_equal(nl_link_get_by_name(fx.a, "x0", &l), -ENODEV);
	assert_int_equal(nl_link_get_by_name(fx.a, "x1", &l), -ENODEV);
	assert_home();
}

/* More links than one 32 KiB dump message holds: a multi-part dump. */
static void test_dump_many_links(void **state)
{
	struct nl_link *links;
	size_t n;

	(void)state;
	for (int i = 0; i < 100; i++) {
		char a[IF_NAMESIZE], b[IF_NAMESIZE];

		snprintf(a, sizeof(a), "m%d", i);
		snprintf(b, sizeof(b), "n%d", i);
		veth(fx.a, a, NULL, b, NULL, -1);
	}
	assert_int_equal(nl_link_list(fx.a, &links, &n), 0);
	free(links);
	assert_int_equal(n, 201);
}

/* --- addresses ------------------------------------------------------------------- */

static void test_addr_v4_v6(void **state)
{
	struct sl_prefix a4 = pfx("10.1.0.2/24"), a6 = pfx("fd00:1::2/64");
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	assert_int_equal(nl_addr_add(fx.a, v0, &a4, 0), 0);
	assert_int_equal(nl_addr_add(fx.a, v0, &a6, NL_ADDR_F_NODAD), 0);
	assert_true(has_addr(fx.a, v0, "10.1.0.2/24"));
	assert_true(has_addr(fx.a, v0, "fd00:1::2/64"));
	assert_false(has_addr(fx.a, 1, "10.1.0.2/24")); /* filtered by link */
	assert_true(has_addr(fx.a, 0, "10.1.0.2/24"));
	/* Without NOPREFIXROUTE, the connected routes are there. */
	assert_int_equal(count_routes(fx.a, 0, "10.1.0.0/24", NULL), 1);
	assert_int_equal(count_routes(fx.a, 0, "fd00:1::/64", NULL), 1);
	assert_int_equal(nl_addr_add(fx.a, v0, &a4, 0), -EEXIST);
	assert_int_equal(nl_addr_add(fx.a, v0, &a6, 0), -EEXIST);

	assert_int_equal(nl_addr_del(fx.a, v0, &a4), 0);
	assert_int_equal(nl_addr_del(fx.a, v0, &a6), 0);
	assert_false(has_addr(fx.a, v0, "10.1.0.2/24"));
	assert_false(has_addr(fx.a, v0, "fd00:1::2/64"));
	assert_int_equal(nl_addr_del(fx.a, v0, &a4), -ENOENT);
	assert_int_equal(nl_addr_del(fx.a, v0, &a6), -ENOENT);
}

static void test_addr_noprefixroute(void **state)
{
	struct sl_prefix a4 = pfx("10.2.0.2/24"), a6 = pfx("fd00:2::2/64");
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	assert_int_equal(nl_addr_add(fx.a, v0, &a4, NL_ADDR_F_NOPREFIXROUTE), 0);
	assert_int_equal(nl_addr_add(fx.a, v0, &a6, NL_ADDR_F_NOPREFIXROUTE | NL_ADDR_F_NODAD), 0);
	assert_true(has_addr(fx.a, v0, "10.2.0.2/24"));
	assert_true(has_addr(fx.a, v0, "fd00:2::2/64"));
	assert_int_equal(count_routes(fx.a, 0, "10.2.0.0/24", NULL), 0);
	assert_int_equal(count_routes(fx.a, 0, "fd00:2::/64", NULL), 0);
}

static void test_dump_many_addrs(void **state)
{
	struct sl_prefix *addrs;
	int v0, p0, v4 = 0;
	size_t n;

	(void)state;
	veth_up_pair(&v0, &p0);
	for (int i = 0; i < 600; i++) {
		struct sl_prefix a;
		char s[32];

		snprintf(s, sizeof(s), "10.3.%d.%d/32", i / 250, 1 + i % 250);
		a = pfx(s);
		assert_int_equal(nl_addr_add(fx.a, v0, &a, 0), 0);
	}
	assert_int_equal(nl_addr_list(fx.a, v0, &addrs, &n), 0);
	for (size_t i = 0; i < n; i++)
		v4 += addrs[i].ip.family == SL_FAMILY_IPV4; /* not the fe80:: */
	free(addrs);
	assert_int_equal(v4, 600);
}

/* --- routes ---------------------------------------------------------------------- */

static void test_route_device_scope_link(void **state)
{
	struct nl_route r = { .dst = pfx("10.4.0.0/24"), .scope = RT_SCOPE_LINK }, got = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	r.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &r, false), 0);
	assert_int_equal(count_routes(fx.a, 0, "10.4.0.0/24", &got), 1);
	assert_int_equal(got.scope, RT_SCOPE_LINK);
	assert_int_equal(got.oif, v0);
	assert_false(sl_ip_is_set(&got.gw));
	assert_int_equal(got.table, RT_TABLE_MAIN);
	assert_int_equal(got.protocol, RTPROT_BOOT);
}

static void test_route_default_via_gateway(void **state)
{
	struct nl_route link = { .dst = pfx("10.5.0.0/24"), .scope = RT_SCOPE_LINK };
	struct nl_route def = { .dst = pfx("0.0.0.0/0"), .gw = ip("10.5.0.1") };
	struct nl_route def6 = { .dst = pfx("::/0"), .gw = ip("fe80::1") };
	struct nl_route via6 = { .dst = pfx("10.15.0.0/24"), .gw = ip("fe80::1") };
	struct nl_route got = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	link.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &link, false), 0);
	/* No oif: the kernel finds it from the connected route to gw. */
	assert_int_equal(nl_route_add(fx.a, &def, false), 0);
	assert_int_equal(count_routes(fx.a, 0, "0.0.0.0/0", &got), 1);
	assert_true(sl_ip_equal(&got.gw, &def.gw));
	assert_int_equal(got.oif, v0);
	/* A link-local gateway needs its link named. */
	def6.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &def6, false), 0);
	assert_int_equal(count_routes(fx.a, 0, "::/0", &got), 1);
	assert_true(sl_ip_equal(&got.gw, &def6.gw));
	assert_int_equal(got.oif, v0);
	/* IPv4 through an IPv6 next hop: RTA_VIA. */
	via6.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &via6, false), 0);
	assert_int_equal(count_routes(fx.a, 0, "10.15.0.0/24", &got), 1);
	assert_true(sl_ip_equal(&got.gw, &via6.gw));
}

static void test_route_onlink(void **state)
{
	struct nl_route r = { .dst = pfx("10.6.0.0/16"), .gw = ip("192.0.2.1") }, got = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	r.oif = v0;
	/* 192.0.2.1 is not on any connected prefix. */
	assert_int_equal(nl_route_add(fx.a, &r, false), -ENETUNREACH);
	r.onlink = true;
	assert_int_equal(nl_route_add(fx.a, &r, false), 0);
	assert_int_equal(count_routes(fx.a, 0, "10.6.0.0/16", &got), 1);
	assert_true(got.onlink);
	assert_true(sl_ip_equal(&got.gw, &r.gw));
}

static void test_route_replace_idempotent(void **state)
{
	struct nl_route r = { .dst = pfx("10.7.0.0/16"), .gw = ip("192.0.2.1"), .onlink = true }, got = { 0 };
	struct nl_route r6 = { .dst = pfx("fd00:7::/64"), .gw = ip("fe80::1") };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	r.oif = r6.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &r, true), 0);
	assert_int_equal(nl_route_add(fx.a, &r, true), 0);
	assert_int_equal(nl_route_add(fx.a, &r, false), -EEXIST);
	assert_int_equal(count_routes(fx.a, 0, "10.7.0.0/16", NULL), 1);
	r.gw = ip("192.0.2.2");
	assert_int_equal(nl_route_add(fx.a, &r, true), 0);
	assert_int_equal(count_routes(fx.a, 0, "10.7.0.0/16", &got), 1);
	assert_true(sl_ip_equal(&got.gw, &r.gw));

	assert_int_equal(nl_route_add(fx.a, &r6, true), 0);
	assert_int_equal(nl_route_add(fx.a, &r6, true), 0);
	assert_int_equal(nl_route_add(fx.a, &r6, false), -EEXIST);
	r6.gw = ip("fe80::2");
	assert_int_equal(nl_route_add(fx.a, &r6, true), 0);
	assert_int_equal(count_routes(fx.a, 0, "fd00:7::/64", &got), 1);
	assert_true(sl_ip_equal(&got.gw, &r6.gw));
}

static void test_route_delete(void **state)
{
	struct nl_route r = { .dst = pfx("10.8.0.0/24"), .scope = RT_SCOPE_LINK };
	struct nl_route r6 = { .dst = pfx("fd00:8::/64") };
	struct nl_route match_any = { .dst = pfx("10.8.0.0/24") };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	r.oif = r6.oif = v0;
	assert_int_equal(nl_route_add(fx.a, &r, false), 0);
	assert_int_equal(nl_route_add(fx.a, &r6, false), 0);
	/* Unset scope on delete matches any scope, as `ip route del` does. */
	assert_int_equal(nl_route_del(fx.a, &match_any), 0);
	assert_int_equal(count_routes(fx.a, 0, "10.8.0.0/24", NULL), 0);
	assert_int_equal(nl_route_del(fx.a, &r), -ENOENT);
	assert_int_equal(nl_route_del(fx.a, &r6), 0);
	assert_int_equal(count_routes(fx.a, 0, "fd00:8::/64", NULL), 0);
	assert_int_equal(nl_route_del(fx.a, &r6), -ENOENT);
}

static void test_route_table_prefsrc(void **state)
{
	struct sl_prefix a = pfx("10.9.0.2/24");
	struct nl_route r = {
		.dst = pfx("10.10.0.0/24"), .gw = ip("10.9.0.1"), .table = 1000, .prefsrc = ip("10.9.0.2"),
		.protocol = 200,
	};
	struct nl_route bad = { .dst = pfx("10.11.0.0/24"), .gw = ip("10.9.0.1"), .prefsrc = ip("10.99.0.1") };
	struct nl_route got = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	assert_int_equal(nl_addr_add(fx.a, v0, &a, 0), 0);
	assert_int_equal(nl_route_add(fx.a, &r, false), 0);
	assert_int_equal(count_routes(fx.a, 1000, "10.10.0.0/24", &got), 1);
	assert_int_equal(count_routes(fx.a, 0, "10.10.0.0/24", NULL), 0);
	assert_int_equal(got.table, 1000);
	assert_int_equal(got.protocol, 200);
	assert_int_equal(got.oif, v0);
	assert_true(sl_ip_equal(&got.prefsrc, &r.prefsrc));
	/* A preferred source the namespace does not own. */
	assert_int_equal(nl_route_add(fx.a, &bad, false), -EINVAL);
	assert_int_equal(nl_route_del(fx.a, &r), 0);
	assert_int_equal(count_routes(fx.a, 1000, "10.10.0.0/24", NULL), 0);
}

static void test_dump_many_routes(void **state)
{
	struct nl_route *routes;
	int v0, p0;
	size_t n;

	(void)state;
	veth_up_pair(&v0, &p0);
	for (int i = 0; i < 1000; i++) {
		struct nl_route r = { .scope = RT_SCOPE_LINK, .oif = v0, .table = 77 };
		char s[32];

		snprintf(s, sizeof(s), "10.12.%d.%d/32", i / 250, i % 250);
		r.dst = pfx(s);
		assert_int_equal(nl_route_add(fx.a, &r, false), 0);
	}
	assert_int_equal(nl_route_list(fx.a, SL_FAMILY_IPV4, 77, &routes, &n), 0);
	free(routes);
	assert_int_equal(n, 1000);
}

/* --- neighbours ------------------------------------------------------------------ */

static void test_neigh_permanent(void **state)
{
	struct sl_ip n4 = ip("10.13.0.1"), n6 = ip("fd00:13::1");
	struct nl_neigh e = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	assert_int_equal(nl_neigh_set_permanent(fx.a, v0, &n4, mac1), 0);
	assert_int_equal(nl_neigh_set_permanent(fx.a, v0, &n6, mac1), 0);
	assert_true(find_neigh(fx.a, v0, "10.13.0.1", &e));
	assert_int_equal(e.state, NUD_PERMANENT);
	assert_memory_equal(e.mac, mac1, 6);
	assert_true(find_neigh(fx.a, v0, "fd00:13::1", &e));
	assert_int_equal(e.state, NUD_PERMANENT);
	/* Replace: same entry, new MAC. */
	assert_int_equal(nl_neigh_set_permanent(fx.a, v0, &n4, mac2), 0);
	assert_true(find_neigh(fx.a, v0, "10.13.0.1", &e));
	assert_memory_equal(e.mac, mac2, 6);
	assert_int_equal(e.state, NUD_PERMANENT);

	assert_int_equal(nl_neigh_del(fx.a, v0, &n4), 0);
	assert_int_equal(nl_neigh_del(fx.a, v0, &n6), 0);
	assert_false(find_neigh(fx.a, v0, "10.13.0.1", &e));
	assert_false(find_neigh(fx.a, v0, "fd00:13::1", &e));
	assert_int_equal(nl_neigh_del(fx.a, v0, &n4), -ENOENT);
	assert_int_equal(nl_neigh_del(fx.a, v0, &n6), -ENOENT);
	assert_int_equal(nl_neigh_set_permanent(fx.a, 99999, &n4, mac1), -ENODEV);
}

/* What nl.h warns about: permanent entries survive carrier loss, but an
 * IFF_NOARP toggle or the link going down flushes them. */
static void test_neigh_permanent_flushes(void **state)
{
	struct sl_ip gw = ip("169.254.1.1");
	struct nl_neigh e = { 0 };
	int v0, p0;

	(void)state;
	veth_up_pair(&v0, &p0);
	assert_int_equal(nl_neigh_set_permanent(fx.a, v0, &gw, mac1), 0);
	assert_int_equal(nl_link_set_up(fx.b, p0, false), 0); /* v0 loses carrier */
	sleep_ms(50);
	assert_true(find_neigh(fx.a, v0, "169.254.1.1", &e));
	assert_int_equal(e.state, NUD_PERMANENT);

	assert_int_equal(nl_link_set_noarp(fx.a, v0, true), 0);
	assert_false(find_neigh(fx.a, v0, "169.254.1.1", &e));
	/* Set after the flag: it stays, and is what a NOARP link sends to. */
	assert_int_equal(nl_neigh_set_permanent(fx.a, v0, &gw, mac1), 0);
	assert_true(find_neigh(fx.a, v0, "169.254.1.1", &e));

	assert_int_equal(nl_link_set_up(fx.a, v0, false), 0);
	assert_false(find_neigh(fx.a, v0, "169.254.1.1", &e));
}

/* --- traffic ---------------------------------------------------------------------- */

static int udp_socket_in(int netns_fd, const char *addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, saved;

	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	assert_int_equal(netns_enter(netns_fd, &fx.saved), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	saved = fx.saved;
	fx.saved = -1;
	assert_int_equal(netns_restore(saved), 0);
	assert_home();
	assert_true(fd >= 0);
	for (int i = 0; i < 4; i++) {
		if (fx.socks[i] < 0) {
			fx.socks[i] = fd;
			break;
		}
	}
	/* The socket keeps its namespace; binding needs no enter. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void udp_send(int fd, const char *to, uint16_t port, const char *msg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET, to, &sin.sin_addr), 1);
	assert_int_equal(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sin, sizeof(sin)), (ssize_t)strlen(msg));
}

static void udp_expect(int fd, const char *from, const char *msg)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char buf[64], src[INET_ADDRSTRLEN];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 3000), 1);
	n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&sin, &slen);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, msg);
	assert_non_null(inet_ntop(AF_INET, &sin.sin_addr, src, sizeof(src)));
	assert_string_equal(src, from);
}

/*
 * A pod the way Sluice wires one, built with nl.h alone:
 *   a ("pod"):  eth0 10.20.0.2/32, NOARP, no IPv6 link-local,
 *               169.254.1.1 dev eth0 scope link, default via 169.254.1.1,
 *               169.254.1.1 -> host-side MAC permanent
 *   b ("host"): hveth, 10.21.0.1/32 (no prefix route),
 *               10.20.0.2/32 dev hveth scope link, 10.20.0.2 -> pod MAC permanent
 * then one UDP datagram each way.
 */
static void test_udp_between_namespaces(void **state)
{
	static const uint8_t pod_mac[6] = { 0x02, 0x5c, 0x00, 0x00, 0x0a, 0x02 };
	static const uint8_t host_mac[6] = { 0x02, 0x5c, 0x00, 0x00, 0x0b, 0x01 };
	struct sl_prefix pod_addr = pfx("10.20.0.2/32"), host_addr = pfx("10.21.0.1/32");
	struct sl_ip gw = ip("169.254.1.1"), pod_ip = ip("10.20.0.2");
	struct nl_route gw_route = { .dst = pfx("169.254.1.1/32"), .scope = RT_SCOPE_LINK };
	struct nl_route def = { .dst = pfx("0.0.0.0/0"), .gw = ip("169.254.1.1") };
	struct nl_route to_pod = { .dst = pfx("10.20.0.2/32"), .scope = RT_SCOPE_LINK };
	int eth0, hveth, pod_sock, host_sock;

	(void)state;
	veth(fx.b, "hveth", host_mac, "eth0", pod_mac, fx.fd_a);
	eth0 = ifindex(fx.a, "eth0");
	hveth = ifindex(fx.b, "hveth");

	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.a, eth0), 0);
	assert_int_equal(nl_link_set_noarp(fx.a, eth0, true), 0);
	assert_int_equal(nl_link_set_up(fx.a, eth0, true), 0);
	assert_int_equal(nl_addr_add(fx.a, eth0, &pod_addr, 0), 0);
	gw_route.oif = eth0;
	assert_int_equal(nl_route_add(fx.a, &gw_route, true), 0);
	def.oif = eth0;
	assert_int_equal(nl_route_add(fx.a, &def, true), 0);
	assert_int_equal(nl_neigh_set_permanent(fx.a, eth0, &gw, host_mac), 0);

	assert_int_equal(nl_link_set_ipv6_addrgen_none(fx.b, hveth), 0);
	assert_int_equal(nl_link_set_up(fx.b, hveth, true), 0);
	assert_int_equal(nl_addr_add(fx.b, hveth, &host_addr, NL_ADDR_F_NOPREFIXROUTE), 0);
	to_pod.oif = hveth;
	assert_int_equal(nl_route_add(fx.b, &to_pod, true), 0);
	assert_int_equal(nl_neigh_set_permanent(fx.b, hveth, &pod_ip, pod_mac), 0);
	wait_carrier(fx.a, eth0);
	wait_carrier(fx.b, hveth);

	pod_sock = udp_socket_in(fx.fd_a, "10.20.0.2", 4000);
	host_sock = udp_socket_in(fx.fd_b, "10.21.0.1", 5000);
	udp_send(pod_sock, "10.21.0.1", 5000, "hello from the pod");
	udp_expect(host_sock, "10.20.0.2", "hello from the pod");
	udp_send(host_sock, "10.20.0.2", 4000, "hello from the host");
	udp_expect(pod_sock, "10.21.0.1", "hello from the host");
	assert_home();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static const struct CMUnitTest tests[] = {
	T(test_veth_peer_in_other_netns),
	T(test_veth_same_netns_and_list),
	T(test_find_by_mac),
	T(test_wait_mac_appears_later),
	T(test_wait_mac_already_there),
	T(test_wait_mac_times_out),
	T(test_link_mtu_mac_up_down),
	T(test_rename),
	T(test_set_netns),
	T(test_noarp),
	T(test_ipv6_addrgen_none),
	T(test_ipv6_addrgen_small_mtu),
	T(test_link_del),
	T(test_link_errors),
	T(test_dump_many_links),
	T(test_addr_v4_v6),
	T(test_addr_noprefixroute),
	T(test_dump_many_addrs),
	T(test_route_device_scope_link),
	T(test_route_default_via_gateway),
	T(test_route_onlink),
	T(test_route_replace_idempotent),
	T(test_route_delete),
	T(test_route_table_prefsrc),
	T(test_dump_many_routes),
	T(test_neigh_permanent),
	T(test_neigh_permanent_flushes),
	T(test_udp_between_namespaces),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
