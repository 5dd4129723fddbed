// SPDX-License-Identifier: Apache-2.0
#include "lib/pktbuild.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/if_ether.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

struct sctp_common {
	uint16_t sport, dport;
	uint32_t vtag;
	uint32_t checksum;
};

struct arp_ipv4 {
	struct arphdr hdr;
	uint8_t sha[6];
	uint8_t spa[4];
	uint8_t tha[6];
	uint8_t tpa[4];
} __attribute__((packed));

void pkt_init(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
}

static void *pkt_put(struct pkt *p, size_t len)
{
	void *at;

	if (p->len + len > sizeof(p->data))
		return NULL;
	at = p->data + p->len;
	memset(at, 0, len);
	p->len += len;
	return at;
}

int pkt_eth(struct pkt *p, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype)
{
	struct ethhdr *eth = pkt_put(p, sizeof(*eth));

	if (!eth)
		return -ENOSPC;
	memcpy(eth->h_dest, dst, ETH_ALEN);
	memcpy(eth->h_source, src, ETH_ALEN);
	eth->h_proto = htons(ethertype);
	return 0;
}

int pkt_ipv4(struct pkt *p, const struct pkt_ipv4 *o)
{
	struct iphdr *ip;
	size_t off = p->len;

	if (o->options_len % 4 || o->options_len > 40)
		return -EINVAL;
	ip = pkt_put(p, sizeof(*ip) + o->options_len);
	if (!ip)
		return -ENOSPC;
	ip->version = 4;
	ip->ihl = (sizeof(*ip) + o->options_len) / 4;
	ip->tos = o->tos;
	ip->id = htons(o->id);
	ip->frag_off = htons(o->frag_off);
	ip->ttl = o->ttl ? o->ttl : 64;
	if (inet_pton(AF_INET, o->src, &ip->saddr) != 1 || inet_pton(AF_INET, o->dst, &ip->daddr) != 1)
		return -EINVAL;
	if (o->options_len)
		memcpy(ip + 1, o->options, o->options_len);
	p->l3_proto = ETH_P_IP;
	p->l3_off = off;
	return 0;
}

int pkt_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t hop_limit)
{
	struct ip6_hdr *ip6;
	size_t off = p->len;

	ip6 = pkt_put(p, sizeof(*ip6));
	if (!ip6)
		return -ENOSPC;
	ip6->ip6_flow = htonl(6u << 28);
	ip6->ip6_hlim = hop_limit;
	ip6->ip6_nxt = IPPROTO_NONE;
	if (inet_pton(AF_INET6, src, &ip6->ip6_src) != 1 || inet_pton(AF_INET6, dst, &ip6->ip6_dst) != 1)
		return -EINVAL;
	p->l3_proto = ETH_P_IPV6;
	p->l3_off = off;
	return 0;
}

int pkt_arp(struct pkt *p, uint16_t op, const uint8_t sha[6], const char *spa, const uint8_t tha[6],
	    const char *tpa)
{
	struct arp_ipv4 *arp;
	size_t off = p->len;

	arp = pkt_put(p, sizeof(*arp));
	if (!arp)
		return -ENOSPC;
	arp->hdr.ar_hrd = htons(ARPHRD_ETHER);
	arp->hdr.ar_pro = htons(ETH_P_IP);
	arp->hdr.ar_hln = ETH_ALEN;
	arp->hdr.ar_pln = 4;
	arp->hdr.ar_op = htons(op);
	memcpy(arp->sha, sha, ETH_ALEN);
	memcpy(arp->tha, tha, ETH_ALEN);
	if (inet_pton(AF_INET, spa, arp->spa) != 1 || inet_pton(AF_INET, tpa, arp->tpa) != 1)
		return -EINVAL;
	p->l3_proto = ETH_P_ARP;
	p->l3_off = off;
	return 0;
}

