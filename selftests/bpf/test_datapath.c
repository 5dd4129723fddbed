// SPDX-License-Identifier: Apache-2.0
/*
 * The datapath under BPF_PROG_TEST_RUN, and its loader.
 *
 * The first group runs test builds of the production programs on packets
 * from lib/pktbuild.c, on the node of dp_node.h. Every forwarding path and
 * every drop reason is checked for verdict, rewritten bytes, redirect
 * target, counters and drop event, including the source line the event
 * points at. (NetworkPolicy and conntrack: test_policy.c.)
 *
 * The second group loads the production objects through the loader, on a
 * private pin directory, and checks attach, reuse, replace, refusal of a
 * foreign layout, detach and unpin.
 */
#include "bpf/dp_node.h"

/* --- sluice_from_pod: forwarding -------------------------------------------------- */

static void test_pod_to_local_pod(void **state)
{
	static const uint8_t protos[] = { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	struct result r;
	struct pkt p;

	for (size_t i = 0; i < sizeof(protos); i++) {
		CASE("A -> B, IP protocol %u", protos[i]);
		reset_state(state);
		from_a(&p, IP_B, 64, protos[i]);
		run(pod_prog(), T.if_pa, &p, &r);
		assert_int_equal(r.ret, TC_ACT_REDIRECT);
		expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pb, NULL);
		expect_routed_bytes(&p, &r, GW_MAC_B, MAC_B);
		expect_only_metric(SL_METRIC_FORWARDED, SL_DIR_FROM_POD, 1, p.len);
		assert_int_equal(T.nevents, 0);
	}

	CASE("A -> C (no owning ENI does not matter locally), Ethernet padding after tot_len");
	reset_state(state);
	from_a(&p, IP_C, 2, IPPROTO_UDP);
	assert_int_equal(pkt_payload(&p, "\0\0\0\0\0\0\0\0\0\0", 10), 0);
	run(pod_prog(), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pc, NULL);
	expect_routed_bytes(&p, &r, GW_MAC_C, MAC_C);
}

static void test_pod_to_local_pod_ip_options(void **state)
{
	static const uint8_t router_alert[4] = { 0x94, 0x04, 0x00, 0x00 };
	uint8_t nops[40];
	struct result r;
	struct pkt p;

	memset(nops, 0x01, sizeof(nops));
	nops[39] = 0x00; /* end of options list */
	const struct {
		const uint8_t *opt;
		size_t len;
	} cases[] = { { router_alert, sizeof(router_alert) }, { nops, sizeof(nops) } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CASE("A -> B with %zu bytes of IP options", cases[i].len);
		reset_state(state);
		pkt_init(&p);
		assert_int_equal(pkt_eth(&p, GW_MAC_A, MAC_A, ETH_P_IP), 0);
		assert_int_equal(pkt_ipv4(&p, &(struct pkt_ipv4){ .src = IP_A, .dst = IP_B, .ttl = 64,
								 .options = cases[i].opt,
								 .options_len = cases[i].len }),
				 0);
		assert_int_equal(pkt_udp(&p, 5000, 6000), 0);
		assert_int_equal(pkt_finish(&p), 0);
		run(pod_prog(), T.if_pa, &p, &r);
		assert_int_equal(r.ret, TC_ACT_REDIRECT);
		expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pb, NULL);
		expect_routed_bytes(&p, &r, GW_MAC_B, MAC_B);
		expect_only_metric(SL_METRIC_FORWARDED, SL_DIR_FROM_POD, 1, p.len);
	}
}

static void test_pod_to_host(void **state)
{
	struct result r;
	struct pkt p;

	from_a(&p, IP_HOST, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_passed(&p, &r, T.pod->maps.test_redirect, SL_DIR_FROM_POD);

	CASE("TTL 1 to the node is not a routed hop: passed unchanged");
	reset_state(state);
	from_a(&p, IP_HOST, 1, IPPROTO_ICMP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_passed(&p, &r, T.pod->maps.test_redirect, SL_DIR_FROM_POD);
}

static void test_pod_to_vpc_via_own_eni(void **state)
{
	struct result r;
	struct pkt p;

	CASE("A -> VPC leaves through eni0 towards its gateway");
	from_a(&p, IP_REMOTE, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_NEIGH, T.if_eni0, GW_ENI0);
	/* MACs are the kernel's job (neighbour entry of the gateway). */
	expect_routed_bytes(&p, &r, NULL, NULL);
	expect_only_metric(SL_METRIC_FORWARDED, SL_DIR_FROM_POD, 1, p.len);
	assert_int_equal(T.nevents, 0);

	CASE("B -> VPC leaves through eni1, never eni0");
	reset_state(state);
	build_ipv4(&p, GW_MAC_B, MAC_B, IP_B, IP_REMOTE, 64, IPPROTO_UDP);
	run(pod_prog(), T.if_pb, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_NEIGH, T.if_eni1, GW_ENI1);
	expect_routed_bytes(&p, &r, NULL, NULL);

	CASE("A -> an address in eni1's subnet still leaves through eni0");
	reset_state(state);
	from_a(&p, "198.18.32.77", 64, IPPROTO_UDP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_redirect(T.pod->maps.test_redirect, REDIRECT_MOCK_NEIGH, T.if_eni0, GW_ENI0);
}

/* --- sluice_from_pod: drops -------------------------------------------------------- */

static void test_pod_ttl_exceeded(void **state)
{
	const struct {
		const char *dst;
		uint8_t ttl;
	} cases[] = { { IP_B, 1 }, { IP_B, 0 }, { IP_REMOTE, 1 }, { IP_REMOTE, 0 } };
	struct result r;
	struct pkt p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CASE("A -> %s with TTL %u", cases[i].dst, cases[i].ttl);
		reset_state(state);
		from_a(&p, cases[i].dst, 64, IPPROTO_ICMP);
		((struct iphdr *)(p.data + p.l3_off))->ttl = cases[i].ttl;
		pkt_ipv4_set_csum(p.data, p.l3_off);
		run(pod_prog(), T.if_pa, &p, &r);
		expect_dropped(&p, &r,
			       &(struct drop_want){ SL_DROP_TTL_EXCEEDED, SL_DIR_FROM_POD, T.if_pa, SL_SRC_LIB_IPV4, IP_A,
						    cases[i].dst });
		expect_unchanged(&p, &r);
		expect_no_redirect(T.pod->maps.test_redirect);
	}
}

static void test_pod_drop_unsupported_l3(void **state)
{
	struct result r;
	struct pkt p;

	CASE("ARP request for the gateway (the pod has a permanent neighbour)");
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_BCAST, MAC_A, ETH_P_ARP), 0);
	assert_int_equal(pkt_arp(&p, 1, MAC_A, IP_A, (uint8_t[6]){ 0 }, "169.254.1.1"), 0);
	assert_int_equal(pkt_finish(&p), 0);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_UNSUPPORTED_L3, SL_DIR_FROM_POD, T.if_pa, SL_SRC_POD, NULL, NULL });
	expect_unchanged(&p, &r);

	CASE("IPv6");
	reset_state(state);
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, GW_MAC_A, MAC_A, ETH_P_IPV6), 0);
	assert_int_equal(pkt_ipv6(&p, "fd00::5", "fd00::6", 64), 0);
	assert_int_equal(pkt_icmp_echo(&p, 1, 1), 0);
	assert_int_equal(pkt_finish(&p), 0);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_UNSUPPORTED_L3, SL_DIR_FROM_POD, T.if_pa, SL_SRC_POD, NULL, NULL });

	const uint16_t others[] = { ETH_P_8021Q, 0x88cc /* LLDP */ };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		CASE("EtherType 0x%04x", others[i]);
		reset_state(state);
		pkt_init(&p);
		assert_int_equal(pkt_eth(&p, GW_MAC_A, MAC_A, others[i]), 0);
		assert_int_equal(pkt_payload(&p, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0);
		run(pod_prog(), T.if_pa, &p, &r);
		expect_dropped(&p, &r,
			       &(struct drop_want){ SL_DROP_UNSUPPORTED_L3, SL_DIR_FROM_POD, T.if_pa, SL_SRC_POD, NULL,
						    NULL });
	}
}

