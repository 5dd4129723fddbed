// SPDX-License-Identifier: Apache-2.0
/*
 * sl-grid [-f FILE] [-t TIMEOUT_MS] [-p SPORT_BASE] [-m]: the NetworkPolicy
 * suite's prober. It serves TCP and UDP on every port in every destination's
 * network namespace and probes every ordered (source, destination) pair on
 * every port and protocol, all at once, then prints one JSON document.
 *
 * Input (FILE or stdin):
 *   {"timeoutMs": 400, "ports": [80, 81], "protocols": ["tcp", "udp"],
 *    "targets": [{"name": "x/a", "netns": "LAB-x-a", "ip": "198.18.16.5",
 *                 "source": true, "dest": true}, ...]}
 * "netns" is a name under /var/run/netns or a path; "source" / "dest"
 * (default true) make a target probe others / be probed (a node is a source
 * only, for the node->pod rule).
 *
 * A TCP probe succeeds when it connects and reads the server's token, which
 * names the run, the destination and the port (a stray listener cannot pass
 * for ours). A UDP probe succeeds when its datagram comes back (resent every
 * 100 ms). A probe the policy drops times out; "refused" or another error
 * means something other than policy answered (no server, an ICMP error).
 *
 * Why one thread and no children: a socket belongs to the network namespace
 * it was created in, whatever the thread does afterwards. So the process
 * enters each namespace in turn only to create sockets (servers bound to the
 * target's IP, non-blocking clients), returns to its own namespace and runs
 * every server and every probe from one epoll loop. A full 9-pod grid takes
 * one timeout, the servers are ordinary sockets that die with the process
 * (exit, SIGINT, SIGTERM, even SIGKILL), and there is nothing to reap.
 *
 * Each probe binds its own source port, SPORT_BASE + its index (wrapping in
 * 10000..59999; random when -p is not given). A caller that advances the base
 * between runs never reuses a 5-tuple, so a conntrack entry left by an earlier
 * run (allowed under an earlier policy) cannot let a new probe through.
 *
 * Output: {"timeoutMs", "elapsedMs", "probes", "reached", "targets": [{"name",
 * "ip", "localIps"}], "results": [{"from", "to", "proto", "port", "ok", "us",
 * "error"}], "warnings": [...]}. -m also prints a matrix on stderr. Exit 0
 * when the grid ran (whatever the verdicts), 2 on bad input or setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define UDP_RESEND_US 100000
#define SPORT_MIN 10000
#define SPORT_SPAN 50000
#define TOKEN_MAX 64

enum kind { K_SERVER, K_PROBE };

struct target {
	const char *name;
	char netns[4096];
	struct in_addr ip;
	bool source, dest;
	int nsfd;
	struct in_addr local[4]; /* source addresses the kernel picked for our probes */
	int n_local;
};

struct server {
	enum kind kind;
	int fd, target, proto;
	uint16_t port;
};

struct probe {
	enum kind kind;
	int fd, src, dst, proto;
	uint16_t port;
	int64_t start_us, end_us, sent_us;
	char token[TOKEN_MAX], got[TOKEN_MAX];
	size_t token_len, got_len;
	bool done;
	int err; /* 0: reached; -errno, -ETIMEDOUT, -EBADMSG (wrong token) */
};

struct grid {
	struct target *t;
	size_t n_t;
	uint16_t ports[MAX_PORTS];
	size_t n_ports;
	int protos[2];
	size_t n_protos;
	unsigned timeout_ms;
	struct server *srv;
	size_t n_srv;
	struct probe *pr;
	size_t n_pr;
	unsigned nonce;
	int ep, self_ns;
	json_t *warnings;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : "udp";
}

