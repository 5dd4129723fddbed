// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy and conntrack in the datapath, under BPF_PROG_TEST_RUN.
 *
 * The node of dp_node.h, given identities and an ipcache the way the agent
 * writes them, runs crafted packets through sluice_from_pod, sluice_from_eni,
 * sluice_to_pod and the XDP prefilter: every verdict path of the policy trie
 * (not isolated; allowed by peer identity, CIDR class, a pod's CIDR class,
 * any peer; denied), every port form (one port, all ports of a protocol,
 * all protocols, endPort ranges at their boundaries) for TCP, UDP and SCTP,
 * both directions at every enforcement point, and conntrack: replies,
 * counters, TCP states, ICMP echo and errors, the node's own connections,
 * policy changes (keep / drop), enforce off, fragments. Then the maps API of
 * the policy maps and the conntrack garbage collector.
 */
#include "bpf/dp_node.h"

#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>

#include "maps/ct_gc.h"

/* --- identities and addresses ---------------------------------------------------- */

#define ID_A 1000
#define ID_B 1001
#define ID_C 1002
#define ID_REMOTE 1100                         /* the label set of the pod at IP_REMOTE, on another node */
#define CIDR_40 (SL_ID_FIRST_CIDR + 1)         /* an ipBlock: 198.18.40.0/24 */
#define CIDR_40_EXCEPT (SL_ID_FIRST_CIDR + 2)  /* its except: 198.18.40.128/25 */
#define IP_40 "198.18.40.20"                   /* in the block, no pod */
#define IP_40_EXCEPT "198.18.40.200"           /* in the except */
#define IP_WORLD IP_UNKNOWN                    /* in no block: the world */
#define IP_ROUTER "198.18.41.1"                /* a router on the path, in no block */

#define EGRESS SL_POLICY_EGRESS
#define INGRESS SL_POLICY_INGRESS

#define SYN 0x02
#define SYN_ACK 0x12
#define ACK 0x10
#define FIN_ACK 0x11
#define RST 0x04

/* One packet, as far as policy and conntrack care. */
struct flow {
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport; /* ICMP echo: sport is the id */
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint16_t frag_off; /* host order, as on the wire */
};

#define TCP(s, d, sp, dp, fl) (&(struct flow){ s, d, IPPROTO_TCP, sp, dp, fl, 0, 0 })
#define UDP(s, d, sp, dp) (&(struct flow){ s, d, IPPROTO_UDP, sp, dp, 0, 0, 0 })
#define SCTP(s, d, sp, dp) (&(struct flow){ s, d, IPPROTO_SCTP, sp, dp, 0, 0, 0 })
#define PROTO(pr, s, d, sp, dp) (&(struct flow){ s, d, pr, sp, dp, (pr) == IPPROTO_TCP ? SYN : 0, 0, 0 })
#define ECHO(s, d, id) (&(struct flow){ s, d, IPPROTO_ICMP, id, 0, 0, ICMP_ECHO, 0 })
#define ECHO_REPLY(s, d, id) (&(struct flow){ s, d, IPPROTO_ICMP, id, 0, 0, ICMP_ECHOREPLY, 0 })

static void build_flow(struct pkt *p, const struct flow *f)
{
	static const char payload[32] = "sluice policy test payload.....";

	pkt_init(p);
	assert_int_equal(pkt_eth(p, MAC_A, MAC_ROUTER, ETH_P_IP), 0);
	assert_int_equal(pkt_ipv4(p, &(struct pkt_ipv4){ .src = f->src, .dst = f->dst, .ttl = 64, .id = 0x4242,
							 .frag_off = f->frag_off }),
			 0);
	switch (f->proto) {
	case IPPROTO_TCP:
		assert_int_equal(pkt_tcp(p, f->sport, f->dport, f->tcp_flags), 0);
		break;
	case IPPROTO_UDP:
		assert_int_equal(pkt_udp(p, f->sport, f->dport), 0);
		break;
	case IPPROTO_SCTP:
		assert_int_equal(pkt_sctp(p, f->sport, f->dport, 0x5c5c5c5c), 0);
		break;
	case IPPROTO_ICMP:
		assert_int_equal(pkt_icmp(p, f->icmp_type, 0, f->sport, 1), 0);
		break;
	default: /* no L4 header the datapath knows (GRE ...): just the protocol number */
		((struct iphdr *)(p->data + p->l3_off))->protocol = f->proto;
	}
	assert_int_equal(pkt_payload(p, payload, sizeof(payload)), 0);
	assert_int_equal(pkt_finish(p), 0);
}

/* The conntrack key of f's connection if f is its first packet. */
static void flow_key(struct sl_ct_key *k, const struct flow *f)
{
	memset(k, 0, sizeof(*k));
	k->family = SL_FAMILY_IPV4;
	k->proto = f->proto;
	assert_int_equal(inet_pton(AF_INET, f->src, k->saddr), 1);
	assert_int_equal(inet_pton(AF_INET, f->dst, k->daddr), 1);
	if (f->proto == IPPROTO_ICMP) {
		if (f->icmp_type == ICMP_ECHO)
			k->sport = htons(f->sport);
		else if (f->icmp_type == ICMP_ECHOREPLY)
			k->dport = htons(f->sport);
		return;
	}
	k->sport = htons(f->sport);
	k->dport = htons(f->dport);
}

/* --- sending ------------------------------------------------------------------------ */

static uint32_t last_len; /* of the last packet sent */

static int send_pkt(int prog_fd, int ifindex, const struct pkt *p)
{
	struct result r;

	T.nevents = 0;
	memset(&T.event, 0, sizeof(T.event));
	last_len = p->len;
	run(prog_fd, ifindex, p, &r);
	return r.ret;
}

static int send_flow(int prog_fd, int ifindex, const struct flow *f)
{
	struct pkt p;

	build_flow(&p, f);
	return send_pkt(prog_fd, ifindex, &p);
}

static int to_pod_prog(void)
{
	return bpf_program__fd(T.pod->progs.sluice_to_pod);
}

static int xdp_prog(void)
{
	return bpf_program__fd(T.xdp->progs.sluice_xdp_eni);
}

/* What a pod sends (sluice_from_pod on its veth), what the VPC delivers on
 * an ENI (sluice_from_eni), what the node's stack sends a pod (sluice_to_pod). */
#define POD(ifindex, f) send_flow(pod_prog(), ifindex, f)
#define VPC(ifindex, f) send_flow(eni_prog(), ifindex, f)
#define HOST(ifindex, f) send_flow(to_pod_prog(), ifindex, f)

/* The XDP prefilter on an ENI. */
static int xdp_send_pkt(int ifindex, const struct pkt *p)
{
	/* For a multi-buffer program, data_end is the length of the linear
	 * part; the rest of the frame would go to fragments. */
	struct xdp_md ctx = { .data_end = p->len, .ingress_ifindex = ifindex };
	uint8_t out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	T.nevents = 0;
	memset(&T.event, 0, sizeof(T.event));
	last_len = p->len;
	assert_int_equal(bpf_prog_test_run_opts(xdp_prog(), &opts), 0);
	events_drain();
	/* A prefilter never rewrites. */
	assert_int_equal(opts.data_size_out, p->len);
	assert_memory_equal(out, p->data, p->len);
	return opts.retval;
}

static int xdp_send(int ifindex, const struct flow *f)
{
	struct pkt p;

	build_flow(&p, f);
	return xdp_send_pkt(ifindex, &p);
}

/* Allowed: forwarded as without policy, nothing reported. */
static void expect_pass(int ret, int want)
{
	if (ret != want)
		fail_msg("verdict %d, expected %d (drop event: reason %u at %s:%u)", ret, want, T.event.reason,
			 sl_source_file_path(T.event.file) ? sl_source_file_path(T.event.file) : "?", T.event.line);
	assert_int_equal(T.nevents, 0);
}

/* The line of the drop site an event points at. */
static void drop_site_line(const struct sl_drop_event *e, char *line, size_t size)
{
	const char *top = getenv("SLUICE_TOP");
	char full[PATH_MAX];
	unsigned int n = 0;
	FILE *f;

	snprintf(full, sizeof(full), "%s/%s", top ? top : ".", sl_source_file_path(e->file));
	f = fopen(full, "r");
	assert_non_null(f);
	while (fgets(line, size, f) && ++n < e->line)
		;
	fclose(f);
}

/* Dropped by policy.h, for reason, in the direction whose site says what
 * ("egress" / "ingress"), with a counter and an event. */
static void expect_policy_drop(int ret, int drop_verdict, unsigned int reason, __u8 dir, int ifindex,
			       const char *which)
{
	char line[512];

	assert_int_equal(ret, drop_verdict);
	assert_int_equal(T.nevents, 1);
	assert_int_equal(T.event.reason, reason);
	assert_int_equal(T.event.dir, dir);
	assert_int_equal(T.event.ifindex, ifindex);
	assert_int_equal(T.event.file, SL_SRC_LIB_POLICY);
	assert_int_equal(T.event.pkt_len, last_len);
	expect_drop_site(&T.event, reason);
	if (which) {
		drop_site_line(&T.event, line, sizeof(line));
		if (!strstr(line, which))
			fail_msg("the drop site is not the %s check: %s", which, line);
	}
}

