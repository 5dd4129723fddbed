// SPDX-License-Identifier: Apache-2.0
/*
 * sl-pktcost: what NetworkPolicy costs per packet, in ns, on the production
 * programs.
 *
 *   sl-pktcost [-r RULES,...] [-n RUNS] [-R ROUNDS] [-e] [-j]
 *     -r  policy sizes to compare (default 0,100,10000 rules)
 *     -n  program runs per measurement (default 1000000)
 *     -R  rounds; each figure is the median of the rounds (default 5)
 *     -e  drop events on (default off: a full ring buffer makes every later
 *         drop cheaper, which would flatter the denied figures)
 *     -j  JSON
 *
 * For every size it loads the production objects through the loader, in a
 * pin directory of its own (/sys/fs/bpf/sluice-pktcost-<pid>/<i>-<rules>), fills
 * sluice_policy with that many rules and times sluice_from_pod and
 * sluice_from_eni with BPF_PROG_TEST_RUN, in a private network namespace
 * whose veths stand for the pod and the ENI. The sizes are measured side by
 * side, round after round, so a drift of the machine hits all of them.
 *
 * The rules are a seeded, realistic mix on 64 local label sets: peers are
 * label sets of the cluster (70%), ipBlock classes (20%) or any peer (10%);
 * ports are one port (55%), an endPort range (15%, up to 2000 ports,
 * decomposed as the agent does), all ports of TCP/UDP/SCTP (15%) or
 * everything (15%). Each subject and direction with a rule is isolated. The
 * measured pod, A, is one of the 64 subjects and has its share; two of the
 * rules allow the measured flows (A -> remote pod :8080 and back, by the
 * peer's label set, the usual case). The ipcache is the same at every size:
 * 2000 pod /32s, the 256 ipBlock prefixes, 0.0.0.0/0. With 0 rules nothing
 * is isolated, so nothing can be denied: that column is n/a.
 *
 * What each figure is (ns per program run, the kernel's own timing of the
 * run loop, syscall excluded):
 *   new          the first packet of an allowed connection: conntrack
 *                misses both ways, policy allows, an entry is created. One
 *                run per BPF_PROG_TEST_RUN call, a fresh source port each
 *                call (entries cleared between rounds), so this includes
 *                the timer's own cost (~15 ns) and a cache the syscall
 *                left colder, as a real first packet would find it.
 *   established  a packet of a known connection (the entry made by a first
 *                run), 250 runs per call: a forwarded packet's TTL drops by
 *                one per run, and 250 keeps it above 1.
 *   denied       a packet the policy denies (A -> remote :9999): conntrack
 *                misses, three trie lookups, counted drop; 250 runs per call.
 *   established_1run  the established packet again, but one run per call
 *                like "new": the price of a lone run (timer, and caches and
 *                TLB the syscall left cold; on a paravirtualized VM that is
 *                most of it). new - established_1run is what a first packet
 *                costs beyond a known one.
 * Every scenario is run once and its verdict and conntrack effect checked
 * before it is timed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/netdev_util.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "lib/pktbuild.h"
#include "loader/loader.h"
#include "maps/maps.h"
#include "pins.h"

#define MAX_SIZES 8
#define SUBJECTS 64        /* local label sets */
#define PEER_IDS 4000      /* label sets of the cluster */
#define CIDRS 256          /* ipBlock classes */
#define ID_SUBJECT0 1000   /* ID_A is the first subject */
#define ID_A ID_SUBJECT0
#define ID_PEER0 5000
#define ID_REMOTE (ID_PEER0 + 16) /* the 17th pod of node_fill(): IP_REMOTE */
#define CIDR0 (SL_ID_FIRST_CIDR + 1)
#define REMOTE_PODS 2000
#define PORT_ALLOWED 8080
#define PORT_DENIED 9999
#define RUNS_PER_CALL 250  /* forwarded packets lose a TTL per run: start at 255 */
#define NEW_MAX_CALLS 60000 /* fresh source ports per round */

#define IP_A "10.1.0.5"
#define IP_REMOTE "10.2.0.17" /* pod of label set ID_REMOTE, in ipBlock 10.2.0.0/16 (CIDR0) */
#define IP_GW "10.1.0.1"

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0x0a, 0x01 }, GW_MAC_A[6] = { 0x02, 0, 0, 0, 0x0a, 0xfe };