static const char *err_name(int err)
{
	static char buf[32];

	switch (-err) {
	case 0:
		return NULL;
	case ETIMEDOUT:
		return "timeout";
	case ECONNREFUSED:
		return "refused";
	case ECONNRESET:
		return "reset";
	case EHOSTUNREACH:
		return "host-unreachable";
	case ENETUNREACH:
		return "net-unreachable";
	case EBADMSG:
		return "wrong-token";
	case EPIPE:
		return "closed-early";
	default:
		snprintf(buf, sizeof(buf), "errno-%d", -err);
		return buf;
	}
}

static void warn(struct grid *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct grid *g, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(g->warnings, json_string(buf));
}

/* A caller's shell may start us with SIGINT ignored (a background job):
 * take both signals back so that either ends the run, and with it every
 * server socket, at once. */
static void on_signal(int sig)
{
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --- input ------------------------------------------------------------------- */

static int parse_input(struct grid *g, json_t *in)
{
	json_t *targets = json_object_get(in, "targets"), *v;
	size_t i;

	g->timeout_ms = g->timeout_ms ? g->timeout_ms
				      : (unsigned)json_integer_value(json_object_get(in, "timeoutMs"));
	if (!g->timeout_ms)
		g->timeout_ms = 400;
	json_array_foreach(json_object_get(in, "ports"), i, v) {
		if (g->n_ports == MAX_PORTS || !json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535) {
			fprintf(stderr, "sl-grid: ports: at most %d numbers in 1..65535\n", MAX_PORTS);
			return -EINVAL;
		}
		g->ports[g->n_ports++] = (uint16_t)json_integer_value(v);
	}
	json_array_foreach(json_object_get(in, "protocols"), i, v) {
		const char *s = json_string_value(v);

		if (!s || (strcmp(s, "tcp") && strcmp(s, "udp")) || g->n_protos == 2) {
			fprintf(stderr, "sl-grid: protocols: \"tcp\" and/or \"udp\"\n");
			return -EINVAL;
		}
		g->protos[g->n_protos++] = strcmp(s, "tcp") ? IPPROTO_UDP : IPPROTO_TCP;
	}
	if (!g->n_ports || !g->n_protos || !json_array_size(targets)) {
		fprintf(stderr, "sl-grid: input needs ports, protocols and targets\n");
		return -EINVAL;
	}
	g->t = calloc(json_array_size(targets), sizeof(*g->t));
	if (!g->t)
		return -ENOMEM;
	json_array_foreach(targets, i, v) {
		struct target *t = &g->t[g->n_t];
		const char *ns = json_string_value(json_object_get(v, "netns"));
		const char *ip = json_string_value(json_object_get(v, "ip"));
		json_t *src = json_object_get(v, "source"), *dst = json_object_get(v, "dest");

		t->name = json_string_value(json_object_get(v, "name"));
		if (!t->name || !ns || !ip || inet_pton(AF_INET, ip, &t->ip) != 1) {
			fprintf(stderr, "sl-grid: targets[%zu]: needs name, netns and an IPv4 ip\n", i);
			return -EINVAL;
		}
		snprintf(t->netns, sizeof(t->netns), "%s%s", strchr(ns, '/') ? "" : "/var/run/netns/", ns);
		t->source = !src || json_is_true(src);
		t->dest = !dst || json_is_true(dst);
		t->nsfd = -1;
		g->n_t++;
	}
	return 0;
}

/* --- namespaces ----------------------------------------------------------------- */

/* Runs fn(g, arg) with the calling thread in target t's namespace. */
static int in_netns(struct grid *g, struct target *t, int (*fn)(struct grid *, struct target *, void *),
		    void *arg)
{
	int err;

	if (t->nsfd < 0) {
		t->nsfd = open(t->netns, O_RDONLY | O_CLOEXEC);
		if (t->nsfd < 0) {
			err = -errno;
			fprintf(stderr, "sl-grid: open the namespace of %s (%s): %s\n", t->name, t->netns,
				strerror(errno));
			return err;
		}
	}
	if (setns(t->nsfd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "sl-grid: enter the namespace of %s (%s): %s\n", t->name, t->netns, strerror(errno));
		return err;
	}
	err = fn(g, t, arg);
	if (setns(g->self_ns, CLONE_NEWNET)) {
		/* Every later socket would land in the wrong namespace. */
		err = -errno;
		fprintf(stderr, "sl-grid: return to our own namespace: %s\n", strerror(-err));
	}
	return err;
}

/* --- servers ----------------------------------------------------------------- */

static int serve_in(struct grid *g, struct target *t, void *arg)
{
	int idx = (int)(t - g->t), one = 1;

	(void)arg;
	for (size_t p = 0; p < g->n_ports; p++) {
		for (size_t q = 0; q < g->n_protos; q++) {
			struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = t->ip,
						   .sin_port = htons(g->ports[p]) };
			struct server *s = &g->srv[g->n_srv];
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
			bool tcp = g->protos[q] == IPPROTO_TCP;

			s->kind = K_SERVER;
			s->target = idx;
			s->proto = g->protos[q];
			s->port = g->ports[p];
			s->fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
			    bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)) || (tcp && listen(s->fd, 256)) ||
			    epoll_ctl(g->ep, EPOLL_CTL_ADD, s->fd, &ev)) {
				int err = -errno;

				fprintf(stderr, "sl-grid: serve %s/%u on %s (%s): %s\n", proto_name(s->proto),
					s->port, t->name, inet_ntoa(t->ip), strerror(errno));
				if (s->fd >= 0)
					close(s->fd);
				return err;
			}
			g->n_srv++;
		}
	}
	return 0;
}