#define DENIED_POD(ret, ifindex, which)                                                                        \
	expect_policy_drop(ret, TC_ACT_SHOT, SL_DROP_POLICY_DENIED, SL_DIR_FROM_POD, ifindex, which)
#define DENIED_ENI(ret, ifindex)                                                                               \
	expect_policy_drop(ret, TC_ACT_SHOT, SL_DROP_POLICY_DENIED, SL_DIR_FROM_ENI, ifindex, "ingress")

static __u64 metric(unsigned int reason, __u8 dir)
{
	struct sl_metrics_value v;

	if (maps_metrics_get(&T.maps, reason, dir, &v) == -ENOENT)
		return 0;
	return v.packets;
}

/* --- the agent's side: identities, ipcache, trie, settings --------------------------------- */

static void set_identity(const char *ip, __u32 identity)
{
	struct sl_endpoint_info info;
	struct sl_endpoint_key key;

	ep_key(&key, ip);
	assert_int_equal(maps_endpoint_get(&T.maps, &key, &info), 0);
	info.identity = identity;
	assert_int_equal(maps_endpoint_set(&T.maps, &key, &info), 0);
}

static void ipc_put(const char *ip, unsigned int bits, __u32 identity, __u32 cidr_identity, __u32 flags)
{
	struct sl_ipcache_value val = { .identity = identity, .cidr_identity = cidr_identity, .flags = flags };
	struct sl_ipcache_key key;
	uint8_t addr[4];

	assert_int_equal(inet_pton(AF_INET, ip, addr), 1);
	assert_int_equal(maps_ipcache_key(&key, SL_FAMILY_IPV4, addr, bits), 0);
	assert_int_equal(maps_ipcache_put(&T.maps, &key, &val), 0);
}

static void isolate(__u32 subject, __u8 dir)
{
	struct sl_policy_value val = { .action = SL_POLICY_DENY };
	struct sl_policy_key key;

	maps_policy_key(&key, subject, dir, 0, 0, 0, SL_POLICY_PREFIX_ISOLATED);
	assert_int_equal(maps_policy_put(&T.maps, &key, &val), 0);
}

static void rule(bool add, __u32 subject, __u8 dir, __u32 peer, __u8 proto, __u16 port, __u32 prefixlen)
{
	struct sl_policy_value val = { .action = SL_POLICY_ALLOW, .rule = 7 };
	struct sl_policy_key key;

	maps_policy_key(&key, subject, dir, peer, proto, port, prefixlen);
	if (add)
		assert_int_equal(maps_policy_put(&T.maps, &key, &val), 0);
	else
		assert_int_equal(maps_policy_del(&T.maps, &key), 0);
}

#define ALLOW_PORT(subj, dir, peer, proto, port) rule(true, subj, dir, peer, proto, port, SL_POLICY_PREFIX_FULL)
#define ALLOW_PROTO(subj, dir, peer, proto) rule(true, subj, dir, peer, proto, 0, SL_POLICY_PREFIX_PROTO)
#define ALLOW_ALL(subj, dir, peer) rule(true, subj, dir, peer, 0, 0, SL_POLICY_PREFIX_ALL_PORTS)
#define REVOKE_PORT(subj, dir, peer, proto, port) rule(false, subj, dir, peer, proto, port, SL_POLICY_PREFIX_FULL)

/* An endPort range, decomposed as the agent does; the number of entries. */
static int allow_range(__u32 subject, __u8 dir, __u32 peer, __u8 proto, __u16 first, __u16 last)
{
	struct maps_port_block blocks[MAPS_PORT_BLOCKS_MAX];
	int n = maps_port_range_blocks(first, last, blocks);

	assert_true(n > 0 && n <= MAPS_PORT_BLOCKS_MAX);
	for (int i = 0; i < n; i++)
		rule(true, subject, dir, peer, proto, blocks[i].port, blocks[i].prefixlen);
	return n;
}

static void set_cfg(__u32 rev, __u8 on_change, __u8 enforce)
{
	struct sl_policy_config cfg = { .rev = rev, .ct_on_policy_change = on_change, .enforce = enforce };

	assert_int_equal(maps_polcfg_set(&T.maps, &cfg), 0);
}

/* The agent's view of this node: the three pods' identities, and an
 * ipcache holding every pod, the node, an ipBlock with an except, and the
 * world. No policy yet. */
static int policy_setup(void **state)
{
	reset_state(state);
	set_identity(IP_A, ID_A);
	set_identity(IP_B, ID_B);
	set_identity(IP_C, ID_C);
	ipc_put(IP_A, 32, ID_A, 0, SL_IPC_F_LOCAL);
	ipc_put(IP_B, 32, ID_B, 0, SL_IPC_F_LOCAL);
	ipc_put(IP_C, 32, ID_C, 0, SL_IPC_F_LOCAL);
	ipc_put(IP_HOST, 32, SL_ID_HOST, 0, 0);
	ipc_put(IP_REMOTE, 32, ID_REMOTE, CIDR_40, 0);
	ipc_put("198.18.40.0", 24, CIDR_40, 0, 0);
	ipc_put("198.18.40.128", 25, CIDR_40_EXCEPT, 0, 0);
	ipc_put("0.0.0.0", 0, SL_ID_WORLD, 0, 0);
	return 0;
}

static bool ct_get(const struct flow *first, struct sl_ct_value *v)
{
	struct sl_ct_key k;
	int err;

	flow_key(&k, first);
	err = maps_ct_get(&T.maps, &k, v);
	assert_true(err == 0 || err == -ENOENT);
	return err == 0;
}

static int count_one(const struct sl_ct_key *k, const struct sl_ct_value *v, void *arg)
{
	(void)k;
	(void)v;
	++*(int *)arg;
	return 0;
}

static int ct_count(void)
{
	int n = 0;

	assert_int_equal(maps_ct_foreach(&T.maps, count_one, &n), 0);
	return n;
}

/* --- the verdict paths ------------------------------------------------------------------------ */

static void test_policy_not_isolated_allows_all(void **state)
{
	(void)state;
	CASE("identities and ipcache set, no policy: every path as without policy");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 80, SYN)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_REMOTE, 40000, 53)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_HOST, 40000, 10250, SYN)), TC_ACT_OK);
	expect_pass(POD(T.if_pa, ECHO(IP_A, IP_WORLD, 9)), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_WORLD, IP_A, 5000, 22, SYN)), TC_ACT_REDIRECT);

	CASE("B isolated for ingress does not isolate it for egress, nor A at all");
	isolate(ID_B, INGRESS);
	expect_pass(POD(T.if_pb, TCP(IP_B, IP_REMOTE, 40000, 80, SYN)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_C, 40000, 80, SYN)), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_WORLD, IP_A, 5000, 23, SYN)), TC_ACT_REDIRECT);
	assert_int_equal(metric(SL_METRIC_FORWARDED, SL_DIR_FROM_POD), 6);
}

static void test_policy_egress_by_peer_identity(void **state)
{
	struct sl_metrics_value sum;
	int ret;

	(void)state;
	isolate(ID_A, EGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_B, IPPROTO_TCP, 80);

	CASE("A -> B:80 allowed by B's identity");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 80, SYN)), TC_ACT_REDIRECT);

	CASE("A -> B:81, C:80, the remote pod:80, the node: denied, counted, reported");
	ret = POD(T.if_pa, TCP(IP_A, IP_B, 40000, 81, SYN));
	DENIED_POD(ret, T.if_pa, "egress");
	assert_int_equal(T.event.family, SL_FAMILY_IPV4);
	assert_int_equal(T.event.proto, IPPROTO_TCP);
	assert_int_equal(T.event.sport, 40000);
	assert_int_equal(T.event.dport, 81);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_C, 40000, 80, SYN)), T.if_pa, "egress");
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, SYN)), T.if_pa, "egress");
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_HOST, 40000, 80, SYN)), T.if_pa, "egress");
	assert_int_equal(maps_metrics_get(&T.maps, SL_DROP_POLICY_DENIED, SL_DIR_FROM_POD, &sum), 0);
	assert_int_equal(sum.packets, 4);
	assert_int_equal(sum.bytes, 4 * last_len);
	assert_int_equal(ct_count(), 1); /* only the allowed connection */

	CASE("C given B's label set (same identity) is allowed too");
	set_identity(IP_C, ID_B);
	ipc_put(IP_C, 32, ID_B, 0, SL_IPC_F_LOCAL);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_C, 40001, 80, SYN)), TC_ACT_REDIRECT);

	CASE("B, not isolated, still sends anywhere");
	expect_pass(POD(T.if_pb, TCP(IP_B, IP_REMOTE, 40000, 81, SYN)), TC_ACT_REDIRECT);
}

