// SPDX-License-Identifier: Apache-2.0
#include "common/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int sl_ip_parse(const char *s, struct sl_ip *out)
{
	struct sl_ip ip = { 0 };

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, ip.addr) == 1) {
		ip.family = SL_FAMILY_IPV4;
	} else if (inet_pton(AF_INET6, s, ip.addr) == 1) {
		ip.family = SL_FAMILY_IPV6;
	} else {
		return -EINVAL;
	}
	*out = ip;
	return 0;
}

unsigned sl_ip_bytes(const struct sl_ip *ip)
{
	return ip->family == SL_FAMILY_IPV4 ? 4 : ip->family == SL_FAMILY_IPV6 ? 16 : 0;
}

static unsigned family_bits(uint8_t family)
{
	return family == SL_FAMILY_IPV4 ? 32 : 128;
}

static bool host_bits_zero(const struct sl_ip *ip, unsigned len)
{
	unsigned bits = family_bits(ip->family);

	for (unsigned b = len; b < bits; b++) {
		if (ip->addr[b / 8] & (0x80 >> (b % 8)))
			return false;
	}
	return true;
}

int sl_prefix_parse(const char *s, bool strict, struct sl_prefix *out)
{
	struct sl_prefix p = { 0 };
	char buf[SL_PREFIX_STRLEN];
	const char *slash;
	char *end;
	long len;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(s, '/');
	if (slash)
		buf[slash - s] = '\0';
	if (sl_ip_parse(buf, &p.ip))
		return -EINVAL;
	if (slash) {
		if (!slash[1])
			return -EINVAL;
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (errno || *end || len < 0 || (unsigned long)len > family_bits(p.ip.family))
			return -EINVAL;
		p.len = (uint8_t)len;
	} else {
		p.len = (uint8_t)family_bits(p.ip.family);
	}
	if (strict && !host_bits_zero(&p.ip, p.len))
		return -EINVAL;
	*out = p;
	return 0;
}

const char *sl_ip_fmt(const struct sl_ip *ip, char buf[SL_IP_STRLEN])
{
	int af = sl_ip_af(ip);

	if (af == AF_UNSPEC || !inet_ntop(af, ip->addr, buf, SL_IP_STRLEN))
		snprintf(buf, SL_IP_STRLEN, "<none>");
	return buf;
}

const char *sl_prefix_fmt(const struct sl_prefix *p, char buf[SL_PREFIX_STRLEN])
{
	char ip[SL_IP_STRLEN];

	snprintf(buf, SL_PREFIX_STRLEN, "%s/%u", sl_ip_fmt(&p->ip, ip), p->len);
	return buf;
}

int sl_ip_af(const struct sl_ip *ip)
{
	return ip->family == SL_FAMILY_IPV4 ? AF_INET : ip->family == SL_FAMILY_IPV6 ? AF_INET6 : AF_UNSPEC;
}

bool sl_ip_is_set(const struct sl_ip *ip)
{
	return ip->family == SL_FAMILY_IPV4 || ip->family == SL_FAMILY_IPV6;
}

int sl_ip_cmp(const struct sl_ip *a, const struct sl_ip *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, sl_ip_bytes(a));
}

bool sl_ip_equal(const struct sl_ip *a, const struct sl_ip *b)
{
	return sl_ip_cmp(a, b) == 0;
}

void sl_ip_from_v4(struct sl_ip *out, uint32_t addr_be)
{
	memset(out, 0, sizeof(*out));
	out->family = SL_FAMILY_IPV4;
	memcpy(out->addr, &addr_be, 4);
}

uint32_t sl_ip_v4_be(const struct sl_ip *ip)
{
	uint32_t v = 0;

	if (ip->family == SL_FAMILY_IPV4)
		memcpy(&v, ip->addr, 4);
	return v;
}

bool sl_prefix_contains(const struct sl_prefix *p, const struct sl_ip *ip)
{
	if (p->ip.family != ip->family)
		return false;
	for (unsigned b = 0; b < p->len; b++) {
		uint8_t mask = 0x80 >> (b % 8);

		if ((p->ip.addr[b / 8] & mask) != (ip->addr[b / 8] & mask))
			return false;
	}
	return true;
}

uint64_t sl_prefix_size(const struct sl_prefix *p)
{
	unsigned host = family_bits(p->ip.family) - p->len;

	return host >= 64 ? UINT64_MAX : (uint64_t)1 << host;
}

int sl_prefix_nth(const struct sl_prefix *p, uint64_t n, struct sl_ip *out)
{
	unsigned nbytes = sl_ip_bytes(&p->ip);
	struct sl_ip ip = p->ip;
	unsigned carry = 0;

	if (!nbytes || n >= sl_prefix_size(p))
		return -ERANGE;
	/* Clear host bits, then add n from the last byte up. */
	for (unsigned b = p->len; b < nbytes * 8; b++)
		ip.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	for (int i = (int)nbytes - 1; i >= 0 && (n || carry); i--) {
		unsigned sum = ip.addr[i] + (unsigned)(n & 0xff) + carry;

		ip.addr[i] = (uint8_t)sum;
		carry = sum >> 8;
		n >>= 8;
	}
	*out = ip;
	return 0;
}

void sl_endpoint_key_from_ip(struct sl_endpoint_key *key, const struct sl_ip *ip)
{
	memset(key, 0, sizeof(*key));
	key->family = ip->family;
	memcpy(key->addr, ip->addr, sl_ip_bytes(ip));
}

void sl_ip_from_raw(struct sl_ip *out, uint8_t family, const uint8_t addr[16])
{
	memset(out, 0, sizeof(*out));
	out->family = family;
	memcpy(out->addr, addr, sl_ip_bytes(out));
}

int sl_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			 &tail) != 6 ||
	    strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

const char *sl_mac_fmt(const uint8_t mac[6], char buf[SL_MAC_STRLEN])
{
	snprintf(buf, SL_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}

bool sl_mac_is_zero(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) == 0;
}
