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
	c.device_index = (unsigned)ipam->n_ifaces + 1; /* 0 is the instance's primary */
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
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH);
	add_iface(&ipam, "eni-1", 10, 0, true);
	ipam_plan(&ipam, 0, 0, &step);
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
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH); /* full: another interface */
	add_iface(&ipam, "eni-2", 20, 3, true);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* 6 free >= 4 */
	ipam_plan(&ipam, 3, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* wants 7, but every limit is reached */
	ipam_free(&ipam);
}

static void add_ips(struct ipam *ipam, const char *id, unsigned base, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct sl_ip ip;
		char buf[32];

		snprintf(buf, sizeof(buf), "198.18.16.%u", base + i);
		sl_ip_parse(buf, &ip);
		assert_int_equal(ipam_add_ip(ipam, ipam_iface_find(ipam, id), &ip), 0);
	}
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
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* 5 free <= 2 + 3 */
	add_ips(&ipam, "eni-1", 30, 2);
	assert_int_equal(ipam_alloc(&ipam, &a, &s, NULL), 0);
	assert_int_equal(ipam_release(&ipam, &a, NULL), 0); /* now the most recently released */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_RELEASE);
	assert_string_equal(step.iface_id, "eni-1");
	/* Never the one just released: it may still have traffic in flight. */
	assert_false(sl_ip_equal(&step.ip, &s->ip));
	ipam_free(&ipam);
}

/* Allocates n pods "p0".."p(n-1)". */
static void alloc_pods(struct ipam *ipam, const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char cid[32];
		struct ipam_owner o;

		snprintf(cid, sizeof(cid), "%s%u", prefix, i);
		o = owner(cid);
		assert_int_equal(ipam_alloc(ipam, &o, NULL, NULL), 0);
	}
}

static void release_pods(struct ipam *ipam, const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char cid[32];
		struct ipam_owner o;

		snprintf(cid, sizeof(cid), "%s%u", prefix, i);
		o = owner(cid);
		assert_int_equal(ipam_release(ipam, &o, NULL), 0);
	}
}

static void test_min_ip_target_counts_used_and_free(void **state)
{
	struct ipam ipam;
	struct ipam_step step;

	(void)state;
	ipam_init(&ipam, 1);
	ipam.min_ip_target = 10;
	ipam.limits.max_interfaces = 3;
	ipam.limits.max_ips_per_interface = 21;
	add_iface(&ipam, "eni-1", 10, 0, true);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	assert_int_equal(step.count, 10); /* the minimum, above the warm target of 1 */
	add_ips(&ipam, "eni-1", 10, 10);
	alloc_pods(&ipam, "p", 6);
	/* 6 used + 4 free = 10: the minimum holds, and 4 >= warm 1. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	alloc_pods(&ipam, "q", 4);
	/* 10 used, 0 free: now the warm target asks for one more. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	assert_int_equal(step.count, 1);
	assert_int_equal(ipam_desired_free(&ipam, 2), 3);
	ipam_free(&ipam);
}

static void test_warm_eni_target_works_in_whole_interfaces(void **state)
{
	struct ipam ipam;
	struct ipam_step step;

	(void)state;
	ipam_init(&ipam, 0);
	ipam.warm_eni_target = 1;
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 6; /* 5 pod IPs each */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH);
	add_iface(&ipam, "eni-1", 10, 0, true);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	assert_int_equal(step.count, 5); /* the whole interface */
	add_ips(&ipam, "eni-1", 10, 5);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	alloc_pods(&ipam, "p", 1);
	/* 4 free < one interface's worth: another whole interface. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ATTACH);
	add_iface(&ipam, "eni-2", 20, 5, true);
	add_iface(&ipam, "eni-3", 30, 5, true);
	/* 14 free, 5 wanted: one of eni-2 and eni-3 is beyond the target, the
	 * other is needed; eni-1 is in use. Single IPs are never released. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_DETACH);
	assert_string_equal(step.iface_id, "eni-2"); /* both fit: the first of the biggest */
	assert_int_equal(ipam_remove_iface(&ipam, "eni-2"), 0);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	ipam_free(&ipam);
}