static void test_policy_egress_by_cidr_class(void **state)
{
	(void)state;
	isolate(ID_A, EGRESS);
	ALLOW_ALL(ID_A, EGRESS, CIDR_40);

	CASE("an address of the block");
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_40, 40000, 53)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, ECHO(IP_A, "198.18.40.127", 3)), TC_ACT_REDIRECT);
	CASE("an address of its except, and one outside");
	DENIED_POD(POD(T.if_pa, UDP(IP_A, IP_40_EXCEPT, 40000, 53)), T.if_pa, "egress");
	DENIED_POD(POD(T.if_pa, UDP(IP_A, "198.18.40.128", 40000, 53)), T.if_pa, "egress");
	DENIED_POD(POD(T.if_pa, UDP(IP_A, IP_WORLD, 40000, 53)), T.if_pa, "egress");

	CASE("the world, allowed by its own identity");
	ALLOW_PORT(ID_A, EGRESS, SL_ID_WORLD, IPPROTO_UDP, 53);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_WORLD, 40000, 53)), TC_ACT_REDIRECT);
	DENIED_POD(POD(T.if_pa, UDP(IP_A, IP_WORLD, 40000, 54)), T.if_pa, "egress");

	CASE("an address no ipcache prefix holds is the world");
	map_clear(T.maps.ipcache_fd, sizeof(struct sl_ipcache_key));
	expect_pass(POD(T.if_pa, UDP(IP_A, "203.0.113.5", 40000, 53)), TC_ACT_REDIRECT);
}

static void test_policy_pod_by_its_cidr_class(void **state)
{
	(void)state;
	isolate(ID_A, EGRESS);
	ALLOW_PORT(ID_A, EGRESS, CIDR_40, IPPROTO_TCP, 443);

	CASE("the remote pod's /32 carries the block's class: the block allows it");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 443, SYN)), TC_ACT_REDIRECT);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 444, SYN)), T.if_pa, "egress");

	CASE("the same pod without a class (no block holds it) is denied");
	ipc_put(IP_REMOTE, 32, ID_REMOTE, 0, 0);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40001, 443, SYN)), T.if_pa, "egress");

	CASE("a local pod in a block: B's /32 with class CIDR_40 is allowed by it");
	ipc_put(IP_B, 32, ID_B, CIDR_40, SL_IPC_F_LOCAL);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 443, SYN)), TC_ACT_REDIRECT);
}

static void test_policy_any_peer(void **state)
{
	const char *dsts[] = { IP_B, IP_REMOTE, IP_40_EXCEPT, IP_WORLD };

	(void)state;
	isolate(ID_A, EGRESS);
	ALLOW_PORT(ID_A, EGRESS, SL_ID_ANY, IPPROTO_TCP, 443);
	for (size_t i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		CASE("A -> %s: :443 by the any-peer rule, :80 denied", dsts[i]);
		expect_pass(POD(T.if_pa, TCP(IP_A, dsts[i], 40000, 443, SYN)), TC_ACT_REDIRECT);
		DENIED_POD(POD(T.if_pa, TCP(IP_A, dsts[i], 40000, 80, SYN)), T.if_pa, "egress");
	}
	CASE("the node too");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_HOST, 40000, 443, SYN)), TC_ACT_OK);
}

static void test_policy_protocols_and_port_forms(void **state)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	uint16_t sport = 30000;

	for (size_t i = 0; i < sizeof(protos); i++) {
		uint8_t pr = protos[i], other = protos[(i + 1) % sizeof(protos)];

		policy_setup(state);
		isolate(ID_A, EGRESS);
		CASE("protocol %u: one port", pr);
		ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, pr, 8080);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, 8080)), TC_ACT_REDIRECT);
		DENIED_POD(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, 8081)), T.if_pa, "egress");
		DENIED_POD(POD(T.if_pa, PROTO(other, IP_A, IP_REMOTE, sport++, 8080)), T.if_pa, "egress");
		DENIED_POD(POD(T.if_pa, ECHO(IP_A, IP_REMOTE, 1)), T.if_pa, "egress");

		CASE("protocol %u: every port of it", pr);
		ALLOW_PROTO(ID_A, EGRESS, ID_REMOTE, pr);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, 1)), TC_ACT_REDIRECT);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, 65535)), TC_ACT_REDIRECT);
		DENIED_POD(POD(T.if_pa, PROTO(other, IP_A, IP_REMOTE, sport++, 1)), T.if_pa, "egress");

		CASE("every protocol, ICMP included");
		ALLOW_ALL(ID_A, EGRESS, ID_REMOTE);
		expect_pass(POD(T.if_pa, PROTO(other, IP_A, IP_REMOTE, sport++, 9)), TC_ACT_REDIRECT);
		expect_pass(POD(T.if_pa, ECHO(IP_A, IP_REMOTE, 2)), TC_ACT_REDIRECT);
		expect_pass(POD(T.if_pa, PROTO(47 /* GRE */, IP_A, IP_REMOTE, 0, 0)), TC_ACT_REDIRECT);
		DENIED_POD(POD(T.if_pa, PROTO(pr, IP_A, IP_WORLD, sport++, 8080)), T.if_pa, "egress");
	}
}

static void test_policy_port_ranges(void **state)
{
	const struct {
		uint16_t first, last;
	} ranges[] = {
		{ 1, 65535 },   { 80, 80 },       { 1000, 2000 }, { 32768, 65535 }, { 0x1234, 0x5678 },
		{ 1, 1 },       { 65535, 65535 }, { 8080, 8090 }, { 1024, 2047 },   { 3, 65534 },
	};
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	uint16_t sport = 20000;

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		uint16_t first = ranges[i].first, last = ranges[i].last;
		uint8_t pr = protos[i % sizeof(protos)];
		int n;

		policy_setup(state);
		isolate(ID_A, EGRESS);
		n = allow_range(ID_A, EGRESS, ID_REMOTE, pr, first, last);
		CASE("protocol %u, ports %u-%u (%d trie entries)", pr, first, last, n);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, first)), TC_ACT_REDIRECT);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, last)), TC_ACT_REDIRECT);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, first + (last - first) / 2)),
			    TC_ACT_REDIRECT);
		if (first > 1)
			DENIED_POD(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, first - 1)), T.if_pa, "egress");
		if (last < 65535)
			DENIED_POD(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, last + 1)), T.if_pa, "egress");
		/* Port 0 is never in a range (Kubernetes ports start at 1). */
		DENIED_POD(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, sport++, 0)), T.if_pa, "egress");
	}
}

/* --- ingress ------------------------------------------------------------------------------- */

static void test_policy_ingress_of_local_destination(void **state)
{
	char egress_site[512], ingress_site[512];

	(void)state;
	isolate(ID_B, INGRESS);
	ALLOW_PORT(ID_B, INGRESS, ID_A, IPPROTO_TCP, 80);

	CASE("A -> B:80 allowed by B's ingress, checked in sluice_from_pod");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 80, SYN)), TC_ACT_REDIRECT);
	CASE("A -> B:22 and C -> B:80 denied by B's ingress");
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 22, SYN)), T.if_pa, "ingress");
	DENIED_POD(POD(T.if_pc, TCP(IP_C, IP_B, 40000, 80, SYN)), T.if_pc, "ingress");
	drop_site_line(&T.event, ingress_site, sizeof(ingress_site));

	CASE("A isolated for egress without a rule for B: A's egress denies first");
	isolate(ID_A, EGRESS);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_B, 40001, 80, SYN)), T.if_pa, "egress");
	drop_site_line(&T.event, egress_site, sizeof(egress_site));
	assert_string_not_equal(egress_site, ingress_site);
	CASE("both allow: passes");
	ALLOW_PORT(ID_A, EGRESS, ID_B, IPPROTO_TCP, 80);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40001, 80, SYN)), TC_ACT_REDIRECT);

	CASE("B's ingress does not apply to what B sends");
	expect_pass(POD(T.if_pb, TCP(IP_B, IP_C, 40000, 22, SYN)), TC_ACT_REDIRECT);
}

static void test_policy_ingress_from_eni(void **state)
{
	(void)state;
	isolate(ID_A, INGRESS);
	ALLOW_PORT(ID_A, INGRESS, CIDR_40, IPPROTO_TCP, 80);

	CASE("the remote pod (class CIDR_40) -> A:80 on eni0");
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 80, SYN)), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_40, IP_A, 5000, 80, SYN)), TC_ACT_REDIRECT);
	CASE("denied: another port, the except, the world");
	DENIED_ENI(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 81, SYN)), T.if_eni0);
	DENIED_ENI(VPC(T.if_eni0, TCP(IP_40_EXCEPT, IP_A, 5000, 80, SYN)), T.if_eni0);
	DENIED_ENI(VPC(T.if_eni0, UDP(IP_WORLD, IP_A, 5000, 80)), T.if_eni0);
	assert_int_equal(metric(SL_DROP_POLICY_DENIED, SL_DIR_FROM_ENI), 3);
	assert_int_equal(metric(SL_DROP_POLICY_DENIED, SL_DIR_FROM_POD), 0);

	CASE("B is not isolated: the world reaches it on eni1");
	expect_pass(VPC(T.if_eni1, UDP(IP_WORLD, IP_B, 5000, 80)), TC_ACT_REDIRECT);
	CASE("the node's addresses are not policy's business at the ENI");
	expect_pass(VPC(T.if_eni0, TCP(IP_WORLD, IP_HOST, 5000, 22, SYN)), TC_ACT_OK);
}

/* --- conntrack ------------------------------------------------------------------------------ */