/* Malformed IPv4 headers, each from a valid A -> B packet. */
enum bad_ipv4 { BAD_TRUNCATED, BAD_IHL_4, BAD_IHL_BEYOND_TOT_LEN, BAD_IHL_BEYOND_FRAME, BAD_VERSION,
		BAD_TOT_LEN_SHORT, BAD_TOT_LEN_LONG, BAD_COUNT };
static const char *const bad_ipv4_names[] = { "truncated header", "ihl 4", "ihl 15 beyond tot_len",
					      "ihl 15 beyond the frame", "version 6", "tot_len 19",
					      "tot_len beyond the frame" };

static void build_bad_ipv4(struct pkt *p, enum bad_ipv4 bad, const uint8_t dmac[6], const uint8_t smac[6],
			   const char *src, const char *dst)
{
	struct iphdr *ip;

	build_ipv4(p, dmac, smac, src, dst, 64, IPPROTO_UDP);
	ip = (void *)(p->data + p->l3_off);
	switch (bad) {
	case BAD_TRUNCATED:
		p->len = p->l3_off + 10;
		return;
	case BAD_IHL_4:
		ip->ihl = 4;
		break;
	case BAD_IHL_BEYOND_TOT_LEN:
		ip->ihl = 15; /* a 60-byte header in a 40-byte packet */
		ip->tot_len = htons(40);
		break;
	case BAD_IHL_BEYOND_FRAME:
		ip->ihl = 15;
		ip->tot_len = htons(60);
		p->len = p->l3_off + 40; /* the frame ends inside the options */
		break;
	case BAD_VERSION:
		ip->version = 6;
		break;
	case BAD_TOT_LEN_SHORT:
		ip->tot_len = htons(19);
		break;
	case BAD_TOT_LEN_LONG:
		ip->tot_len = htons(1000);
		break;
	default:
		break;
	}
	/* A correct checksum, so only the flaw under test is wrong. */
	if (ip->ihl >= 5 && p->l3_off + ip->ihl * 4u <= p->len)
		pkt_ipv4_set_csum(p->data, p->l3_off);
}

static void test_pod_drop_invalid_ipv4(void **state)
{
	struct result r;
	struct pkt p;

	for (int bad = 0; bad < BAD_COUNT; bad++) {
		const struct drop_want want = { SL_DROP_INVALID_PACKET, SL_DIR_FROM_POD, T.if_pa, SL_SRC_LIB_IPV4,
						NULL, NULL };

		CASE("from pod A: %s", bad_ipv4_names[bad]);
		reset_state(state);
		build_bad_ipv4(&p, bad, GW_MAC_A, MAC_A, IP_A, IP_B);
		if (bad == BAD_TRUNCATED) {
			wire_run(pod_prog(), T.if_pa, "sl-pa-eth0", &p);
			expect_drop_accounted(&p, &want);
		} else {
			run(pod_prog(), T.if_pa, &p, &r);
			expect_dropped(&p, &r, &want);
			expect_unchanged(&p, &r);
		}
		expect_no_redirect(T.pod->maps.test_redirect);
	}
}

static void test_pod_drop_unknown_source(void **state)
{
	struct result r;
	struct pkt p;

	(void)state;
	build_ipv4(&p, GW_MAC_A, MAC_A, IP_UNKNOWN, IP_B, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_UNKNOWN_SOURCE, SL_DIR_FROM_POD, T.if_pa, SL_SRC_POD, IP_UNKNOWN,
					    IP_B });
	expect_unchanged(&p, &r);
	assert_int_equal(T.event.proto, IPPROTO_TCP);
	assert_int_equal(T.event.sport, 40000);
	assert_int_equal(T.event.dport, 80);
}

static void test_pod_drop_spoofed_source(void **state)
{
	struct result r;
	struct pkt p;

	CASE("pod A's address sent from pod B's veth");
	build_ipv4(&p, GW_MAC_B, MAC_B, IP_A, IP_REMOTE, 64, IPPROTO_UDP);
	run(pod_prog(), T.if_pb, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_SPOOFED_SOURCE, SL_DIR_FROM_POD, T.if_pb, SL_SRC_POD, IP_A,
					    IP_REMOTE });
	expect_unchanged(&p, &r);

	CASE("the node's address sent from pod A's veth");
	reset_state(state);
	build_ipv4(&p, GW_MAC_A, MAC_A, IP_HOST, IP_B, 64, IPPROTO_UDP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_SPOOFED_SOURCE, SL_DIR_FROM_POD, T.if_pa, SL_SRC_POD, IP_HOST,
					    IP_B });
}

