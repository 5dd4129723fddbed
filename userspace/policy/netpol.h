/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A NetworkPolicy spec, validated as the API server validates it
 * (pkg/apis/networking/validation) and defaulted as it defaults it
 * (protocol TCP; policyTypes Ingress, plus Egress when spec.egress has a
 * rule), reduced to what the compiler needs. Also the rule texts of
 * `sluicectl policy show`, and the endPort decomposition.
 *
 * A parsed policy borrows strings from the spec's JSON: keep it alive.
 */
#ifndef SLUICE_POLICY_NETPOL_H
#define SLUICE_POLICY_NETPOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/addr.h"
#include "policy/sbuf.h"
#include "policy/selector.h"

enum netpol_dir { NETPOL_INGRESS = 0, NETPOL_EGRESS = 1, NETPOL_NDIRS };

struct netpol_peer {
	bool is_ipblock;
	/* selectors: at least one present */
	bool has_pod, has_ns;
	struct selector pod, ns;
	/* ipBlock (host bits cleared, as the API server's parser does) */
	struct sl_prefix cidr;
	struct sl_prefix *except;
	size_t n_except;
};

struct netpol_port {
	uint8_t proto;    /* IPPROTO_TCP / UDP / SCTP */
	bool any_port;    /* no `port`: every port of proto */
	const char *name; /* a named port, or NULL */
	uint16_t port, end_port; /* numeric: port..end_port (end_port == port without endPort) */
};

struct netpol_rule {
	struct netpol_peer *peers; /* n_peers 0: every peer */
	size_t n_peers;
	struct netpol_port *ports; /* n_ports 0: every port and protocol */
	size_t n_ports;
};

struct netpol {
	struct selector pod_selector;
	bool types[NETPOL_NDIRS]; /* policyTypes after defaulting */
	struct netpol_rule *rules[NETPOL_NDIRS];
	size_t n_rules[NETPOL_NDIRS];
};

#define NETPOL_ERR_MAX 384

/* -EINVAL with "spec.ingress[0].from[1]: must specify a peer" in err for a
 * spec the API server would reject; -ENOMEM. */
int netpol_parse(const json_t *spec, struct netpol *out, char err[NETPOL_ERR_MAX]);
void netpol_free(struct netpol *p);

/* "from pods {app=web} in namespaces {team=a}, 10.0.0.0/8 except
 * 10.1.0.0/16; TCP 80, UDP 53-60, TCP port http" */
void netpol_rule_fmt(const struct netpol_rule *r, enum netpol_dir dir, struct sbuf *b);

/* The CIDR syntax of ipBlock: "a.b.c.d/n" or IPv6, as Go's legacy
 * (sloppy) parser takes it: host bits may be set (cleared here), IPv4
 * octets and the length may have leading zeros. -EINVAL. */
int netpol_cidr_parse(const char *s, struct sl_prefix *out);

/* A port range as aligned power-of-two blocks, the way an LPM trie holds
 * it: lo..hi (lo <= hi) is the disjoint union of [port, port + 2^bits).
 * At most 2 * 16 blocks (fewer than 32 in fact). Returns how many. */
struct port_block {
	uint16_t port;
	uint8_t bits;
};
#define PORT_BLOCKS_MAX 32
size_t port_range_blocks(uint16_t lo, uint16_t hi, struct port_block out[PORT_BLOCKS_MAX]);

const char *netpol_proto_name(uint8_t proto);

#endif /* SLUICE_POLICY_NETPOL_H */
