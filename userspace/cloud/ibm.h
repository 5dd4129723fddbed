/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ibm`: the cloud_provider for IBM Cloud VPC (generation 2), on the
 * network-attachment model: every interface the agent attaches is an
 * instance network attachment carrying a virtual network interface (VNI),
 * and every pod IP is a subnet reserved IP bound to that VNI with
 * auto_delete, so deleting the attachment takes its IPs along.
 *
 *   limits            GET /instances/{id} -> profile; GET /instance/profiles/{name}
 *                     -> network_attachment_count (max of the range);
 *                     max_ips_per_interface from the config (8: the primary IP included)
 *   list_interfaces   GET /instances/{id}/network_attachments, per attachment its VNI
 *                     (mac_address), its bound IPs (GET /virtual_network_interfaces/{vni}/ips,
 *                     paged) and its subnet (ipv4_cidr_block; the gateway is the
 *                     subnet's first host)
 *   attach_interface  POST /instances/{id}/network_attachments named "<prefix>-eni<N>"
 *                     (N: lowest free device index), polled from pending to stable
 *   detach_interface  DELETE /instances/{id}/network_attachments/{id}, polled until 404
 *   assign_ips        POST /subnets/{subnet}/reserved_ips {"name", "auto_delete": true,
 *                     "target": {"id": vni}} per IP, polled to stable if pending
 *   unassign_ip       DELETE /subnets/{subnet}/reserved_ips/{id}
 *
 * Every VPC call carries ?version=<api_version>&generation=2 and a bearer
 * token (see ibm_iam.h); collections are followed through next.href.
 * Retries are cloud_http's (429 and 5xx but 501, Retry-After, jitter). IBM
 * error bodies ({"errors": [{"code", "message"}], "trace"}) become log lines
 * carrying the trace. The API key is never logged.
 *
 * No leaks: names are idempotency keys. When a create's outcome is unknown
 * (timeout, connection lost, an answer that is not JSON) the provider looks
 * the resource up by name and keeps or deletes it; a step that fails after a
 * create deletes what it created; and a cleanup the cloud refused is queued
 * and retried at the start of every later call (list_interfaces included),
 * so a reserved IP or attachment the agent does not know about never stays.
 *
 * Calls are serialized by a lock in the provider.
 */
#ifndef SLUICE_CLOUD_IBM_H
#define SLUICE_CLOUD_IBM_H

#include <stdbool.h>
#include <time.h>

#include "cloud/cloud_http.h"
#include "cloud/provider.h"

/* Pinned VPC API version (the 2025-12-16 SDK documents 2025-12-09..2026-03-25). */
#define IBM_API_VERSION_DEFAULT "2025-12-16"
#define IBM_NAME_PREFIX_DEFAULT "sluice"
#define IBM_MAX_IPS_PER_INTERFACE 8
/* When the profile says "dependent" (no fixed number), until the cloud says no. */
#define IBM_MAX_INTERFACES_FALLBACK 5

struct ibm_config {
	const char *region;          /* "us-south": https://us-south.iaas.cloud.ibm.com/v1 */
	const char *vpc_url;         /* --ibm-vpc-url: overrides region's, e.g. http://198.18.0.1:8080/v1 */
	const char *iam_url;         /* --ibm-iam-url: base ("/identity/token" is appended); NULL: IAM's */
	const char *metadata_url;    /* --ibm-metadata-url; NULL: http://169.254.169.254 */
	const char *api_key;         /* NULL: $IBMCLOUD_API_KEY, then api_key_file; none: metadata flow */
	const char *api_key_file;    /* first line of the file, blanks trimmed */
	const char *trusted_profile; /* metadata flow: trusted profile id, or NULL */
	const char *instance_id;     /* NULL: from the metadata service */
	const char *subnet_id;       /* subnet of the interfaces the agent attaches (required) */
	const char *api_version;     /* NULL: IBM_API_VERSION_DEFAULT */
	const char *name_prefix;     /* NULL: "sluice"; names the attachments and reserved IPs */
	unsigned max_interfaces;     /* 0: the profile's; else the smaller of both */
	unsigned max_ips_per_interface; /* 0: IBM_MAX_IPS_PER_INTERFACE */
	unsigned attach_timeout_ms;  /* pending -> stable, and for reserved IPs; 0: 180000 */
	unsigned detach_timeout_ms;  /* deleting -> gone; 0: 180000 */
	unsigned poll_min_ms;        /* first poll interval, doubled up to poll_max_ms; 0: 1000 */
	unsigned poll_max_ms;        /* 0: 10000 */
	struct cloud_http_opts http; /* timeouts, retries, budget, TLS (unix_socket: tests) */
	time_t (*clock)(void);       /* token expiry clock; NULL: time() (tests) */
};

/* Validates the config, reads the key, resolves the instance id (metadata
 * service when none is given), but makes no other call: a cloud that is
 * down at start is not an error here, only when the agent first asks. */
int ibm_provider_create(const struct ibm_config *cfg, struct cloud_provider **out);

/* What the provider has spent and still owes, for metrics and tests. */
struct ibm_stats {
	struct cloud_http_stats http;
	unsigned long token_fetches;
	unsigned long pending_cleanups; /* deletes queued because the cloud refused them */
};
void ibm_provider_stats(struct cloud_provider *p, struct ibm_stats *out);

#endif /* SLUICE_CLOUD_IBM_H */