static void test_caps_apply_on_provider_limits(void **state)
{
	struct ipam ipam;
	struct ipam_step step;
	struct ipam_counts c;
	struct cloud_limits l;

	(void)state;
	ipam_init(&ipam, 8);
	ipam.limits.max_interfaces = 8;
	ipam.limits.max_ips_per_interface = 30;
	ipam.caps.max_interfaces = 2;         /* the primary + 1 */
	ipam.caps.max_ips_per_interface = 4;  /* 3 pod IPs */
	l = ipam_limits(&ipam);
	assert_int_equal(l.max_interfaces, 2);
	assert_int_equal(l.max_ips_per_interface, 4);
	ipam.caps.max_ips_per_interface = 64; /* a cap above the provider's is no cap */
	assert_int_equal(ipam_limits(&ipam).max_ips_per_interface, 30);
	ipam.caps.max_ips_per_interface = 4;
	ipam_count(&ipam, &c);
	assert_int_equal(c.capacity, 3);
	add_iface(&ipam, "eni-1", 10, 0, true);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	assert_int_equal(step.count, 3);
	add_ips(&ipam, "eni-1", 10, 3);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* short, but at the caps */
	ipam_free(&ipam);
}

static void test_excess_waits_for_release_delay(void **state)
{
	struct ipam ipam;
	struct ipam_step step;

	(void)state;
	ipam_init(&ipam, 2);
	ipam.release_hysteresis = 2;
	ipam.release_delay_s = 60;
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 21;
	add_iface(&ipam, "eni-1", 10, 10, true);
	alloc_pods(&ipam, "p", 10);
	ipam_tick(&ipam, 0, 1000);
	assert_int_equal(ipam.excess_since_ms, 0);
	release_pods(&ipam, "p", 10); /* a burst of DELs: 10 free > 2 + 2 */
	assert_true(ipam_excess(&ipam, 0));
	ipam_tick(&ipam, 0, 5000);
	assert_int_equal(ipam.excess_since_ms, 5000);
	ipam_plan(&ipam, 0, 64000, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE); /* 59 s: not yet */
	/* ADDs come back before the delay is over: no churn at all. */
	alloc_pods(&ipam, "q", 7);
	ipam_tick(&ipam, 0, 30000);
	assert_int_equal(ipam.excess_since_ms, 0);
	release_pods(&ipam, "q", 7);
	ipam_tick(&ipam, 0, 40000);
	ipam_tick(&ipam, 0, 90000); /* the mark stays where the excess began */
	assert_int_equal(ipam.excess_since_ms, 40000);
	ipam_plan(&ipam, 0, 99999, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	ipam_plan(&ipam, 0, 100000, &step);
	assert_int_equal(step.kind, IPAM_STEP_RELEASE);
	ipam_free(&ipam);
}

static void test_detaches_only_whole_free_interfaces_of_ours(void **state)
{
	struct ipam ipam;
	struct ipam_step step;
	struct ipam_owner o = owner("a");

	(void)state;
	ipam_init(&ipam, 3);
	ipam.release_hysteresis = 100; /* no single releases here */
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 6;
	add_iface(&ipam, "eni-1", 10, 5, true);
	add_iface(&ipam, "eni-2", 20, 5, true);
	add_iface(&ipam, "eni-3", 30, 5, true);
	{
		struct sl_ip ip;

		sl_ip_parse("198.18.16.20", &ip); /* a pod on eni-2 */
		assert_int_equal(ipam_claim(&ipam, &ip, &o), 0);
	}
	/* 14 free, 3 wanted: eni-1 or eni-3 can go (each leaves >= 3), eni-2
	 * is in use. After one goes, the other is still beyond the target. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_DETACH);
	assert_string_not_equal(step.iface_id, "eni-2");
	assert_int_equal(ipam_remove_iface(&ipam, step.iface_id), 0);
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_DETACH);
	assert_string_not_equal(step.iface_id, "eni-2");
	assert_int_equal(ipam_remove_iface(&ipam, step.iface_id), 0);
	/* 4 free on eni-2, in use: nothing more. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	/* The instance's primary (device 0) is never detached, even when free. */
	{
		struct cloud_iface c = { 0 };

		snprintf(c.id, sizeof(c.id), "primary");
		c.device_index = 0;
		assert_int_equal(ipam_add_iface(&ipam, &c), 0);
	}
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	ipam_free(&ipam);
}

static uint64_t fake_now_ms;
static uint64_t fake_clock(void)
{
	return fake_now_ms;
}

static void test_held_ip_is_neither_reused_nor_released(void **state)
{
	struct ipam ipam;
	struct ipam_step step;
	struct ipam_owner a = owner("a"), b = owner("b");
	struct ipam_slot *s, *t;
	struct ipam_counts c;
	struct sl_ip freed;

	(void)state;
	ipam_init(&ipam, 0);
	ipam.clock_ms = fake_clock;
	ipam.release_hysteresis = 0;
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 6;
	add_iface(&ipam, "eni-1", 10, 2, true);
	assert_int_equal(ipam_alloc(&ipam, &a, &s, NULL), 0);
	assert_int_equal(ipam_alloc(&ipam, &b, NULL, NULL), 0);
	fake_now_ms = 1234;
	assert_int_equal(ipam_release(&ipam, &a, &freed), 0);
	assert_int_equal(s->hold, IPAM_HOLD_PENDING); /* not checked yet */
	assert_int_equal(s->freed_ms, 1234);
	ipam_count(&ipam, &c);
	assert_int_equal(c.free, 1);
	assert_int_equal(c.held, 1);
	assert_int_equal(ipam_allocatable(&ipam), 0);
	assert_int_equal(ipam_alloc(&ipam, &a, NULL, NULL), -ENOSPC);
	/* Not released either, though the warm target is 0. */
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_NONE);
	assert_false(ipam_excess(&ipam, 0));
	/* Conntrack still has it: the held IP does not count as warm. */
	s->hold = IPAM_HOLD_CT;
	ipam.warm_ip_target = 1;
	ipam_plan(&ipam, 0, 0, &step);
	assert_int_equal(step.kind, IPAM_STEP_ASSIGN);
	/* Let go: the IP is free for a pod again, and can go back to the cloud. */
	s->hold = IPAM_HOLD_NONE;
	assert_int_equal(ipam_alloc(&ipam, &a, &t, NULL), 0);
	assert_true(sl_ip_equal(&t->ip, &freed));
	ipam_free(&ipam);
}