static void test_ct_reply_passes_without_rule(void **state)
{
	(void)state;
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_TCP, 80);
	ALLOW_PORT(ID_A, INGRESS, ID_REMOTE, IPPROTO_TCP, 8080);

	CASE("A -> remote:80, and its reply through eni0 with no ingress rule for it");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, SYN)), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, SYN_ACK)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, ACK)), TC_ACT_REDIRECT);
	CASE("not a reply: another port pair from the same peer");
	DENIED_ENI(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40001, SYN_ACK)), T.if_eni0);

	CASE("remote -> A:8080, and A's reply with no egress rule for it");
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 8080, SYN)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 8080, 5000, SYN_ACK)), TC_ACT_REDIRECT);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 8080, 5001, SYN_ACK)), T.if_pa, "egress");

	CASE("pod to pod: A -> B (not isolated), B isolated for egress replies");
	isolate(ID_B, EGRESS);
	ALLOW_ALL(ID_A, EGRESS, ID_B);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_B, 40000, 53)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pb, UDP(IP_B, IP_A, 53, 40000)), TC_ACT_REDIRECT);
	DENIED_POD(POD(T.if_pb, UDP(IP_B, IP_A, 54, 40000)), T.if_pb, "egress");
}

static void test_ct_counters_per_direction(void **state)
{
	const struct flow *first = TCP(IP_A, IP_REMOTE, 40000, 80, SYN);
	struct sl_ct_value v;
	struct pkt p;
	__u64 t0, orig_bytes = 0, reply_bytes = 0;

	(void)state;
	set_cfg(5, SL_CT_ON_POLICY_CHANGE_KEEP, 1);
	expect_pass(POD(T.if_pa, first), TC_ACT_REDIRECT);
	orig_bytes += last_len;
	assert_true(ct_get(first, &v));
	t0 = v.created_ns;
	assert_true(t0 > 0);
	assert_int_equal(v.last_seen_ns, t0);
	assert_int_equal(v.packets[SL_CT_DIR_ORIG], 1);
	assert_int_equal(v.packets[SL_CT_DIR_REPLY], 0);
	assert_int_equal(v.bytes[SL_CT_DIR_ORIG], last_len);
	assert_int_equal(v.ifindex, T.if_pa);
	assert_int_equal(v.policy_rev, 5);
	assert_int_equal(v.state, SL_CT_NEW);
	assert_int_equal(v.tcp_flags[SL_CT_DIR_ORIG], SYN);
	assert_int_equal(v.flags, 0);

	/* Replies of different sizes, then more of the original direction. */
	for (int i = 0; i < 3; i++) {
		build_flow(&p, TCP(IP_REMOTE, IP_A, 80, 40000, i ? ACK : SYN_ACK));
		assert_int_equal(pkt_payload(&p, "0123456789", 1 + i * 3), 0);
		assert_int_equal(pkt_finish(&p), 0);
		expect_pass(send_pkt(eni_prog(), T.if_eni0, &p), TC_ACT_REDIRECT);
		reply_bytes += p.len;
	}
	for (int i = 0; i < 4; i++) {
		expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, ACK)), TC_ACT_REDIRECT);
		orig_bytes += last_len;
	}
	assert_true(ct_get(first, &v));
	assert_int_equal(v.packets[SL_CT_DIR_ORIG], 5);
	assert_int_equal(v.packets[SL_CT_DIR_REPLY], 3);
	assert_int_equal(v.bytes[SL_CT_DIR_ORIG], orig_bytes);
	assert_int_equal(v.bytes[SL_CT_DIR_REPLY], reply_bytes);
	assert_int_equal(v.created_ns, t0);
	assert_true(v.last_seen_ns > t0);
	assert_int_equal(v.state, SL_CT_ESTABLISHED);
	assert_int_equal(v.tcp_flags[SL_CT_DIR_REPLY], SYN_ACK);
	assert_int_equal(ct_count(), 1);

	CASE("a connection from the VPC belongs to the destination pod's veth");
	expect_pass(VPC(T.if_eni1, UDP(IP_REMOTE, IP_B, 5353, 53)), TC_ACT_REDIRECT);
	assert_true(ct_get(UDP(IP_REMOTE, IP_B, 5353, 53), &v));
	assert_int_equal(v.ifindex, T.if_pb);
	assert_int_equal(v.state, SL_CT_NEW);
}

static void test_ct_tcp_states(void **state)
{
	const struct flow *first = TCP(IP_A, IP_B, 40000, 80, SYN);
	const struct {
		bool from_a;
		uint8_t flags;
		uint8_t state;
	} steps[] = {
		{ true, SYN, SL_CT_NEW },          { false, SYN_ACK, SL_CT_ESTABLISHED },
		{ true, ACK, SL_CT_ESTABLISHED },  { false, ACK, SL_CT_ESTABLISHED },
		{ true, FIN_ACK, SL_CT_CLOSING },  { false, ACK, SL_CT_CLOSING },
		{ false, FIN_ACK, SL_CT_CLOSED },  { true, ACK, SL_CT_CLOSED },
	};
	struct sl_ct_value v;

	(void)state;
	/* Both ends isolated without rules but for the opening direction. */
	isolate(ID_A, EGRESS);
	isolate(ID_B, EGRESS);
	isolate(ID_B, INGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_B, IPPROTO_TCP, 80);
	ALLOW_PORT(ID_B, INGRESS, ID_A, IPPROTO_TCP, 80);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		CASE("%s, flags 0x%02x -> state %u", steps[i].from_a ? "A -> B" : "B -> A", steps[i].flags,
		     steps[i].state);
		if (steps[i].from_a)
			expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 80, steps[i].flags)), TC_ACT_REDIRECT);
		else
			expect_pass(POD(T.if_pb, TCP(IP_B, IP_A, 80, 40000, steps[i].flags)), TC_ACT_REDIRECT);
		assert_true(ct_get(first, &v));
		assert_int_equal(v.state, steps[i].state);
	}
	assert_int_equal(v.tcp_flags[SL_CT_DIR_ORIG], SYN | ACK | FIN_ACK);
	assert_int_equal(v.tcp_flags[SL_CT_DIR_REPLY], SYN_ACK | FIN_ACK);

	CASE("a new SYN on the closed tuple opens a new connection");
	expect_pass(POD(T.if_pa, first), TC_ACT_REDIRECT);
	assert_true(ct_get(first, &v));
	assert_int_equal(v.state, SL_CT_NEW);
	assert_int_equal(v.packets[SL_CT_DIR_ORIG], 1);
	assert_int_equal(v.packets[SL_CT_DIR_REPLY], 0);

	CASE("RST from the other end closes it");
	expect_pass(POD(T.if_pb, TCP(IP_B, IP_A, 80, 40000, SYN_ACK)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pb, TCP(IP_B, IP_A, 80, 40000, RST)), TC_ACT_REDIRECT);
	assert_true(ct_get(first, &v));
	assert_int_equal(v.state, SL_CT_CLOSED);

	CASE("a SYN the other way on that closed tuple is judged afresh: B may not open to A");
	DENIED_POD(POD(T.if_pb, TCP(IP_B, IP_A, 80, 40000, SYN)), T.if_pb, "egress");
	assert_false(ct_get(first, &v)); /* the closed entry is gone */
	assert_int_equal(ct_count(), 0);
	CASE("RST one way from the start: CLOSED at once");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40002, 80, RST)), TC_ACT_REDIRECT);
	assert_true(ct_get(TCP(IP_A, IP_B, 40002, 80, RST), &v));
	assert_int_equal(v.state, SL_CT_CLOSED);
}

static void test_ct_udp_and_sctp(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_SCTP };
	struct sl_ct_value v;

	for (size_t i = 0; i < sizeof(protos); i++) {
		uint8_t pr = protos[i];

		policy_setup(state);
		isolate(ID_A, EGRESS);
		isolate(ID_A, INGRESS);
		ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, pr, 5060);
		CASE("protocol %u: NEW, then ESTABLISHED by a reply that no rule allows", pr);
		expect_pass(POD(T.if_pa, PROTO(pr, IP_A, IP_REMOTE, 5061, 5060)), TC_ACT_REDIRECT);
		assert_true(ct_get(PROTO(pr, IP_A, IP_REMOTE, 5061, 5060), &v));
		assert_int_equal(v.state, SL_CT_NEW);
		expect_pass(VPC(T.if_eni0, PROTO(pr, IP_REMOTE, IP_A, 5060, 5061)), TC_ACT_REDIRECT);
		assert_true(ct_get(PROTO(pr, IP_A, IP_REMOTE, 5061, 5060), &v));
		assert_int_equal(v.state, SL_CT_ESTABLISHED);
		assert_int_equal(v.packets[SL_CT_DIR_REPLY], 1);
		DENIED_ENI(VPC(T.if_eni0, PROTO(pr, IP_REMOTE, IP_A, 5060, 5062)), T.if_eni0);
	}
}

