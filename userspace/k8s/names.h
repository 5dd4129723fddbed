/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes kinds and name syntax: what the API server accepts for object
 * names, namespaces, label keys and values, and named container ports.
 *
 * The k8s_valid_* checks return NULL when s is valid, or a static reason in
 * the API server's wording ("must be no more than 63 characters") that the
 * caller prefixes with the field it checked. They are shared by the manifest
 * validator and, later, the NetworkPolicy compiler (label selectors).
 */
#ifndef SLUICE_K8S_NAMES_H
#define SLUICE_K8S_NAMES_H

#include <stdbool.h>

/* The kinds Sluice reads. 0 is "none", so a zeroed struct is not a Pod. */
enum k8s_kind {
	K8S_KIND_NONE = 0,
	K8S_KIND_NAMESPACE,
	K8S_KIND_POD,
	K8S_KIND_NETWORK_POLICY,
	K8S_KIND_MAX,
};

/* "Namespace", "Pod", "NetworkPolicy"; "?" for anything else. */
const char *k8s_kind_name(enum k8s_kind kind);
/* Exact, case-sensitive match of a manifest's kind; K8S_KIND_NONE if unknown. */
enum k8s_kind k8s_kind_parse(const char *s);
/* The apiVersion the kind is served under: "v1", "networking.k8s.io/v1". */
const char *k8s_kind_api_version(enum k8s_kind kind);
bool k8s_kind_namespaced(enum k8s_kind kind);

#define K8S_DNS1123_LABEL_MAX 63
#define K8S_DNS1123_SUBDOMAIN_MAX 253
#define K8S_LABEL_VALUE_MAX 63
#define K8S_IANA_SVC_NAME_MAX 15
/* A label key: DNS-1123 subdomain prefix, '/', a 63-character name. */
#define K8S_LABEL_KEY_MAX (K8S_DNS1123_SUBDOMAIN_MAX + 1 + 63)

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63: namespaces, container names. */
const char *k8s_valid_dns1123_label(const char *s);
/* Labels of the above joined by '.', at most 253: Pod and policy names. */
const char *k8s_valid_dns1123_subdomain(const char *s);
/* [prefix/]name: prefix a DNS-1123 subdomain, name at most 63 of
 * [A-Za-z0-9_.-] beginning and ending alphanumeric. */
const char *k8s_valid_label_key(const char *s);
/* Empty, or at most 63 of [A-Za-z0-9_.-] beginning and ending alphanumeric. */
const char *k8s_valid_label_value(const char *s);
/* IANA_SVC_NAME (RFC 6335): at most 15 of [a-z0-9-], at least one letter,
 * no leading, trailing or doubled '-'. */
const char *k8s_valid_port_name(const char *s);

#endif /* SLUICE_K8S_NAMES_H */
