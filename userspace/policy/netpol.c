// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy specs: ValidateNetworkPolicySpec and SetDefaults_NetworkPolicy
 * of the API server, on the raw JSON the store keeps. JSON null counts as
 * absent, as Go's decoder treats it; a value of the wrong type is an error
 * (the API server would refuse to decode it).
 */
#include "policy/netpol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/names.h"

static bool absent(const json_t *j)
{
	return !j || json_is_null(j);
}

/* --- ipBlock CIDRs -------------------------------------------------------------- */

/* Decimal digits only, leading zeros allowed (Go's dtoi); -1 if none or > max. */
static long digits(const char *s, size_t n, long max)
{
	long v = 0;

	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return -1;
	}
	return v;
}

static int ipv4_sloppy(const char *s, size_t n, uint8_t out[4])
{
	size_t start = 0, part = 0;

	for (size_t i = 0; i <= n; i++) {
		long v;

		if (i < n && s[i] != '.')
			continue;
		if (part == 4 || (v = digits(s + start, i - start, 255)) < 0)
			return -EINVAL;
		out[part++] = (uint8_t)v;
		start = i + 1;
	}
	return part == 4 ? 0 : -EINVAL;
}

int netpol_cidr_parse(const char *s, struct sl_prefix *out)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	struct sl_prefix p = { 0 };
	char addr[SL_IP_STRLEN];
	size_t alen;
	long len;

	if (!slash || strchr(slash + 1, '/'))
		return -EINVAL;
	alen = (size_t)(slash - s);
	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (strchr(addr, ':')) {
		if (inet_pton(AF_INET6, addr, p.ip.addr) != 1)
			return -EINVAL;
		p.ip.family = SL_FAMILY_IPV6;
	} else {
		if (ipv4_sloppy(addr, alen, p.ip.addr))
			return -EINVAL;
		p.ip.family = SL_FAMILY_IPV4;
	}
	len = digits(slash + 1, strlen(slash + 1), p.ip.family == SL_FAMILY_IPV4 ? 32 : 128);
	if (len < 0)
		return -EINVAL;
	p.len = (uint8_t)len;
	for (unsigned b = p.len; b < 128; b++)
		p.ip.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	*out = p;
	return 0;
}

/* --- ports ------------------------------------------------------------------------ */

size_t port_range_blocks(uint16_t lo, uint16_t hi, struct port_block out[PORT_BLOCKS_MAX])
{
	uint32_t a = lo, b = hi;
	size_t n = 0;

	while (a <= b && n < PORT_BLOCKS_MAX) {
		unsigned bits = 0;

		/* The largest block aligned at a that stays within b. */
		while (bits < 16 && !(a & ((1u << (bits + 1)) - 1)) && a + (1u << (bits + 1)) - 1 <= b)
			bits++;
		out[n].port = (uint16_t)a;
		out[n].bits = (uint8_t)bits;
		n++;
		a += 1u << bits;
	}
	return n;
}

const char *netpol_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	default:
		return "?";
	}
}

/* --- parsing ----------------------------------------------------------------------- */

struct pctx {
	char *err;
	char path[160];
};

#define FAIL(c, ...)                                                                    \
	({                                                                              \
		int __n = snprintf((c)->err, NETPOL_ERR_MAX, "%s: ", (c)->path);      \
		if (__n > 0 && __n < NETPOL_ERR_MAX)                                    \
			snprintf((c)->err + __n, NETPOL_ERR_MAX - (size_t)__n, __VA_ARGS__); \
		-EINVAL;                                                                \
	})

/* Sets the path for the next message: base + suffix. */
static void at(struct pctx *c, const char *base, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void at(struct pctx *c, const char *base, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->path, sizeof(c->path), "%s", base);

	if (n < 0 || (size_t)n >= sizeof(c->path))
		return;
	va_start(ap, fmt);
	vsnprintf(c->path + n, sizeof(c->path) - (size_t)n, fmt, ap);
	va_end(ap);
}

static int parse_selector(struct pctx *c, const json_t *j, struct selector *out)
{
	char why[SELECTOR_ERR_MAX];
	int err = selector_parse(j, out, why);

	if (err == -EINVAL)
		return FAIL(c, "%s", why);
	return err;
}