static void server_token(const struct grid *g, int target, uint16_t port, char *buf, size_t len)
{
	snprintf(buf, len, "sl-grid %08x %d %u\n", g->nonce, target, port);
}

static void server_event(struct grid *g, struct server *s)
{
	char buf[TOKEN_MAX];

	if (s->proto == IPPROTO_TCP) {
		int c;

		server_token(g, s->target, s->port, buf, sizeof(buf));
		while ((c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			/* a fresh socket's send buffer takes a few bytes without blocking */
			if (write(c, buf, strlen(buf)) < 0) {
				/* the client gave up already: its probe reports it */
			}
			close(c);
		}
		return;
	}
	for (;;) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

		if (n < 0)
			return;
		sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
	}
}

/* --- probes ------------------------------------------------------------------ */

struct probe_batch {
	unsigned sport_base;
	size_t next; /* index of the next probe to create */
};

static void probe_finish(struct grid *g, struct probe *p, int err)
{
	if (p->done)
		return;
	p->done = true;
	p->err = err;
	p->end_us = now_us();
	epoll_ctl(g->ep, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
}

static void note_local_addr(struct target *t, int fd)
{
	struct sockaddr_in sin = { 0 };
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) || sin.sin_addr.s_addr == INADDR_ANY)
		return;
	for (int i = 0; i < t->n_local; i++)
		if (t->local[i].s_addr == sin.sin_addr.s_addr)
			return;
	if (t->n_local < 4)
		t->local[t->n_local++] = sin.sin_addr;
}

static void udp_send(struct grid *g, struct probe *p)
{
	p->sent_us = now_us();
	if (send(p->fd, p->token, p->token_len, 0) < 0 && errno != EAGAIN)
		probe_finish(g, p, -errno);
}