static void test_ct_icmp_echo_and_errors(void **state)
{
	struct sl_ct_value v, before;
	struct pkt p, inner;

	(void)state;
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);
	ALLOW_ALL(ID_A, EGRESS, ID_REMOTE);

	CASE("echo request A -> remote: its id is the tuple's source port");
	expect_pass(POD(T.if_pa, ECHO(IP_A, IP_REMOTE, 77)), TC_ACT_REDIRECT);
	assert_true(ct_get(ECHO(IP_A, IP_REMOTE, 77), &v));
	assert_int_equal(v.state, SL_CT_NEW);
	CASE("the reply passes; a reply of another id does not");
	expect_pass(VPC(T.if_eni0, ECHO_REPLY(IP_REMOTE, IP_A, 77)), TC_ACT_REDIRECT);
	assert_true(ct_get(ECHO(IP_A, IP_REMOTE, 77), &v));
	assert_int_equal(v.state, SL_CT_ESTABLISHED);
	assert_int_equal(v.packets[SL_CT_DIR_REPLY], 1);
	DENIED_ENI(VPC(T.if_eni0, ECHO_REPLY(IP_REMOTE, IP_A, 78)), T.if_eni0);
	CASE("an echo request to A is a new connection: denied");
	DENIED_ENI(VPC(T.if_eni0, ECHO(IP_REMOTE, IP_A, 77)), T.if_eni0);

	CASE("fragmentation needed from a router, quoting A's connection: passes, entry untouched");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, SYN)), TC_ACT_REDIRECT);
	assert_true(ct_get(TCP(IP_A, IP_REMOTE, 40000, 80, SYN), &before));
	pkt_init(&inner);
	assert_int_equal(pkt_ipv4(&inner, &(struct pkt_ipv4){ .src = IP_A, .dst = IP_REMOTE, .ttl = 63 }), 0);
	assert_int_equal(pkt_tcp(&inner, 40000, 80, SYN), 0);
	assert_int_equal(pkt_finish(&inner), 0);
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_ENI0, MAC_ROUTER, ETH_P_IP), 0);
	assert_int_equal(pkt_ipv4(&p, &(struct pkt_ipv4){ .src = IP_ROUTER, .dst = IP_A, .ttl = 64 }), 0);
	assert_int_equal(pkt_icmp(&p, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 1400), 0);
	assert_int_equal(pkt_payload(&p, inner.data, 28), 0); /* IP header + 8 bytes */
	assert_int_equal(pkt_finish(&p), 0);
	expect_pass(send_pkt(eni_prog(), T.if_eni0, &p), TC_ACT_REDIRECT);
	assert_true(ct_get(TCP(IP_A, IP_REMOTE, 40000, 80, SYN), &v));
	assert_memory_equal(&v, &before, sizeof(v));
	CASE("the same quoting a connection never seen: denied");
	((struct tcphdr *)(p.data + p.l4_off + 8 + 20))->source = htons(40001);
	assert_int_equal(pkt_finish(&p), 0);
	DENIED_ENI(send_pkt(eni_prog(), T.if_eni0, &p), T.if_eni0);

	CASE("port unreachable from the peer, quoting A's echo: passes");
	pkt_init(&inner);
	assert_int_equal(pkt_ipv4(&inner, &(struct pkt_ipv4){ .src = IP_A, .dst = IP_REMOTE, .ttl = 63 }), 0);
	assert_int_equal(pkt_icmp(&inner, ICMP_ECHO, 0, 77, 1), 0);
	assert_int_equal(pkt_finish(&inner), 0);
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_ENI0, MAC_ROUTER, ETH_P_IP), 0);
	assert_int_equal(pkt_ipv4(&p, &(struct pkt_ipv4){ .src = IP_REMOTE, .dst = IP_A, .ttl = 64 }), 0);
	assert_int_equal(pkt_icmp(&p, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0, 0), 0);
	assert_int_equal(pkt_payload(&p, inner.data, 28), 0);
	assert_int_equal(pkt_finish(&p), 0);
	expect_pass(send_pkt(eni_prog(), T.if_eni0, &p), TC_ACT_REDIRECT);
}

/* --- the node's own traffic (sluice_to_pod) ------------------------------------------------ */

static void test_to_pod_host_traffic(void **state)
{
	const struct flow *probe = TCP(IP_HOST, IP_A, 50000, 8080, SYN);
	struct sl_ct_value v;
	struct pkt p;

	(void)state;
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);

	CASE("the node -> A (a kubelet probe): allowed though A allows nothing, and recorded");
	expect_pass(HOST(T.if_pa, probe), TC_ACT_OK);
	assert_true(ct_get(probe, &v));
	assert_int_equal(v.flags, SL_CT_F_HOST);
	assert_int_equal(v.ifindex, T.if_pa);
	assert_int_equal(v.state, SL_CT_NEW);
	assert_int_equal(metric(SL_METRIC_FORWARDED, SL_DIR_TO_POD), 1);
	CASE("A's reply passes its egress policy on that entry");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_HOST, 8080, 50000, SYN_ACK)), TC_ACT_OK);
	expect_pass(HOST(T.if_pa, TCP(IP_HOST, IP_A, 50000, 8080, ACK)), TC_ACT_OK);
	assert_true(ct_get(probe, &v));
	assert_int_equal(v.state, SL_CT_ESTABLISHED);
	assert_int_equal(v.packets[SL_CT_DIR_ORIG], 2);
	assert_int_equal(v.packets[SL_CT_DIR_REPLY], 1);

	CASE("A opening to the node is A's egress: denied");
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_HOST, 8081, 50000, SYN)), T.if_pa, "egress");
	CASE("allowed by an ipBlock rule (here: the node's identity), its replies pass sluice_to_pod");
	ALLOW_PORT(ID_A, EGRESS, SL_ID_HOST, IPPROTO_TCP, 53);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_HOST, 8081, 53, SYN)), TC_ACT_OK);
	expect_pass(HOST(T.if_pa, TCP(IP_HOST, IP_A, 53, 8081, SYN_ACK)), TC_ACT_OK);
	assert_true(ct_get(TCP(IP_A, IP_HOST, 8081, 53, SYN), &v));
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.state, SL_CT_ESTABLISHED);

	CASE("not IP, or not even a valid IPv4 header: passed, never dropped");
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_BCAST, GW_MAC_A, ETH_P_ARP), 0);
	assert_int_equal(pkt_arp(&p, 1, GW_MAC_A, IP_HOST, (uint8_t[6]){ 0 }, IP_A), 0);
	assert_int_equal(pkt_finish(&p), 0);
	expect_pass(send_pkt(to_pod_prog(), T.if_pa, &p), TC_ACT_OK);
	build_flow(&p, probe);
	((struct iphdr *)(p.data + p.l3_off))->ihl = 4;
	expect_pass(send_pkt(to_pod_prog(), T.if_pa, &p), TC_ACT_OK);
	assert_int_equal(metric(SL_METRIC_FORWARDED, SL_DIR_TO_POD), 5);
}

/* What the node's stack forwards from an address that is not the node's own:
 * the pod's ingress policy applies, the stack is no way around it. */
static void test_to_pod_forwarded_traffic_meets_ingress(void **state)
{
	(void)state;
	ipc_put(IP_REMOTE, 32, ID_REMOTE, 0, 0);
	isolate(ID_A, INGRESS);

	CASE("a remote pod's packet routed through the node to isolated A: denied at sluice_to_pod");
	expect_policy_drop(HOST(T.if_pa, TCP(IP_REMOTE, IP_A, 40000, 8080, SYN)), TC_ACT_SHOT, SL_DROP_POLICY_DENIED,
			   SL_DIR_TO_POD, T.if_pa, "ingress");
	CASE("once A's ingress allows that peer, it passes and opens a connection of A's");
	ALLOW_PORT(ID_A, INGRESS, ID_REMOTE, IPPROTO_TCP, 8080);
	expect_pass(HOST(T.if_pa, TCP(IP_REMOTE, IP_A, 40000, 8080, SYN)), TC_ACT_OK);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 8080, 40000, SYN_ACK)), TC_ACT_REDIRECT);
}

/* --- policy changes ---------------------------------------------------------------------------- */

static void test_ct_policy_change_keep(void **state)
{
	const struct flow *first = TCP(IP_A, IP_REMOTE, 40000, 80, SYN);
	struct sl_ct_value v;

	(void)state;
	set_cfg(1, SL_CT_ON_POLICY_CHANGE_KEEP, 1);
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_TCP, 80);
	expect_pass(POD(T.if_pa, first), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, SYN_ACK)), TC_ACT_REDIRECT);

	CASE("the rule goes, rev 2: the established connection goes on both ways");
	REVOKE_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_TCP, 80);
	set_cfg(2, SL_CT_ON_POLICY_CHANGE_KEEP, 1);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, ACK)), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, ACK)), TC_ACT_REDIRECT);
	assert_true(ct_get(first, &v));
	assert_int_equal(v.policy_rev, 1);
	CASE("but a new one is denied");
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40001, 80, SYN)), T.if_pa, "egress");
}

