/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Starting and driving selftests/tools/fake-ibm from a cmocka test: each
 * test gets its own fake on a unix socket in a fresh temp directory, stopped
 * by its PID in the test's teardown (which cmocka runs after a failed assert
 * too); the fake also dies with the test program (PR_SET_PDEATHSIG).
 * Control calls go through the agent's small unix-socket HTTP client.
 */
#ifndef SLUICE_TEST_IBM_FAKE_H
#define SLUICE_TEST_IBM_FAKE_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/uds_http.h"

struct fake_ibm {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
	char ready[128];
	unsigned port; /* with --listen: the TCP port */
};

static inline long fake_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* BUILD/selftests/tools/fake-ibm, BUILD found from this program's own path
 * (BUILD/selftests/unit/test_x), so the tests run with or without the runner. */
static inline void fake_ibm_binary(char *out, size_t len)
{
	char exe[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *build = getenv("SLUICE_BUILD");

	if (build && *build) {
		snprintf(out, len, "%s/selftests/tools/fake-ibm", build);
		return;
	}
	if (n > 0) {
		exe[n] = '\0';
		snprintf(out, len, "%s/../tools/fake-ibm", dirname(exe));
		return;
	}
	snprintf(out, len, "build/selftests/tools/fake-ibm");
}

/* Control call; returns the HTTP status or -errno; *out (if given) the JSON body. */
static inline int fake_ibm_ctl(struct fake_ibm *f, const char *method, const char *path, const char *body,
			       json_t **out)
{
	struct uds_http_response r;
	int err = uds_http_request(f->sock, method, path, body, body ? strlen(body) : 0, 5000, &r);

	if (out)
		*out = NULL;
	if (err)
		return err;
	if (out)
		*out = json_loadb(r.body, r.len, 0, NULL);
	err = r.status;
	uds_http_response_free(&r);
	return err;
}

static inline void fake_ibm_stop(struct fake_ibm *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		for (int i = 0; i < 200; i++) {
			if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
				f->pid = 0;
				break;
			}
			usleep(10000);
		}
		if (f->pid > 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, &status, 0);
		}
		f->pid = 0;
	}
	if (f->dir[0]) {
		if (getenv("FAKE_IBM_KEEP"))
			fprintf(stderr, "# fake-ibm log kept in %s\n", f->log);
		else
			fs_remove_tree(f->dir);
		f->dir[0] = '\0';
	}
}

/* extra: NULL-terminated arguments after --unix SOCK. */
static inline int fake_ibm_start(struct fake_ibm *f, const char *const *extra)
{
	char bin[PATH_MAX];
	const char *argv[64];
	size_t n = 0;
	long deadline;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-fake-ibm-XXXXXX");
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		return -errno;
	}
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/fake.log", f->dir);
	snprintf(f->ready, sizeof(f->ready), "%s/ready", f->dir);
	fake_ibm_binary(bin, sizeof(bin));
	if (access(bin, X_OK)) {
		fprintf(stderr, "fake-ibm not built: %s (make %s)\n", bin, "BUILD=... $BUILD/selftests/tools/fake-ibm");
		fake_ibm_stop(f);
		return -ENOENT;
	}
	argv[n++] = bin;
	argv[n++] = "--unix";
	argv[n++] = f->sock;
	argv[n++] = "--ready-file";
	argv[n++] = f->ready;
	for (size_t i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	f->pid = fork();
	if (f->pid < 0) {
		f->pid = 0;
		fake_ibm_stop(f);
		return -errno;
	}
	if (f->pid == 0) {
		int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	deadline = fake_now_ms() + 10000;
	while (fake_now_ms() < deadline) {
		char *text = NULL;
		size_t len;
		int status;

		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			fprintf(stderr, "fake-ibm exited at start; log:\n");
			if (fs_read_all(f->log, 1 << 16, &text, &len) == 0)
				fprintf(stderr, "%s\n", text);
			free(text);
			fake_ibm_stop(f);
			return -ECHILD;
		}
		if (fs_read_all(f->ready, 64, &text, &len) == 0) {
			f->port = (unsigned)strtoul(text, NULL, 10);
			free(text);
			if (fake_ibm_ctl(f, "GET", "/fake/health", NULL, NULL) == 200)
				return 0;
		}
		usleep(10000);
	}
	fake_ibm_stop(f);
	return -ETIMEDOUT;
}

static inline int fake_ibm_faults(struct fake_ibm *f, const char *rules_json)
{
	return fake_ibm_ctl(f, "POST", "/fake/faults", rules_json, NULL) == 200 ? 0 : -EIO;
}

static inline int fake_ibm_clear_faults(struct fake_ibm *f)
{
	return fake_ibm_ctl(f, "DELETE", "/fake/faults", NULL, NULL) == 204 ? 0 : -EIO;
}

/* How many requests matched "METHOD pattern" (e.g. "POST /identity/token"). */
static inline long fake_ibm_route_count(struct fake_ibm *f, const char *route)
{
	json_t *s = NULL;
	long n = -1;

	if (fake_ibm_ctl(f, "GET", "/fake/stats", NULL, &s) == 200)
		n = (long)json_integer_value(json_object_get(json_object_get(s, "routes"), route));
	json_decref(s);
	return n;
}

#endif /* SLUICE_TEST_IBM_FAKE_H */