/* Creates, in source t's namespace, every probe from t. */
static int probe_from(struct grid *g, struct target *t, void *arg)
{
	struct probe_batch *b = arg;
	int src = (int)(t - g->t), one = 1;

	for (size_t d = 0; d < g->n_t; d++) {
		if ((int)d == src || !g->t[d].dest)
			continue;
		for (size_t pi = 0; pi < g->n_ports; pi++) {
			for (size_t q = 0; q < g->n_protos; q++) {
				size_t idx = b->next++;
				struct probe *p = &g->pr[idx];
				struct sockaddr_in me = { .sin_family = AF_INET };
				struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = g->t[d].ip,
							  .sin_port = htons(g->ports[pi]) };
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };
				bool tcp = g->protos[q] == IPPROTO_TCP;

				p->kind = K_PROBE;
				p->src = src;
				p->dst = (int)d;
				p->proto = g->protos[q];
				p->port = g->ports[pi];
				if (tcp)
					server_token(g, (int)d, p->port, p->token, sizeof(p->token));
				else
					snprintf(p->token, sizeof(p->token), "sl-grid %08x probe %zu\n", g->nonce, idx);
				p->token_len = strlen(p->token);
				p->start_us = now_us();
				g->n_pr++;
				p->fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
					       0);
				if (p->fd < 0) {
					int err = -errno;

					fprintf(stderr, "sl-grid: socket in %s: %s\n", t->name, strerror(-err));
					return err;
				}
				setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
				me.sin_port = htons((uint16_t)(SPORT_MIN + (b->sport_base - SPORT_MIN + idx) % SPORT_SPAN));
				if (bind(p->fd, (struct sockaddr *)&me, sizeof(me))) {
					warn(g, "%s: source port %u taken, using an ephemeral one", t->name,
					     ntohs(me.sin_port));
				}
				if (epoll_ctl(g->ep, EPOLL_CTL_ADD, p->fd, &ev)) {
					int err = -errno;

					fprintf(stderr, "sl-grid: epoll: %s\n", strerror(-err));
					close(p->fd);
					return err;
				}
				if (connect(p->fd, (struct sockaddr *)&to, sizeof(to)) && errno != EINPROGRESS) {
					probe_finish(g, p, -errno);
					continue;
				}
				note_local_addr(t, p->fd);
				if (!tcp)
					udp_send(g, p);
			}
		}
	}
	return 0;
}

static void probe_event(struct grid *g, struct probe *p, uint32_t events)
{
	if (p->done)
		return;
	if (events & EPOLLERR) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		probe_finish(g, p, soerr ? -soerr : -EIO);
		return;
	}
	for (;;) {
		ssize_t n = recv(p->fd, p->got + p->got_len, sizeof(p->got) - p->got_len, 0);

		if (n < 0) {
			if (errno != EAGAIN)
				probe_finish(g, p, -errno);
			return;
		}
		if (p->proto == IPPROTO_UDP) {
			/* one datagram, the whole echo: anything else is not ours */
			if ((size_t)n == p->token_len && !memcmp(p->got, p->token, p->token_len))
				probe_finish(g, p, 0);
			return;
		}
		if (n == 0) {
			probe_finish(g, p, p->got_len ? -EBADMSG : -EPIPE);
			return;
		}
		p->got_len += (size_t)n;
		if (p->got_len >= p->token_len) {
			probe_finish(g, p, memcmp(p->got, p->token, p->token_len) ? -EBADMSG : 0);
			return;
		}
	}
}

/* Events first, then the clock: after a stall (a loaded machine), whatever
 * arrived is counted before anything is declared timed out. A denied probe
 * never produces an event, so this can only turn a false "timeout" into the
 * success it was. */