static void test_ct_policy_change_drop(void **state)
{
	const struct flow *first = TCP(IP_A, IP_REMOTE, 40000, 80, SYN);
	const struct flow *local = UDP(IP_A, IP_B, 40000, 53);
	const struct flow *probe = TCP(IP_HOST, IP_A, 50000, 8080, SYN);
	struct sl_ct_value v;

	(void)state;
	set_cfg(1, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);
	isolate(ID_B, INGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_TCP, 80);
	ALLOW_ALL(ID_A, EGRESS, ID_B);
	ALLOW_PORT(ID_B, INGRESS, ID_A, IPPROTO_UDP, 53);
	expect_pass(POD(T.if_pa, first), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, SYN_ACK)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, local), TC_ACT_REDIRECT);
	expect_pass(HOST(T.if_pa, probe), TC_ACT_OK);

	CASE("rev 2, still allowed: passes and the entry takes the new rev");
	set_cfg(2, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, ACK)), TC_ACT_REDIRECT);
	assert_true(ct_get(first, &v));
	assert_int_equal(v.policy_rev, 2);

	CASE("rev 3 without the rule: the next packet, a reply, is dropped and the entry deleted");
	REVOKE_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_TCP, 80);
	set_cfg(3, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	/* The drop names the check that failed: A's egress, on the original
	 * tuple, though the packet arrived from the VPC. */
	expect_policy_drop(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 80, 40000, ACK)), TC_ACT_SHOT, SL_DROP_POLICY_DENIED,
			   SL_DIR_FROM_ENI, T.if_eni0, "egress");
	assert_false(ct_get(first, &v));
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 80, ACK)), T.if_pa, "egress");

	CASE("a pod-to-pod connection is re-checked against the destination's ingress too");
	assert_true(ct_get(local, &v));
	assert_int_equal(v.policy_rev, 1);
	REVOKE_PORT(ID_B, INGRESS, ID_A, IPPROTO_UDP, 53);
	set_cfg(4, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	DENIED_POD(POD(T.if_pb, UDP(IP_B, IP_A, 53, 40000)), T.if_pb, "ingress");
	assert_false(ct_get(local, &v));

	CASE("the node's own connection is never re-checked");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_HOST, 8080, 50000, SYN_ACK)), TC_ACT_OK);
	assert_true(ct_get(probe, &v));
	assert_int_equal(v.policy_rev, 1);
	assert_int_equal(v.state, SL_CT_ESTABLISHED);
}

static void test_policy_enforce_off(void **state)
{
	const struct flow *f = TCP(IP_A, IP_REMOTE, 40000, 22, SYN);
	struct sl_ct_value v;

	(void)state;
	isolate(ID_A, EGRESS);
	isolate(ID_A, INGRESS);
	set_cfg(9, SL_CT_ON_POLICY_CHANGE_DROP, 0);

	CASE("enforce 0: what policy denies passes, and is tracked");
	expect_pass(POD(T.if_pa, f), TC_ACT_REDIRECT);
	expect_pass(VPC(T.if_eni0, TCP(IP_WORLD, IP_A, 5000, 22, SYN)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_REMOTE, 40000, 53)), TC_ACT_REDIRECT);
	assert_true(ct_get(f, &v));
	assert_int_equal(v.policy_rev, 9);
	assert_int_equal(ct_count(), 3);
	CASE("no re-check either, though DROP and the rev moved");
	set_cfg(10, SL_CT_ON_POLICY_CHANGE_DROP, 0);
	expect_pass(VPC(T.if_eni0, TCP(IP_REMOTE, IP_A, 22, 40000, SYN_ACK)), TC_ACT_REDIRECT);
	assert_true(ct_get(f, &v));
	assert_int_equal(v.state, SL_CT_ESTABLISHED);

	CASE("enforce 1 (and a new rev): the live connection is re-checked and cut; new ones denied");
	set_cfg(11, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	DENIED_POD(POD(T.if_pa, TCP(IP_A, IP_REMOTE, 40000, 22, ACK)), T.if_pa, "egress");
	DENIED_ENI(VPC(T.if_eni0, TCP(IP_WORLD, IP_A, 5001, 22, SYN)), T.if_eni0);
}

/* --- fragments ------------------------------------------------------------------------------------ */

static void test_policy_fragments(void **state)
{
	const struct flow later = { IP_A, IP_REMOTE, IPPROTO_UDP, 40000, 53, 0, 0, 0x00b9 /* offset 1480 */ };
	const struct flow first = { IP_A, IP_REMOTE, IPPROTO_UDP, 40000, 53, 0, 0, 0x2000 /* MF */ };
	const struct flow later_in = { IP_REMOTE, IP_A, IPPROTO_UDP, 53, 40000, 0, 0, 0x00b9 };
	struct sl_ct_value v;

	(void)state;
	CASE("not isolated: a later fragment passes, untracked");
	expect_pass(POD(T.if_pa, &later), TC_ACT_REDIRECT);
	assert_int_equal(ct_count(), 0);

	CASE("isolated by a port rule: the first fragment passes and is tracked, a later one is FRAGMENT");
	isolate(ID_A, EGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_REMOTE, IPPROTO_UDP, 53);
	expect_pass(POD(T.if_pa, &first), TC_ACT_REDIRECT);
	assert_true(ct_get(&first, &v));
	expect_policy_drop(POD(T.if_pa, &later), TC_ACT_SHOT, SL_DROP_FRAGMENT, SL_DIR_FROM_POD, T.if_pa, "egress");
	assert_int_equal(T.event.sport, 0); /* no ports in a later fragment */
	assert_int_equal(T.event.dport, 0);
	assert_int_equal(metric(SL_DROP_FRAGMENT, SL_DIR_FROM_POD), 1);
	assert_int_equal(metric(SL_DROP_POLICY_DENIED, SL_DIR_FROM_POD), 0);
	CASE("the same at the destination's ingress, from the VPC");
	isolate(ID_A, INGRESS);
	expect_policy_drop(VPC(T.if_eni0, &later_in), TC_ACT_SHOT, SL_DROP_FRAGMENT, SL_DIR_FROM_ENI, T.if_eni0,
			   "ingress");

	CASE("a rule that needs no port (all of UDP) lets later fragments pass");
	ALLOW_PROTO(ID_A, EGRESS, ID_REMOTE, IPPROTO_UDP);
	expect_pass(POD(T.if_pa, &later), TC_ACT_REDIRECT);
	assert_true(ct_get(&first, &v));
	assert_int_equal(v.packets[SL_CT_DIR_ORIG], 1); /* fragments do not count on the entry */
}

/* --- the XDP prefilter ------------------------------------------------------------------------------ */

static void test_xdp_prefilter(void **state)
{
	struct pkt p;

	(void)state;
	isolate(ID_A, INGRESS);
	ALLOW_PORT(ID_A, INGRESS, CIDR_40, IPPROTO_TCP, 80);

	CASE("an allowed new connection passes on to tc, nothing written");
	expect_pass(xdp_send(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 80, SYN)), XDP_PASS);
	assert_int_equal(ct_count(), 0);
	assert_int_equal(metric(SL_METRIC_FORWARDED, SL_DIR_XDP_ENI), 0);

	CASE("a denied one is dropped at XDP, counted and reported");
	expect_policy_drop(xdp_send(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 22, SYN)), XDP_DROP,
			   SL_DROP_POLICY_DENIED, SL_DIR_XDP_ENI, T.if_eni0, "ingress");
	assert_int_equal(T.event.sport, 5000);
	assert_int_equal(T.event.dport, 22);
	assert_int_equal(metric(SL_DROP_POLICY_DENIED, SL_DIR_XDP_ENI), 1);

	CASE("a known connection passes: the reply of A's own");
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_WORLD, 40000, 443, SYN)), TC_ACT_REDIRECT);
	expect_pass(xdp_send(T.if_eni0, TCP(IP_WORLD, IP_A, 443, 40000, SYN_ACK)), XDP_PASS);
	CASE("so do: another ENI's pod (tc says WRONG_ENI), the node, not-IP, malformed, unisolated B");
	expect_pass(xdp_send(T.if_eni1, TCP(IP_WORLD, IP_A, 5000, 22, SYN)), XDP_PASS);
	expect_pass(xdp_send(T.if_eni0, TCP(IP_WORLD, IP_HOST, 5000, 22, SYN)), XDP_PASS);
	expect_pass(xdp_send(T.if_eni1, TCP(IP_WORLD, IP_B, 5000, 22, SYN)), XDP_PASS);
	pkt_init(&p);
	assert_int_equal(pkt_eth(&p, MAC_ENI0, MAC_ROUTER, ETH_P_ARP), 0);
	assert_int_equal(pkt_arp(&p, 2, MAC_ROUTER, GW_ENI0, MAC_ENI0, "198.18.16.3"), 0);
	assert_int_equal(pkt_finish(&p), 0);
	expect_pass(xdp_send_pkt(T.if_eni0, &p), XDP_PASS);
	build_flow(&p, TCP(IP_WORLD, IP_A, 5000, 22, SYN));
	((struct iphdr *)(p.data + p.l3_off))->tot_len = htons(1000);
	expect_pass(xdp_send_pkt(T.if_eni0, &p), XDP_PASS);
	assert_int_equal(metric(SL_DROP_POLICY_DENIED, SL_DIR_XDP_ENI), 1);

	CASE("enforce 0: nothing dropped");
	set_cfg(0, SL_CT_ON_POLICY_CHANGE_KEEP, 0);
	expect_pass(xdp_send(T.if_eni0, TCP(IP_REMOTE, IP_A, 5000, 22, SYN)), XDP_PASS);
}

