// SPDX-License-Identifier: Apache-2.0
/*
 * The connectivity matrix: from every pod (and the VPC host) to every other,
 * an ICMP echo and a TCP connection that must read the listener's greeting.
 * Listeners are forked into each target's namespace for the duration; probes
 * run in this process, which enters each source namespace in turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "lab/lab.h"
#include "lab/lab_int.h"
#include "netlink/netns.h"

#define PROBE_PORT 7471
#define GREETING "sluice\n"

/* A child serving GREETING on PROBE_PORT in netns until killed. */
static int start_listener(const char *netns, int *pid_out)
{
	int ready[2], nsfd, pid;
	char ok;

	nsfd = netns_open(netns);
	if (nsfd < 0)
		return nsfd;
	if (pipe2(ready, O_CLOEXEC)) {
		close(nsfd);
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PROBE_PORT) };
		int one = 1, s;

		if (setns(nsfd, CLONE_NEWNET))
			_exit(1);
		s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) || listen(s, 64))
			_exit(1);
		if (write(ready[1], "1", 1) != 1)
			_exit(1);
		for (;;) {
			int c = accept(s, NULL, NULL);

			if (c < 0)
				continue;
			if (write(c, GREETING, strlen(GREETING)) < 0) {
				/* the prober went away: nothing to do */
			}
			close(c);
		}
	}
	close(nsfd);
	close(ready[1]);
	if (pid < 0 || read(ready[0], &ok, 1) != 1) {
		close(ready[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -EIO;
	}
	close(ready[0]);
	*pid_out = pid;
	return 0;
}

static uint16_t icmp_csum(const void *data, size_t len)
{
	const uint16_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *p++;
	if (len)
		sum += *(const uint8_t *)p;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One ICMP echo to dst; 0 when the reply came back within timeout_ms. */
static int probe_icmp(struct in_addr dst, uint16_t id, unsigned timeout_ms)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	int64_t deadline = (int64_t)sl_now_ms() + timeout_ms;
	struct icmphdr req;
	int s, err = -ETIMEDOUT;

	memset(&req, 0, sizeof(req)); /* every byte is summed by the checksum */
	req.type = ICMP_ECHO;

	s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (s < 0)
		return -errno;
	req.un.echo.id = htons(id);
	req.un.echo.sequence = htons(1);
	req.checksum = icmp_csum(&req, sizeof(req));
	if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		err = -errno;
		goto out;
	}
	while ((int64_t)sl_now_ms() < deadline) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		unsigned char buf[1500];
		struct iphdr *ip = (struct iphdr *)buf;
		struct icmphdr *rep;
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - (int64_t)sl_now_ms())) <= 0)
			continue;
		n = recv(s, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(*ip) || n < (ssize_t)(ip->ihl * 4 + sizeof(*rep)))
			continue;
		rep = (struct icmphdr *)(buf + ip->ihl * 4);
		if (rep->type == ICMP_ECHOREPLY && ntohs(rep->un.echo.id) == id && ip->saddr == dst.s_addr) {
			err = 0;
			break;
		}
	}
out:
	close(s);
	return err;
}

/* Connects to dst:PROBE_PORT and reads the greeting; 0 on success. */
static int probe_tcp(struct in_addr dst, unsigned timeout_ms)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst, .sin_port = htons(PROBE_PORT) };
	int64_t deadline = (int64_t)sl_now_ms() + timeout_ms;
	char buf[16] = { 0 };
	size_t got = 0;
	int s, err = -ETIMEDOUT;

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&to, sizeof(to)) && errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	while ((int64_t)sl_now_ms() < deadline && got < strlen(GREETING)) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - (int64_t)sl_now_ms())) <= 0)
			continue;
		n = read(s, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0) {
			err = n == 0 ? -ECONNRESET : -errno;
			if (err != -EAGAIN)
				goto out;
			continue;
		}
		got += (size_t)n;
	}
	err = got == strlen(GREETING) && !strcmp(buf, GREETING) ? 0 : -ETIMEDOUT;
out:
	close(s);
	return err;
}

struct target {
	const char *name, *node, *netns;
	struct in_addr ip;
	int listener;
};

static const char *path_kind(const struct target *a, const struct target *b)
{
	if (!a->node)
		return "from-vpc";
	if (!b->node)
		return "to-vpc";
	return strcmp(a->node, b->node) == 0 ? "same-node" : "cross-node";
}

int lab_matrix(const char *name, unsigned timeout_ms, json_t **out)
{
	struct target *t = NULL;
	json_t *lab = NULL, *pod, *results, *targets;
	size_t n = 0, i, j;
	int err, self = -1, saved = -1;

	err = lab_state_read(name, &lab);
	if (err)
		return err;
	t = calloc(json_array_size(json_object_get(lab, "pods")) + 1, sizeof(*t));
	if (!t) {
		err = -ENOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(lab, "pods"), i, pod) {
		const char *ip = json_string_value(json_object_get(pod, "ip"));
		char *label;

		if (!ip || inet_pton(AF_INET, ip, &t[n].ip) != 1)
			continue; /* not ready */
		if (asprintf(&label, "%s/%s", json_string_value(json_object_get(pod, "namespace")),
			     json_string_value(json_object_get(pod, "name"))) < 0)
			continue;
		t[n].name = label;
		t[n].node = json_string_value(json_object_get(pod, "node"));
		t[n].netns = json_string_value(json_object_get(pod, "netns"));
		n++;
	}
	t[n].name = strdup("vpc-host");
	t[n].node = NULL;
	t[n].netns = json_string_value(json_object_get(json_object_get(lab, "host"), "netns"));
	inet_pton(AF_INET, json_string_value(json_object_get(json_object_get(lab, "host"), "ip")), &t[n].ip);
	n++;

	for (i = 0; i < n && !err; i++)
		err = start_listener(t[i].netns, &t[i].listener);
	if (err) {
		pr_err("matrix: start the listener in %s: %s", t[i - 1].netns, strerror(-err));
		goto out;
	}
	results = json_array();
	targets = json_array();
	for (i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &t[i].ip, ip, sizeof(ip));
		json_array_append_new(targets, json_pack("{s:s, s:s, s:s?}", "name", t[i].name, "ip", ip, "node",
							 t[i].node));
		self = netns_open(t[i].netns);
		if (self < 0 || netns_enter(self, &saved)) {
			err = self < 0 ? self : -EIO;
			break;
		}
		for (j = 0; j < n; j++) {
			int icmp, tcp;

			if (i == j)
				continue;
			icmp = probe_icmp(t[j].ip, (uint16_t)(getpid() + i * 64 + j), timeout_ms);
			tcp = probe_tcp(t[j].ip, timeout_ms);
			json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:b, s:b}", "from", t[i].name,
								 "to", t[j].name, "path", path_kind(&t[i], &t[j]),
								 "icmp", icmp == 0, "tcp", tcp == 0));
		}
		netns_restore(saved);
		close(self);
		self = -1;
	}
	*out = json_pack("{s:o, s:o}", "targets", targets, "results", results);
out:
	if (self >= 0)
		close(self);
	for (i = 0; t && i < n; i++) {
		if (t[i].listener > 0) {
			kill(t[i].listener, SIGKILL);
			waitpid(t[i].listener, NULL, 0);
		}
		free((char *)t[i].name);
	}
	free(t);
	json_decref(lab);
	return err;
}