static int parse_port(struct pctx *c, const char *base, const json_t *j, struct netpol_port *p)
{
	const json_t *proto = json_object_get(j, "protocol"), *port = json_object_get(j, "port");
	const json_t *end = json_object_get(j, "endPort");
	const char *why;

	at(c, base, "%s", "");
	if (!json_is_object(j))
		return FAIL(c, "must be an object");
	at(c, base, ".protocol");
	if (absent(proto))
		p->proto = IPPROTO_TCP;
	else if (json_is_string(proto) && !strcmp(json_string_value(proto), "TCP"))
		p->proto = IPPROTO_TCP;
	else if (json_is_string(proto) && !strcmp(json_string_value(proto), "UDP"))
		p->proto = IPPROTO_UDP;
	else if (json_is_string(proto) && !strcmp(json_string_value(proto), "SCTP"))
		p->proto = IPPROTO_SCTP;
	else
		return FAIL(c, "Unsupported value: %s: supported values: \"TCP\", \"UDP\", \"SCTP\"",
			    json_is_string(proto) ? json_string_value(proto) : "(not a string)");
	at(c, base, ".endPort");
	if (!absent(end) && !json_is_integer(end))
		return FAIL(c, "must be an integer");
	if (absent(port)) {
		if (!absent(end))
			return FAIL(c, "may not be specified when `port` is not specified");
		p->any_port = true;
		return 0;
	}
	at(c, base, ".port");
	if (json_is_string(port)) {
		at(c, base, ".endPort");
		if (!absent(end))
			return FAIL(c, "may not be specified when `port` is non-numeric");
		at(c, base, ".port");
		if ((why = k8s_valid_port_name(json_string_value(port))))
			return FAIL(c, "Invalid value: \"%.40s\": %s", json_string_value(port), why);
		p->name = json_string_value(port);
		return 0;
	}
	if (!json_is_integer(port))
		return FAIL(c, "must be an integer or a string");
	if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
		return FAIL(c, "Invalid value: %lld: must be between 1 and 65535, inclusive",
			    (long long)json_integer_value(port));
	p->port = p->end_port = (uint16_t)json_integer_value(port);
	if (absent(end))
		return 0;
	at(c, base, ".endPort");
	if (json_integer_value(end) < json_integer_value(port))
		return FAIL(c, "Invalid value: %lld: must be greater than or equal to `port`",
			    (long long)json_integer_value(end));
	if (json_integer_value(end) > 65535)
		return FAIL(c, "Invalid value: %lld: must be between 1 and 65535, inclusive",
			    (long long)json_integer_value(end));
	p->end_port = (uint16_t)json_integer_value(end);
	return 0;
}

static bool prefix_within(const struct sl_prefix *inner, const struct sl_prefix *outer)
{
	return inner->len >= outer->len && sl_prefix_contains(outer, &inner->ip);
}

static int parse_ipblock(struct pctx *c, const char *base, const json_t *j, struct netpol_peer *p)
{
	const json_t *cidr = json_object_get(j, "cidr"), *except = json_object_get(j, "except"), *e;
	size_t i;

	at(c, base, "%s", "");
	if (!json_is_object(j))
		return FAIL(c, "must be an object");
	at(c, base, ".cidr");
	if (!absent(cidr) && !json_is_string(cidr))
		return FAIL(c, "must be a string");
	if (absent(cidr) || !json_string_length(cidr))
		return FAIL(c, "Required value");
	if (netpol_cidr_parse(json_string_value(cidr), &p->cidr))
		return FAIL(c, "Invalid value: \"%.60s\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
			    json_string_value(cidr));
	at(c, base, ".except");
	if (absent(except))
		return 0;
	if (!json_is_array(except))
		return FAIL(c, "must be a list");
	if (!json_array_size(except))
		return 0;
	p->except = calloc(json_array_size(except), sizeof(*p->except));
	if (!p->except)
		return -ENOMEM;
	json_array_foreach(except, i, e) {
		struct sl_prefix *x = &p->except[i];

		at(c, base, ".except[%zu]", i);
		if (!json_is_string(e))
			return FAIL(c, "must be a string");
		if (netpol_cidr_parse(json_string_value(e), x))
			return FAIL(c, "Invalid value: \"%.60s\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
				    json_string_value(e));
		/* "must be a strict subset": the family, the network, and a longer prefix. */
		if (x->ip.family != p->cidr.ip.family || !prefix_within(x, &p->cidr) || x->len <= p->cidr.len)
			return FAIL(c, "Invalid value: \"%.60s\": must be a strict subset of `cidr`", json_string_value(e));
		p->n_except++;
	}
	return 0;
}