/* --- the maps API of the policy maps ------------------------------------------------------------ */

static int count_ipc(const struct sl_ipcache_key *k, const struct sl_ipcache_value *v, void *arg)
{
	(void)k;
	(void)v;
	++*(int *)arg;
	return 0;
}

static int count_policy(const struct sl_policy_key *k, const struct sl_policy_value *v, void *arg)
{
	(void)v;
	/* Keys come out exact, bits past the prefix zero. */
	if (k->prefixlen <= SL_POLICY_PREFIX_ALL_PORTS)
		assert_int_equal(k->proto, 0);
	++*(int *)arg;
	return 0;
}

static void test_maps_policy_api(void **state)
{
	struct sl_policy_key keys[200], key;
	struct sl_policy_value vals[200], val;
	struct sl_ipcache_value iv;
	struct sl_ipcache_key ik;
	struct sl_policy_config cfg;
	struct sl_ct_value cv;
	struct sl_ct_key ck;
	uint8_t addr[16];
	__u32 done;
	int n;

	(void)state;
	CASE("ipcache keys: prefix bits, cleared host bits");
	assert_int_equal(inet_pton(AF_INET, "198.18.40.77", addr), 1);
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 24), 0);
	assert_int_equal(ik.prefixlen, 56);
	assert_int_equal(ik.addr[3], 0);
	assert_int_equal(ik.addr[2], 40);
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 33), -EINVAL);
	assert_int_equal(maps_ipcache_key(&ik, 5, addr, 8), -EINVAL);
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV6, addr, 128), 0);
	assert_int_equal(ik.prefixlen, 160);

	CASE("ipcache get is the longest-prefix match");
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 32), 0);
	assert_int_equal(maps_ipcache_get(&T.maps, &ik, &iv), 0);
	assert_int_equal(iv.identity, CIDR_40);
	assert_int_equal(inet_pton(AF_INET, IP_40_EXCEPT, addr), 1);
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 32), 0);
	assert_int_equal(maps_ipcache_get(&T.maps, &ik, &iv), 0);
	assert_int_equal(iv.identity, CIDR_40_EXCEPT);
	n = 0;
	assert_int_equal(maps_ipcache_foreach(&T.maps, count_ipc, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(maps_ipcache_del(&T.maps, &ik), -ENOENT); /* no such /32 */
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 25), 0);
	assert_int_equal(maps_ipcache_del(&T.maps, &ik), 0);
	assert_int_equal(maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 32), 0);
	assert_int_equal(maps_ipcache_get(&T.maps, &ik, &iv), 0);
	assert_int_equal(iv.identity, CIDR_40);
	assert_int_equal(maps_ipcache_put_batch(&T.maps, &ik, &iv, 1, &done), 0);
	assert_int_equal(done, 1);

	CASE("policy keys: fields past the prefix are zero, the port masked to its block");
	maps_policy_key(&key, ID_A, EGRESS, ID_B, IPPROTO_TCP, 0x1234, 120);
	assert_int_equal(ntohs(key.dport), 0x1200);
	assert_int_equal(key.proto, IPPROTO_TCP);
	maps_policy_key(&key, ID_A, EGRESS, ID_B, IPPROTO_TCP, 80, SL_POLICY_PREFIX_ALL_PORTS);
	assert_int_equal(key.peer, ID_B);
	assert_int_equal(key.proto, 0);
	assert_int_equal(key.dport, 0);
	maps_policy_key(&key, ID_A, EGRESS, ID_B, IPPROTO_TCP, 80, SL_POLICY_PREFIX_ISOLATED);
	assert_int_equal(key.peer, 0);
	maps_policy_key(&key, ID_A, EGRESS, ID_B, IPPROTO_TCP, 80, SL_POLICY_PREFIX_FULL);
	assert_int_equal(ntohs(key.dport), 80);

	CASE("policy: a batch of 200, get, foreach, del");
	for (int i = 0; i < 200; i++) {
		maps_policy_key(&keys[i], ID_A + (i % 4), (i & 1) ? INGRESS : EGRESS, 2000 + i, IPPROTO_TCP, 1000 + i,
				SL_POLICY_PREFIX_FULL);
		vals[i] = (struct sl_policy_value){ .action = SL_POLICY_ALLOW, .rule = i };
	}
	maps_policy_key(&keys[0], ID_A, EGRESS, 0, 0, 0, SL_POLICY_PREFIX_ISOLATED);
	vals[0].action = SL_POLICY_DENY;
	assert_int_equal(maps_policy_put_batch(&T.maps, keys, vals, 200, &done), 0);
	assert_int_equal(done, 200);
	n = 0;
	assert_int_equal(maps_policy_foreach(&T.maps, count_policy, &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(maps_policy_get(&T.maps, &keys[100], &val), 0);
	assert_int_equal(val.rule, 100);
	maps_policy_key(&key, ID_A, EGRESS, 9999, IPPROTO_UDP, 1, SL_POLICY_PREFIX_FULL);
	assert_int_equal(maps_policy_get(&T.maps, &key, &val), 0); /* the marker, by longest prefix */
	assert_int_equal(val.action, SL_POLICY_DENY);
	assert_int_equal(maps_policy_del(&T.maps, &keys[0]), 0);
	assert_int_equal(maps_policy_get(&T.maps, &key, &val), -ENOENT);
	assert_int_equal(maps_policy_del(&T.maps, &keys[0]), -ENOENT);
	CASE("a batch that fails half way says how far it got");
	keys[10].prefixlen = 200;
	assert_int_equal(maps_policy_put_batch(&T.maps, keys, vals, 20, &done), -EINVAL);
	assert_int_equal(done, 10);

	CASE("conntrack get, foreach, del, clear");
	map_clear(T.maps.policy_fd, sizeof(struct sl_policy_key)); /* the batch above isolated A */
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_B, 1, 2)), TC_ACT_REDIRECT);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_B, 3, 4)), TC_ACT_REDIRECT);
	flow_key(&ck, UDP(IP_A, IP_B, 1, 2));
	assert_int_equal(maps_ct_get(&T.maps, &ck, &cv), 0);
	assert_int_equal(ct_count(), 2);
	assert_int_equal(maps_ct_del(&T.maps, &ck), 0);
	assert_int_equal(maps_ct_get(&T.maps, &ck, &cv), -ENOENT);
	assert_int_equal(maps_ct_del(&T.maps, &ck), -ENOENT);
	assert_int_equal(maps_ct_clear(&T.maps), 0);
	assert_int_equal(ct_count(), 0);

	CASE("settings");
	set_cfg(41, SL_CT_ON_POLICY_CHANGE_DROP, 1);
	assert_int_equal(maps_polcfg_get(&T.maps, &cfg), 0);
	assert_int_equal(cfg.rev, 41);
	assert_int_equal(cfg.ct_on_policy_change, SL_CT_ON_POLICY_CHANGE_DROP);
	assert_int_equal(cfg.enforce, 1);
}

/* Every port in exactly one block iff it is in the range; blocks aligned,
 * ascending, at most 32. */
static void check_blocks(uint16_t first, uint16_t last)
{
	struct maps_port_block b[MAPS_PORT_BLOCKS_MAX];
	int n = maps_port_range_blocks(first, last, b);
	static uint8_t hits[65536];

	assert_true(n >= 1 && n <= MAPS_PORT_BLOCKS_MAX);
	memset(hits, 0, sizeof(hits));
	for (int i = 0; i < n; i++) {
		uint32_t size = 1u << (SL_POLICY_PREFIX_FULL - b[i].prefixlen);

		assert_true(b[i].prefixlen >= SL_POLICY_PREFIX_PROTO && b[i].prefixlen <= SL_POLICY_PREFIX_FULL);
		assert_int_equal(b[i].port % size, 0);
		if (i)
			assert_true(b[i].port > b[i - 1].port);
		for (uint32_t p = b[i].port; p < b[i].port + size; p++)
			hits[p]++;
	}
	for (uint32_t p = 0; p <= 65535; p++) {
		if (hits[p] != (p >= first && p <= last))
			fail_msg("range %u-%u: port %u covered %u times", first, last, p, hits[p]);
	}
}

static void test_maps_port_range_blocks(void **state)
{
	struct maps_port_block b[MAPS_PORT_BLOCKS_MAX];

	(void)state;
	check_blocks(1, 65535);
	check_blocks(0, 65535);
	check_blocks(1, 65534); /* the worst case: 30 blocks */
	assert_int_equal(maps_port_range_blocks(1, 65534, b), 30);
	assert_int_equal(maps_port_range_blocks(0, 65535, b), 1);
	assert_int_equal(b[0].prefixlen, SL_POLICY_PREFIX_PROTO);
	assert_int_equal(maps_port_range_blocks(80, 80, b), 1);
	assert_int_equal(b[0].prefixlen, SL_POLICY_PREFIX_FULL);
	assert_int_equal(maps_port_range_blocks(81, 80, b), -EINVAL);
	for (uint32_t seed = 1, i = 0; i < 300; i++) {
		uint16_t x, y;

		seed = seed * 1103515245u + 12345u;
		x = seed >> 16;
		seed = seed * 1103515245u + 12345u;
		y = seed >> 16;
		check_blocks(x < y ? x : y, x < y ? y : x);
	}
}