enum scenario { NEW, ESTABLISHED, DENIED, COLD, N_SCENARIOS };
enum side { FROM_POD, FROM_ENI, N_SIDES };
static const char *const scenario_names[] = { "new", "established", "denied", "established_1run" };
static const char *const side_names[] = { "from_pod", "from_eni" };

struct world {
	unsigned int rules;
	__u32 entries;
	char pin_dir[128];
	struct loader *l;
	struct sl_maps m;
	double ns[N_SIDES][N_SCENARIOS][16]; /* per round */
};

static struct {
	char root[96];
	int if_pod, if_eni;
	struct world w[MAX_SIZES];
	int n;
	bool json;
} G;

/* --- cleanup ------------------------------------------------------------------------ */

static void cleanup(void)
{
	for (int i = 0; i < G.n; i++) {
		maps_close(&G.w[i].m);
		loader_close(G.w[i].l);
		G.w[i].l = NULL;
	}
	if (G.root[0])
		loader_unpin_all(G.root);
	G.root[0] = '\0';
}

static void on_signal(int sig)
{
	if (G.root[0])
		fs_remove_tree(G.root);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --- the node ------------------------------------------------------------------------- */

static int ip4(const char *s, void *out)
{
	return inet_pton(AF_INET, s, out) == 1 ? 0 : -EINVAL;
}

static int node_fill(const struct sl_maps *m)
{
	struct sl_endpoint_info ep = { .ifindex = G.if_pod, .eni_ifindex = G.if_eni, .flags = SL_EP_F_POD,
				       .identity = ID_A };
	struct sl_eni_info eni = { .family = SL_FAMILY_IPV4, .mtu = 9001 };
	struct sl_ipcache_value v = { 0 };
	struct sl_endpoint_key k = { .family = SL_FAMILY_IPV4 };
	struct sl_ipcache_key ik;
	uint8_t addr[4];
	int err;

	memcpy(ep.mac, MAC_A, 6);
	memcpy(ep.gw_mac, GW_MAC_A, 6);
	err = ip4(IP_A, k.addr) ?: maps_endpoint_set(m, &k, &ep);
	err = err ?: ip4(IP_GW, eni.gw_addr) ?: maps_eni_set(m, G.if_eni, &eni);
	/* The cluster's pods: 10.2.x.y, label sets spread over the peers;
	 * the ipBlock classes: 10.2.0.0/16, 10.3.0.0/16, ... */
	for (int i = 0; i < REMOTE_PODS && !err; i++) {
		addr[0] = 10, addr[1] = 2 + i / 250, addr[2] = 0, addr[3] = 1 + i % 250;
		v = (struct sl_ipcache_value){ .identity = ID_PEER0 + i % PEER_IDS,
					       .cidr_identity = CIDR0 + (__u32)(addr[1] - 2) };
		err = maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 32) ?: maps_ipcache_put(m, &ik, &v);
	}
	for (int i = 0; i < CIDRS && !err; i++) {
		addr[0] = 10, addr[1] = 2 + i, addr[2] = 0, addr[3] = 0;
		v = (struct sl_ipcache_value){ .identity = CIDR0 + i };
		err = maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 16) ?: maps_ipcache_put(m, &ik, &v);
	}
	v = (struct sl_ipcache_value){ .identity = ID_A, .flags = SL_IPC_F_LOCAL };
	err = err ?: ip4(IP_A, addr) ?: maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 32) ?: maps_ipcache_put(m, &ik, &v);
	memset(addr, 0, sizeof(addr));
	v = (struct sl_ipcache_value){ .identity = SL_ID_WORLD };
	err = err ?: maps_ipcache_key(&ik, SL_FAMILY_IPV4, addr, 0) ?: maps_ipcache_put(m, &ik, &v);
	return err;
}

