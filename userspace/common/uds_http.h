/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal HTTP/1.1 client over a unix stream socket: what the CNI plugin and
 * sluicectl need to talk to sluiced, and nothing more (no TLS, no keep-alive,
 * no redirects, no libcurl in the CNI binary).
 *
 * One request per connection, sent with "Connection: close". The response
 * body may be framed by Content-Length, by chunked transfer coding or by the
 * server closing the connection. The whole exchange (connect, send, receive)
 * is bounded by one timeout.
 *
 * Returns 0 with the HTTP status and a malloc'ed NUL-terminated body (which
 * may itself contain NUL bytes; len says how long it is), or -errno:
 *   -ENOENT, -ECONNREFUSED, -EACCES, ...  from connect(): nobody serves there
 *   -ENAMETOOLONG  the socket path does not fit in sun_path
 *   -ETIMEDOUT     the exchange did not finish within timeout_ms
 *   -EPROTO        the server's answer is not a well-formed HTTP/1.x response
 *                  (including a connection closed before the response ended)
 *   -EFBIG         the body is larger than UDS_HTTP_MAX_BODY
 *   -EINVAL        bad arguments
 */
#ifndef SLUICE_UDS_HTTP_H
#define SLUICE_UDS_HTTP_H

#include <stddef.h>

#define UDS_HTTP_MAX_BODY (16u << 20)

struct uds_http_response {
	int status; /* e.g. 200 */
	char *body; /* malloc'ed, NUL-terminated; never NULL after success */
	size_t len; /* body length, without the terminating NUL */
};

/* method: "GET", "POST", ...; path: "/v1/cni". body may be NULL (no body,
 * no Content-Type); otherwise it is sent as application/json. */
int uds_http_request(const char *sock_path, const char *method, const char *path, const char *body,
		     size_t body_len, int timeout_ms, struct uds_http_response *resp);

void uds_http_response_free(struct uds_http_response *resp);

#endif /* SLUICE_UDS_HTTP_H */
