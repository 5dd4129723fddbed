// SPDX-License-Identifier: Apache-2.0
/*
 * The same rules as k8s.io/apimachinery/pkg/util/validation, written as
 * scanners instead of regular expressions: no regex compilation at start-up
 * and a reason that says which rule failed.
 */
#include "k8s/names.h"

#include <string.h>

static const struct {
	const char *name;
	const char *api_version;
	bool namespaced;
} kinds[K8S_KIND_MAX] = {
	[K8S_KIND_NAMESPACE] = { "Namespace", "v1", false },
	[K8S_KIND_POD] = { "Pod", "v1", true },
	[K8S_KIND_NETWORK_POLICY] = { "NetworkPolicy", "networking.k8s.io/v1", true },
};

const char *k8s_kind_name(enum k8s_kind kind)
{
	return kind > K8S_KIND_NONE && kind < K8S_KIND_MAX ? kinds[kind].name : "?";
}

enum k8s_kind k8s_kind_parse(const char *s)
{
	for (int k = K8S_KIND_NONE + 1; s && k < K8S_KIND_MAX; k++)
		if (!strcmp(s, kinds[k].name))
			return (enum k8s_kind)k;
	return K8S_KIND_NONE;
}

const char *k8s_kind_api_version(enum k8s_kind kind)
{
	return kind > K8S_KIND_NONE && kind < K8S_KIND_MAX ? kinds[kind].api_version : "?";
}

bool k8s_kind_namespaced(enum k8s_kind kind)
{
	return kind > K8S_KIND_NONE && kind < K8S_KIND_MAX && kinds[kind].namespaced;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One DNS-1123 label of len bytes at s: [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static const char *dns_label_chars(const char *s, size_t len)
{
	if (!len)
		return "must not be empty";
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-' && i && i + 1 < len)
			continue;
		if (!is_lower_alnum(s[i]))
			return "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
	}
	return NULL;
}

const char *k8s_valid_dns1123_label(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len > K8S_DNS1123_LABEL_MAX)
		return "must be no more than 63 characters";
	return dns_label_chars(s, len);
}

const char *k8s_valid_dns1123_subdomain(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	const char *p = s;

	if (!len)
		return "must not be empty";
	if (len > K8S_DNS1123_SUBDOMAIN_MAX)
		return "must be no more than 253 characters";
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (dns_label_chars(p, n))
			return "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
		if (!dot)
			return NULL;
		p = dot + 1;
	}
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over len bytes; len may be 0. */
static bool qualified_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		bool inner = i && i + 1 < len;

		if (!is_alnum(s[i]) && !(inner && (s[i] == '-' || s[i] == '_' || s[i] == '.')))
			return false;
	}
	return true;
}

const char *k8s_valid_label_key(const char *s)
{
	const char *slash, *name;
	size_t len;

	if (!s || !*s)
		return "must not be empty";
	slash = strchr(s, '/');
	name = slash ? slash + 1 : s;
	if (slash) {
		char prefix[K8S_DNS1123_SUBDOMAIN_MAX + 1];
		size_t plen = (size_t)(slash - s);

		if (!plen)
			return "prefix part must not be empty";
		if (plen > K8S_DNS1123_SUBDOMAIN_MAX)
			return "prefix part must be no more than 253 characters";
		memcpy(prefix, s, plen);
		prefix[plen] = '\0';
		if (k8s_valid_dns1123_subdomain(prefix))
			return "prefix part must be a lowercase RFC 1123 subdomain";
		if (strchr(name, '/'))
			return "a qualified name must consist of an optional DNS subdomain prefix and '/' and a name";
	}
	len = strlen(name);
	if (!len)
		return "name part must not be empty";
	if (len > 63)
		return "name part must be no more than 63 characters";
	if (!qualified_chars(name, len))
		return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
	return NULL;
}

const char *k8s_valid_label_value(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len > K8S_LABEL_VALUE_MAX)
		return "must be no more than 63 characters";
	if (!qualified_chars(s, len))
		return "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
	return NULL;
}

const char *k8s_valid_port_name(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool letter = false;

	if (!len)
		return "must not be empty";
	if (len > K8S_IANA_SVC_NAME_MAX)
		return "must be no more than 15 characters";
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (s[i] != '-' && !(s[i] >= '0' && s[i] <= '9'))
			return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return "must not begin or end with a hyphen";
	if (strstr(s, "--"))
		return "must not contain consecutive hyphens";
	if (!letter)
		return "must contain at least one letter (a-z)";
	return NULL;
}
