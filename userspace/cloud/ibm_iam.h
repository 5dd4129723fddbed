/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IBM Cloud bearer tokens for the VPC API, from one of two sources:
 *
 *  - an API key, exchanged at IAM:
 *      POST <iam>/identity/token  (application/x-www-form-urlencoded)
 *      grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=KEY&response_type=cloud_iam
 *    -> {"access_token", "expires_in", "expiration", ...}
 *  - no key: the instance metadata service (it must be enabled on the VM),
 *      PUT  <md>/instance_identity/v1/token?version=2022-03-01
 *           Metadata-Flavor: ibm, {"expires_in": 300}     -> instance identity token
 *      POST <md>/instance_identity/v1/iam_token?version=2022-03-01
 *           Authorization: Bearer <identity token>,
 *           optional {"trusted_profile": {"id": ...}}     -> IAM access token
 *
 * Refresh policy, copied from IBM's go-sdk-core (iam_authenticator.go): a
 * token is refreshed once 80 % of its life has passed (now >= expiration -
 * 0.2 * expires_in), and treated as expired 10 s before `expiration`. When a
 * refresh fails and the current token is still valid, the current token is
 * used (and the failure logged): an IAM outage does not stop the node until
 * the token really runs out.
 *
 * The API key and the tokens are never logged. Not thread-safe: the provider
 * serializes calls.
 */
#ifndef SLUICE_CLOUD_IBM_IAM_H
#define SLUICE_CLOUD_IBM_IAM_H

#include <stddef.h>
#include <time.h>

#include "cloud/cloud_http.h"

#define IBM_IAM_URL_DEFAULT "https://iam.cloud.ibm.com"
#define IBM_METADATA_URL_DEFAULT "http://169.254.169.254"
#define IBM_METADATA_VERSION "2022-03-01"
/* Seconds before `expiration` from which a token counts as expired. */
#define IBM_IAM_EXPIRY_MARGIN_S 10

struct ibm_iam_config {
	const char *iam_url;         /* base URL; NULL: IBM_IAM_URL_DEFAULT */
	const char *metadata_url;    /* NULL: IBM_METADATA_URL_DEFAULT */
	const char *api_key;         /* NULL or "": the metadata flow */
	const char *trusted_profile; /* metadata flow: trusted profile id, or NULL */
	time_t (*clock)(void);       /* NULL: time(); tests move time forward */
};

struct ibm_iam_stats {
	unsigned long fetches;  /* tokens obtained */
	unsigned long failures; /* attempts to obtain one that failed */
};

struct ibm_iam;

/* http is borrowed (shared with the VPC calls): it must outlive the iam. */
int ibm_iam_new(const struct ibm_iam_config *cfg, struct cloud_http *http, struct ibm_iam **out);
void ibm_iam_free(struct ibm_iam *iam);

/* The access token to send as "Authorization: Bearer <token>"; *token stays
 * valid until the next call on iam. Errors: -EACCES (key or profile
 * refused), -EAGAIN (IAM unavailable or throttled), -EIO (an answer without
 * a token), or a transport error from cloud_http. */
int ibm_iam_token(struct ibm_iam *iam, const char **token);

/* The VPC answered 401 with this token: the next ibm_iam_token fetches a new one. */
void ibm_iam_invalidate(struct ibm_iam *iam);

/* The instance's id from the metadata service (GET /metadata/v1/instance,
 * with an instance identity token): for nodes started without --ibm-instance. */
int ibm_iam_instance_id(struct ibm_iam *iam, char *buf, size_t len);

void ibm_iam_get_stats(const struct ibm_iam *iam, struct ibm_iam_stats *out);

#endif /* SLUICE_CLOUD_IBM_IAM_H */