/* --- rules ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x5eed5eed5eedull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16) % n;
}

struct entries {
	struct sl_policy_key *k;
	struct sl_policy_value *v;
	__u32 n, cap;
};

static int push(struct entries *e, const struct sl_policy_key *k, __u8 action, __u32 rule)
{
	if (e->n == e->cap) {
		__u32 cap = e->cap ? e->cap * 2 : 4096;
		void *nk = realloc(e->k, cap * sizeof(*e->k)), *nv;

		if (!nk)
			return -ENOMEM;
		e->k = nk;
		nv = realloc(e->v, cap * sizeof(*e->v));
		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->k[e->n] = *k;
	e->v[e->n] = (struct sl_policy_value){ .action = action, .rule = rule };
	e->n++;
	return 0;
}

static int push_rule(struct entries *e, __u32 subject, __u8 dir, __u32 peer, __u8 proto, __u16 first, __u16 last,
		     __u32 prefixlen, __u32 rule)
{
	struct maps_port_block blocks[MAPS_PORT_BLOCKS_MAX];
	struct sl_policy_key k;
	int n, err = 0;

	if (prefixlen != SL_POLICY_PREFIX_FULL || first == last) {
		maps_policy_key(&k, subject, dir, peer, proto, first, prefixlen);
		return push(e, &k, SL_POLICY_ALLOW, rule);
	}
	n = maps_port_range_blocks(first, last, blocks);
	for (int i = 0; i < n && !err; i++) {
		maps_policy_key(&k, subject, dir, peer, proto, blocks[i].port, blocks[i].prefixlen);
		err = push(e, &k, SL_POLICY_ALLOW, rule);
	}
	return err;
}

static int rules_fill(struct world *w)
{
	static const __u16 common[] = { 80, 443, 53, 8080, 8443, 3306, 5432, 6379, 9090, 9100, 2379, 11211, 27017 };
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP,
				       IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP,
				       IPPROTO_UDP, IPPROTO_SCTP };
	bool isolated[SUBJECTS][2] = { { false } };
	struct entries e = { 0 };
	struct sl_policy_key k;
	__u32 done;
	int err = 0;

	rng_state = 0x5eed5eed5eedull + w->rules;
	for (__u32 r = 0; r < w->rules && !err; r++) {
		__u32 s = rnd(SUBJECTS), subject = ID_SUBJECT0 + s, peer, pk = rnd(100), kind = rnd(100);
		__u8 dir = rnd(2) ? SL_POLICY_INGRESS : SL_POLICY_EGRESS, proto = protos[rnd(sizeof(protos))];
		__u16 first;

		/* The last two rules allow the measured flows; the random ones
		 * never touch the measured peer, so the denied flow stays
		 * denied at every size. */
		if (r + 2 >= w->rules) {
			s = 0;
			subject = ID_A;
			dir = r + 2 == w->rules ? SL_POLICY_EGRESS : SL_POLICY_INGRESS;
			isolated[s][dir - 1] = true;
			err = push_rule(&e, subject, dir, ID_REMOTE, IPPROTO_TCP, PORT_ALLOWED, PORT_ALLOWED,
					SL_POLICY_PREFIX_FULL, r);
			continue;
		}
		if (pk < 70)
			peer = ID_PEER0 + rnd(PEER_IDS);
		else if (pk < 90)
			peer = CIDR0 + rnd(CIDRS);
		else
			peer = SL_ID_ANY;
		if (subject == ID_A && (peer == ID_REMOTE || peer == CIDR0 || peer == SL_ID_ANY))
			peer = ID_PEER0 + 1;
		isolated[s][dir - 1] = true;
		if (kind < 55) {
			first = rnd(4) ? common[rnd(sizeof(common) / sizeof(common[0]))] : 1024 + rnd(64000);
			err = push_rule(&e, subject, dir, peer, proto, first, first, SL_POLICY_PREFIX_FULL, r);
		} else if (kind < 70) {
			first = 1 + rnd(60000);
			err = push_rule(&e, subject, dir, peer, proto, first, first + rnd(2000), SL_POLICY_PREFIX_FULL, r);
		} else if (kind < 85) {
			err = push_rule(&e, subject, dir, peer, proto, 0, 0, SL_POLICY_PREFIX_PROTO, r);
		} else {
			err = push_rule(&e, subject, dir, peer, 0, 0, 0, SL_POLICY_PREFIX_ALL_PORTS, r);
		}
	}
	for (int s = 0; s < SUBJECTS && !err; s++) {
		for (int d = 0; d < 2 && !err; d++) {
			if (!isolated[s][d])
				continue;
			maps_policy_key(&k, ID_SUBJECT0 + s, d + 1, 0, 0, 0, SL_POLICY_PREFIX_ISOLATED);
			err = push(&e, &k, SL_POLICY_DENY, 0);
		}
	}
	if (!err)
		err = maps_policy_put_batch(&w->m, e.k, e.v, e.n, &done);
	w->entries = e.n;
	free(e.k);
	free(e.v);
	return err;
}

