// SPDX-License-Identifier: Apache-2.0
/* The IP pool: allocation order, no double assignment, and the planner that
 * drives the warm-pool controller. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipam/pool.h"

/* An interface eni-N with n IPs 198.18.16.(base..base+n-1), adopted. */
static void add_iface(struct ipam *ipam, const char *id, unsigned base, unsigned n, bool adopted)
{
	struct cloud_iface c = { 0 };
	struct sl_ip ips[32];

	snprintf(c.id, sizeof(c.id), "%s", id);
	sl_prefix_parse("198.18.16.0/20", true, &c.subnet);
	sl_ip_parse("198.18.16.1", &c.gateway);
	for (unsigned i = 0; i < n; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "198.18.16.%u", base + i);
		sl_ip_parse(buf, &ips[i]);
	}
	c.ips = ips;
	c.n_ips = n;
	assert_int_equal(ipam_add_iface(ipam, &c), 0);
	if (adopted)
		ipam_iface_find(ipam, id)->ifindex = 10;
}

static struct ipam_owner owner(const char *cid)
{
	struct ipam_owner o = { 0 };

	snprintf(o.container_id, sizeof(o.container_id), "%s", cid);
	snprintf(o.ifname, sizeof(o.ifname), "eth0");
	return o;
}

static const char *ip_of(struct ipam_slot *s)
{
	static char buf[SL_IP_STRLEN];

	return sl_ip_fmt(&s->ip, buf);
}

static void test_alloc_distinct_until_empty(void **state)
{
	struct ipam ipam;
	struct ipam_slot *s;
	char seen[8][SL_IP_STRLEN];

	(void)state;
	ipam_init(&ipam, 2);
	add_iface(&ipam, "eni-1", 10, 8, true);
	for (int i = 0; i < 8; i++) {
		struct ipam_owner o;
		char cid[16];

		snprintf(cid, sizeof(cid), "c%d", i);
		o = owner(cid);
		assert_int_equal(ipam_alloc(&ipam, &o, &s, NULL), 0);
		strcpy(seen[i], ip_of(s));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	struct ipam_owner extra = owner("c9");
	assert_int_equal(ipam_alloc(&ipam, &extra, &s, NULL), -ENOSPC);
	ipam_free(&ipam);
}

static void test_alloc_is_idempotent_per_owner(void **state)
{
	struct ipam ipam;
	struct ipam_slot *a, *b;
	struct ipam_owner o = owner("same");
	struct ipam_counts c;

	(void)state;
	ipam_init(&ipam, 0);
	add_iface(&ipam, "eni-1", 10, 4, true);
	assert_int_equal(ipam_alloc(&ipam, &o, &a, NULL), 0);
	assert_int_equal(ipam_alloc(&ipam, &o, &b, NULL), 0);
	assert_ptr_equal(a, b);
	ipam_count(&ipam, &c);
	assert_int_equal(c.used, 1);
	ipam_free(&ipam);
}

static void test_released_ip_is_reused_last(void **state)
{
	struct ipam ipam;
	struct ipam_slot *s;
	struct ipam_owner a = owner("a"), b = owner("b"), c = owner("c");
	char first[SL_IP_STRLEN];

	(void)state;
	ipam_init(&ipam, 0);
	add_iface(&ipam, "eni-1", 10, 3, true);
	assert_int_equal(ipam_alloc(&ipam, &a, &s, NULL), 0);
	strcpy(first, ip_of(s));
	assert_int_equal(ipam_release(&ipam, &a, NULL), 0);
	/* Two never-used IPs go first; the released one comes back last. */
	assert_int_equal(ipam_alloc(&ipam, &b, &s, NULL), 0);
	assert_string_not_equal(ip_of(s), first);
	assert_int_equal(ipam_alloc(&ipam, &c, &s, NULL), 0);
	assert_string_not_equal(ip_of(s), first);
	struct ipam_owner d = owner("d");
	assert_int_equal(ipam_alloc(&ipam, &d, &s, NULL), 0);
	assert_string_equal(ip_of(s), first);
	ipam_free(&ipam);
}

static void test_unadopted_interface_is_not_allocated(void **state)
{
	struct ipam ipam;
	struct ipam_slot *s;
	struct ipam_owner o = owner("x");

	(void)state;
	ipam_init(&ipam, 0);
	add_iface(&ipam, "eni-1", 10, 2, false);
	assert_int_equal(ipam_allocatable(&ipam), 0);
	assert_int_equal(ipam_alloc(&ipam, &o, &s, NULL), -ENOSPC);
	ipam_iface_find(&ipam, "eni-1")->ifindex = 7;
	assert_int_equal(ipam_alloc(&ipam, &o, &s, NULL), 0);
	ipam_free(&ipam);
}

static void test_claim_refuses_double_assignment(void **state)
{
	struct ipam ipam;
	struct ipam_owner a = owner("a"), b = owner("b");
	struct sl_ip ip;

	(void)state;
	ipam_init(&ipam, 0);
	add_iface(&ipam, "eni-1", 10, 2, true);
	sl_ip_parse("198.18.16.10", &ip);
	assert_int_equal(ipam_claim(&ipam, &ip, &a), 0);
	assert_int_equal(ipam_claim(&ipam, &ip, &a), 0);
	assert_int_equal(ipam_claim(&ipam, &ip, &b), -EBUSY);
	sl_ip_parse("198.18.16.99", &ip);
	assert_int_equal(ipam_claim(&ipam, &ip, &b), -ENOENT);
	ipam_free(&ipam);
}

static void test_remove_refuses_ips_in_use(void **state)
{
	struct ipam ipam;
	struct ipam_owner a = owner("a");
	struct ipam_slot *s;
	struct sl_ip ip;

	(void)state;
	ipam_init(&ipam, 0);
	add_iface(&ipam, "eni-1", 10, 2, true);
	assert_int_equal(ipam_alloc(&ipam, &a, &s, NULL), 0);
	ip = s->ip;
	assert_int_equal(ipam_remove_ip(&ipam, &ip), -EBUSY);
	assert_int_equal(ipam_remove_iface(&ipam, "eni-1"), -EBUSY);
	assert_int_equal(ipam_release(&ipam, &a, NULL), 0);
	assert_int_equal(ipam_remove_ip(&ipam, &ip), 0);
	assert_int_equal(ipam_remove_iface(&ipam, "eni-1"), 0);
	assert_int_equal(ipam.n_ifaces, 0);
	ipam_free(&ipam);
}

static void test_plan_assign_then_attach_then_none(void **state)
{
	struct ipam ipam;
	struct ipam_step step;

	(void)state;
	ipam_init(&ipam, 4);
	ipam.limits.max_interfaces = 3;        /* the primary + 2 of ours */
	ipam.limits.max_ips_per_interface = 4; /* 3 pod IPs each */
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH);
	add_iface(&ipam, "eni-1", 10, 0, true);
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	assert_string_equal(step.iface_id, "eni-1");
	assert_int_equal(step.count, 3); /* room, not the whole shortfall */
	for (unsigned i = 0; i < 3; i++) {
		struct sl_ip ip;
		char buf[32];

		snprintf(buf, sizeof(buf), "198.18.16.%u", 10 + i);
		sl_ip_parse(buf, &ip);
		assert_int_equal(ipam_add_ip(&ipam, ipam_iface_find(&ipam, "eni-1"), &ip), 0);
	}
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH); /* full: another interface */
	add_iface(&ipam, "eni-2", 20, 3, true);
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* 6 free >= 4 */
	ipam_plan(&ipam, 3, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* wants 7, but every limit is reached */
	ipam_free(&ipam);
}

