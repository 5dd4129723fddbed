// SPDX-License-Identifier: Apache-2.0
/* The sim cloud's address allocator and state file, without any kernel
 * object: reserved addresses, the rotating cursor, exhaustion, locking. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/sim_state.h"
#include "common/fsutil.h"

static char dir[64];
static char path[128];

static const char state_json[] =
	"{\"version\": 1, \"routerNetns\": \"none\", \"podSubnet\": \"p\", \"nextInterface\": 3,"
	" \"limits\": {\"maxInterfaces\": 4, \"maxIPsPerInterface\": 8},"
	" \"subnets\": [{\"id\": \"p\", \"cidr\": \"10.9.0.0/29\", \"gateway\": \"10.9.0.1\", \"cursor\": 4}],"
	" \"instances\": [{\"id\": \"n1\", \"netns\": \"x\", \"interfaces\": [{\"id\": \"eni-1\","
	" \"mac\": \"02:5e:10:00:00:01\", \"subnet\": \"p\", \"deviceIndex\": 1, \"primary\": false,"
	" \"primaryIP\": \"10.9.0.4\", \"ips\": []}]}]}";

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-sim-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/vpc.json", dir);
	return fs_write_atomic(path, state_json, strlen(state_json), 0600);
}

static int teardown(void **state)
{
	(void)state;
	return fs_remove_tree(dir);
}

static void test_alloc_skips_reserved_and_used(void **state)
{
	struct sim_state st;
	struct sl_ip ip;
	char buf[SL_IP_STRLEN];
	json_t *subnet, *ips;

	(void)state;
	assert_int_equal(sim_state_open(path, &st), 0);
	subnet = sim_state_subnet(&st, "p");
	ips = json_object_get(sim_state_iface(&st, "eni-1", NULL), "ips");
	/* /29: .0 network, .1 gateway, .2 .3 reserved, .4 used (primary),
	 * .7 broadcast: only .5 and .6 are free. */
	assert_int_equal(sim_state_alloc_ip(&st, subnet, &ip), 0);
	assert_string_equal(sl_ip_fmt(&ip, buf), "10.9.0.5");
	json_array_append_new(ips, json_string(buf));
	assert_int_equal(sim_state_alloc_ip(&st, subnet, &ip), 0);
	assert_string_equal(sl_ip_fmt(&ip, buf), "10.9.0.6");
	json_array_append_new(ips, json_string(buf));
	assert_int_equal(sim_state_alloc_ip(&st, subnet, &ip), -ENOSPC);
	/* Free .5 again: the cursor is past it, the lap finds it. */
	json_array_remove(ips, 0);
	assert_int_equal(sim_state_alloc_ip(&st, subnet, &ip), 0);
	assert_string_equal(sl_ip_fmt(&ip, buf), "10.9.0.5");
	sim_state_close(&st);
}

static void test_saved_state_reads_back(void **state)
{
	struct sim_state st;
	struct cloud_iface c;
	struct cloud_limits l;
	char buf[SL_IP_STRLEN];

	(void)state;
	assert_int_equal(sim_state_open(path, &st), 0);
	json_array_append_new(json_object_get(sim_state_iface(&st, "eni-1", NULL), "ips"),
			      json_string("10.9.0.6"));
	assert_int_equal(sim_state_save(&st), 0);
	sim_state_close(&st);

	assert_int_equal(sim_state_open(path, &st), 0);
	assert_int_equal(sim_state_limits(&st, &l), 0);
	assert_int_equal(l.max_interfaces, 4);
	assert_int_equal(sim_state_iface_export(&st, sim_state_iface(&st, "eni-1", NULL), &c), 0);
	assert_int_equal(c.n_ips, 1);
	assert_string_equal(sl_ip_fmt(&c.ips[0], buf), "10.9.0.6");
	assert_string_equal(sl_ip_fmt(&c.gateway, buf), "10.9.0.1");
	assert_int_equal(c.subnet.len, 29);
	assert_false(c.primary);
	free(c.ips);
	sim_state_close(&st);
}

static void test_garbage_state_is_an_error(void **state)
{
	struct sim_state st;
	char bad[160];

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	assert_int_equal(fs_write_atomic(bad, "{\"version\": 1,", 14, 0600), 0);
	assert_int_equal(sim_state_open(bad, &st), -EIO);
	assert_int_equal(fs_write_atomic(bad, "{\"version\": 7}", 14, 0600), 0);
	assert_int_equal(sim_state_open(bad, &st), -EPROTO);
	snprintf(bad, sizeof(bad), "%s/none.json", dir);
	assert_int_equal(sim_state_open(bad, &st), -ENOENT);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_alloc_skips_reserved_and_used),
	cmocka_unit_test(test_saved_state_reads_back),
	cmocka_unit_test(test_garbage_state_is_an_error),
};

SL_TEST_MAIN(tests, setup, teardown)