static int parse_peer(struct pctx *c, const char *base, const json_t *j, struct netpol_peer *p)
{
	const json_t *pod = json_object_get(j, "podSelector"), *ns = json_object_get(j, "namespaceSelector");
	const json_t *ipb = json_object_get(j, "ipBlock");
	int err;

	at(c, base, "%s", "");
	if (!json_is_object(j))
		return FAIL(c, "must be an object");
	if (absent(pod) && absent(ns) && absent(ipb))
		return FAIL(c, "Required value: must specify a peer");
	if (!absent(ipb) && (!absent(pod) || !absent(ns)))
		return FAIL(c, "Forbidden: may not specify both ipBlock and another peer");
	if (!absent(ipb)) {
		char sub[128];

		snprintf(sub, sizeof(sub), "%s.ipBlock", base);
		p->is_ipblock = true;
		return parse_ipblock(c, sub, ipb, p);
	}
	if (!absent(pod)) {
		at(c, base, ".podSelector");
		if ((err = parse_selector(c, pod, &p->pod)))
			return err;
		p->has_pod = true;
	}
	if (!absent(ns)) {
		at(c, base, ".namespaceSelector");
		if ((err = parse_selector(c, ns, &p->ns)))
			return err;
		p->has_ns = true;
	}
	return 0;
}

static int parse_rule(struct pctx *c, const char *base, const json_t *j, enum netpol_dir dir,
		      struct netpol_rule *r)
{
	const char *peers_key = dir == NETPOL_INGRESS ? "from" : "to";
	const json_t *ports = json_object_get(j, "ports"), *peers = json_object_get(j, peers_key), *e;
	char sub[96];
	size_t i;
	int err;

	at(c, base, "%s", "");
	if (!json_is_object(j))
		return FAIL(c, "must be an object");
	at(c, base, ".ports");
	if (!absent(ports) && !json_is_array(ports))
		return FAIL(c, "must be a list");
	at(c, base, ".%s", peers_key);
	if (!absent(peers) && !json_is_array(peers))
		return FAIL(c, "must be a list");
	if (json_array_size(ports) && !(r->ports = calloc(json_array_size(ports), sizeof(*r->ports))))
		return -ENOMEM;
	if (json_array_size(peers) && !(r->peers = calloc(json_array_size(peers), sizeof(*r->peers))))
		return -ENOMEM;
	json_array_foreach(ports, i, e) {
		snprintf(sub, sizeof(sub), "%s.ports[%zu]", base, i);
		if ((err = parse_port(c, sub, e, &r->ports[i])))
			return err;
		r->n_ports++;
	}
	json_array_foreach(peers, i, e) {
		snprintf(sub, sizeof(sub), "%s.%s[%zu]", base, peers_key, i);
		r->n_peers++; /* counted first: a half-parsed peer is freed too */
		if ((err = parse_peer(c, sub, e, &r->peers[i])))
			return err;
	}
	return 0;
}

static void peer_free(struct netpol_peer *p)
{
	selector_free(&p->pod);
	selector_free(&p->ns);
	free(p->except);
}

void netpol_free(struct netpol *p)
{
	if (!p)
		return;
	selector_free(&p->pod_selector);
	for (int d = 0; d < NETPOL_NDIRS; d++) {
		for (size_t i = 0; i < p->n_rules[d]; i++) {
			struct netpol_rule *r = &p->rules[d][i];

			for (size_t k = 0; k < r->n_peers; k++)
				peer_free(&r->peers[k]);
			free(r->peers);
			free(r->ports);
		}
		free(p->rules[d]);
	}
	memset(p, 0, sizeof(*p));
}