/* --- timing ----------------------------------------------------------------------------- */

static int prog_fd(const struct world *w, enum side side)
{
	return loader_prog_fd(w->l, side == FROM_POD ? LOADER_PROG_FROM_POD : LOADER_PROG_FROM_ENI);
}

static int ifindex_of(enum side side)
{
	return side == FROM_POD ? G.if_pod : G.if_eni;
}

static int build(struct pkt *p, enum side side, enum scenario sc, uint16_t sport)
{
	const char *src = side == FROM_POD ? IP_A : IP_REMOTE, *dst = side == FROM_POD ? IP_REMOTE : IP_A;
	static const char payload[64] = "sl-pktcost";
	int err;

	pkt_init(p);
	err = pkt_eth(p, side == FROM_POD ? GW_MAC_A : MAC_A, side == FROM_POD ? MAC_A : GW_MAC_A, ETH_P_IP);
	err = err ?: pkt_ipv4(p, &(struct pkt_ipv4){ .src = src, .dst = dst, .ttl = 255 });
	err = err ?: pkt_tcp(p, sport, sc == DENIED ? PORT_DENIED : PORT_ALLOWED, sc == NEW ? 0x02 : 0x10);
	err = err ?: pkt_payload(p, payload, sizeof(payload));
	return err ?: pkt_finish(p);
}

/* One BPF_PROG_TEST_RUN call: *ns is the kernel's average per run. */
static int run(int fd, int ifindex, const struct pkt *p, __u32 repeat, __u32 *retval, double *ns)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	uint8_t out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &opts))
		return -errno;
	*retval = opts.retval;
	*ns = opts.duration;
	return 0;
}

static void set_sport(struct pkt *p, uint16_t sport)
{
	uint16_t be = htons(sport);

	memcpy(p->data + p->l4_off, &be, 2); /* the datapath never checks the L4 checksum */
}

static int ct_entries(const struct world *w, __u64 *orig_packets)
{
	struct sl_ct_key key, next;
	struct sl_ct_value v;
	int n = 0;

	*orig_packets = 0;
	for (void *prev = NULL; !bpf_map_get_next_key(w->m.ct_fd, prev, &next); prev = &key) {
		key = next;
		if (!bpf_map_lookup_elem(w->m.ct_fd, &key, &v))
			*orig_packets += v.packets[SL_CT_DIR_ORIG];
		n++;
	}
	return n;
}

/* Runs the scenario once and checks what it did: the right verdict, and an
 * entry created (new), counted (established) or not made (denied). */
static int validate(struct world *w, enum side side, enum scenario sc)
{
	__u32 want = sc == DENIED ? TC_ACT_SHOT : TC_ACT_REDIRECT, ret = 0;
	bool est = sc == ESTABLISHED || sc == COLD;
	int fd = prog_fd(w, side), err, before, after;
	__u64 pk0, pk1;
	struct pkt p;
	double ns = 0;

	err = maps_ct_clear(&w->m) ?: build(&p, side, sc, 40000);
	if (err)
		return err;
	if (est && (err = run(fd, ifindex_of(side), &p, 1, &ret, &ns)))
		return err;
	before = ct_entries(w, &pk0);
	err = run(fd, ifindex_of(side), &p, 1, &ret, &ns);
	if (err)
		return err;
	after = ct_entries(w, &pk1);
	if (ret != want || (sc == NEW && after != before + 1) || (sc == DENIED && after != before) ||
	    (est && (after != before || pk1 != pk0 + 1))) {
		fprintf(stderr, "sl-pktcost: %u rules, %s %s: verdict %u (expected %u), conntrack %d -> %d entries\n",
			w->rules, side_names[side], scenario_names[sc], ret, want, before, after);
		return -EPROTO;
	}
	return maps_ct_clear(&w->m);
}

