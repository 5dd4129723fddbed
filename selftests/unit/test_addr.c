// SPDX-License-Identifier: Apache-2.0
/* Address, prefix and MAC parsing: the strings users and the cloud give us. */
#include "lib/sl_test.h"

#include <errno.h>
#include <string.h>

#include "common/addr.h"

static void test_ip_parse_v4_v6(void **state)
{
	struct sl_ip ip;
	char buf[SL_IP_STRLEN];

	(void)state;
	assert_int_equal(sl_ip_parse("198.18.16.5", &ip), 0);
	assert_int_equal(ip.family, SL_FAMILY_IPV4);
	assert_string_equal(sl_ip_fmt(&ip, buf), "198.18.16.5");
	assert_int_equal(sl_ip_parse("fd00::1", &ip), 0);
	assert_int_equal(ip.family, SL_FAMILY_IPV6);
	assert_string_equal(sl_ip_fmt(&ip, buf), "fd00::1");
}

static void test_ip_parse_rejects_garbage(void **state)
{
	struct sl_ip ip = { .family = 9 };

	(void)state;
	assert_int_equal(sl_ip_parse("198.18.16", &ip), -EINVAL);
	assert_int_equal(sl_ip_parse("198.18.16.256", &ip), -EINVAL);
	assert_int_equal(sl_ip_parse("", &ip), -EINVAL);
	assert_int_equal(sl_ip_parse(NULL, &ip), -EINVAL);
	assert_int_equal(ip.family, 9); /* untouched on error */
}

static void test_prefix_parse_strict(void **state)
{
	struct sl_prefix p;
	char buf[SL_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(sl_prefix_parse("198.18.0.0/15", true, &p), 0);
	assert_int_equal(p.len, 15);
	assert_string_equal(sl_prefix_fmt(&p, buf), "198.18.0.0/15");
	/* Host bits set: fine for an interface address, not for a network. */
	assert_int_equal(sl_prefix_parse("198.18.16.5/20", true, &p), -EINVAL);
	assert_int_equal(sl_prefix_parse("198.18.16.5/20", false, &p), 0);
	assert_int_equal(sl_prefix_parse("198.18.0.0/33", false, &p), -EINVAL);
	assert_int_equal(sl_prefix_parse("198.18.0.0/", false, &p), -EINVAL);
	assert_int_equal(sl_prefix_parse("198.18.0.0/1x", false, &p), -EINVAL);
	assert_int_equal(sl_prefix_parse("10.0.0.1", true, &p), 0);
	assert_int_equal(p.len, 32);
}

static void test_prefix_contains_and_nth(void **state)
{
	struct sl_prefix p;
	struct sl_ip ip, nth;
	char buf[SL_IP_STRLEN];

	(void)state;
	assert_int_equal(sl_prefix_parse("198.18.16.0/20", true, &p), 0);
	assert_int_equal(sl_prefix_size(&p), 4096);
	assert_int_equal(sl_ip_parse("198.18.31.255", &ip), 0);
	assert_true(sl_prefix_contains(&p, &ip));
	assert_int_equal(sl_ip_parse("198.18.32.0", &ip), 0);
	assert_false(sl_prefix_contains(&p, &ip));
	assert_int_equal(sl_prefix_nth(&p, 1, &nth), 0);
	assert_string_equal(sl_ip_fmt(&nth, buf), "198.18.16.1");
	assert_int_equal(sl_prefix_nth(&p, 300, &nth), 0);
	assert_string_equal(sl_ip_fmt(&nth, buf), "198.18.17.44");
	assert_int_equal(sl_prefix_nth(&p, 4096, &nth), -ERANGE);
	assert_int_equal(sl_prefix_parse("fd00:1::/64", true, &p), 0);
	assert_int_equal(sl_prefix_nth(&p, 0x10001, &nth), 0);
	assert_string_equal(sl_ip_fmt(&nth, buf), "fd00:1::1:1");
}

static void test_mac_roundtrip(void **state)
{
	uint8_t mac[6];
	char buf[SL_MAC_STRLEN];

	(void)state;
	assert_int_equal(sl_mac_parse("02:5e:00:0a:ff:01", mac), 0);
	assert_string_equal(sl_mac_fmt(mac, buf), "02:5e:00:0a:ff:01");
	assert_int_equal(sl_mac_parse("02:5e:00:0a:ff", mac), -EINVAL);
	assert_int_equal(sl_mac_parse("02:5e:00:0a:ff:01:02", mac), -EINVAL);
	assert_int_equal(sl_mac_parse("zz:5e:00:0a:ff:01", mac), -EINVAL);
}

static void test_endpoint_key_zeroes_padding(void **state)
{
	struct sl_endpoint_key key;
	struct sl_ip ip;

	(void)state;
	memset(&key, 0xaa, sizeof(key));
	assert_int_equal(sl_ip_parse("198.18.16.5", &ip), 0);
	sl_endpoint_key_from_ip(&key, &ip);
	assert_int_equal(key.family, SL_FAMILY_IPV4);
	assert_int_equal(key.pad[0] | key.pad[1] | key.pad[2], 0);
	assert_int_equal(key.addr[0], 198);
	for (int i = 4; i < 16; i++)
		assert_int_equal(key.addr[i], 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_ip_parse_v4_v6),
	cmocka_unit_test(test_ip_parse_rejects_garbage),
	cmocka_unit_test(test_prefix_parse_strict),
	cmocka_unit_test(test_prefix_contains_and_nth),
	cmocka_unit_test(test_mac_roundtrip),
	cmocka_unit_test(test_endpoint_key_zeroes_padding),
};

SL_TEST_MAIN(tests, NULL, NULL)
