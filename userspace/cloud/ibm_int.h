/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to userspace/cloud/ibm*.c: the provider's state and the VPC
 * request layer (URL, version and generation, bearer token, IBM error
 * bodies, paging).
 */
#ifndef SLUICE_CLOUD_IBM_INT_H
#define SLUICE_CLOUD_IBM_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "cloud/ibm.h"
#include "cloud/ibm_iam.h"

/* What the provider learned about one of its attachments. */
struct ibm_iface {
	char id[CLOUD_ID_LEN];
	char vni[CLOUD_ID_LEN];
	char subnet[CLOUD_ID_LEN];
	struct sl_ip primary_ip;
	bool primary;
};

/* A pod IP: which reserved IP it is (for the release). */
struct ibm_rip {
	char iface[CLOUD_ID_LEN];
	char id[CLOUD_ID_LEN];
	struct sl_ip ip;
};

struct ibm_subnet {
	char id[CLOUD_ID_LEN];
	struct sl_prefix prefix;
};

/* A delete the cloud did not confirm, retried before every later call. */
enum ibm_cleanup_kind {
	IBM_CLEANUP_ATTACHMENT,      /* key: attachment id */
	IBM_CLEANUP_ATTACHMENT_NAME, /* key: name of an attachment whose create is in doubt */
	IBM_CLEANUP_RIP,             /* key: reserved IP id, in subnet */
	IBM_CLEANUP_RIP_NAME,        /* key: name of a reserved IP whose create is in doubt, bound to vni */
};

struct ibm_cleanup {
	enum ibm_cleanup_kind kind;
	char key[CLOUD_ID_LEN];
	char subnet[CLOUD_ID_LEN];
	char vni[CLOUD_ID_LEN];
};

struct ibm {
	pthread_mutex_t lock;
	struct cloud_http *http;
	struct ibm_iam *iam;
	char *vpc_url;
	char *api_version;
	char *prefix;
	char *subnet_id;
	const char *instance; /* the provider's */
	unsigned max_interfaces_cfg;
	unsigned max_ips;
	unsigned attach_timeout_ms, detach_timeout_ms, poll_min_ms, poll_max_ms;
	bool have_limits;
	struct cloud_limits limits;
	unsigned seed;

	struct ibm_iface *ifaces;
	size_t n_ifaces;
	struct ibm_rip *rips;
	size_t n_rips;
	struct ibm_subnet *subnets;
	size_t n_subnets;
	struct ibm_cleanup *cleanups;
	size_t n_cleanups;
};

/* The outcome of one VPC call beyond its errno. */
struct ibm_result {
	long status;   /* final HTTP status; 0 when none came */
	bool sent;     /* at least one attempt reached the wire: a create may have happened */
	char code[64]; /* errors[0].code of an IBM error body */
};

/* One VPC call. path is relative to the VPC URL ("/instances/ID"), query
 * is extra parameters ("limit=100&start=X") or NULL, body is sent as JSON
 * when not NULL. On 2xx, *out (when out is not NULL) is the parsed body, or
 * NULL for an empty one; a body that is not JSON is -EIO with res->status
 * still 2xx (a GET is asked again twice first); with out NULL the body is
 * not looked at. Otherwise the IBM error is logged with its trace under `what`
 * and mapped: 400 -EINVAL (-ENOSPC for quota/limit/exhausted codes), 401/403
 * -EACCES, 404 -ENOENT, 409 -EBUSY, 412 -ESTALE, 429 and 5xx -EAGAIN, 501
 * -EOPNOTSUPP. A 401 fetches a new token and repeats the call once. */
int ibm_call(struct ibm *ibm, const char *what, const char *method, const char *path, const char *query,
	     json_t *body, struct ibm_result *res, json_t **out);

/* GETs every page of a collection (limit=100, then the `start` of each
 * next.href) and returns the items under `key` in one new array. */
int ibm_list(struct ibm *ibm, const char *what, const char *path, const char *query, const char *key,
	     json_t **items);

#endif /* SLUICE_CLOUD_IBM_INT_H */