static int measure(struct world *w, enum side side, enum scenario sc, __u32 runs, double *ns_out)
{
	int fd = prog_fd(w, side), err;
	double sum = 0, ns = 0;
	__u32 ret = 0, calls, done = 0;
	struct pkt p;

	err = maps_ct_clear(&w->m) ?: build(&p, side, sc, 1);
	if (err)
		return err;
	if (sc == NEW || sc == COLD) {
		calls = runs < NEW_MAX_CALLS ? runs : NEW_MAX_CALLS;
		if (sc == COLD)
			err = run(fd, ifindex_of(side), &p, 1, &ret, &ns);
		for (__u32 i = 0; i < calls && !err; i++) {
			if (sc == NEW)
				set_sport(&p, (uint16_t)(1 + i));
			err = run(fd, ifindex_of(side), &p, 1, &ret, &ns);
			if (!err)
				sum += ns;
		}
		done = calls;
	} else {
		if (sc == ESTABLISHED)
			err = run(fd, ifindex_of(side), &p, 1, &ret, &ns);
		calls = (runs + RUNS_PER_CALL - 1) / RUNS_PER_CALL;
		for (__u32 i = 0; i < calls && !err; i++) {
			err = run(fd, ifindex_of(side), &p, RUNS_PER_CALL, &ret, &ns);
			if (!err)
				sum += ns * RUNS_PER_CALL;
		}
		done = calls * RUNS_PER_CALL;
	}
	if (err)
		return err;
	*ns_out = sum / done;
	return maps_ct_clear(&w->m);
}

/* --- main ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[16];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int world_open(struct world *w, int index, bool drop_events)
{
	struct loader_opts o = { .pin_dir = w->pin_dir, .drop_events = drop_events, .policy_max_entries = 1u << 20 };
	int err;

	/* The same size twice is allowed: it shows the noise floor. */
	snprintf(w->pin_dir, sizeof(w->pin_dir), "%s/%d-%u", G.root, index, w->rules);
	err = loader_open(&o, &w->l);
	if (err)
		return err;
	err = maps_open(w->pin_dir, &w->m);
	if (err)
		return err;
	return node_fill(&w->m) ?: rules_fill(w);
}

static void print_prog_sizes(const struct world *w)
{
	static const enum loader_prog progs[] = { LOADER_PROG_FROM_POD, LOADER_PROG_FROM_ENI, LOADER_PROG_TO_POD,
						  LOADER_PROG_XDP_ENI };

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(loader_prog_fd(w->l, progs[i]), &info, &len))
			continue;
		if (G.json)
			printf("%s\"%s\": {\"xlated_insns\": %u, \"verified_insns\": %u}", i ? ", " : "", info.name,
			       info.xlated_prog_len / 8, info.verified_insns);
		else
			printf("  %-16s %5u insns xlated, %6u verified\n", info.name, info.xlated_prog_len / 8,
			       info.verified_insns);
	}
}

static void print_results(int rounds, __u32 runs)
{
	double med[MAX_SIZES][N_SIDES][N_SCENARIOS] = { { { 0 } } };

	for (int i = 0; i < G.n; i++)
		for (int s = 0; s < N_SIDES; s++)
			for (int c = 0; c < N_SCENARIOS; c++)
				med[i][s][c] = median(G.w[i].ns[s][c], rounds);
	if (G.json) {
		printf("{\"runs\": %u, \"rounds\": %d, \"programs\": {", runs, rounds);
		print_prog_sizes(&G.w[0]);
		printf("}, \"results\": [");
		for (int i = 0; i < G.n; i++) {
			printf("%s{\"rules\": %u, \"trie_entries\": %u", i ? ", " : "", G.w[i].rules, G.w[i].entries);
			for (int s = 0; s < N_SIDES; s++) {
				printf(", \"%s\": {", side_names[s]);
				for (int c = 0; c < N_SCENARIOS; c++) {
					if (c == DENIED && !G.w[i].rules)
						printf("%s\"%s\": null", c ? ", " : "", scenario_names[c]);
					else
						printf("%s\"%s\": %.1f", c ? ", " : "", scenario_names[c], med[i][s][c]);
				}
				printf("}");
			}
			printf("}");
		}
		printf("]}\n");
		return;
	}
	printf("sl-pktcost: ns per packet, production programs under BPF_PROG_TEST_RUN\n");
	printf("(median of %d rounds of %u runs; new and est/1run: one run per call, at most %u calls)\n\n",
	       rounds, runs, NEW_MAX_CALLS);
	print_prog_sizes(&G.w[0]);
	for (int s = 0; s < N_SIDES; s++) {
		printf("\nsluice_%s\n%7s %8s", side_names[s], "rules", "entries");
		for (int c = 0; c < N_SCENARIOS; c++)
			printf(" %18s", scenario_names[c]);
		printf("\n");
		for (int i = 0; i < G.n; i++) {
			printf("%7u %8u", G.w[i].rules, G.w[i].entries);
			for (int c = 0; c < N_SCENARIOS; c++) {
				if (c == DENIED && !G.w[i].rules)
					printf(" %18s", "n/a");
				else if (i && (c != DENIED || G.w[0].rules))
					printf(" %9.1f (%+5.1f%%)", med[i][s][c],
					       100.0 * (med[i][s][c] - med[0][s][c]) / med[0][s][c]);
				else
					printf(" %18.1f", med[i][s][c]);
			}
			printf("\n");
		}
	}
	printf("\n(%% against the first size)\n");
}