static void test_pod_drop_no_eni(void **state)
{
	struct result r;
	struct pkt p;

	CASE("pod C has no owning ENI");
	build_ipv4(&p, GW_MAC_C, MAC_C, IP_C, IP_REMOTE, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pc, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_NO_ENI, SL_DIR_FROM_POD, T.if_pc, SL_SRC_LIB_FORWARD, IP_C,
					    IP_REMOTE });
	expect_unchanged(&p, &r);
	expect_no_redirect(T.pod->maps.test_redirect);

	CASE("pod A's ENI is not in sluice_eni");
	reset_state(state);
	put_pod(&T.maps, IP_A, T.if_pa, T.if_x, MAC_A, GW_MAC_A);
	from_a(&p, IP_REMOTE, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_NO_ENI, SL_DIR_FROM_POD, T.if_pa, SL_SRC_LIB_FORWARD, IP_A,
					    IP_REMOTE });
	expect_unchanged(&p, &r);

	CASE("pod A's ENI has no gateway yet");
	reset_state(state);
	put_eni(&T.maps, T.if_eni0, NULL, MAC_ENI0);
	from_a(&p, IP_REMOTE, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_NO_ENI, SL_DIR_FROM_POD, T.if_pa, SL_SRC_LIB_FORWARD, IP_A,
					    IP_REMOTE });
	expect_unchanged(&p, &r);
	expect_no_redirect(T.pod->maps.test_redirect);
}

static void test_pod_drop_redirect_failed(void **state)
{
	const char *dsts[] = { IP_B, IP_REMOTE };
	struct result r;
	struct pkt p;

	for (size_t i = 0; i < 2; i++) {
		CASE("A -> %s, the redirect helper refuses", dsts[i]);
		reset_state(state);
		mock_set(T.pod->maps.test_redirect, true);
		from_a(&p, dsts[i], 64, IPPROTO_UDP);
		run(pod_prog(), T.if_pa, &p, &r);
		expect_dropped(&p, &r,
			       &(struct drop_want){ SL_DROP_REDIRECT_FAILED, SL_DIR_FROM_POD, T.if_pa,
						    SL_SRC_LIB_REDIRECT, IP_A, dsts[i] });
		assert_int_equal(mock_get(T.pod->maps.test_redirect).calls, 1);
	}
}

/* --- sluice_from_eni ---------------------------------------------------------------- */

static void test_eni_to_pod(void **state)
{
	struct result r;
	struct pkt p;

	CASE("VPC -> A on eni0, which owns A");
	from_vpc(&p, MAC_ENI0, IP_REMOTE, IP_A, 63);
	run(eni_prog(), T.if_eni0, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.eni->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pa, NULL);
	expect_routed_bytes(&p, &r, GW_MAC_A, MAC_A);
	expect_only_metric(SL_METRIC_FORWARDED, SL_DIR_FROM_ENI, 1, p.len);
	assert_int_equal(T.nevents, 0);

	CASE("VPC -> B on eni1, which owns B");
	reset_state(state);
	from_vpc(&p, MAC_ENI1, IP_REMOTE, IP_B, 2);
	run(eni_prog(), T.if_eni1, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.eni->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pb, NULL);
	expect_routed_bytes(&p, &r, GW_MAC_B, MAC_B);
}

static void test_eni_to_pod_without_owner(void **state)
{
	struct result r;
	struct pkt p;

	(void)state;
	/* Pod C's owner is not recorded: any ENI may deliver to it. */
	from_vpc(&p, MAC_ENI1, IP_REMOTE, IP_C, 64);
	run(eni_prog(), T.if_eni1, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_redirect(T.eni->maps.test_redirect, REDIRECT_MOCK_PEER, T.if_pc, NULL);
	expect_routed_bytes(&p, &r, GW_MAC_C, MAC_C);
	expect_only_metric(SL_METRIC_FORWARDED, SL_DIR_FROM_ENI, 1, p.len);
}

static void test_eni_drop_wrong_eni(void **state)
{
	struct result r;
	struct pkt p;

	CASE("VPC -> A arriving on eni1");
	from_vpc(&p, MAC_ENI1, IP_REMOTE, IP_A, 64);
	run(eni_prog(), T.if_eni1, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_WRONG_ENI, SL_DIR_FROM_ENI, T.if_eni1, SL_SRC_ENI, IP_REMOTE,
					    IP_A });
	expect_unchanged(&p, &r);
	expect_no_redirect(T.eni->maps.test_redirect);
	assert_int_equal(T.event.sport, 40000);
	assert_int_equal(T.event.dport, 80);

	CASE("VPC -> B arriving on eni0");
	reset_state(state);
	from_vpc(&p, MAC_ENI0, IP_REMOTE, IP_B, 64);
	run(eni_prog(), T.if_eni0, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_WRONG_ENI, SL_DIR_FROM_ENI, T.if_eni0, SL_SRC_ENI, IP_REMOTE,
					    IP_B });
}

static void test_eni_passes_non_ipv4(void **state)
{
	struct result r;
	struct pkt p;

	CASE("ARP reply from the gateway");
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_ENI0, MAC_ROUTER, ETH_P_ARP), 0);
	assert_int_equal(pkt_arp(&p, 2, MAC_ROUTER, GW_ENI0, MAC_ENI0, "198.18.16.3"), 0);
	assert_int_equal(pkt_finish(&p), 0);
	run(eni_prog(), T.if_eni0, &p, &r);
	expect_passed(&p, &r, T.eni->maps.test_redirect, SL_DIR_FROM_ENI);

	CASE("IPv6");
	reset_state(state);
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_ENI0, MAC_ROUTER, ETH_P_IPV6), 0);
	assert_int_equal(pkt_ipv6(&p, "fd00::1", "fd00::5", 64), 0);
	assert_int_equal(pkt_udp(&p, 547, 546), 0);
	assert_int_equal(pkt_finish(&p), 0);
	run(eni_prog(), T.if_eni0, &p, &r);
	expect_passed(&p, &r, T.eni->maps.test_redirect, SL_DIR_FROM_ENI);
}

static void test_eni_passes_node_traffic(void **state)
{
	const char *dsts[] = { IP_HOST, IP_UNKNOWN };
	struct result r;
	struct pkt p;

	for (size_t i = 0; i < 2; i++) {
		CASE("VPC -> %s", dsts[i]);
		reset_state(state);
		from_vpc(&p, MAC_ENI0, IP_REMOTE, dsts[i], 1);
		run(eni_prog(), T.if_eni0, &p, &r);
		expect_passed(&p, &r, T.eni->maps.test_redirect, SL_DIR_FROM_ENI);
	}
}