/* Sets the L3 header's protocol field to proto and records the L4 layer. */
static int l4_begin(struct pkt *p, uint8_t proto, size_t hdr_len, void **hdr)
{
	size_t off = p->len;

	if (p->l3_proto != ETH_P_IP && p->l3_proto != ETH_P_IPV6)
		return -EINVAL;
	*hdr = pkt_put(p, hdr_len);
	if (!*hdr)
		return -ENOSPC;
	if (p->l3_proto == ETH_P_IP)
		((struct iphdr *)(p->data + p->l3_off))->protocol = proto;
	else
		((struct ip6_hdr *)(p->data + p->l3_off))->ip6_nxt = proto;
	p->l4_proto = proto;
	p->l4_off = off;
	return 0;
}

int pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct tcphdr *th;
	int err = l4_begin(p, IPPROTO_TCP, sizeof(*th), (void **)&th);

	if (err)
		return err;
	th->source = htons(sport);
	th->dest = htons(dport);
	th->seq = htonl(1);
	th->doff = sizeof(*th) / 4;
	th->th_flags = flags;
	th->window = htons(65535);
	return 0;
}

int pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport)
{
	struct udphdr *uh;
	int err = l4_begin(p, IPPROTO_UDP, sizeof(*uh), (void **)&uh);

	if (err)
		return err;
	uh->source = htons(sport);
	uh->dest = htons(dport);
	return 0;
}

int pkt_icmp_echo(struct pkt *p, uint16_t id, uint16_t seq)
{
	struct icmphdr *ih;
	bool v6 = p->l3_proto == ETH_P_IPV6;
	int err = l4_begin(p, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, sizeof(*ih), (void **)&ih);

	if (err)
		return err;
	/* ICMPv6 echo has the same layout (type, code, checksum, id, seq). */
	ih->type = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	ih->un.echo.id = htons(id);
	ih->un.echo.sequence = htons(seq);
	return 0;
}

int pkt_icmp(struct pkt *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
	struct icmphdr *ih;
	int err;

	if (p->l3_proto != ETH_P_IP)
		return -EINVAL;
	err = l4_begin(p, IPPROTO_ICMP, sizeof(*ih), (void **)&ih);
	if (err)
		return err;
	ih->type = type;
	ih->code = code;
	ih->un.echo.id = htons(id);
	ih->un.echo.sequence = htons(seq);
	return 0;
}

int pkt_sctp(struct pkt *p, uint16_t sport, uint16_t dport, uint32_t vtag)
{
	struct sctp_common *sh;
	int err = l4_begin(p, IPPROTO_SCTP, sizeof(*sh), (void **)&sh);

	if (err)
		return err;
	sh->sport = htons(sport);
	sh->dport = htons(dport);
	sh->vtag = htonl(vtag);
	return 0;
}

int pkt_payload(struct pkt *p, const void *data, size_t len)
{
	void *at = pkt_put(p, len);

	if (!at)
		return -ENOSPC;
	memcpy(at, data, len);
	return 0;
}

static uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (; len > 1; b += 2, len -= 2)
		sum += (uint32_t)b[0] << 8 | b[1];
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

uint16_t pkt_csum(const void *buf, size_t len)
{
	return csum_fold(csum_add(0, buf, len));
}

uint32_t pkt_crc32c(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t crc = ~0u;

	while (len--) {
		crc ^= *b++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

/* Sum of the pseudo header of the L3 layer for an L4 segment of len bytes. */
static uint32_t pseudo_sum(const struct pkt *p, uint32_t len)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum;

	if (p->l3_proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)(p->data + p->l3_off);

		sum = csum_add(0, &ip->saddr, 8);
		tail[1] = p->l4_proto;
		tail[2] = len >> 8;
		tail[3] = len & 0xff;
		return csum_add(sum, tail, 4);
	}
	const struct ip6_hdr *ip6 = (const void *)(p->data + p->l3_off);

	sum = csum_add(0, &ip6->ip6_src, 32);
	tail[0] = len >> 24;
	tail[1] = (len >> 16) & 0xff;
	tail[2] = (len >> 8) & 0xff;
	tail[3] = len & 0xff;
	tail[7] = p->l4_proto;
	return csum_add(sum, tail, 8);
}

