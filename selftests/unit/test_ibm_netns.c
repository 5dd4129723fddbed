// SPDX-License-Identifier: Apache-2.0
/*
 * The `ibm` provider against fake-ibm on top of a sim VPC: real kernel
 * objects. An attachment becomes a veth whose instance end has the VNI's MAC
 * in the instance's namespace; a reserved IP a /32 route and a permanent
 * neighbour in the router; a node reaches the API at its gateway over TCP,
 * as a lab node's agent will. After a fault run, neither the cloud nor the
 * kernel holds anything the provider did not report.
 *
 * Namespaces are named "slibm<pid>-*", the sim state lives in a temp dir;
 * each test's teardown removes all of it and stops the fake by PID, failed
 * or not.
 */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ibm.h"
#include "cloud/sim.h"
#include "netlink/netns.h"
#include "netlink/nl.h"
#include "unit/test_ibm_fake.h"

#define INSTANCE "node-1"

static struct fake_ibm fake;
static struct cloud_provider *prov;
static struct cloud_iface *ifaces;
static size_t n_ifaces;
static char dir[64], state_path[128], router[32], inst_ns[32];
static struct sl_ip node_ip;

static int teardown(void **state);

/* cmocka skips the teardown of a test whose setup failed: undo here. */
static int setup(void **state)
{
	struct sim_vpc_spec spec = { 0 };
	const char *args[16];
	char port_arg[] = "0.0.0.0:0";
	size_t n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-ibm-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(state_path, sizeof(state_path), "%s/vpc.json", dir);
	snprintf(router, sizeof(router), "slibm%d-vpc", getpid());
	snprintf(inst_ns, sizeof(inst_ns), "slibm%d-n1", getpid());
	spec.state_path = state_path;
	spec.router_netns = router;
	if (sim_vpc_create(&spec) || netns_create(inst_ns) ||
	    sim_instance_create(state_path, INSTANCE, inst_ns, SIM_SUBNET_NODES, &node_ip)) {
		teardown(state);
		return -1;
	}
	args[n++] = "--sim-state";
	args[n++] = state_path;
	args[n++] = "--netns";
	args[n++] = router;
	args[n++] = "--listen";
	args[n++] = port_arg;
	args[n++] = "--attach-delay-ms";
	args[n++] = "100";
	args[n++] = "--detach-delay-ms";
	args[n++] = "50";
	args[n] = NULL;
	if (fake_ibm_start(&fake, args)) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cloud_iface_free_array(ifaces, n_ifaces);
	ifaces = NULL;
	n_ifaces = 0;
	if (prov)
		prov->ops->destroy(prov);
	prov = NULL;
	fake_ibm_stop(&fake);
	sim_vpc_destroy(state_path);
	netns_delete(inst_ns);
	netns_delete(router);
	fs_remove_tree(dir);
	return 0;
}

static struct ibm_config base_cfg(void)
{
	struct ibm_config c = {
		.vpc_url = "http://fake/v1",
		.iam_url = "http://fake",
		.metadata_url = "http://fake",
		.api_key = "test-api-key",
		.instance_id = INSTANCE,
		.subnet_id = SIM_SUBNET_PODS,
		.attach_timeout_ms = 3000,
		.detach_timeout_ms = 3000,
		.poll_min_ms = 10,
		.poll_max_ms = 80,
		.http = { .timeout_ms = 250, .max_retries = 4, .backoff_base_ms = 5, .backoff_max_ms = 40 },
	};

	c.http.unix_socket = fake.sock;
	return c;
}

static void create_default(void)
{
	struct ibm_config c = base_cfg();

	assert_int_equal(ibm_provider_create(&c, &prov), 0);
}

static void list(void)
{
	cloud_iface_free_array(ifaces, n_ifaces);
	ifaces = NULL;
	n_ifaces = 0;
	assert_int_equal(prov->ops->list_interfaces(prov, &ifaces, &n_ifaces), 0);
}

static struct nl_sock *nl_in(const char *ns)
{
	struct nl_sock *nl = NULL;
	int fd = netns_open(ns);

	assert_true(fd >= 0);
	assert_int_equal(nl_open_in_netns(fd, &nl), 0);
	close(fd);
	return nl;
}

