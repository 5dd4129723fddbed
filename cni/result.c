// SPDX-License-Identifier: Apache-2.0
/*
 * Spec versions and the ADD result in each of them.
 *
 * The agent answers in 1.1.0 shape. What changes going down (SPEC.md at the
 * spec-v1.0.0 and spec-v0.4.0 tags, and the reference library's
 * pkg/types/100 converters):
 *   1.0.0        interfaces lose mtu/socketPath/pciID and routes lose
 *                mtu/advmss/priority/table/scope (all new in 1.1.0);
 *   0.3.1/0.4.0  additionally every IP carries "version": "4" or "6".
 * Each field is whitelisted with the version that introduced it, so an older
 * runtime never sees a key its spec does not define. The reference library
 * keeps the 1.1.0 route fields when it converts to 1.0.0 (the Go types are
 * shared); dropping them is what the 1.0.0 text says, and every decoder
 * ignores absent optional fields anyway.
 */
#include "cni.h"

#include <stdarg.h>
#include <string.h>

#include "common/addr.h"

#define V(a, b, c) ((a)*10000 + (b)*100 + (c))

const char *const cni_supported_versions[] = { "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL };

int cni_version_num(const char *s)
{
	int part[3] = { 0 };
	int i = 0;

	if (!s)
		return -1;
	for (;;) {
		int digits = 0;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 2 || (digits == 1 && part[i] == 0))
				return -1; /* at most two digits, no leading zero */
			part[i] = part[i] * 10 + (*s - '0');
		}
		if (!digits)
			return -1;
		if (i == 2)
			return *s ? -1 : V(part[0], part[1], part[2]);
		if (*s++ != '.')
			return -1;
		i++;
	}
}

bool cni_version_supported(const char *s)
{
	for (const char *const *v = cni_supported_versions; *v; v++) {
		if (s && strcmp(s, *v) == 0)
			return true;
	}
	return false;
}

enum ftype {
	F_STRING,
	F_UINT,
	F_STRINGS, /* array of strings */
	F_MAC,
	F_CIDR, /* address/len, host bits allowed */
	F_IP,
};

struct field {
	const char *key;
	enum ftype type;
	bool required;
	int since; /* first spec version that defines it */
};

static const struct field iface_fields[] = {
	{ "name", F_STRING, true, V(0, 3, 0) },
	/* The spec says "if applicable"; podman rejects a result without it,
	 * and every interface the agent makes has one. */
	{ "mac", F_MAC, true, V(0, 3, 0) },
	{ "mtu", F_UINT, false, V(1, 1, 0) },
	{ "sandbox", F_STRING, false, V(0, 3, 0) },
	{ "socketPath", F_STRING, false, V(1, 1, 0) },
	{ "pciID", F_STRING, false, V(1, 1, 0) },
	{ NULL },
};

static const struct field ip_fields[] = {
	{ "address", F_CIDR, true, V(0, 3, 0) },
	{ "gateway", F_IP, false, V(0, 3, 0) },
	{ "interface", F_UINT, false, V(0, 3, 0) },
	{ NULL },
};

static const struct field route_fields[] = {
	{ "dst", F_CIDR, true, V(0, 3, 0) },
	{ "gw", F_IP, false, V(0, 3, 0) },
	/* 1.1.0 */
	{ "mtu", F_UINT, false, V(1, 1, 0) },
	{ "advmss", F_UINT, false, V(1, 1, 0) },
	{ "priority", F_UINT, false, V(1, 1, 0) },
	{ "table", F_UINT, false, V(1, 1, 0) },
	{ "scope", F_UINT, false, V(1, 1, 0) },
	{ NULL },
};

static const struct field dns_fields[] = {
	{ "nameservers", F_STRINGS, false, V(0, 3, 0) },
	{ "domain", F_STRING, false, V(0, 3, 0) },
	{ "search", F_STRINGS, false, V(0, 3, 0) },
	{ "options", F_STRINGS, false, V(0, 3, 0) },
	{ NULL },
};

