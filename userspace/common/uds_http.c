// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.1 over AF_UNIX, one request per connection. The response is read
 * through a small state machine so that a server which keeps the connection
 * open after a complete response (despite "Connection: close") costs nothing,
 * and a chunked body never needs more raw buffer than one chunk-size line.
 */
#include "common/uds_http.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

/* The status line and headers, and any one chunk-size or trailer line, must
 * fit here; sluiced's heads are a few hundred bytes. */
#define RAW_MAX (64u << 10)
/* Listen backlog full: the server is alive but busy; retry at this pace. */
#define CONNECT_RETRY_MS 10

enum rstate {
	R_HEAD,
	R_BODY_LENGTH,
	R_BODY_EOF,
	R_CHUNK_SIZE,
	R_CHUNK_DATA,
	R_CHUNK_DATA_END,
	R_TRAILER,
	R_DONE,
};

struct reader {
	enum rstate state;
	bool no_body; /* HEAD request: no body whatever the headers say */
	int status;
	char *raw; /* received, not yet consumed; RAW_MAX bytes */
	size_t raw_len;
	char *body; /* decoded body */
	size_t len, cap;
	size_t remaining; /* R_BODY_LENGTH: body bytes due; R_CHUNK_DATA: chunk bytes due */
};

/* Milliseconds left before deadline, or -ETIMEDOUT. */
static int time_left(int64_t deadline)
{
	int64_t left = deadline - (int64_t)sl_now_ms();

	if (left <= 0)
		return -ETIMEDOUT;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits for events on fd until deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int left = time_left(deadline);
		int n;

		if (left < 0)
			return left;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0; /* readable, writable, or an error the next call reports */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int uds_connect(const char *sock_path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		err = -errno;
		if (err == -EINTR)
			continue;
		if (err == -EAGAIN) {
			int left = time_left(deadline);

			if (left < 0) {
				err = left;
				break;
			}
			poll(NULL, 0, left < CONNECT_RETRY_MS ? left : CONNECT_RETRY_MS);
			continue;
		}
		if (err == -EINPROGRESS) {
			socklen_t sl = sizeof(err);

			err = wait_fd(fd, POLLOUT, deadline);
			if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
			if (err > 0)
				err = -err;
			if (!err)
				return fd;
		}
		break;
	}
	close(fd);
	return err;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int err = wait_fd(fd, POLLOUT, deadline);

			if (err)
				return err;
			continue;
		}
		return n < 0 ? -errno : -EPIPE;
	}
	return 0;
}

static bool token_ok(const char *s, bool path)
{
	if (!s || !*s || (path && *s != '/'))
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	}
	return true;
}

static int build_request(const char *method, const char *path, const char *body, size_t body_len, char **out,
			 size_t *out_len)
{
	char head[1024];
	int n;
	char *req;

	if (body)
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sluice\r\n"
			     "Accept: application/json\r\nConnection: close\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     method, path, body_len);
	else
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sluice\r\n"
			     "Accept: application/json\r\nConnection: close\r\n\r\n",
			     method, path);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	req = malloc((size_t)n + (body ? body_len : 0));
	if (!req)
		return -ENOMEM;
	memcpy(req, head, (size_t)n);
	if (body)
		memcpy(req + n, body, body_len);
	*out = req;
	*out_len = (size_t)n + (body ? body_len : 0);
	return 0;
}

/* --- response parsing ---------------------------------------------------- */

static void consume(struct reader *r, size_t n)
{
	memmove(r->raw, r->raw + n, r->raw_len - n);
	r->raw_len -= n;
}

static int body_append(struct reader *r, const char *p, size_t n)
{
	if (r->len + n > UDS_HTTP_MAX_BODY)
		return -EFBIG;
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return -ENOMEM;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	return 0;
}

/* Length of the first line in raw including its '\n' (0 if incomplete);
 * *content is the length without the line ending ("\r\n" or a bare "\n"). */
