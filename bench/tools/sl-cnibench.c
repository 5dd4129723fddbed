// SPDX-License-Identifier: Apache-2.0
/*
 * sl-cnibench: times a CNI plugin (or any program) invoked the way a runtime
 * invokes it: fork + exec with the CNI_* environment and the network
 * configuration on stdin, stdout captured, wall time from fork to reap.
 * Run it in the node's network namespace (nsenter --net=...): that is where
 * a runtime runs the plugin.
 *
 *   sl-cnibench -n N [-P PARALLEL] [-f FIRST] [-c CONF_FILE] [-e KEY=VALUE]... -- PROGRAM
 *
 * "%d" in an -e value is replaced by the call's index (FIRST..FIRST+N-1), so
 * each call names its own container and namespace. Prints one line per call,
 * "index milliseconds exit_status", in completion order. The first failing
 * call's output goes to stderr and the exit status is 1.
 *
 * The same loop over /bin/true is the exec floor of the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENV 32
#define OUT_MAX (256 * 1024)

static const char usage[] =
	"usage: sl-cnibench -n N [-P PARALLEL] [-f FIRST] [-c CONF_FILE] [-e KEY=VALUE]... -- PROGRAM\n";

static struct {
	const char *program;
	const char *env_tmpl[MAX_ENV];
	unsigned n_env;
	char *conf;
	size_t conf_len;
	unsigned first, n;
	atomic_uint next;
	atomic_int failed;
	pthread_mutex_t out_lock;
} g = { .first = 1, .out_lock = PTHREAD_MUTEX_INITIALIZER };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* KEY=VALUE with every "%d" replaced by idx. */
static char *expand(const char *tmpl, unsigned idx)
{
	char num[16], *out;
	size_t len = 0, nlen;
	const char *p;

	nlen = (size_t)snprintf(num, sizeof(num), "%u", idx);
	for (p = tmpl; *p; p++)
		len += (p[0] == '%' && p[1] == 'd') ? (p++, nlen) : 1;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	len = 0;
	for (p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			memcpy(out + len, num, nlen);
			len += nlen;
			p++;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	return out;
}

/* One call: returns 0 and sets *ms and *status, or -errno. */
static int run_one(unsigned idx, double *ms, int *status, char **output)
{
	char *env[MAX_ENV + 1] = { 0 };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err = 0, pid;
	size_t len = 0;
	char *buf = malloc(OUT_MAX + 1);
	double t0;

	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < g.n_env; i++) {
		env[i] = expand(g.env_tmpl[i], idx);
		if (!env[i]) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execve(g.program, (char *const[]){ (char *)g.program, NULL }, env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* The configuration is a few hundred bytes: it fits in the pipe. A
	 * program that never reads it (/bin/true) may be gone already: EPIPE. */
	if (g.conf_len && write(in[1], g.conf, g.conf_len) != (ssize_t)g.conf_len && errno != EPIPE)
		err = -EIO;
	close(in[1]);
	in[1] = -1;
	for (;;) {
		ssize_t r = read(out[0], buf + len, OUT_MAX - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == OUT_MAX)
			len = 0; /* keep draining; the output is only for errors */
	}
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	*ms = now_ms() - t0;
	buf[len] = '\0';
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	for (unsigned i = 0; i < g.n_env; i++)
		free(env[i]);
	if (err) {
		free(buf);
		return err;
	}
	*output = buf;
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned i = atomic_fetch_add(&g.next, 1);
		char *output = NULL;
		int status = 0, err, code;
		double ms = 0;

		if (i >= g.n)
			break;
		err = run_one(g.first + i, &ms, &status, &output);
		code = err ? 255 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		pthread_mutex_lock(&g.out_lock);
		printf("%u %.3f %d\n", g.first + i, ms, code);
		if (code && !atomic_exchange(&g.failed, 1))
			fprintf(stderr, "sl-cnibench: call %u exited %d%s%s\n", g.first + i, code,
				output ? ": " : "", output ? output : strerror(-err));
		pthread_mutex_unlock(&g.out_lock);
		free(output);
	}
	return NULL;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	size_t cap = 65536, n;
	char *buf;

	if (!f)
		return -errno;
	buf = malloc(cap);
	n = buf ? fread(buf, 1, cap, f) : 0;
	fclose(f);
	if (!buf)
		return -ENOMEM;
	*out = buf;
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t threads[64];
	unsigned parallel = 1;
	int opt, err;

	while ((opt = getopt(argc, argv, "n:P:f:c:e:")) != -1) {
		switch (opt) {
		case 'n': g.n = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': parallel = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': g.first = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c':
			err = read_file(optarg, &g.conf, &g.conf_len);
			if (err) {
				fprintf(stderr, "sl-cnibench: read %s: %s\n", optarg, strerror(-err));
				return 2;
			}
			break;
		case 'e':
			if (g.n_env == MAX_ENV)
				return 2;
			g.env_tmpl[g.n_env++] = optarg;
			break;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 1 || !g.n || !parallel || parallel > 64) {
		fputs(usage, stderr);
		return 2;
	}
	g.program = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < parallel; i++) {
		if (pthread_create(&threads[i], NULL, worker, NULL)) {
			fprintf(stderr, "sl-cnibench: pthread_create failed\n");
			return 2;
		}
	}
	for (unsigned i = 0; i < parallel; i++)
		pthread_join(threads[i], NULL);
	free(g.conf);
	return atomic_load(&g.failed) ? 1 : 0;
}