static void run(struct grid *g)
{
	struct epoll_event evs[256];
	int64_t timeout_us = (int64_t)g->timeout_ms * 1000;
	int wait_ms = 0;

	for (;;) {
		int n = epoll_wait(g->ep, evs, 256, wait_ms);
		int64_t now, next = INT64_MAX;
		size_t running = 0;

		for (int i = 0; i < n; i++) {
			enum kind *k = evs[i].data.ptr;

			if (*k == K_SERVER)
				server_event(g, evs[i].data.ptr);
			else
				probe_event(g, evs[i].data.ptr, evs[i].events);
		}
		if (n == 256)
			continue; /* more may be queued: read them before judging */
		now = now_us();
		for (size_t i = 0; i < g->n_pr; i++) {
			struct probe *p = &g->pr[i];
			int64_t wake;

			if (p->done)
				continue;
			if (now >= p->start_us + timeout_us) {
				probe_finish(g, p, -ETIMEDOUT);
				continue;
			}
			if (p->proto == IPPROTO_UDP && now >= p->sent_us + UDP_RESEND_US)
				udp_send(g, p);
			if (p->done)
				continue;
			running++;
			wake = p->start_us + timeout_us;
			if (p->proto == IPPROTO_UDP && p->sent_us + UDP_RESEND_US < wake)
				wake = p->sent_us + UDP_RESEND_US;
			if (wake < next)
				next = wake;
		}
		if (!running)
			return;
		wait_ms = (int)((next - now + 999) / 1000);
	}
}

/* --- output ------------------------------------------------------------------ */

static json_t *results_json(struct grid *g, int64_t elapsed_us)
{
	json_t *targets = json_array(), *results = json_array();
	size_t reached = 0;
	char ip[INET_ADDRSTRLEN];

	for (size_t i = 0; i < g->n_t; i++) {
		struct target *t = &g->t[i];
		json_t *local = json_array();

		for (int k = 0; k < t->n_local; k++) {
			json_array_append_new(local, json_string(inet_ntop(AF_INET, &t->local[k], ip, sizeof(ip))));
			if (t->local[k].s_addr != t->ip.s_addr)
				warn(g, "%s probed from %s, not from its ip", t->name, ip);
		}
		json_array_append_new(targets, json_pack("{s:s, s:s, s:b, s:b, s:o}", "name", t->name, "ip",
							 inet_ntop(AF_INET, &t->ip, ip, sizeof(ip)), "source",
							 t->source, "dest", t->dest, "localIps", local));
	}
	for (size_t i = 0; i < g->n_pr; i++) {
		struct probe *p = &g->pr[i];
		const char *e = err_name(p->err);

		reached += !p->err;
		json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:i, s:b, s:I, s:s?}", "from",
							 g->t[p->src].name, "to", g->t[p->dst].name, "proto",
							 proto_name(p->proto), "port", p->port, "ok", !p->err, "us",
							 (json_int_t)(p->end_us - p->start_us), "error", e));
	}
	return json_pack("{s:i, s:I, s:i, s:i, s:o, s:o, s:O}", "timeoutMs", g->timeout_ms, "elapsedMs",
			 (json_int_t)(elapsed_us / 1000), "probes", (int)g->n_pr, "reached", (int)reached,
			 "targets", targets, "results", results, "warnings", g->warnings);
}

/* Rows are sources, columns destinations; a cell has one character per
 * port x protocol: the protocol's letter when reached, '.' when it timed out,
 * '!' on any other error. */
static void print_matrix(struct grid *g, int64_t elapsed_us)
{
	int w = (int)(g->n_ports * g->n_protos), nw = 4;
	size_t i, j, k = 0;

	for (i = 0; i < g->n_t; i++)
		if ((int)strlen(g->t[i].name) > nw)
			nw = (int)strlen(g->t[i].name);
	if (w < nw)
		w = nw;
	fprintf(stderr, "sl-grid: %zu probes in %lld ms (timeout %u ms); cell:", g->n_pr,
		(long long)(elapsed_us / 1000), g->timeout_ms);
	for (i = 0; i < g->n_ports; i++)
		for (j = 0; j < g->n_protos; j++)
			fprintf(stderr, " %u/%s", g->ports[i], proto_name(g->protos[j]));
	fprintf(stderr, "; T/U reached, . timed out, ! error\n%-*s", nw, "");
	for (j = 0; j < g->n_t; j++)
		if (g->t[j].dest)
			fprintf(stderr, " %-*s", w, g->t[j].name);
	fputc('\n', stderr);
	for (i = 0; i < g->n_t; i++) {
		if (!g->t[i].source)
			continue;
		fprintf(stderr, "%-*s", nw, g->t[i].name);
		for (j = 0; j < g->n_t; j++) {
			char cell[2 * MAX_PORTS + 1] = { 0 };
			int c = 0;

			if (!g->t[j].dest)
				continue;
			if (i == j) {
				fprintf(stderr, " %-*s", w, "-");
				continue;
			}
			/* probes were created in (source, dest, port, proto) order */
			for (; k < g->n_pr && g->pr[k].src == (int)i && g->pr[k].dst == (int)j; k++) {
				const struct probe *p = &g->pr[k];

				if (!p->err)
					cell[c++] = p->proto == IPPROTO_TCP ? 'T' : 'U';
				else
					cell[c++] = p->err == -ETIMEDOUT ? '.' : '!';
			}
			fprintf(stderr, " %-*s", w, cell);
		}
		fputc('\n', stderr);
	}
}