static void test_eni_ttl_exceeded(void **state)
{
	struct result r;
	struct pkt p;

	(void)state;
	from_vpc(&p, MAC_ENI0, IP_REMOTE, IP_A, 1);
	run(eni_prog(), T.if_eni0, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_TTL_EXCEEDED, SL_DIR_FROM_ENI, T.if_eni0, SL_SRC_LIB_IPV4,
					    IP_REMOTE, IP_A });
	expect_unchanged(&p, &r);
	expect_no_redirect(T.eni->maps.test_redirect);
}

static void test_eni_drop_invalid_ipv4(void **state)
{
	struct result r;
	struct pkt p;

	for (int bad = 0; bad < BAD_COUNT; bad++) {
		const struct drop_want want = { SL_DROP_INVALID_PACKET, SL_DIR_FROM_ENI, T.if_eni0, SL_SRC_LIB_IPV4,
						NULL, NULL };

		CASE("from the VPC: %s", bad_ipv4_names[bad]);
		reset_state(state);
		build_bad_ipv4(&p, bad, MAC_ENI0, MAC_ROUTER, IP_REMOTE, IP_A);
		if (bad == BAD_TRUNCATED) {
			wire_run(eni_prog(), T.if_eni0, "sl-vpc0", &p);
			expect_drop_accounted(&p, &want);
		} else {
			run(eni_prog(), T.if_eni0, &p, &r);
			expect_dropped(&p, &r, &want);
			expect_unchanged(&p, &r);
		}
		expect_no_redirect(T.eni->maps.test_redirect);
	}
}

static void test_eni_drop_redirect_failed(void **state)
{
	struct result r;
	struct pkt p;

	(void)state;
	mock_set(T.eni->maps.test_redirect, true);
	from_vpc(&p, MAC_ENI0, IP_REMOTE, IP_A, 64);
	run(eni_prog(), T.if_eni0, &p, &r);
	expect_dropped(&p, &r,
		       &(struct drop_want){ SL_DROP_REDIRECT_FAILED, SL_DIR_FROM_ENI, T.if_eni0, SL_SRC_LIB_REDIRECT,
					    IP_REMOTE, IP_A });
}

/* --- events, counters, checksums ------------------------------------------------------ */

static void test_drop_event_ports(void **state)
{
	const struct {
		uint8_t proto;
		uint16_t frag_off;
		uint16_t sport, dport;
	} cases[] = {
		{ IPPROTO_TCP, 0, 40000, 80 },   { IPPROTO_UDP, 0, 40000, 80 },
		{ IPPROTO_SCTP, 0, 40000, 80 },  { IPPROTO_ICMP, 0, 0, 0 },
		{ IPPROTO_UDP, 0x2000, 40000, 80 }, /* first fragment (MF): ports present */
		{ IPPROTO_UDP, 0x0004, 0, 0 },   /* a later fragment: no L4 header */
	};
	struct result r;
	struct pkt p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CASE("unknown source, protocol %u, frag_off 0x%04x", cases[i].proto, cases[i].frag_off);
		reset_state(state);
		build_ipv4(&p, GW_MAC_A, MAC_A, IP_UNKNOWN, IP_B, 64, cases[i].proto);
		((struct iphdr *)(p.data + p.l3_off))->frag_off = htons(cases[i].frag_off);
		pkt_ipv4_set_csum(p.data, p.l3_off);
		run(pod_prog(), T.if_pa, &p, &r);
		assert_int_equal(r.ret, TC_ACT_SHOT);
		assert_int_equal(T.nevents, 1);
		assert_int_equal(T.event.reason, SL_DROP_UNKNOWN_SOURCE);
		assert_int_equal(T.event.proto, cases[i].proto);
		assert_int_equal(T.event.sport, cases[i].sport);
		assert_int_equal(T.event.dport, cases[i].dport);
	}
}

static void test_drop_events_knob_off(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = T.mock_dir);
	struct pod_mock_bpf *quiet;
	struct result r;
	struct pkt p;

	(void)state;
	quiet = pod_mock_bpf__open_opts(&oopts);
	assert_non_null(quiet);
	quiet->rodata->cfg_drop_events = 0;
	assert_int_equal(pod_mock_bpf__load(quiet), 0);

	build_ipv4(&p, GW_MAC_A, MAC_A, IP_UNKNOWN, IP_B, 64, IPPROTO_TCP);
	run(bpf_program__fd(quiet->progs.sluice_from_pod), T.if_pa, &p, &r);
	pod_mock_bpf__destroy(quiet);
	assert_int_equal(r.ret, TC_ACT_SHOT);
	/* Counted all the same, but not reported. */
	expect_only_metric(SL_DROP_UNKNOWN_SOURCE, SL_DIR_FROM_POD, 1, p.len);
	assert_int_equal(T.nevents, 0);
}

static void test_metrics_accumulate(void **state)
{
	struct sl_metrics_value sum;
	struct metrics_seen s = { 0 };
	struct result r;
	struct pkt p;
	uint64_t bytes = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		from_a(&p, IP_B, 64, IPPROTO_UDP);
		assert_int_equal(pkt_payload(&p, "padding-padding-padding", 1 + i * 7), 0);
		run(pod_prog(), T.if_pa, &p, &r);
		assert_int_equal(r.ret, TC_ACT_REDIRECT);
		bytes += p.len;
	}
	build_ipv4(&p, GW_MAC_A, MAC_A, IP_UNKNOWN, IP_B, 64, IPPROTO_TCP);
	run(pod_prog(), T.if_pa, &p, &r);
	run(pod_prog(), T.if_pa, &p, &r);

	assert_int_equal(maps_metrics_get(&T.maps, SL_METRIC_FORWARDED, SL_DIR_FROM_POD, &sum), 0);
	assert_int_equal(sum.packets, 3);
	assert_int_equal(sum.bytes, bytes);
	assert_int_equal(maps_metrics_get(&T.maps, SL_DROP_UNKNOWN_SOURCE, SL_DIR_FROM_POD, &sum), 0);
	assert_int_equal(sum.packets, 2);
	assert_int_equal(sum.bytes, 2 * p.len);
	assert_int_equal(maps_metrics_get(&T.maps, SL_DROP_UNKNOWN_SOURCE, SL_DIR_FROM_ENI, &sum), -ENOENT);
	assert_int_equal(maps_metrics_foreach(&T.maps, metrics_count, &s), 0);
	assert_int_equal(s.keys, 2);
	assert_int_equal(T.nevents, 2);
}

/* The incremental checksum update against a full recomputation, over every
 * starting checksum value (the IP id sweeps all 16 bits), so the one's
 * complement corner cases (0x0000 / 0xffff) are all met. */