/* Links of the instance that carry a cloud interface (everything but lo). */
static size_t instance_links(void)
{
	struct nl_sock *nl = nl_in(inst_ns);
	struct nl_link *links = NULL;
	size_t n = 0, count = 0;

	assert_int_equal(nl_link_list(nl, &links, &n), 0);
	for (size_t i = 0; i < n; i++)
		count += strcmp(links[i].name, "lo") != 0;
	free(links);
	nl_close(nl);
	return count;
}

/* Is there a /32 route to ip in the router, and a permanent neighbour with mac? */
static bool router_delivers(const struct sl_ip *ip, const uint8_t mac[6])
{
	struct nl_sock *nl = nl_in(router);
	struct nl_route *routes = NULL;
	struct nl_neigh *neigh = NULL;
	size_t nr = 0, nn = 0;
	bool route = false, nb = false;

	assert_int_equal(nl_route_list(nl, SL_FAMILY_IPV4, 0, &routes, &nr), 0);
	for (size_t i = 0; i < nr; i++)
		route |= routes[i].dst.len == 32 && sl_ip_equal(&routes[i].dst.ip, ip);
	assert_int_equal(nl_neigh_list(nl, 0, &neigh, &nn), 0);
	for (size_t i = 0; i < nn; i++)
		nb |= sl_ip_equal(&neigh[i].ip, ip) && !memcmp(neigh[i].mac, mac, 6);
	free(routes);
	free(neigh);
	nl_close(nl);
	return route && nb;
}

static void test_imported_instance(void **state)
{
	struct nl_sock *nl;
	struct nl_link eth0;

	(void)state;
	create_default();
	list();
	assert_int_equal(n_ifaces, 1);
	assert_true(ifaces[0].primary);
	assert_true(sl_ip_equal(&ifaces[0].primary_ip, &node_ip));
	nl = nl_in(inst_ns);
	assert_int_equal(nl_link_get_by_name(nl, "eth0", &eth0), 0);
	nl_close(nl);
	assert_memory_equal(ifaces[0].mac, eth0.mac, 6);
}

static void test_attach_makes_the_veth(void **state)
{
	struct cloud_iface c = { 0 };
	struct sl_ip ips[4];
	size_t n = 0;
	struct nl_sock *nl;
	struct nl_link l;

	(void)state;
	create_default();
	assert_int_equal(prov->ops->attach_interface(prov, &c), 0);
	/* Stable means there: the instance has a NIC with the VNI's MAC. */
	nl = nl_in(inst_ns);
	assert_int_equal(nl_link_find_by_mac(nl, c.mac, &l), 0);
	assert_string_equal(l.name, "eth1");
	nl_close(nl);
	assert_true(router_delivers(&c.primary_ip, c.mac));
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips, &n), 0);
	assert_int_equal(n, 2);
	assert_true(router_delivers(&ips[0], c.mac));
	assert_true(router_delivers(&ips[1], c.mac));
	assert_int_equal(prov->ops->unassign_ip(prov, c.id, &ips[0]), 0);
	assert_false(router_delivers(&ips[0], c.mac));
	assert_true(router_delivers(&ips[1], c.mac));
	assert_int_equal(prov->ops->detach_interface(prov, c.id), 0);
	nl = nl_in(inst_ns);
	assert_int_equal(nl_link_find_by_mac(nl, c.mac, &l), -ENODEV);
	nl_close(nl);
	assert_false(router_delivers(&ips[1], c.mac));
	assert_int_equal(instance_links(), 1);
}

static void test_reachable_from_the_node(void **state)
{
	struct ibm_config c = base_cfg();
	char url[128], iam[128];
	int fd, saved = -1, err;

	(void)state;
	assert_true(fake.port > 0);
	/* As a lab node's agent: from the node's namespace, to its gateway. */
	snprintf(url, sizeof(url), "http://198.18.0.1:%u/v1", fake.port);
	snprintf(iam, sizeof(iam), "http://198.18.0.1:%u", fake.port);
	c.vpc_url = url;
	c.iam_url = iam;
	c.metadata_url = iam;
	c.instance_id = NULL; /* and the metadata service knows the node by its address */
	c.api_key = NULL;
	c.http.unix_socket = NULL;
	fd = netns_open(inst_ns);
	assert_true(fd >= 0);
	assert_int_equal(netns_enter(fd, &saved), 0);
	close(fd);
	err = ibm_provider_create(&c, &prov);
	if (!err)
		err = prov->ops->list_interfaces(prov, &ifaces, &n_ifaces);
	assert_int_equal(netns_restore(saved), 0);
	assert_int_equal(err, 0);
	assert_string_equal(prov->instance, INSTANCE);
	assert_int_equal(n_ifaces, 1);
	assert_true(sl_ip_equal(&ifaces[0].primary_ip, &node_ip));
}