static int l4_finish(struct pkt *p)
{
	uint8_t *l4 = p->data + p->l4_off;
	size_t len = p->len - p->l4_off;
	uint16_t *check;

	switch (p->l4_proto) {
	case IPPROTO_TCP:
		check = &((struct tcphdr *)l4)->check;
		break;
	case IPPROTO_UDP:
		((struct udphdr *)l4)->len = htons(len);
		check = &((struct udphdr *)l4)->check;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		check = &((struct icmphdr *)l4)->checksum;
		break;
	case IPPROTO_SCTP: {
		struct sctp_common *sh = (void *)l4;
		uint32_t crc;

		sh->checksum = 0;
		crc = pkt_crc32c(l4, len);
		/* The CRC goes on the wire least significant byte first. */
		memcpy(&sh->checksum, (uint8_t[]){ crc, crc >> 8, crc >> 16, crc >> 24 }, 4);
		return 0;
	}
	default:
		return 0;
	}
	*check = 0;
	if (p->l4_proto == IPPROTO_ICMP)
		*check = pkt_csum(l4, len);
	else
		*check = csum_fold(csum_add(pseudo_sum(p, len), l4, len));
	/* UDP: a computed 0 is sent as all ones (0 means "no checksum"). */
	if (p->l4_proto == IPPROTO_UDP && *check == 0)
		*check = 0xffff;
	return 0;
}

int pkt_finish(struct pkt *p)
{
	if (p->l4_proto)
		l4_finish(p);
	if (p->l3_proto == ETH_P_IP) {
		struct iphdr *ip = (void *)(p->data + p->l3_off);

		ip->tot_len = htons(p->len - p->l3_off);
		pkt_ipv4_set_csum(p->data, p->l3_off);
	} else if (p->l3_proto == ETH_P_IPV6) {
		struct ip6_hdr *ip6 = (void *)(p->data + p->l3_off);

		ip6->ip6_plen = htons(p->len - p->l3_off - sizeof(*ip6));
	}
	/* The L4 checksum of IPv4 covers tot_len only through the pseudo
	 * header's length, which l4_finish computed from the same bytes. */
	return 0;
}

void pkt_ipv4_set_csum(uint8_t *frame, size_t l3_off)
{
	struct iphdr *ip = (void *)(frame + l3_off);

	ip->check = 0;
	ip->check = pkt_csum(ip, ip->ihl * 4);
}

bool pkt_ipv4_csum_ok(const uint8_t *frame, size_t len, size_t l3_off)
{
	const struct iphdr *ip = (const void *)(frame + l3_off);

	if (len < l3_off + sizeof(*ip) || len < l3_off + ip->ihl * 4u)
		return false;
	return pkt_csum(ip, ip->ihl * 4) == 0;
}

bool pkt_l4_csum_ok(const struct pkt *p)
{
	const uint8_t *l4 = p->data + p->l4_off;
	size_t len = p->len - p->l4_off;

	/* The L4 segment ends where the IP header says, not at the end of
	 * the frame (Ethernet padding). */
	if (p->l3_proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)(p->data + p->l3_off);

		len = ntohs(ip->tot_len) - (p->l4_off - p->l3_off);
	} else if (p->l3_proto == ETH_P_IPV6) {
		const struct ip6_hdr *ip6 = (const void *)(p->data + p->l3_off);

		len = ntohs(ip6->ip6_plen) - (p->l4_off - p->l3_off - sizeof(*ip6));
	}
	if (p->l4_off + len > p->len)
		return false;

	switch (p->l4_proto) {
	case IPPROTO_ICMP:
		return pkt_csum(l4, len) == 0;
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_ICMPV6:
		return csum_fold(csum_add(pseudo_sum(p, len), l4, len)) == 0;
	default:
		return true;
	}
}
