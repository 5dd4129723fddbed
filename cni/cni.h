/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sluice CNI plugin: a thin client of sluiced.
 *
 * cni_run() validates what the runtime gave it (CNI_* environment, network
 * configuration on stdin) against CNI spec 1.1.0, forwards the operation to
 * the agent as POST /v1/cni (docs/agent-api.md) and prints the agent's answer
 * in the CNI version the runtime asked for. Its I/O is injected, so the unit
 * tests run the whole plugin in-process. Shared by the files of cni/ only.
 */
#ifndef SLUICE_CNI_H
#define SLUICE_CNI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "common/cni_codes.h"

#define CNI_VERSION_NATIVE "1.1.0"
#define CNI_DEFAULT_AGENT_SOCKET "/run/sluice/sluiced.sock"
#define CNI_DEFAULT_TIMEOUT_S 30
#define CNI_MAX_TIMEOUT_S 3600
/* A network configuration with a prevResult is a few KiB. */
#define CNI_MAX_STDIN (4u << 20)


/* An error on its way to stdout as {"cniVersion","code","msg","details"}. */
struct cni_error {
	int code;
	char msg[256];
	char details[1024];
};

/* Fills e and returns code, so a failing step reads `return cni_fail(...)`. */
__attribute__((format(printf, 4, 5))) int cni_fail(struct cni_error *e, int code, const char *msg,
						   const char *details_fmt, ...);
/* Copies src into dst, truncated at a UTF-8 character boundary. */
void cni_strlcpy_utf8(char *dst, const char *src, size_t size);

/*
 * Runs one plugin invocation. envp is a NULL-terminated "NAME=value" array
 * (environ in main). Prints the result or the error JSON on out, logs on err.
 * Returns 0 on success or the CNI error code it printed.
 */
int cni_run(const char *const envp[], FILE *in, FILE *out, FILE *err);

/* --- versions and results (cni/result.c) ----------------------------------- */

/* Supported spec versions, oldest first, NULL-terminated. */
extern const char *const cni_supported_versions[];

/* "X.Y.Z" -> X*10000 + Y*100 + Z; -1 when s is not such a version. */
int cni_version_num(const char *s);
bool cni_version_supported(const char *s);

/*
 * Converts the agent's ADD result (1.1.0 shape, no cniVersion) to the shape
 * of `version` (a supported version), with "cniVersion" set. Fields the
 * target version does not define are dropped; 0.3.x/0.4.0 IPs get "version".
 * Returns 0 with a new reference in *out, or CNI_ERR_TRY_AGAIN_LATER with e
 * filled when the result is not what the agent promises (every interface
 * needs a name and a MAC, every IP a CIDR address, indexes must be valid).
 */
int cni_result_convert(const json_t *r, const char *version, json_t **out, struct cni_error *e);

/* --- the agent (cni/agent.c) ---------------------------------------------- */

struct cni_request {
	const char *command;
	/* NULL when the verb has no such parameter (STATUS, GC): not sent. */
	const char *container_id, *netns, *ifname;
	const char *args, *path; /* "" when unset */
	json_t *config; /* the network configuration, forwarded as is */
	const char *socket;
	int timeout_ms; /* bounds connect, send and receive together */
};

/*
 * POSTs req to /v1/cni. Returns 0 with a new reference to the answer's
 * "result" object, the agent's own CNI error code with e filled from its
 * "error" object, or fail_code with e filled when the agent cannot be reached
 * or answers something that is not the API (fail_code: 11 for ADD, DEL,
 * CHECK and GC; 50 for STATUS).
 */
int cni_agent_call(const struct cni_request *req, int fail_code, json_t **result, struct cni_error *e);

#endif /* SLUICE_CNI_H */