static void test_ttl_checksum_sweep(void **state)
{
	struct pkt p, exp;
	struct result r;

	(void)state;
	from_a(&p, IP_B, 64, IPPROTO_UDP);
	for (uint32_t id = 0; id <= 0xffff; id++) {
		struct iphdr *ip = (void *)(p.data + p.l3_off);

		ip->id = htons(id);
		ip->ttl = 2 + id % 254;
		pkt_ipv4_set_csum(p.data, p.l3_off);
		exp = p;
		ip = (void *)(exp.data + exp.l3_off);
		memcpy(exp.data, MAC_B, 6);
		memcpy(exp.data + 6, GW_MAC_B, 6);
		ip->ttl--;
		pkt_ipv4_set_csum(exp.data, exp.l3_off);

		struct __sk_buff ctx = { .ifindex = T.if_pa };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = p.len, .data_out = r.out,
			    .data_size_out = sizeof(r.out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
		assert_int_equal(bpf_prog_test_run_opts(pod_prog(), &opts), 0);
		assert_int_equal(opts.retval, TC_ACT_REDIRECT);
		if (memcmp(r.out, exp.data, p.len))
			fail_msg("id 0x%04x ttl %u: checksum 0x%04x, recomputed 0x%04x", id, ip->ttl + 1,
				 ntohs(((struct iphdr *)(r.out + p.l3_off))->check), ntohs(ip->check));
	}
}

/* --- the maps API ------------------------------------------------------------------------- */

static int count_endpoints(const struct sl_endpoint_key *key, const struct sl_endpoint_info *info, void *arg)
{
	(void)key;
	(void)info;
	++*(int *)arg;
	return 0;
}

static int count_enis(__u32 ifindex, const struct sl_eni_info *info, void *arg)
{
	(void)ifindex;
	(void)info;
	++*(int *)arg;
	return 0;
}

static int stop_at_first(const struct sl_endpoint_key *key, const struct sl_endpoint_info *info, void *arg)
{
	(void)key;
	(void)info;
	(void)arg;
	return 42;
}

static void test_maps_api(void **state)
{
	struct sl_endpoint_info info;
	struct sl_endpoint_key key;
	struct sl_eni_info eni;
	int n = 0;

	(void)state;
	ep_key(&key, IP_A);
	assert_int_equal(maps_endpoint_get(&T.maps, &key, &info), 0);
	assert_int_equal(info.ifindex, T.if_pa);
	assert_int_equal(info.eni_ifindex, T.if_eni0);
	assert_memory_equal(info.mac, MAC_A, 6);
	assert_memory_equal(info.gw_mac, GW_MAC_A, 6);
	assert_int_equal(info.flags, SL_EP_F_POD);

	assert_int_equal(maps_endpoint_foreach(&T.maps, count_endpoints, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(maps_endpoint_foreach(&T.maps, stop_at_first, NULL), 42);

	ep_key(&key, IP_C);
	assert_int_equal(maps_endpoint_del(&T.maps, &key), 0);
	assert_int_equal(maps_endpoint_get(&T.maps, &key, &info), -ENOENT);
	assert_int_equal(maps_endpoint_del(&T.maps, &key), -ENOENT);

	assert_int_equal(maps_eni_get(&T.maps, T.if_eni1, &eni), 0);
	assert_int_equal(eni.family, SL_FAMILY_IPV4);
	assert_memory_equal(eni.mac, MAC_ENI1, 6);
	n = 0;
	assert_int_equal(maps_eni_foreach(&T.maps, count_enis, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(maps_eni_del(&T.maps, T.if_eni1), 0);
	assert_int_equal(maps_eni_get(&T.maps, T.if_eni1, &eni), -ENOENT);

	/* Name tables from the X-macros. */
	assert_string_equal(sl_drop_reason_name(SL_DROP_TTL_EXCEEDED), "TTL_EXCEEDED");
	assert_string_equal(sl_drop_reason_desc(SL_DROP_WRONG_ENI),
			    "arrived on an ENI that does not own the destination");
	assert_string_equal(sl_drop_reason_name(SL_METRIC_FORWARDED), "FORWARDED");
	assert_null(sl_drop_reason_name(7));
	assert_string_equal(sl_dir_name(SL_DIR_FROM_ENI), "from-eni");
	assert_null(sl_dir_name(99));
	assert_string_equal(sl_source_file_path(SL_SRC_LIB_IPV4), "bpf/lib/ipv4.h");
	assert_null(sl_source_file_path(0));

	/* No pins: an error, and every fd -1. */
	struct sl_maps none;
	assert_int_equal(maps_open("/sys/fs/bpf/sluice-test-does-not-exist", &none), -ENOENT);
	assert_int_equal(none.endpoint_fd, -1);

	/* A pin of the wrong shape is refused, not misread. */
	char dir[160], path[200];
	int fd;

	snprintf(dir, sizeof(dir), "%s/wrong-shape", T.pin_dir);
	snprintf(path, sizeof(path), "%s/%s", dir, SL_MAP_ENDPOINT);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, SL_MAP_ENDPOINT, sizeof(struct sl_endpoint_key), 16, 4, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	assert_int_equal(maps_open(dir, &none), -EPROTO);
	assert_int_equal(none.endpoint_fd, -1);
	assert_int_equal(loader_unpin_all(dir), 0);
}

/* --- the loader, with the production objects --------------------------------------------- */

static bool path_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static __u32 prog_id(enum loader_prog prog)
{
	__u32 id = 0;

	assert_int_equal(loader_prog_id(T.loader, prog, &id), 0);
	assert_true(id > 0);
	return id;
}

/* What the kernel says runs at our (handle, priority) at tc ingress (or
 * egress) of ifindex; 0 if none. */
static __u32 tc_prog_id_at(int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);

	return bpf_tc_query(&hook, &tc) ? 0 : tc.prog_id;
}

static __u32 tc_prog_id(int ifindex)
{
	return tc_prog_id_at(ifindex, BPF_TC_INGRESS);
}

/* What the kernel says runs at XDP of ifindex; 0 if nothing. */
static __u32 xdp_prog_id(int ifindex)
{
	__u32 id = 0;

	assert_int_equal(bpf_xdp_query_id(ifindex, 0, &id), 0);
	return id;
}

static void loader_open_ok(bool drop_events)
{
	struct loader_opts o = { .pin_dir = T.loader_dir, .drop_events = drop_events };

	assert_int_equal(loader_open(&o, &T.loader), 0);
	assert_non_null(T.loader);
}

/* Per-test fixtures of the loader tests: a fresh pin directory, and nothing
 * left attached or pinned afterwards, whatever the test did. */
static int loader_setup(void **state)
{
	(void)state;
	snprintf(T.loader_dir, sizeof(T.loader_dir), "%s/loader-%d", T.pin_dir, ++T.loader_seq);
	T.loader = NULL;
	return 0;
}

static int loader_teardown(void **state)
{
	int err = 0;

	(void)state;
	loader_close(T.loader);
	T.loader = NULL;
	err |= loader_detach(T.if_pa);
	err |= loader_detach(T.if_eni0);
	err |= loader_detach(T.if_eni1);
	err |= loader_unpin_all(T.loader_dir);
	return err ? -1 : 0;
}

static void test_loader_attach_query_pins(void **state)
{
	const char *maps[] = { SL_MAP_ENDPOINT, SL_MAP_ENI,    SL_MAP_METRICS, SL_MAP_EVENTS, SL_MAP_META,
			       SL_MAP_IPCACHE,  SL_MAP_POLICY, SL_MAP_CT,      SL_MAP_POLCFG };
	const char *pinned_progs[] = { SL_PROG_FROM_POD, SL_PROG_TO_POD, SL_PROG_FROM_ENI, SL_PROG_XDP_ENI };
	struct sl_policy_config cfg;
	char progs[PATH_MAX], pdir[256];
	struct bpf_prog_info info = {};
	__u32 id = 0, len = sizeof(info);
	struct sl_maps m;
	struct sl_meta meta;
	int fd;

	(void)state;
	loader_open_ok(true);
	assert_string_equal(loader_pin_dir(T.loader), T.loader_dir);
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0);
	assert_int_equal(loader_attach_eni(T.loader, T.if_eni0), 0);

	assert_int_equal(tc_prog_id(T.if_pa), prog_id(LOADER_PROG_FROM_POD));
	assert_int_equal(tc_prog_id_at(T.if_pa, BPF_TC_EGRESS), prog_id(LOADER_PROG_TO_POD));
	assert_int_equal(tc_prog_id(T.if_eni0), prog_id(LOADER_PROG_FROM_ENI));
	assert_int_equal(tc_prog_id_at(T.if_eni0, BPF_TC_EGRESS), 0);
	assert_int_equal(loader_query(T.if_pa, &id), 0);
	assert_int_equal(id, prog_id(LOADER_PROG_FROM_POD));
	assert_int_equal(loader_query_at(T.if_pa, LOADER_HOOK_TC_EGRESS, &id), 0);
	assert_int_equal(id, prog_id(LOADER_PROG_TO_POD));
	assert_int_equal(loader_query(T.if_pb, &id), -ENOENT);
	assert_int_equal(loader_query_at(T.if_eni0, LOADER_HOOK_TC_EGRESS, &id), -ENOENT);
	assert_int_equal(loader_query_at(T.if_eni0, LOADER_HOOK_XDP, &id), -ENOENT);
	assert_int_equal(loader_prog_hook(LOADER_PROG_TO_POD), LOADER_HOOK_TC_EGRESS);
	assert_int_equal(loader_prog_hook(LOADER_PROG_XDP_ENI), LOADER_HOOK_XDP);

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		assert_true(path_exists(T.loader_dir, maps[i]));
	snprintf(pdir, sizeof(pdir), "%s/%s", T.loader_dir, SL_PIN_PROGS_SUBDIR);
	for (size_t i = 0; i < sizeof(pinned_progs) / sizeof(pinned_progs[0]); i++)
		assert_true(path_exists(pdir, pinned_progs[i]));
	snprintf(progs, sizeof(progs), "%s/%s", T.loader_dir, SL_PIN_PROGS_SUBDIR);
	fd = bpf_obj_get(strcat(strcat(progs, "/"), SL_PROG_FROM_POD));
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	assert_int_equal(info.id, prog_id(LOADER_PROG_FROM_POD));
	assert_string_equal(info.name, SL_PROG_FROM_POD);

	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	assert_int_equal(maps_meta_get(&m, &meta), 0);
	assert_int_equal(meta.layout_version, SL_LAYOUT_VERSION);
	assert_true(meta.created_ns > 0);
	/* Fresh maps enforce, with no policy: everything allowed. */
	assert_int_equal(maps_polcfg_get(&m, &cfg), 0);
	assert_int_equal(cfg.enforce, 1);
	assert_int_equal(cfg.rev, 0);
	assert_int_equal(cfg.ct_on_policy_change, SL_CT_ON_POLICY_CHANGE_KEEP);
	maps_close(&m);

	/* Closing the loader leaves the datapath running. */
	id = prog_id(LOADER_PROG_FROM_POD);
	loader_close(T.loader);
	T.loader = NULL;
	assert_int_equal(tc_prog_id(T.if_pa), id);
}

static void test_loader_reopen_reuses_maps_and_replaces(void **state)
{
	struct sl_policy_config cfg = { .rev = 7, .enforce = 0, .ct_on_policy_change = SL_CT_ON_POLICY_CHANGE_DROP };
	struct sl_endpoint_info info;
	struct sl_endpoint_key key;
	struct sl_meta meta1, meta2;
	struct sl_maps m;
	__u32 old_pod, old_eni, old_to;

	(void)state;
	loader_open_ok(true);
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0);
	assert_int_equal(loader_attach_eni(T.loader, T.if_eni0), 0);
	old_pod = prog_id(LOADER_PROG_FROM_POD);
	old_eni = prog_id(LOADER_PROG_FROM_ENI);
	old_to = prog_id(LOADER_PROG_TO_POD);
	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	put_pod(&m, IP_A, T.if_pa, T.if_eni0, MAC_A, GW_MAC_A);
	assert_int_equal(maps_polcfg_set(&m, &cfg), 0);
	assert_int_equal(maps_meta_get(&m, &meta1), 0);
	maps_close(&m);
	loader_close(T.loader);
	T.loader = NULL;

	/* An agent restart: same pins, new programs. */
	loader_open_ok(true);
	assert_int_not_equal(prog_id(LOADER_PROG_FROM_POD), old_pod);
	assert_int_equal(tc_prog_id(T.if_pa), old_pod); /* still the old one until reattached */
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0);
	assert_int_equal(loader_attach_eni(T.loader, T.if_eni0), 0);
	assert_int_equal(tc_prog_id(T.if_pa), prog_id(LOADER_PROG_FROM_POD));
	assert_int_equal(tc_prog_id_at(T.if_pa, BPF_TC_EGRESS), prog_id(LOADER_PROG_TO_POD));
	assert_int_not_equal(tc_prog_id_at(T.if_pa, BPF_TC_EGRESS), old_to);
	assert_int_equal(tc_prog_id(T.if_eni0), prog_id(LOADER_PROG_FROM_ENI));
	assert_int_not_equal(tc_prog_id(T.if_eni0), old_eni);

	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	ep_key(&key, IP_A);
	assert_int_equal(maps_endpoint_get(&m, &key, &info), 0);
	assert_int_equal(info.ifindex, T.if_pa);
	assert_memory_equal(info.mac, MAC_A, 6);
	assert_int_equal(maps_meta_get(&m, &meta2), 0);
	assert_int_equal(meta2.created_ns, meta1.created_ns); /* the same maps, not copies */
	/* The agent's policy settings survive its restart. */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(maps_polcfg_get(&m, &cfg), 0);
	assert_int_equal(cfg.rev, 7);
	assert_int_equal(cfg.enforce, 0);
	assert_int_equal(cfg.ct_on_policy_change, SL_CT_ON_POLICY_CHANGE_DROP);
	maps_close(&m);
}

static void test_loader_refuses_layout_mismatch(void **state)
{
	struct loader_opts o = { .pin_dir = T.loader_dir, .drop_events = true };
	struct sl_meta meta = { .layout_version = SL_LAYOUT_VERSION + 1 };
	struct sl_endpoint_info info;
	struct sl_endpoint_key key;
	struct loader *l = NULL;
	struct sl_maps m;
	__u32 zero = 0;

	(void)state;
	loader_open_ok(true);
	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	put_pod(&m, IP_A, T.if_pa, T.if_eni0, MAC_A, GW_MAC_A);
	/* Pins written by some other version of Sluice. */
	assert_int_equal(bpf_map_update_elem(m.meta_fd, &zero, &meta, BPF_ANY), 0);
	maps_close(&m);
	loader_close(T.loader);
	T.loader = NULL;

	assert_int_equal(loader_open(&o, &l), -EPROTO);
	assert_null(l);
	assert_int_equal(maps_open(T.loader_dir, &m), -EPROTO);

	o.replace_incompatible = true;
	assert_int_equal(loader_open(&o, &T.loader), 0);
	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	assert_int_equal(maps_meta_get(&m, &meta), 0);
	assert_int_equal(meta.layout_version, SL_LAYOUT_VERSION);
	ep_key(&key, IP_A);
	assert_int_equal(maps_endpoint_get(&m, &key, &info), -ENOENT); /* fresh maps */
	maps_close(&m);
}

static void test_loader_detach(void **state)
{
	(void)state;
	loader_open_ok(true);
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0);
	assert_true(tc_prog_id(T.if_pa) > 0);
	assert_true(tc_prog_id_at(T.if_pa, BPF_TC_EGRESS) > 0);
	assert_int_equal(loader_detach(T.if_pa), 0);
	assert_int_equal(tc_prog_id(T.if_pa), 0);
	assert_int_equal(tc_prog_id_at(T.if_pa, BPF_TC_EGRESS), 0);
	assert_int_equal(loader_detach(T.if_pa), 0);  /* already gone */
	assert_int_equal(loader_detach(T.if_pc), 0);  /* never attached, no clsact */
	assert_int_equal(loader_detach(999999), 0);   /* no such device */
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0); /* clsact left in place is reused */
	assert_true(tc_prog_id(T.if_pa) > 0);
}

