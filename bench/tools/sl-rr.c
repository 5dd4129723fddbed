// SPDX-License-Identifier: Apache-2.0
/*
 * sl-rr: TCP request/response (RR) and connect/request/response/close (CRR)
 * rates with per-transaction latency, the two measurements netperf's TCP_RR
 * and TCP_CRR make (netperf is not in Debian). Written for the bench harness:
 *
 *   sl-rr server [-p PORT]...            echo server, one connection at a time per port
 *   sl-rr client -H IP [-p PORT] -m rr|crr [-t SECONDS] [-w WARMUP_MS] [-s SIZE]
 *       prints one line: rate=<per s> p50_us=<> p99_us=<> count=<> errors=<>
 *   sl-rr probe -H IP [-p PORT] [-W TIMEOUT_MS]
 *       one CRR transaction; exit 0 if answered, 1 if it timed out (a drop),
 *       2 if refused or failed otherwise; prints which
 *   sl-rr watch -H IP [-p PORT] -x fail|pass [-i INTERVAL_US] [-W TIMEOUT_MS] [-d MAX_MS]
 *       a new connection every INTERVAL_US (default 1000) until one fails
 *       (no SYN-ACK within TIMEOUT_MS, default 5) or passes; prints
 *       at_ns=<CLOCK_REALTIME when that connection started> probes=<n>.
 *       Policy-update latency = at_ns - the time the change was handed over.
 *
 * The server echoes whatever it reads, so one byte in gives one byte out;
 * TCP_NODELAY on both sides makes every transaction two segments. The client
 * is single-threaded and does one transaction at a time, so the rate is the
 * inverse of the round trip: pinned with the server to one CPU (taskset), it
 * measures the CPU cost of the path per transaction.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define MAX_SIZE 65536

static const char usage[] =
	"usage: sl-rr server [-p PORT]...\n"
	"       sl-rr client -H IP [-p PORT] -m rr|crr [-t SECONDS] [-w WARMUP_MS] [-s SIZE]\n"
	"       sl-rr probe -H IP [-p PORT] [-W TIMEOUT_MS]\n"
	"       sl-rr watch -H IP [-p PORT] -x fail|pass [-i INTERVAL_US] [-W TIMEOUT_MS] [-d MAX_MS]\n";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* --- server -------------------------------------------------------------- */

static int listen_on(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_nodelay(fd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		err = -errno;
		fprintf(stderr, "sl-rr: listen on port %u: %s\n", port, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

/*
 * One connection at a time per port, blocking, as netperf's netserver serves
 * a test: read, write back, until EOF. Two system calls per transaction; an
 * event loop would add two more (epoll_wait, the read that finds nothing) to
 * every transaction's cost on the shared CPU. A peer that goes silent is cut
 * off after SO_RCVTIMEO, so a stuck client cannot hold the port.
 */
static void *serve_port(void *arg)
{
	struct timeval tv = { .tv_sec = 10 };
	int lfd = (int)(long)arg;
	char *buf = malloc(MAX_SIZE);

	if (!buf)
		return NULL;
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		set_nodelay(c);
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (;;) {
			ssize_t r = read(c, buf, MAX_SIZE);

			if (r < 0 && errno == EINTR)
				continue;
			/* Replies are small: the send buffer never fills. */
			if (r <= 0 || write(c, buf, (size_t)r) != r)
				break;
		}
		close(c);
	}
	free(buf);
	return NULL;
}

static int run_server(const unsigned *ports, unsigned n_ports)
{
	pthread_t threads[MAX_PORTS];

	for (unsigned i = 0; i < n_ports; i++) {
		int fd = listen_on(ports[i]);

		if (fd < 0)
			return fd;
		if (pthread_create(&threads[i], NULL, serve_port, (void *)(long)fd))
			return -EAGAIN;
	}
	for (unsigned i = 0; i < n_ports; i++)
		pthread_join(threads[i], NULL);
	return -EIO;
}

/* --- client -------------------------------------------------------------- */

struct lat {
	uint32_t *v; /* ns */
	size_t n, cap;
};

static int lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1u << 16;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const struct lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
	return l->v[i] / 1000.0;
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t r = read(fd, buf + off, len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		off += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t r = write(fd, buf + off, len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (size_t)r;
	}
	return 0;
}

static int connect_to(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* One RR transaction on fd: size bytes out, size bytes back. */
static int transact(int fd, char *buf, size_t size)
{
	int err = write_full(fd, buf, size);

	return err ? err : read_full(fd, buf, size);
}

static int run_client(const struct sockaddr_in *sa, bool crr, double seconds, unsigned warmup_ms, size_t size)
{
	static char buf[MAX_SIZE];
	struct lat lat = { 0 };
	uint64_t start, measure_from, end, t0, t1;
	unsigned long errors = 0;
	int fd = -1, err = 0;

	memset(buf, 'x', size);
	start = now_ns();
	measure_from = start + (uint64_t)warmup_ms * 1000000ull;
	end = measure_from + (uint64_t)(seconds * 1e9);
	if (!crr) {
		fd = connect_to(sa);
		if (fd < 0) {
			fprintf(stderr, "sl-rr: connect: %s\n", strerror(-fd));
			return fd;
		}
	}
	for (t0 = now_ns(); t0 < end; t0 = t1) {
		if (crr) {
			fd = connect_to(sa);
			err = fd < 0 ? fd : transact(fd, buf, size);
			if (fd >= 0)
				close(fd);
		} else {
			err = transact(fd, buf, size);
		}
		t1 = now_ns();
		if (err) {
			/* CRR: a port still in TIME_WAIT, say; RR: the connection is gone. */
			if (!crr || ++errors > 1000) {
				fprintf(stderr, "sl-rr: %s: %s\n", crr ? "connect/transact" : "transact",
					strerror(-err));
				goto out;
			}
			err = 0;
			continue;
		}
		if (t0 >= measure_from) {
			err = lat_add(&lat, t1 - t0);
			if (err)
				goto out;
		}
	}
	qsort(lat.v, lat.n, sizeof(*lat.v), cmp_u32);
	printf("rate=%.1f p50_us=%.2f p99_us=%.2f count=%zu errors=%lu\n", (double)lat.n / seconds,
	       pct_us(&lat, 50), pct_us(&lat, 99), lat.n, errors);
out:
	if (!crr && fd >= 0)
		close(fd);
	free(lat.v);
	return err;
}

/* --- probe --------------------------------------------------------------- */

/* 0: answered; 1: timed out (dropped on the way); 2: refused or other error. */
static int run_probe(const struct sockaddr_in *sa, unsigned timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), so_err = 0;
	struct pollfd pfd = { .fd = fd };
	socklen_t len = sizeof(so_err);
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char c = 'p';
	int ret = 2;

	if (fd < 0)
		return 2;
	set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) && errno != EINPROGRESS) {
		printf("error: connect: %s\n", strerror(errno));
		goto out;
	}
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)timeout_ms) == 0) {
		printf("timeout: no answer to SYN within %u ms\n", timeout_ms);
		ret = 1;
		goto out;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len);
	if (so_err) {
		printf("%s: %s\n", so_err == ECONNREFUSED ? "refused" : "error", strerror(so_err));
		ret = so_err == ETIMEDOUT || so_err == EHOSTUNREACH ? 1 : 2;
		goto out;
	}
	if (write(fd, &c, 1) != 1) {
		printf("error: write: %s\n", strerror(errno));
		goto out;
	}
	pfd.events = POLLIN;
	for (;;) {
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			printf("timeout: connected, but no reply within %u ms\n", timeout_ms);
			ret = 1;
			goto out;
		}
		r = read(fd, &c, 1);
		if (r == 1) {
			printf("ok\n");
			ret = 0;
			goto out;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		printf("error: read: %s\n", r < 0 ? strerror(errno) : "connection closed");
		goto out;
	}
