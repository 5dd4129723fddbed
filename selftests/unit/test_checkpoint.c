// SPDX-License-Identifier: Apache-2.0
/* The checkpoint: a round trip keeps every field, a damaged or foreign file
 * is refused (never read as empty), and a write replaces the file whole. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "common/fsutil.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-cp-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fs_remove_tree(dir);
}

static void fill(struct ipam *ipam, struct endpoint *ep)
{
	struct cloud_iface c = { 0 };
	struct sl_ip ips[2];
	struct ipam_slot *slot;

	ipam_init(ipam, 4);
	snprintf(c.id, sizeof(c.id), "eni-7");
	snprintf(c.subnet_id, sizeof(c.subnet_id), "subnet-pods");
	sl_mac_parse("02:5e:10:00:00:07", c.mac);
	c.device_index = 2;
	sl_prefix_parse("198.18.16.0/20", true, &c.subnet);
	sl_ip_parse("198.18.16.1", &c.gateway);
	sl_ip_parse("198.18.16.4", &c.primary_ip);
	sl_ip_parse("198.18.16.5", &ips[0]);
	sl_ip_parse("198.18.16.6", &ips[1]);
	c.ips = ips;
	c.n_ips = 2;
	assert_int_equal(ipam_add_iface(ipam, &c), 0);
	snprintf(ipam->ifaces[0].name, sizeof(ipam->ifaces[0].name), "eni2");
	ipam->release_seq = 41;
	slot = ipam_find_ip(ipam, &ips[1], NULL);
	slot->released_seq = 40;

	memset(ep, 0, sizeof(*ep));
	snprintf(ep->key.container_id, sizeof(ep->key.container_id), "abc123");
	snprintf(ep->key.ifname, sizeof(ep->key.ifname), "eth0");
	snprintf(ep->netns, sizeof(ep->netns), "/var/run/netns/x");
	snprintf(ep->k8s_namespace, sizeof(ep->k8s_namespace), "shop");
	snprintf(ep->pod, sizeof(ep->pod), "web-1");
	ep->ip = ips[0];
	sl_mac_parse("0a:00:00:00:00:01", ep->mac);
	sl_mac_parse("0a:00:00:00:00:02", ep->host_mac);
	endpoint_host_veth_name(&ep->key, ep->host_veth);
	snprintf(ep->eni_id, sizeof(ep->eni_id), "eni-7");
	ep->mtu = 1500;
	ep->created = 1700000000;
}

static void test_roundtrip_keeps_every_field(void **state)
{
	struct ipam ipam;
	struct endpoint ep;
	struct checkpoint cp;
	char buf[SL_IP_STRLEN];

	(void)state;
	fill(&ipam, &ep);
	assert_int_equal(checkpoint_save(path, "node-1", &ipam, &ep, 1, NULL), 0);
	assert_int_equal(checkpoint_load(path, &cp), 0);
	assert_string_equal(cp.node, "node-1");
	assert_int_equal(cp.release_seq, 41);
	assert_int_equal(cp.n_ifaces, 1);
	assert_string_equal(cp.ifaces[0].id, "eni-7");
	assert_string_equal(cp.ifaces[0].name, "eni2");
	assert_int_equal(cp.ifaces[0].device_index, 2);
	assert_memory_equal(cp.ifaces[0].mac, ipam.ifaces[0].mac, 6);
	assert_string_equal(sl_ip_fmt(&cp.ifaces[0].primary_ip, buf), "198.18.16.4");
	assert_int_equal(cp.ifaces[0].n_slots, 2);
	assert_int_equal(cp.ifaces[0].slots[1].released_seq, 40);
	assert_int_equal(cp.n_endpoints, 1);
	assert_memory_equal(&cp.endpoints[0].key, &ep.key, sizeof(ep.key));
	assert_string_equal(cp.endpoints[0].netns, ep.netns);
	assert_string_equal(cp.endpoints[0].pod, "web-1");
	assert_true(sl_ip_equal(&cp.endpoints[0].ip, &ep.ip));
	assert_memory_equal(cp.endpoints[0].host_mac, ep.host_mac, 6);
	assert_string_equal(cp.endpoints[0].host_veth, ep.host_veth);
	assert_int_equal(cp.endpoints[0].created, 1700000000);
	checkpoint_free(&cp);
	ipam_free(&ipam);
}

static void test_identities_roundtrip(void **state)
{
	json_t *ids = json_pack("{s:i, s:[{s:i, s:s}]}", "next", 300, "identities", "id", 256, "ns", "shop");
	struct ipam ipam;
	struct endpoint ep;
	struct checkpoint cp;

	(void)state;
	fill(&ipam, &ep);
	assert_int_equal(checkpoint_save(path, "node-1", &ipam, &ep, 1, ids), 0);
	assert_int_equal(checkpoint_load(path, &cp), 0);
	assert_non_null(cp.identities);
	assert_true(json_equal(cp.identities, ids));
	checkpoint_free(&cp);
	/* Saved without: loads as NULL, not as an empty table. */
	assert_int_equal(checkpoint_save(path, "node-1", &ipam, &ep, 1, NULL), 0);
	assert_int_equal(checkpoint_load(path, &cp), 0);
	assert_null(cp.identities);
	checkpoint_free(&cp);
	json_decref(ids);
	ipam_free(&ipam);
}