/* bpftool decodes the policy maps through their BTF. */
static void test_maps_bpftool_pretty_print(void **state)
{
	const struct {
		const char *map, *field;
	} cases[] = {
		{ SL_MAP_POLICY, "\"subject\": 1000" }, { SL_MAP_POLICY, "\"direction\": 2" },
		{ SL_MAP_IPCACHE, "\"cidr_identity\"" }, { SL_MAP_CT, "\"policy_rev\"" },
		{ SL_MAP_POLCFG, "\"ct_on_policy_change\"" },
	};
	static char buf[65536];
	char cmd[512];
	size_t len, n;
	FILE *f;

	(void)state;
	isolate(ID_A, EGRESS);
	ALLOW_PORT(ID_A, EGRESS, ID_B, IPPROTO_TCP, 80);
	expect_pass(POD(T.if_pa, TCP(IP_A, IP_B, 40000, 80, SYN)), TC_ACT_REDIRECT);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CASE("bpftool map dump pinned .../%s shows %s", cases[i].map, cases[i].field);
		snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/%s 2>&1", T.mock_dir, cases[i].map);
		f = popen(cmd, "r");
		assert_non_null(f);
		for (len = 0; (n = fread(buf + len, 1, sizeof(buf) - 1 - len, f)) > 0;)
			len += n;
		buf[len] = '\0';
		assert_int_equal(pclose(f), 0);
		if (!strstr(buf, cases[i].field))
			fail_msg("%s: no %s in:\n%s", cmd, cases[i].field, buf);
	}
}

/* --- garbage collection --------------------------------------------------------------------------- */

#define S 1000000000ull

static void ct_put(__u8 proto, __u16 sport, __u8 state, __u64 last_seen, __u32 ifindex)
{
	struct sl_ct_value v = { .created_ns = 1, .last_seen_ns = last_seen, .ifindex = ifindex, .state = state };
	struct sl_ct_key k;

	flow_key(&k, PROTO(proto, IP_A, IP_REMOTE, sport, 80));
	assert_int_equal(bpf_map_update_elem(T.maps.ct_fd, &k, &v, BPF_ANY), 0);
}

static void test_ct_gc(void **state)
{
	const __u64 now = 100000 * S;
	const struct {
		__u8 proto, state;
		__u64 idle_s;
		bool kept;
		int ifindex; /* 0: pod A, 1: pod B */
	} cases[] = {
		{ IPPROTO_TCP, SL_CT_ESTABLISHED, 3600, true, 0 },
		{ IPPROTO_TCP, SL_CT_ESTABLISHED, 6 * 3600 + 1, false, 0 },
		{ IPPROTO_TCP, SL_CT_NEW, 59, true, 0 },
		{ IPPROTO_TCP, SL_CT_NEW, 61, false, 0 },
		{ IPPROTO_TCP, SL_CT_CLOSING, 119, true, 1 },
		{ IPPROTO_TCP, SL_CT_CLOSING, 121, false, 1 },
		{ IPPROTO_TCP, SL_CT_CLOSED, 4, true, 1 }, /* kept, but not live */
		{ IPPROTO_TCP, SL_CT_CLOSED, 6, false, 1 },
		{ IPPROTO_UDP, SL_CT_ESTABLISHED, 59, true, 1 },
		{ IPPROTO_UDP, SL_CT_NEW, 61, false, 1 },
		{ IPPROTO_SCTP, SL_CT_ESTABLISHED, 599, true, 1 },
		{ IPPROTO_SCTP, SL_CT_NEW, 61, false, 1 },
		{ IPPROTO_ICMP, SL_CT_ESTABLISHED, 29, true, 0 },
		{ IPPROTO_ICMP, SL_CT_ESTABLISHED, 31, false, 0 },
		{ 47, SL_CT_NEW, 61, false, 0 },
	};
	struct ct_gc_counts counts;
	struct ct_gc_result res;
	struct sl_ct_value v;
	struct sl_ct_key k;
	__u32 kept = 0, live = 0, live_a = 0, live_b = 0;

	(void)state;
	assert_int_equal(ct_gc_timeout_ns(IPPROTO_TCP, SL_CT_ESTABLISHED), CT_GC_TCP_ESTABLISHED_S * S);
	assert_int_equal(ct_gc_timeout_ns(IPPROTO_UDP, SL_CT_NEW), CT_GC_UDP_S * S);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ifindex = cases[i].ifindex ? T.if_pb : T.if_pa;

		ct_put(cases[i].proto, 1000 + i, cases[i].state, now - cases[i].idle_s * S, ifindex);
		kept += cases[i].kept;
		if (cases[i].kept && cases[i].state != SL_CT_CLOSED) {
			live++;
			live_a += !cases[i].ifindex;
			live_b += cases[i].ifindex;
		}
	}
	ct_put(IPPROTO_TCP, 999, SL_CT_NEW, now + 10 * S, T.if_pc); /* seen "after" now: kept */
	kept++;
	live++;

	assert_int_equal(ct_gc_pass(&T.maps, now, &res, &counts), 0);
	assert_int_equal(res.scanned, sizeof(cases) / sizeof(cases[0]) + 1);
	assert_int_equal(res.removed, res.scanned - kept);
	assert_int_equal(res.live, live);
	assert_int_equal(res.ifindexes, 3);
	assert_int_equal(res.started_ns, now);
	assert_true(res.duration_ns > 0);
	assert_int_equal(counts.n, 3);
	assert_int_equal(ct_gc_count_of(&counts, T.if_pa), live_a);
	assert_int_equal(ct_gc_count_of(&counts, T.if_pb), live_b);
	assert_int_equal(ct_gc_count_of(&counts, T.if_pc), 1);
	assert_int_equal(ct_gc_count_of(&counts, 999999), 0);
	ct_gc_counts_free(&counts);
	assert_int_equal(ct_count(), kept);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		flow_key(&k, PROTO(cases[i].proto, IP_A, IP_REMOTE, 1000 + i, 80));
		assert_int_equal(maps_ct_get(&T.maps, &k, &v) == 0, cases[i].kept);
	}

	CASE("a table bigger than one batch: 10000 entries, every other one idle");
	assert_int_equal(maps_ct_clear(&T.maps), 0);
	for (int i = 0; i < 10000; i++)
		ct_put(IPPROTO_UDP, 1 + i, SL_CT_ESTABLISHED, now - (i & 1 ? 120 : 1) * S, T.if_pa);
	assert_int_equal(ct_gc_pass(&T.maps, now, &res, NULL), 0);
	assert_int_equal(res.scanned, 10000);
	assert_int_equal(res.removed, 5000);
	assert_int_equal(res.live, 5000);
	assert_int_equal(ct_count(), 5000);

	CASE("ct_gc_run: the real clock; connections the datapath just made stay");
	assert_int_equal(maps_ct_clear(&T.maps), 0);
	expect_pass(POD(T.if_pa, UDP(IP_A, IP_REMOTE, 1, 2)), TC_ACT_REDIRECT);
	assert_int_equal(ct_gc_run(&T.maps, &res), 0);
	assert_int_equal(res.scanned, 1);
	assert_int_equal(res.removed, 0);
	assert_int_equal(res.live, 1);
}

/* --- setup ------------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	return dp_node_setup("test_policy");
}

static int group_teardown(void **state)
{
	(void)state;
	return dp_node_teardown();
}

#define POLICY_TEST(f) cmocka_unit_test_setup(f, policy_setup)

static const struct CMUnitTest tests[] = {
	POLICY_TEST(test_policy_not_isolated_allows_all),
	POLICY_TEST(test_policy_egress_by_peer_identity),
	POLICY_TEST(test_policy_egress_by_cidr_class),
	POLICY_TEST(test_policy_pod_by_its_cidr_class),
	POLICY_TEST(test_policy_any_peer),
	POLICY_TEST(test_policy_protocols_and_port_forms),
	POLICY_TEST(test_policy_port_ranges),
	POLICY_TEST(test_policy_ingress_of_local_destination),
	POLICY_TEST(test_policy_ingress_from_eni),
	POLICY_TEST(test_ct_reply_passes_without_rule),
	POLICY_TEST(test_ct_counters_per_direction),
	POLICY_TEST(test_ct_tcp_states),
	POLICY_TEST(test_ct_udp_and_sctp),
	POLICY_TEST(test_ct_icmp_echo_and_errors),
	POLICY_TEST(test_to_pod_host_traffic),
	POLICY_TEST(test_to_pod_forwarded_traffic_meets_ingress),
	POLICY_TEST(test_ct_policy_change_keep),
	POLICY_TEST(test_ct_policy_change_drop),
	POLICY_TEST(test_policy_enforce_off),
	POLICY_TEST(test_policy_fragments),
	POLICY_TEST(test_xdp_prefilter),
	POLICY_TEST(test_maps_policy_api),
	POLICY_TEST(test_maps_port_range_blocks),
	POLICY_TEST(test_maps_bpftool_pretty_print),
	POLICY_TEST(test_ct_gc),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
