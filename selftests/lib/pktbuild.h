/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small packet builder for the BPF program tests.
 *
 * Layers are appended in order (Ethernet, then IPv4/IPv6/ARP, then
 * TCP/UDP/ICMP/SCTP, then payload); pkt_finish() fills in every length and
 * checksum from what was built. Checksums are always computed by the helpers
 * below, never written as constants, so a test that changes one field gets a
 * packet that is still valid unless it breaks it on purpose (edit the bytes
 * after pkt_finish()).
 *
 * Addresses are strings ("198.18.16.5", "fd00::1"); builders return 0 or
 * -ENOSPC / -EINVAL.
 */
#ifndef SLUICE_PKTBUILD_H
#define SLUICE_PKTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 2048

struct pkt {
	uint8_t data[PKT_MAX];
	size_t len;
	uint16_t l3_proto; /* EtherType (host order) of the L3 layer, 0 if none */
	size_t l3_off;
	uint8_t l4_proto; /* IPPROTO_*, 0 if no L4 layer */
	size_t l4_off;
};

struct pkt_ipv4 {
	const char *src, *dst;
	uint8_t ttl; /* 0 is taken as 64: a TTL of 0 is set by editing afterwards */
	uint8_t tos;
	uint16_t id;
	uint16_t frag_off; /* host order, flags and offset as on the wire */
	const uint8_t *options; /* length a multiple of 4, at most 40 */
	size_t options_len;
};

void pkt_init(struct pkt *p);
int pkt_eth(struct pkt *p, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype);
int pkt_ipv4(struct pkt *p, const struct pkt_ipv4 *o);
int pkt_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t hop_limit);
/* ARP for IPv4 over Ethernet; op 1 request, 2 reply. */
int pkt_arp(struct pkt *p, uint16_t op, const uint8_t sha[6], const char *spa, const uint8_t tha[6],
	    const char *tpa);
int pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint8_t flags);
int pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport);
/* Echo request: ICMP over IPv4, ICMPv6 over IPv6. */
int pkt_icmp_echo(struct pkt *p, uint16_t id, uint16_t seq);
/* Any ICMP (IPv4) message: type, code and the 4 bytes after the checksum
 * (id and seq of an echo; unused, or the next-hop MTU, of an error). An
 * error's quoted packet follows as payload (built with its own pkt, from
 * its IPv4 header on). */
int pkt_icmp(struct pkt *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq);
/* SCTP common header only (chunks, if any, as payload). */
int pkt_sctp(struct pkt *p, uint16_t sport, uint16_t dport, uint32_t vtag);
int pkt_payload(struct pkt *p, const void *data, size_t len);
/* Lengths and checksums of every layer built. */
int pkt_finish(struct pkt *p);

/* RFC 1071 Internet checksum of buf, as stored in a header (the sum over a
 * header with a correct checksum field is 0). */
uint16_t pkt_csum(const void *buf, size_t len);
/* CRC32c as SCTP uses it (RFC 9260 appendix A). */
uint32_t pkt_crc32c(const void *buf, size_t len);

/* On any frame (e.g. a program's output): recompute / verify the IPv4 header
 * checksum of the header at l3_off. */
void pkt_ipv4_set_csum(uint8_t *frame, size_t l3_off);
bool pkt_ipv4_csum_ok(const uint8_t *frame, size_t len, size_t l3_off);
/* Verifies the TCP/UDP/ICMP checksum of an IPv4 frame built by this file. */
bool pkt_l4_csum_ok(const struct pkt *p);

#endif /* SLUICE_PKTBUILD_H */