static void test_plan_releases_above_hysteresis(void **state)
{
	struct ipam ipam;
	struct ipam_step step;
	struct ipam_owner a = owner("a");
	struct ipam_slot *s;

	(void)state;
	ipam_init(&ipam, 2);
	ipam.release_hysteresis = 3;
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 16;
	add_iface(&ipam, "eni-1", 10, 5, true);
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* 5 free <= 2 + 3 */
	add_iface(&ipam, "eni-2", 30, 1, true);
	assert_int_equal(ipam_alloc(&ipam, &a, &s, NULL), 0);
	assert_int_equal(ipam_release(&ipam, &a, NULL), 0); /* now the most recently released */
	ipam_plan(&ipam, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_RELEASE);
	/* Never the one just released: it may still have traffic in flight. */
	assert_false(sl_ip_equal(&step.ip, &s->ip));
	ipam_free(&ipam);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_alloc_distinct_until_empty),
	cmocka_unit_test(test_alloc_is_idempotent_per_owner),
	cmocka_unit_test(test_released_ip_is_reused_last),
	cmocka_unit_test(test_unadopted_interface_is_not_allocated),
	cmocka_unit_test(test_claim_refuses_double_assignment),
	cmocka_unit_test(test_remove_refuses_ips_in_use),
	cmocka_unit_test(test_plan_assign_then_attach_then_none),
	cmocka_unit_test(test_plan_releases_above_hysteresis),
};

SL_TEST_MAIN(tests, NULL, NULL)
