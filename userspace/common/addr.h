/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP addresses, prefixes and MACs: parsing, formatting, comparison.
 *
 * Families use the datapath's tags (SL_FAMILY_IPV4 = 4, SL_FAMILY_IPV6 = 6)
 * so an address converts to a map key without a table. Parsers return 0 or
 * -EINVAL and leave *out untouched on error.
 */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice_types.h"

#define SL_IP_STRLEN 46     /* INET6_ADDRSTRLEN */
#define SL_PREFIX_STRLEN 50 /* address + "/128" */
#define SL_MAC_STRLEN 18

struct sl_ip {
	uint8_t family; /* SL_FAMILY_IPV4 / SL_FAMILY_IPV6; 0 = unset */
	uint8_t addr[16];
};

struct sl_prefix {
	struct sl_ip ip;
	uint8_t len;
};

int sl_ip_parse(const char *s, struct sl_ip *out);
/* "a.b.c.d/n"; with strict, host bits must be zero (a network, not an
 * interface address). A bare address parses as a host prefix (/32, /128). */
int sl_prefix_parse(const char *s, bool strict, struct sl_prefix *out);
const char *sl_ip_fmt(const struct sl_ip *ip, char buf[SL_IP_STRLEN]);
const char *sl_prefix_fmt(const struct sl_prefix *p, char buf[SL_PREFIX_STRLEN]);

int sl_ip_af(const struct sl_ip *ip); /* AF_INET, AF_INET6 or AF_UNSPEC */
unsigned sl_ip_bytes(const struct sl_ip *ip); /* 4, 16 or 0 */
bool sl_ip_is_set(const struct sl_ip *ip);
bool sl_ip_equal(const struct sl_ip *a, const struct sl_ip *b);
int sl_ip_cmp(const struct sl_ip *a, const struct sl_ip *b);
void sl_ip_from_v4(struct sl_ip *out, uint32_t addr_be);
uint32_t sl_ip_v4_be(const struct sl_ip *ip);

bool sl_prefix_contains(const struct sl_prefix *p, const struct sl_ip *ip);
/* The n-th address of the prefix (0 = network address); -ERANGE past its end. */
int sl_prefix_nth(const struct sl_prefix *p, uint64_t n, struct sl_ip *out);
/* Number of addresses in the prefix, saturated at UINT64_MAX. */
uint64_t sl_prefix_size(const struct sl_prefix *p);

void sl_endpoint_key_from_ip(struct sl_endpoint_key *key, const struct sl_ip *ip);
void sl_ip_from_raw(struct sl_ip *out, uint8_t family, const uint8_t addr[16]);

int sl_mac_parse(const char *s, uint8_t mac[6]);
const char *sl_mac_fmt(const uint8_t mac[6], char buf[SL_MAC_STRLEN]);
bool sl_mac_is_zero(const uint8_t mac[6]);

#endif /* SLUICE_ADDR_H */