static void test_loader_unpin_all(void **state)
{
	struct stat st;
	__u32 id;

	(void)state;
	loader_open_ok(false);
	assert_int_equal(loader_attach_pod(T.loader, T.if_pa), 0);
	id = prog_id(LOADER_PROG_FROM_POD);
	loader_close(T.loader);
	T.loader = NULL;

	assert_int_equal(loader_unpin_all(T.loader_dir), 0);
	assert_int_equal(stat(T.loader_dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(loader_unpin_all(T.loader_dir), 0);
	/* The attached program does not need its pins. */
	assert_int_equal(tc_prog_id(T.if_pa), id);
	/* Never anything but our own directory on bpffs. */
	assert_int_equal(loader_unpin_all("/sys/fs/bpf"), -EINVAL);
	assert_int_equal(loader_unpin_all("/tmp"), -EINVAL);
}

static void test_loader_xdp_prefilter(void **state)
{
	const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	__u32 id, old;
	int fd;

	(void)state;
	loader_open_ok(true);
	assert_int_equal(loader_attach_eni(T.loader, T.if_eni0), 0);
	assert_int_equal(loader_attach_xdp_eni(T.loader, T.if_eni0), 0);
	assert_int_equal(xdp_prog_id(T.if_eni0), prog_id(LOADER_PROG_XDP_ENI));
	assert_int_equal(loader_query_at(T.if_eni0, LOADER_HOOK_XDP, &id), 0);
	assert_int_equal(id, prog_id(LOADER_PROG_XDP_ENI));

	/* Reattached by a restarted agent: replaced in place. */
	old = id;
	loader_close(T.loader);
	loader_open_ok(true);
	assert_int_equal(loader_attach_xdp_eni(T.loader, T.if_eni0), 0);
	assert_int_equal(xdp_prog_id(T.if_eni0), prog_id(LOADER_PROG_XDP_ENI));
	assert_int_not_equal(xdp_prog_id(T.if_eni0), old);

	/* Detach takes tc and XDP away. */
	assert_int_equal(loader_detach(T.if_eni0), 0);
	assert_int_equal(xdp_prog_id(T.if_eni0), 0);
	assert_int_equal(tc_prog_id(T.if_eni0), 0);
	assert_int_equal(loader_query_at(T.if_eni0, LOADER_HOOK_XDP, &id), -ENOENT);

	/* Someone else's XDP program is neither replaced nor detached. */
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "other_xdp", "GPL", pass, sizeof(pass) / sizeof(pass[0]), NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_xdp_attach(T.if_eni1, fd, 0, NULL), 0);
	close(fd);
	old = xdp_prog_id(T.if_eni1);
	assert_true(old > 0);
	assert_int_equal(loader_attach_xdp_eni(T.loader, T.if_eni1), -EBUSY);
	assert_int_equal(loader_query_at(T.if_eni1, LOADER_HOOK_XDP, &id), -ENOENT);
	assert_int_equal(loader_detach(T.if_eni1), 0);
	assert_int_equal(xdp_prog_id(T.if_eni1), old);
	assert_int_equal(bpf_xdp_detach(T.if_eni1, 0, NULL), 0);
}

static __u32 pinned_max_entries(const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", T.loader_dir, name);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.max_entries;
}

static void test_loader_map_sizes(void **state)
{
	struct loader_opts o = { .pin_dir = T.loader_dir, .ct_max_entries = 4096, .ipcache_max_entries = 1000,
				 .policy_max_entries = 300000 };

	(void)state;
	assert_int_equal(loader_open(&o, &T.loader), 0);
	assert_int_equal(pinned_max_entries(SL_MAP_CT), 4096);
	assert_int_equal(pinned_max_entries(SL_MAP_IPCACHE), 1000);
	assert_int_equal(pinned_max_entries(SL_MAP_POLICY), 300000);
	loader_close(T.loader);

	/* Pinned maps keep their size: a resize would drop their content. */
	o.ct_max_entries = 8192;
	o.policy_max_entries = 0;
	assert_int_equal(loader_open(&o, &T.loader), 0);
	assert_int_equal(pinned_max_entries(SL_MAP_CT), 4096);
	assert_int_equal(pinned_max_entries(SL_MAP_POLICY), 300000);
	loader_close(T.loader);
	T.loader = NULL;
	assert_int_equal(loader_unpin_all(T.loader_dir), 0);

	/* 0: the defaults of consts.h. */
	loader_open_ok(true);
	assert_int_equal(pinned_max_entries(SL_MAP_CT), SL_MAX_CT);
	assert_int_equal(pinned_max_entries(SL_MAP_IPCACHE), SL_MAX_IPCACHE);
	assert_int_equal(pinned_max_entries(SL_MAP_POLICY), SL_MAX_POLICY);
}

/* The production objects, not the mocks, under BPF_PROG_TEST_RUN: the real
 * helpers, and the drop-event knob as the loader sets it. */
static void test_loader_production_objects_run(void **state)
{
	struct maps_events *ev;
	struct sl_metrics_value sum;
	struct result r;
	struct sl_maps m;
	struct pkt p;
	int n;

	(void)state;
	loader_open_ok(true);
	assert_int_equal(maps_open(T.loader_dir, &m), 0);
	node_populate(&m);
	assert_int_equal(maps_events_open(&m, on_event, NULL, &ev), 0);
	T.nevents = 0;

	from_a(&p, IP_B, 64, IPPROTO_TCP);
	run(loader_prog_fd(T.loader, LOADER_PROG_FROM_POD), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_routed_bytes(&p, &r, GW_MAC_B, MAC_B);

	from_vpc(&p, MAC_ENI0, IP_REMOTE, IP_A, 64);
	run(loader_prog_fd(T.loader, LOADER_PROG_FROM_ENI), T.if_eni0, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_routed_bytes(&p, &r, GW_MAC_A, MAC_A);

	from_a(&p, IP_REMOTE, 64, IPPROTO_TCP);
	run(loader_prog_fd(T.loader, LOADER_PROG_FROM_POD), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	expect_routed_bytes(&p, &r, NULL, NULL);

	build_ipv4(&p, GW_MAC_A, MAC_A, IP_UNKNOWN, IP_B, 64, IPPROTO_TCP);
	run(loader_prog_fd(T.loader, LOADER_PROG_FROM_POD), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_SHOT);
	n = maps_events_poll(ev, 100);
	assert_int_equal(n, 1);
	assert_int_equal(T.event.reason, SL_DROP_UNKNOWN_SOURCE);
	assert_int_equal(T.event.file, SL_SRC_POD);

	/* Reloaded with drop events off: counted, not reported. */
	loader_close(T.loader);
	loader_open_ok(false);
	run(loader_prog_fd(T.loader, LOADER_PROG_FROM_POD), T.if_pa, &p, &r);
	assert_int_equal(r.ret, TC_ACT_SHOT);
	assert_int_equal(maps_events_poll(ev, 0), 0);
	assert_int_equal(maps_metrics_get(&m, SL_DROP_UNKNOWN_SOURCE, SL_DIR_FROM_POD, &sum), 0);
	assert_int_equal(sum.packets, 2);
	assert_int_equal(maps_metrics_get(&m, SL_METRIC_FORWARDED, SL_DIR_FROM_POD, &sum), 0);
	assert_int_equal(sum.packets, 2);
	assert_int_equal(maps_metrics_get(&m, SL_METRIC_FORWARDED, SL_DIR_FROM_ENI, &sum), 0);
	assert_int_equal(sum.packets, 1);
	maps_events_close(ev);
	maps_close(&m);
}

static int group_setup(void **state)
{
	(void)state;
	return dp_node_setup("test_datapath");
}

static int group_teardown(void **state)
{
	(void)state;
	return dp_node_teardown();
}

#define DP_TEST(f) cmocka_unit_test_setup(f, reset_state)
#define LOADER_TEST(f) cmocka_unit_test_setup_teardown(f, loader_setup, loader_teardown)

static const struct CMUnitTest tests[] = {
	DP_TEST(test_pod_to_local_pod),
	DP_TEST(test_pod_to_local_pod_ip_options),
	DP_TEST(test_pod_to_host),
	DP_TEST(test_pod_to_vpc_via_own_eni),
	DP_TEST(test_pod_ttl_exceeded),
	DP_TEST(test_pod_drop_unsupported_l3),
	DP_TEST(test_pod_drop_invalid_ipv4),
	DP_TEST(test_pod_drop_unknown_source),
	DP_TEST(test_pod_drop_spoofed_source),
	DP_TEST(test_pod_drop_no_eni),
	DP_TEST(test_pod_drop_redirect_failed),
	DP_TEST(test_eni_to_pod),
	DP_TEST(test_eni_to_pod_without_owner),
	DP_TEST(test_eni_drop_wrong_eni),
	DP_TEST(test_eni_passes_non_ipv4),
	DP_TEST(test_eni_passes_node_traffic),
	DP_TEST(test_eni_ttl_exceeded),
	DP_TEST(test_eni_drop_invalid_ipv4),
	DP_TEST(test_eni_drop_redirect_failed),
	DP_TEST(test_drop_event_ports),
	DP_TEST(test_drop_events_knob_off),
	DP_TEST(test_metrics_accumulate),
	DP_TEST(test_ttl_checksum_sweep),
	DP_TEST(test_maps_api),
	LOADER_TEST(test_loader_attach_query_pins),
	LOADER_TEST(test_loader_reopen_reuses_maps_and_replaces),
	LOADER_TEST(test_loader_refuses_layout_mismatch),
	LOADER_TEST(test_loader_detach),
	LOADER_TEST(test_loader_unpin_all),
	LOADER_TEST(test_loader_xdp_prefilter),
	LOADER_TEST(test_loader_map_sizes),
	LOADER_TEST(test_loader_production_objects_run),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)