out:
	close(fd);
	return ret;
}

/* --- watch ----------------------------------------------------------------- */

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Does a SYN get its SYN-ACK within timeout_ms? Closed with a RST either way,
 * so a thousand probes a second leave no TIME_WAIT behind. */
static bool syn_answered(const struct sockaddr_in *sa, unsigned timeout_ms)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), so_err = 1;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(so_err);

	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if ((connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EINPROGRESS) &&
	    poll(&pfd, 1, (int)timeout_ms) == 1)
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len);
	close(fd);
	return so_err == 0;
}

static int run_watch(const struct sockaddr_in *sa, bool want_pass, unsigned interval_us, unsigned timeout_ms,
		     unsigned max_ms)
{
	uint64_t end = now_ns() + (uint64_t)max_ms * 1000000ull, next = now_ns();
	unsigned long probes = 0;

	while (now_ns() < end) {
		uint64_t at = realtime_ns(), t;

		probes++;
		if (syn_answered(sa, timeout_ms) == want_pass) {
			printf("at_ns=%llu probes=%lu\n", (unsigned long long)at, probes);
			return 0;
		}
		next += (uint64_t)interval_us * 1000ull;
		t = now_ns();
		if (next > t) {
			struct timespec ts = { .tv_nsec = (long)(next - t) };

			nanosleep(&ts, NULL);
		} else {
			next = t;
		}
	}
	printf("timeout probes=%lu\n", probes);
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned ports[MAX_PORTS], n_ports = 0, warmup_ms = 200, timeout_ms = 0, interval_us = 1000, max_ms = 10000;
	const char *host = NULL, *mode = "rr", *want = NULL;
	double seconds = 5;
	size_t size = 1;
	int opt, err;

	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "H:p:m:t:w:s:W:x:i:d:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p':
			if (n_ports == MAX_PORTS)
				return 2;
			ports[n_ports++] = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm': mode = optarg; break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'w': warmup_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': size = strtoul(optarg, NULL, 10); break;
		case 'W': timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'x': want = optarg; break;
		case 'i': interval_us = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': max_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!n_ports)
		ports[n_ports++] = 7000;
	if (!size || size > MAX_SIZE || seconds <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "server"))
		return run_server(ports, n_ports) ? 1 : 0;
	if (!host || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "sl-rr: -H IPv4 address required\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)ports[0]);
	if (!strcmp(argv[1], "probe"))
		return run_probe(&sa, timeout_ms ? timeout_ms : 1000);
	if (!strcmp(argv[1], "watch")) {
		if (!want || (strcmp(want, "fail") && strcmp(want, "pass"))) {
			fputs(usage, stderr);
			return 2;
		}
		return run_watch(&sa, !strcmp(want, "pass"), interval_us, timeout_ms ? timeout_ms : 5, max_ms);
	}
	if (strcmp(argv[1], "client") || (strcmp(mode, "rr") && strcmp(mode, "crr"))) {
		fputs(usage, stderr);
		return 2;
	}
	err = run_client(&sa, !strcmp(mode, "crr"), seconds, warmup_ms, size);
	return err ? 1 : 0;
}