static size_t line_len(const char *p, size_t len, size_t *content)
{
	const char *nl = memchr(p, '\n', len);

	*content = 0;
	if (!nl)
		return 0;
	*content = (size_t)(nl - p);
	if (*content && p[*content - 1] == '\r')
		(*content)--;
	return (size_t)(nl - p) + 1;
}

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Status line and header fields of one response head; sets the next state. */
static int parse_head(struct reader *r, const char *p, size_t len)
{
	bool chunked = false, have_clen = false;
	size_t clen = 0, n, cl;

	n = line_len(p, len, &cl);
	if (cl < 12 || memcmp(p, "HTTP/1.", 7) || !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (cl > 12 && p[12] != ' '))
		return -EPROTO;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (r->status < 100)
		return -EPROTO;
	p += n;
	len -= n;

	for (;;) {
		const char *colon, *v, *ve;

		n = line_len(p, len, &cl);
		if (cl == 0)
			break; /* the empty line that ends the head */
		colon = memchr(p, ':', cl);
		if (!colon || colon == p)
			return -EPROTO; /* also rejects obsolete line folding */
		for (const char *c = p; c < colon; c++) {
			if (!is_tchar(*c))
				return -EPROTO;
		}
		v = colon + 1;
		ve = p + cl;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;

		if ((size_t)(colon - p) == 14 && !strncasecmp(p, "Content-Length", 14)) {
			size_t val = 0;

			if (v == ve)
				return -EPROTO;
			for (const char *c = v; c < ve; c++) {
				if (!isdigit((unsigned char)*c))
					return -EPROTO;
				if (val > (SIZE_MAX - 9) / 10)
					return -EFBIG;
				val = val * 10 + (size_t)(*c - '0');
			}
			if (have_clen && val != clen)
				return -EPROTO; /* conflicting lengths: a smuggling tell */
			have_clen = true;
			clen = val;
		} else if ((size_t)(colon - p) == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
			/* sluiced never compresses; any coding but chunked is unreadable. */
			if (ve - v != 7 || strncasecmp(v, "chunked", 7))
				return -EPROTO;
			chunked = true;
		}
		p += n;
		len -= n;
	}

	if (r->status < 200) {
		/* 100 Continue and friends precede the real response; 101 would
		 * switch protocols, which we never asked for. */
		if (r->status == 101)
			return -EPROTO;
		r->state = R_HEAD;
	} else if (r->no_body || r->status == 204 || r->status == 304) {
		r->state = R_DONE;
	} else if (chunked) {
		r->state = R_CHUNK_SIZE; /* chunked wins over Content-Length (RFC 9112 6.3) */
	} else if (have_clen) {
		if (clen > UDS_HTTP_MAX_BODY)
			return -EFBIG;
		r->remaining = clen;
		r->state = clen ? R_BODY_LENGTH : R_DONE;
	} else {
		r->state = R_BODY_EOF;
	}
	return 0;
}

static int parse_chunk_size(struct reader *r, const char *p, size_t cl)
{
	size_t size = 0, i = 0;

	for (; i < cl && isxdigit((unsigned char)p[i]); i++) {
		int d = isdigit((unsigned char)p[i]) ? p[i] - '0' : (tolower((unsigned char)p[i]) - 'a' + 10);

		if (size > (UDS_HTTP_MAX_BODY >> 4))
			return -EFBIG;
		size = (size << 4) | (size_t)d;
	}
	if (i == 0)
		return -EPROTO;
	while (i < cl && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < cl && p[i] != ';') /* chunk extensions are allowed and ignored */
		return -EPROTO;
	if (r->len + size > UDS_HTTP_MAX_BODY)
		return -EFBIG;
	r->remaining = size;
	r->state = size ? R_CHUNK_DATA : R_TRAILER;
	return 0;
}

/* Advances the state machine over the raw bytes: 1 when the response is
 * complete, 0 when more bytes are needed, -errno when it cannot be read. */