static void test_missing_is_enoent(void **state)
{
	struct checkpoint cp;
	char missing[160];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/none.json", dir);
	assert_int_equal(checkpoint_load(missing, &cp), -ENOENT);
}

static void write_file(const char *text)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
}

static void test_damaged_and_foreign_are_refused(void **state)
{
	struct checkpoint cp;

	(void)state;
	write_file("{\"version\": 1, \"node\": \"n\", \"interfaces\": [");
	assert_int_equal(checkpoint_load(path, &cp), -EINVAL);
	write_file("");
	assert_int_equal(checkpoint_load(path, &cp), -EINVAL);
	write_file("{\"version\": 99, \"node\": \"n\", \"interfaces\": [], \"endpoints\": []}");
	assert_int_equal(checkpoint_load(path, &cp), -EPROTO);
	/* An endpoint with a bad IP fails the whole file: half a state would
	 * free an IP that a running pod still holds. */
	write_file("{\"version\": 1, \"node\": \"n\", \"interfaces\": [], \"endpoints\": [{\"containerID\": \"a\","
		   " \"ifName\": \"eth0\", \"netns\": \"\", \"namespace\": \"\", \"pod\": \"\", \"ip\": \"nope\","
		   " \"mac\": \"0a:00:00:00:00:01\", \"hostVeth\": \"x\", \"hostMac\": \"0a:00:00:00:00:02\","
		   " \"eni\": \"e\"}]}");
	assert_int_equal(checkpoint_load(path, &cp), -EINVAL);
	write_file("{\"version\": 1, \"node\": \"n\", \"interfaces\": [], \"endpoints\": []}");
	assert_int_equal(checkpoint_load(path, &cp), 0);
	checkpoint_free(&cp);
}

static void test_save_replaces_whole_file(void **state)
{
	struct ipam ipam;
	struct endpoint ep;
	struct stat st;
	char tmp[200];

	(void)state;
	fill(&ipam, &ep);
	assert_int_equal(checkpoint_save(path, "node-1", &ipam, &ep, 1, NULL), 0);
	assert_int_equal(checkpoint_save(path, "node-1", &ipam, NULL, 0, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	assert_int_not_equal(access(tmp, F_OK), 0); /* no temporary left */
	struct checkpoint cp;
	assert_int_equal(checkpoint_load(path, &cp), 0);
	assert_int_equal(cp.n_endpoints, 0);
	checkpoint_free(&cp);
	ipam_free(&ipam);
}

static void test_host_veth_name_is_stable_and_short(void **state)
{
	struct ipam_owner a = { .container_id = "abc", .ifname = "eth0" };
	struct ipam_owner b = { .container_id = "abc", .ifname = "eth1" };
	char na[IF_NAMESIZE], na2[IF_NAMESIZE], nb[IF_NAMESIZE];

	(void)state;
	endpoint_host_veth_name(&a, na);
	endpoint_host_veth_name(&a, na2);
	endpoint_host_veth_name(&b, nb);
	assert_string_equal(na, na2);
	assert_string_not_equal(na, nb);
	assert_int_equal(strlen(na), 14);
	assert_int_equal(strncmp(na, "sl", 2), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_roundtrip_keeps_every_field),
	cmocka_unit_test(test_identities_roundtrip),
	cmocka_unit_test(test_missing_is_enoent),
	cmocka_unit_test(test_damaged_and_foreign_are_refused),
	cmocka_unit_test(test_save_replaces_whole_file),
	cmocka_unit_test(test_host_veth_name_is_stable_and_short),
};

SL_TEST_MAIN(tests, setup, teardown)