int main(int argc, char **argv)
{
	struct grid g = { .self_ns = -1, .ep = -1 };
	struct probe_batch b = { 0 };
	const char *file = NULL;
	bool matrix = false, base_given = false;
	json_error_t jerr;
	json_t *in = NULL, *out;
	struct rlimit rl;
	int64_t t0;
	size_t n_src = 0, n_dst = 0;
	int opt, err = 0;

	while ((opt = getopt(argc, argv, "f:t:p:m")) != -1) {
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case 't':
			g.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			b.sport_base = (unsigned)strtoul(optarg, NULL, 10);
			base_given = true;
			break;
		case 'm':
			matrix = true;
			break;
		default:
			fprintf(stderr, "usage: sl-grid [-f FILE] [-t TIMEOUT_MS] [-p SPORT_BASE] [-m]\n");
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	in = file ? json_load_file(file, 0, &jerr) : json_loadf(stdin, 0, &jerr);
	if (!in) {
		fprintf(stderr, "sl-grid: %s: line %d: %s\n", file ? file : "stdin", jerr.line, jerr.text);
		return 2;
	}
	g.warnings = json_array();
	g.nonce = (unsigned)(getpid() ^ (unsigned)now_us());
	if (!base_given)
		b.sport_base = SPORT_MIN + g.nonce % SPORT_SPAN;
	if (b.sport_base < SPORT_MIN)
		b.sport_base += SPORT_MIN;
	err = parse_input(&g, in);
	if (err)
		goto out;

	/* Every probe is a socket and so is every server: make room for them. */
	for (size_t i = 0; i < g.n_t; i++) {
		n_src += g.t[i].source;
		n_dst += g.t[i].dest;
	}
	g.srv = calloc(n_dst * g.n_ports * g.n_protos + 1, sizeof(*g.srv));
	g.pr = calloc(n_src * n_dst * g.n_ports * g.n_protos + 1, sizeof(*g.pr));
	if (!g.srv || !g.pr) {
		err = -ENOMEM;
		goto out;
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g.self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.self_ns < 0 || g.ep < 0) {
		err = -errno;
		fprintf(stderr, "sl-grid: %s\n", strerror(errno));
		goto out;
	}

	for (size_t i = 0; i < g.n_t && !err; i++)
		if (g.t[i].dest)
			err = in_netns(&g, &g.t[i], serve_in, NULL);
	t0 = now_us();
	for (size_t i = 0; i < g.n_t && !err; i++)
		if (g.t[i].source)
			err = in_netns(&g, &g.t[i], probe_from, &b);
	if (err)
		goto out;
	run(&g);

	out = results_json(&g, now_us() - t0);
	json_dumpf(out, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(out);
	if (matrix)
		print_matrix(&g, now_us() - t0);
out:
	/* Servers and unfinished probes are sockets: exit closes them. */
	free(g.srv);
	free(g.pr);
	free(g.t);
	json_decref(in);
	json_decref(g.warnings);
	return err ? 2 : 0;
}