static int process(struct reader *r, bool eof)
{
	size_t n, cl, take;
	int err;

	for (;;) {
		switch (r->state) {
		case R_HEAD: {
			size_t off = 0;

			/* Find the empty line that ends the head. */
			for (;;) {
				n = line_len(r->raw + off, r->raw_len - off, &cl);
				if (!n)
					break;
				off += n;
				if (cl == 0)
					break;
			}
			if (!n) {
				if (eof || r->raw_len == RAW_MAX)
					return -EPROTO;
				return 0;
			}
			err = parse_head(r, r->raw, off);
			if (err)
				return err;
			consume(r, off);
			if (r->state == R_BODY_LENGTH && !r->cap) {
				r->body = malloc(r->remaining + 1);
				if (!r->body)
					return -ENOMEM;
				r->cap = r->remaining + 1;
			}
			break;
		}
		case R_BODY_LENGTH:
			take = r->raw_len < r->remaining ? r->raw_len : r->remaining;
			err = body_append(r, r->raw, take);
			if (err)
				return err;
			r->remaining -= take;
			consume(r, r->raw_len); /* bytes past the length are not ours */
			if (!r->remaining) {
				r->state = R_DONE;
				break;
			}
			return eof ? -EPROTO : 0;
		case R_BODY_EOF:
			err = body_append(r, r->raw, r->raw_len);
			if (err)
				return err;
			consume(r, r->raw_len);
			if (eof) {
				r->state = R_DONE;
				break;
			}
			return 0;
		case R_CHUNK_SIZE:
			n = line_len(r->raw, r->raw_len, &cl);
			if (!n)
				return (eof || r->raw_len == RAW_MAX) ? -EPROTO : 0;
			err = parse_chunk_size(r, r->raw, cl);
			if (err)
				return err;
			consume(r, n);
			break;
		case R_CHUNK_DATA:
			take = r->raw_len < r->remaining ? r->raw_len : r->remaining;
			err = body_append(r, r->raw, take);
			if (err)
				return err;
			consume(r, take);
			r->remaining -= take;
			if (!r->remaining) {
				r->state = R_CHUNK_DATA_END;
				break;
			}
			return eof ? -EPROTO : 0;
		case R_CHUNK_DATA_END:
			n = line_len(r->raw, r->raw_len, &cl);
			if (!n) {
				if (r->raw_len >= 2 || (r->raw_len == 1 && r->raw[0] != '\r'))
					return -EPROTO;
				return eof ? -EPROTO : 0;
			}
			if (cl)
				return -EPROTO; /* chunk data longer than its size */
			consume(r, n);
			r->state = R_CHUNK_SIZE;
			break;
		case R_TRAILER:
			n = line_len(r->raw, r->raw_len, &cl);
			if (!n)
				return (eof || r->raw_len == RAW_MAX) ? -EPROTO : 0;
			consume(r, n);
			if (cl == 0)
				r->state = R_DONE;
			break;
		case R_DONE:
			return 1;
		}
	}
}

static int read_response(int fd, struct reader *r, int64_t deadline)
{
	for (;;) {
		bool eof = false;
		ssize_t n;
		int err = process(r, false);

		if (err)
			return err < 0 ? err : 0;
		if (r->raw_len == RAW_MAX)
			return -EPROTO;
		n = recv(fd, r->raw + r->raw_len, RAW_MAX - r->raw_len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			err = wait_fd(fd, POLLIN, deadline);
			if (err)
				return err;
			continue;
		}
		if (n == 0)
			eof = true;
		r->raw_len += (size_t)n;
		if (eof) {
			err = process(r, true);
			return err < 0 ? err : 0;
		}
	}
}

int uds_http_request(const char *sock_path, const char *method, const char *path, const char *body,
		     size_t body_len, int timeout_ms, struct uds_http_response *resp)
{
	struct reader r = { .state = R_HEAD };
	int64_t deadline;
	char *req = NULL;
	size_t req_len;
	int fd = -1, err;

	if (!resp || !sock_path || !*sock_path || !token_ok(method, false) || !token_ok(path, true) ||
	    timeout_ms <= 0)
		return -EINVAL;
	memset(resp, 0, sizeof(*resp));
	deadline = (int64_t)sl_now_ms() + timeout_ms;
	r.no_body = strcmp(method, "HEAD") == 0;

	err = build_request(method, path, body, body_len, &req, &req_len);
	if (err)
		goto out;
	r.raw = calloc(1, RAW_MAX);
	if (!r.raw) {
		err = -ENOMEM;
		goto out;
	}
	fd = uds_connect(sock_path, deadline);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	err = send_all(fd, req, req_len, deadline);
	if (err)
		goto out;
	err = read_response(fd, &r, deadline);
	if (err)
		goto out;
	err = body_append(&r, "", 0); /* make sure there is a buffer to terminate */
	if (err)
		goto out;
	r.body[r.len] = '\0';
	resp->status = r.status;
	resp->body = r.body;
	resp->len = r.len;
	r.body = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(r.body);
	free(r.raw);
	free(req);
	return err;
}

void uds_http_response_free(struct uds_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}
