/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to userspace/cloud/openstack*.c: the Keystone session (token,
 * catalog, authenticated requests with one re-auth on 401), OpenStack error
 * bodies, and the instance id lookup. The pure helpers are exported for the
 * unit tests.
 */
#ifndef SLUICE_CLOUD_OPENSTACK_INT_H
#define SLUICE_CLOUD_OPENSTACK_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cloud/cloud_http.h"
#include "cloud/openstack.h"

enum os_service { OS_SVC_NETWORK, OS_SVC_COMPUTE };

struct os_session {
	struct cloud_http *http;
	char *auth_url;           /* ends in /v3 */
	char *auth_body;          /* the POST /v3/auth/tokens request */
	char *region, *interface;
	char *network_override, *compute_override;
	unsigned margin_s;

	char *token;              /* X-Subject-Token; never logged */
	struct timespec refresh_at; /* CLOCK_MONOTONIC: get a new token from then on */
	char *network_url;        /* ends in /v2.0 */
	char *compute_url;
	char project_id[CLOUD_ID_LEN];
	uint64_t auths, reauth_401;
};

/* An answer: status, the body as JSON (NULL when empty or not JSON), and for
 * errors the type and message OpenStack put in it. */
struct os_resp {
	long status;
	json_t *json;
	bool garbage;        /* a non-empty body that is not JSON */
	char type[96];       /* NeutronError.type, Nova's fault name, Keystone's title */
	char msg[320];
	struct cloud_http_resp raw;
};

int os_session_init(struct os_session *s, const struct openstack_config *cfg);
void os_session_fini(struct os_session *s);
/* Gets a new token and the endpoints; -EACCES when Keystone refuses. */
int os_authenticate(struct os_session *s);

#define OS_F_NO_RETRY 0x1 /* send once: the caller resolves a lost answer itself */

/* One authenticated request to a service; path is appended to the service's
 * endpoint. Renews an expiring token first; re-auths once on 401. 0 with
 * r->status set (any status), or a transport error (-ETIMEDOUT, ...). */
int os_call(struct os_session *s, enum os_service svc, const char *method, const char *path,
	    const json_t *body, const char *extra_header, unsigned flags, struct os_resp *r);
void os_resp_free(struct os_resp *r);
/* Logs "<what>: HTTP <status> <type>: <message>" at warn level and returns
 * os_error_errno of the answer. */
int os_resp_fail(const char *what, const struct os_resp *r);

/* --- pure helpers (unit-tested) --- */

/* The Keystone v3 auth request for the config (password or application
 * credential); -EINVAL with a log line when a required field is missing. */
int os_auth_body(const struct openstack_config *cfg, char **out);
/* The URL of the first endpoint of a service of `type` with `interface`
 * (public/internal/admin, "publicURL" spellings accepted) in `region`
 * (NULL: any); -ENOENT if there is none. */
int os_catalog_find(const json_t *catalog, const char *type, const char *interface, const char *region,
		    const char **url);
/* ISO 8601 UTC ("2026-01-02T03:04:05.000000Z", "+00:00" accepted). */
int os_parse_time(const char *s, time_t *out);
/* Fills type and msg from an error body of Neutron, Nova, Keystone or
 * anything else (the first line of a non-JSON body). */
void os_error_parse(const char *body, char *type, size_t tlen, char *msg, size_t mlen);
/* -errno for an HTTP error status and its OpenStack error type. */
int os_error_errno(long status, const char *type);
/* base + suffix with exactly one '/' between; malloc'ed. */
char *os_url_join(const char *base, const char *suffix);

/* The instance id, as openstack.h describes. */
int os_instance_id(const struct openstack_config *cfg, char *out, size_t len);
/* The "uuid" of <dir>/openstack/latest/meta_data.json. */
int os_config_drive_uuid(const char *dir, char *out, size_t len);

#endif /* SLUICE_CLOUD_OPENSTACK_INT_H */