static void test_fault_run_leaves_no_kernel_objects(void **state)
{
	struct ibm_config cfg = base_cfg();
	struct {
		struct cloud_iface c;
		struct sl_ip ips[8];
		size_t n;
	} m[3];
	size_t nm = 0;
	unsigned seed = 11;

	(void)state;
	cfg.http.max_retries = 1;
	assert_int_equal(ibm_provider_create(&cfg, &prov), 0);
	assert_int_equal(fake_ibm_faults(&fake,
					 "{\"rules\": ["
					 " {\"path\": \"/v1/*\", \"status\": 500, \"probability\": 0.1},"
					 " {\"path\": \"/v1/*\", \"status\": 503, \"phase\": \"after\", \"probability\": 0.08},"
					 " {\"path\": \"/v1/*\", \"action\": \"hang\", \"phase\": \"after\", \"hang_ms\": 400,"
					 "  \"probability\": 0.05},"
					 " {\"path\": \"/v1/*\", \"action\": \"garbage\", \"probability\": 0.07},"
					 " {\"path\": \"/v1/*\", \"status\": 501, \"probability\": 0.03}]}"),
			 0);
	for (int round = 0; round < 30; round++) {
		unsigned r = (unsigned)rand_r(&seed) % 100;

		if (r < 30 && nm < 3) {
			if (prov->ops->attach_interface(prov, &m[nm].c) == 0)
				m[nm++].n = 0;
		} else if (r < 70 && nm) {
			size_t k = (unsigned)rand_r(&seed) % nm, got = 0;

			if (m[k].n < 6 && prov->ops->assign_ips(prov, m[k].c.id, 1, m[k].ips + m[k].n, &got) == 0)
				m[k].n += got;
		} else if (r < 90 && nm) {
			size_t k = (unsigned)rand_r(&seed) % nm;
			int err;

			if (!m[k].n)
				continue;
			/* In doubt the IP stays listed; it is released again below. */
			err = prov->ops->unassign_ip(prov, m[k].c.id, &m[k].ips[m[k].n - 1]);
			if (!err || err == -ENOENT)
				m[k].n--;
		} else if (nm) {
			size_t k = (unsigned)rand_r(&seed) % nm;
			int err = prov->ops->detach_interface(prov, m[k].c.id);

			if (!err || err == -ENOENT)
				m[k] = m[--nm];
		}
	}
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	/* Everything still listed is released and detached now: the kernel
	 * must be back to the instance's own eth0 and the router's primaries. */
	for (size_t k = 0; k < nm; k++) {
		int err;

		for (size_t i = 0; i < m[k].n; i++) {
			err = prov->ops->unassign_ip(prov, m[k].c.id, &m[k].ips[i]);
			assert_true(err == 0 || err == -ENOENT);
			assert_false(router_delivers(&m[k].ips[i], m[k].c.mac));
		}
		assert_int_equal(prov->ops->detach_interface(prov, m[k].c.id), 0);
	}
	list();
	assert_int_equal(n_ifaces, 1);
	usleep(200000); /* anything the sweep deleted is gone after the fake's 50 ms */
	assert_int_equal(instance_links(), 1);
	{
		json_t *inv = NULL;

		assert_int_equal(fake_ibm_ctl(&fake, "GET", "/fake/inventory", NULL, &inv), 200);
		assert_int_equal(json_array_size(json_object_get(inv, "network_attachments")), 1);
		assert_int_equal(json_array_size(json_object_get(inv, "virtual_network_interfaces")), 1);
		/* The node's primary attachment, VNI and IP: nothing else. */
		assert_int_equal(json_array_size(json_object_get(inv, "reserved_ips")), 1);
		json_decref(inv);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_imported_instance, setup, teardown),
	cmocka_unit_test_setup_teardown(test_attach_makes_the_veth, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reachable_from_the_node, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fault_run_leaves_no_kernel_objects, setup, teardown),
};

SL_TEST_MAIN(tests, NULL, NULL)