int netpol_parse(const json_t *spec, struct netpol *out, char err_out[NETPOL_ERR_MAX])
{
	static const char *const dir_keys[NETPOL_NDIRS] = { "ingress", "egress" };
	struct pctx c = { .err = err_out };
	struct netpol p = { 0 };
	const json_t *sel, *types, *e;
	char sub[64];
	size_t i;
	int err = 0;

	err_out[0] = '\0';
	at(&c, "spec", "%s", "");
	if (!json_is_object(spec)) {
		err = FAIL(&c, "must be an object");
		goto out;
	}
	sel = json_object_get(spec, "podSelector");
	at(&c, "spec.podSelector", "%s", "");
	if (!absent(sel) && (err = parse_selector(&c, sel, &p.pod_selector)))
		goto out;
	for (int d = 0; d < NETPOL_NDIRS; d++) {
		const json_t *rules = json_object_get(spec, dir_keys[d]);

		at(&c, "spec.", "%s", dir_keys[d]);
		if (absent(rules))
			continue;
		if (!json_is_array(rules)) {
			err = FAIL(&c, "must be a list");
			goto out;
		}
		if (json_array_size(rules) && !(p.rules[d] = calloc(json_array_size(rules), sizeof(*p.rules[d])))) {
			err = -ENOMEM;
			goto out;
		}
		json_array_foreach(rules, i, e) {
			snprintf(sub, sizeof(sub), "spec.%s[%zu]", dir_keys[d], i);
			p.n_rules[d]++;
			if ((err = parse_rule(&c, sub, e, (enum netpol_dir)d, &p.rules[d][i])))
				goto out;
		}
	}
	types = json_object_get(spec, "policyTypes");
	at(&c, "spec.policyTypes", "%s", "");
	if (!absent(types) && !json_is_array(types)) {
		err = FAIL(&c, "must be a list");
		goto out;
	}
	if (json_array_size(types) > 2) {
		err = FAIL(&c, "may not specify more than two policyTypes");
		goto out;
	}
	json_array_foreach(types, i, e) {
		at(&c, "spec.policyTypes", "[%zu]", i);
		if (json_is_string(e) && !strcmp(json_string_value(e), "Ingress")) {
			p.types[NETPOL_INGRESS] = true;
		} else if (json_is_string(e) && !strcmp(json_string_value(e), "Egress")) {
			p.types[NETPOL_EGRESS] = true;
		} else {
			err = FAIL(&c, "Unsupported value: %s: supported values: \"Ingress\", \"Egress\"",
				   json_is_string(e) ? json_string_value(e) : "(not a string)");
			goto out;
		}
	}
	if (!json_array_size(types)) {
		p.types[NETPOL_INGRESS] = true;
		p.types[NETPOL_EGRESS] = p.n_rules[NETPOL_EGRESS] != 0;
	}
out:
	if (err) {
		netpol_free(&p);
		return err;
	}
	*out = p;
	return 0;
}

/* --- texts ---------------------------------------------------------------------------- */

static void peer_fmt(const struct netpol_peer *p, struct sbuf *b)
{
	char buf[SL_PREFIX_STRLEN];

	if (p->is_ipblock) {
		sbuf_puts(b, sl_prefix_fmt(&p->cidr, buf));
		for (size_t i = 0; i < p->n_except; i++)
			sbuf_printf(b, "%s%s", i ? "," : " except ", sl_prefix_fmt(&p->except[i], buf));
		return;
	}
	if (p->has_pod) {
		sbuf_puts(b, "pods ");
		selector_fmt(&p->pod, b);
		if (p->has_ns)
			sbuf_puts(b, " in ");
	} else {
		sbuf_puts(b, "all pods in ");
	}
	if (p->has_ns) {
		sbuf_puts(b, "namespaces ");
		selector_fmt(&p->ns, b);
	}
}

static void port_fmt(const struct netpol_port *p, struct sbuf *b)
{
	const char *proto = netpol_proto_name(p->proto);

	if (p->any_port)
		sbuf_printf(b, "%s any port", proto);
	else if (p->name)
		sbuf_printf(b, "%s %s", proto, p->name);
	else if (p->end_port != p->port)
		sbuf_printf(b, "%s %u-%u", proto, p->port, p->end_port);
	else
		sbuf_printf(b, "%s %u", proto, p->port);
}

void netpol_rule_fmt(const struct netpol_rule *r, enum netpol_dir dir, struct sbuf *b)
{
	sbuf_puts(b, dir == NETPOL_INGRESS ? "from " : "to ");
	if (!r->n_peers)
		sbuf_puts(b, "any peer");
	for (size_t i = 0; i < r->n_peers; i++) {
		if (i)
			sbuf_puts(b, " or ");
		peer_fmt(&r->peers[i], b);
	}
	sbuf_puts(b, "; ");
	if (!r->n_ports)
		sbuf_puts(b, "any port and protocol");
	for (size_t i = 0; i < r->n_ports; i++) {
		if (i)
			sbuf_puts(b, ", ");
		port_fmt(&r->ports[i], b);
	}
}