static void test_state_hash_follows_what_the_plan_sees(void **state)
{
	struct ipam ipam;
	struct ipam_owner a = owner("a");
	uint64_t h0, h1;

	(void)state;
	ipam_init(&ipam, 2);
	ipam.limits.max_interfaces = 4;
	ipam.limits.max_ips_per_interface = 6;
	ipam.release_delay_s = 10;
	add_iface(&ipam, "eni-1", 10, 5, true);
	h0 = ipam_state_hash(&ipam, 0, 0);
	assert_true(h0 == ipam_state_hash(&ipam, 0, 5000)); /* time alone changes nothing */
	assert_true(h0 != ipam_state_hash(&ipam, 1, 0));    /* an ADD waiting */
	ipam.warm_ip_target = 3;
	assert_true(h0 != ipam_state_hash(&ipam, 0, 0));    /* a target */
	ipam.warm_ip_target = 2;
	ipam.caps.max_interfaces = 2;
	assert_true(h0 != ipam_state_hash(&ipam, 0, 0));    /* a cap */
	ipam.caps.max_interfaces = 0;
	assert_true(h0 == ipam_state_hash(&ipam, 0, 0));
	assert_int_equal(ipam_alloc(&ipam, &a, NULL, NULL), 0);
	h1 = ipam_state_hash(&ipam, 0, 0);
	assert_true(h1 != h0);                              /* the pool's contents */
	ipam_find_owner(&ipam, &a, NULL)->hold = IPAM_HOLD_CT;
	assert_true(h1 != ipam_state_hash(&ipam, 0, 0));    /* a hold */
	ipam_find_owner(&ipam, &a, NULL)->hold = IPAM_HOLD_NONE;
	/* The release delay running out changes what the plan may do. */
	ipam.release_hysteresis = 0;
	ipam.warm_ip_target = 0;
	ipam_tick(&ipam, 0, 1000);
	assert_true(ipam_state_hash(&ipam, 0, 10999) != ipam_state_hash(&ipam, 0, 11000));
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
	cmocka_unit_test(test_min_ip_target_counts_used_and_free),
	cmocka_unit_test(test_warm_eni_target_works_in_whole_interfaces),
	cmocka_unit_test(test_caps_apply_on_provider_limits),
	cmocka_unit_test(test_excess_waits_for_release_delay),
	cmocka_unit_test(test_detaches_only_whole_free_interfaces_of_ours),
	cmocka_unit_test(test_held_ip_is_neither_reused_nor_released),
	cmocka_unit_test(test_state_hash_follows_what_the_plan_sees),
};

SL_TEST_MAIN(tests, NULL, NULL)