static bool value_ok(const json_t *v, enum ftype type)
{
	const char *s = json_string_value(v);
	struct sl_prefix p;
	struct sl_ip ip;
	uint8_t mac[6];
	size_t i;
	json_t *item;

	switch (type) {
	case F_STRING:
		return s != NULL;
	case F_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case F_STRINGS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, item) {
			if (!json_is_string(item))
				return false;
		}
		return true;
	case F_MAC:
		return s && sl_mac_parse(s, mac) == 0;
	case F_CIDR:
		return s && strchr(s, '/') && sl_prefix_parse(s, false, &p) == 0;
	case F_IP:
		return s && sl_ip_parse(s, &ip) == 0;
	}
	return false;
}

/* Copies the fields of src that version defines into dst, checking each. */
static int copy_fields(const json_t *src, const struct field *fields, int version, json_t *dst,
		       const char *what, struct cni_error *e)
{
	if (!json_is_object(src))
		return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER, "unexpected answer from the sluice agent",
				"result: %s is not an object", what);
	for (const struct field *f = fields; f->key; f++) {
		json_t *v = json_object_get(src, f->key);

		if (!v) {
			if (f->required)
				return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER,
						"unexpected answer from the sluice agent",
						"result: %s has no \"%s\"", what, f->key);
			continue;
		}
		if (!value_ok(v, f->type))
			return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER, "unexpected answer from the sluice agent",
					"result: %s has an invalid \"%s\"", what, f->key);
		if (version >= f->since)
			json_object_set(dst, f->key, v);
	}
	return 0;
}

static int convert_list(const json_t *r, const char *key, const struct field *fields, int version,
			size_t n_ifaces, json_t *out, struct cni_error *e)
{
	json_t *src = json_object_get(r, key), *list, *item;
	char what[64];
	size_t i;
	int err;

	list = json_array();
	json_object_set_new(out, key, list);
	if (!src)
		return 0;
	if (!json_is_array(src))
		return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER, "unexpected answer from the sluice agent",
				"result: \"%s\" is not an array", key);
	json_array_foreach(src, i, item) {
		json_t *dst = json_object();

		json_array_append_new(list, dst);
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		if (fields == ip_fields && version < V(1, 0, 0) && json_is_object(item)) {
			/* 0.3.x/0.4.0 name the family; set first, as their spec lists it. */
			struct sl_prefix p;
			const char *a = json_string_value(json_object_get(item, "address"));

			if (a && sl_prefix_parse(a, false, &p) == 0)
				json_object_set_new(dst, "version",
						    json_string(p.ip.family == SL_FAMILY_IPV6 ? "6" : "4"));
		}
		err = copy_fields(item, fields, version, dst, what, e);
		if (err)
			return err;
		if (fields == ip_fields) {
			json_t *idx = json_object_get(item, "interface");

			if (idx && (size_t)json_integer_value(idx) >= n_ifaces)
				return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER,
						"unexpected answer from the sluice agent",
						"result: %s points at interface %lld of %zu", what,
						(long long)json_integer_value(idx), n_ifaces);
		}
	}
	return 0;
}

int cni_result_convert(const json_t *r, const char *version, json_t **out, struct cni_error *e)
{
	int v = cni_version_num(version);
	json_t *res, *dns_in, *dns_out;
	int err;

	*out = NULL;
	if (!json_is_object(r))
		return cni_fail(e, CNI_ERR_TRY_AGAIN_LATER, "unexpected answer from the sluice agent",
				"result is not an object");
	res = json_object();
	/* SPEC.md section 5: cniVersion, interfaces, ips, routes, dns. */
	json_object_set_new(res, "cniVersion", json_string(version));
	err = convert_list(r, "interfaces", iface_fields, v, 0, res, e);
	if (!err)
		err = convert_list(r, "ips", ip_fields, v,
				   json_array_size(json_object_get(res, "interfaces")), res, e);
	if (!err)
		err = convert_list(r, "routes", route_fields, v, 0, res, e);
	if (err)
		goto fail;
	dns_in = json_object_get(r, "dns");
	dns_out = json_object();
	json_object_set_new(res, "dns", dns_out);
	if (dns_in) {
		err = copy_fields(dns_in, dns_fields, v, dns_out, "dns", e);
		if (err)
			goto fail;
	}
	*out = res;
	return 0;
fail:
	json_decref(res);
	return err;
}