static int parse_sizes(char *arg)
{
	G.n = 0;
	for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		/* 1 rule could not allow both measured flows. */
		if (*end || G.n == MAX_SIZES || v == 1 || v > 1000000)
			return -EINVAL;
		G.w[G.n++].rules = (unsigned int)v;
	}
	return G.n ? 0 : -EINVAL;
}

static int setup_node(void)
{
	int err = netdev_private_netns();

	if (err) {
		fprintf(stderr, "sl-pktcost: unshare(CLONE_NEWNET): %s (run as root)\n", strerror(-err));
		return err;
	}
	err = netdev_veth_add("sl-pod", "sl-pod-eth0") ?: netdev_veth_add("sl-eni", "sl-vpc");
	err = err ?: netdev_set_up("sl-pod") ?: netdev_set_up("sl-eni");
	if (err) {
		fprintf(stderr, "sl-pktcost: create veths: %s\n", strerror(-err));
		return err;
	}
	G.if_pod = if_nametoindex("sl-pod");
	G.if_eni = if_nametoindex("sl-eni");
	return 0;
}

int main(int argc, char **argv)
{
	char sizes[] = "0,100,10000";
	bool drop_events = false;
	__u32 runs = 1000000;
	int rounds = 5, opt, err;

	if (parse_sizes(sizes))
		return 2;
	while ((opt = getopt(argc, argv, "r:n:R:ej")) != -1) {
		switch (opt) {
		case 'r':
			if (parse_sizes(optarg))
				goto usage;
			break;
		case 'n':
			runs = (__u32)strtoul(optarg, NULL, 10);
			if (!runs)
				goto usage;
			break;
		case 'R':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > 16)
				goto usage;
			break;
		case 'e':
			drop_events = true;
			break;
		case 'j':
			G.json = true;
			break;
		default:
			goto usage;
		}
	}
	log_init("sl-pktcost", LOG_WARN, LOG_FORMAT_TEXT, stderr);
	loader_route_libbpf_log();
	if (setup_node())
		return 1;
	snprintf(G.root, sizeof(G.root), "/sys/fs/bpf/sluice-pktcost-%d", (int)getpid());
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	for (int i = 0; i < G.n; i++) {
		err = world_open(&G.w[i], i, drop_events);
		if (err) {
			fprintf(stderr, "sl-pktcost: set up %u rules: %s\n", G.w[i].rules, strerror(-err));
			return 1;
		}
		for (int s = 0; s < N_SIDES; s++) {
			for (int c = 0; c < N_SCENARIOS; c++) {
				if (c == DENIED && !G.w[i].rules)
					continue;
				err = validate(&G.w[i], s, c);
				if (err)
					return 1;
			}
		}
	}
	for (int r = 0; r < rounds; r++) {
		for (int s = 0; s < N_SIDES; s++) {
			for (int c = 0; c < N_SCENARIOS; c++) {
				for (int i = 0; i < G.n; i++) {
					if (c == DENIED && !G.w[i].rules)
						continue;
					err = measure(&G.w[i], s, c, runs, &G.w[i].ns[s][c][r]);
					if (err) {
						fprintf(stderr, "sl-pktcost: measure: %s\n", strerror(-err));
						return 1;
					}
				}
			}
		}
	}
	print_results(rounds, runs);
	return 0;
usage:
	fprintf(stderr, "usage: sl-pktcost [-r RULES,...] [-n RUNS] [-R ROUNDS] [-e] [-j]\n");
	return 2;
}
