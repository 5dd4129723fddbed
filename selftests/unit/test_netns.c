// SPDX-License-Identifier: Apache-2.0
/*
 * Named network namespaces: create, open, enter, delete, and that nothing
 * here moves any thread but the one that asked (the agent is multithreaded).
 * Namespaces are named "slns<pid>-*"; every test's teardown and the group
 * teardown delete what matches, whether the test passed or not.
 */
#include "lib/sl_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netlink/netns.h"
#include "netlink/nl.h"

#define THREAD_NETNS "/proc/thread-self/ns/net"

static char prefix[32];
static ino_t home_ns;

/* What a test holds, released by the teardown even after a failed assert. */
static struct {
	int fds[16];
	int nfds;
	int saved; /* netns_enter's saved fd while the test is inside */
	struct nl_sock *nl[4];
	int nnl;
} held;

static ino_t thread_ns(void)
{
	struct stat st;

	if (stat(THREAD_NETNS, &st))
		return 0;
	return st.st_ino;
}

static ino_t fd_ino(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return 0;
	return st.st_ino;
}

#define assert_home() assert_true(thread_ns() == home_ns)

static const char *nsname(char *buf, const char *suffix)
{
	snprintf(buf, 64, "%s%s", prefix, suffix);
	return buf;
}

static int hold_fd(int fd)
{
	assert_true(fd >= 0);
	assert_true(held.nfds < (int)(sizeof(held.fds) / sizeof(held.fds[0])));
	held.fds[held.nfds++] = fd;
	return fd;
}

static struct nl_sock *hold_nl(struct nl_sock *nl)
{
	held.nl[held.nnl++] = nl;
	return nl;
}

static void delete_ours(void)
{
	DIR *d = opendir(NETNS_RUN_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			netns_delete(de->d_name);
	}
	closedir(d);
}

static int setup(void **state)
{
	(void)state;
	memset(&held, 0, sizeof(held));
	held.saved = -1;
	return 0;
}

static int teardown(void **state)
{
	int err = 0;

	(void)state;
	if (held.saved >= 0) {
		netns_restore(held.saved);
		held.saved = -1;
	}
	for (int i = 0; i < held.nnl; i++)
		nl_close(held.nl[i]);
	for (int i = 0; i < held.nfds; i++)
		close(held.fds[i]);
	delete_ours();
	if (thread_ns() != home_ns) {
		fprintf(stderr, "# teardown: the test thread is not in its own namespace\n");
		err = -1;
	}
	return err;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(prefix, sizeof(prefix), "slns%d-", (int)getpid());
	home_ns = thread_ns();
	return home_ns ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	delete_ours();
	return 0;
}

static void test_create_open_delete(void **state)
{
	char name[64], path[PATH_MAX];
	int by_name, by_path, self;

	(void)state;
	nsname(name, "a");
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	assert_false(netns_exists(name));
	assert_int_equal(netns_create(name), 0);
	assert_home();
	assert_true(netns_exists(name));
	assert_home();

	by_name = hold_fd(netns_open(name));
	assert_home();
	by_path = hold_fd(netns_open(path));
	self = hold_fd(netns_open(THREAD_NETNS));
	assert_true(netns_same(by_name, by_path));
	assert_false(netns_same(by_name, self));
	assert_true(fd_ino(self) == home_ns);

	assert_int_equal(netns_delete(name), 0);
	assert_home();
	assert_false(netns_exists(name));
	assert_int_equal(netns_open(name), -ENOENT);
	/* Absent is not an error: deletes are idempotent. */
	assert_int_equal(netns_delete(name), 0);
	assert_home();
}

static void test_create_duplicate(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(netns_create(nsname(name, "dup")), 0);
	assert_int_equal(netns_create(name), -EEXIST);
	assert_home();
	assert_true(netns_exists(name));
}

static void test_bad_names(void **state)
{
	int fd;

	(void)state;
	assert_int_equal(netns_create(""), -EINVAL);
	assert_int_equal(netns_create("a/b"), -EINVAL);
	assert_int_equal(netns_create("."), -EINVAL);
	assert_int_equal(netns_create(".."), -EINVAL);
	assert_int_equal(netns_create(NULL), -EINVAL);
	assert_int_equal(netns_open(""), -EINVAL);
	assert_int_equal(netns_delete(".."), -EINVAL);
	assert_false(netns_exists(""));
	/* A file that is not a network namespace. */
	assert_int_equal(netns_open("/proc/self/status"), -EINVAL);
	assert_int_equal(netns_open("/proc/self/ns/uts"), -EINVAL);
	fd = hold_fd(netns_open("/proc/self/ns/net"));
	assert_true(fd >= 0);
	assert_home();
}

static void test_loopback_up_and_alone(void **state)
{
	struct nl_sock *nl;
	struct nl_link lo, *links;
	char name[64];
	size_t n;
	int fd;

	(void)state;
	assert_int_equal(netns_create(nsname(name, "lo")), 0);
	fd = hold_fd(netns_open(name));
	assert_int_equal(nl_open_in_netns(fd, &nl), 0);
	hold_nl(nl);
	assert_home();
	assert_int_equal(nl_link_get_by_name(nl, "lo", &lo), 0);
	assert_true(lo.flags & IFF_UP);
	assert_int_equal(nl_link_list(nl, &links, &n), 0);
	free(links);
	assert_int_equal(n, 1);
}

/* iproute2 makes the directory a shared mount point, so names propagate to
 * mount namespaces copied from ours (containers, `ip netns exec`). */
static void test_run_dir_is_shared_mount(void **state)
{
	char name[64], dir[PATH_MAX], line[4096];
	bool found = false;
	FILE *f;

	(void)state;
	assert_int_equal(netns_create(nsname(name, "m")), 0);
	assert_non_null(realpath(NETNS_RUN_DIR, dir));
	f = fopen("/proc/self/mountinfo", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];

		/* id parent major:minor root mountpoint options [optional...] - */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 || strcmp(mnt, dir))
			continue;
		found = true;
		if (!strstr(line, " shared:")) {
			fclose(f);
			fail_msg("%s is a mount point but not shared: %s", dir, line);
		}
	}
	fclose(f);
	assert_true(found);
}

static void test_enter_restore(void **state)
{
	char name[64];
	int fd, saved = -1;

	(void)state;
	assert_int_equal(netns_create(nsname(name, "e")), 0);
	fd = hold_fd(netns_open(name));
	assert_int_equal(netns_enter(fd, &held.saved), 0);
	assert_true(thread_ns() == fd_ino(fd));
	saved = held.saved;
	held.saved = -1;
	assert_int_equal(netns_restore(saved), 0);
	assert_home();

	/* A failed enter moves nothing and leaks nothing. */
	assert_int_equal(netns_enter(-1, &saved), -EBADF);
	assert_home();
	assert_int_equal(netns_restore(-1), -EBADF);
	assert_home();
}

static void test_nl_open_in_netns_bad_fd(void **state)
{
	struct nl_sock *nl = NULL;
	int devnull;

	(void)state;
	assert_int_equal(nl_open_in_netns(-1, &nl), -EBADF);
	assert_home();
	devnull = hold_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
	assert_int_equal(nl_open_in_netns(devnull, &nl), -EINVAL);
	assert_home();
	assert_null(nl);
}

/* The name's bind mount keeps the namespace alive without any fd, and an fd
 * keeps it alive after the name is gone. */
static void test_namespace_lifetime(void **state)
{
	static const struct nl_veth_req veth = { .name = "v0", .peer_name = "v1", .peer_netns_fd = -1 };
	struct nl_sock *nl;
	struct nl_link l;
	char name[64];
	int fd;

	(void)state;
	assert_int_equal(netns_create(nsname(name, "life")), 0);
	fd = netns_open(name);
	assert_true(fd >= 0);
	assert_int_equal(nl_open_in_netns(fd, &nl), 0);
	close(fd);
	assert_int_equal(nl_veth_create(nl, &veth), 0);
	nl_close(nl);

	fd = hold_fd(netns_open(name));
	assert_int_equal(nl_open_in_netns(fd, &nl), 0);
	hold_nl(nl);
	assert_int_equal(nl_link_get_by_name(nl, "v0", &l), 0);

	assert_int_equal(netns_delete(name), 0);
	assert_false(netns_exists(name));
	assert_int_equal(nl_link_get_by_name(nl, "v1", &l), 0);
	assert_home();
}

struct watcher {
	atomic_bool stop;
	atomic_int moved;
	atomic_long checks;
};

static void *watch(void *arg)
{
	struct watcher *w = arg;

	while (!atomic_load(&w->stop)) {
		if (thread_ns() != home_ns)
			atomic_fetch_add(&w->moved, 1);
		atomic_fetch_add(&w->checks, 1);
	}
	return NULL;
}

/* Another thread keeps looking at its own namespace while this one
 * creates, enters, opens sockets in and deletes namespaces. */
static void test_other_threads_unaffected(void **state)
{
	struct watcher w = { 0 };
	pthread_t tid;
	char name[64];

	(void)state;
	assert_int_equal(pthread_create(&tid, NULL, watch, &w), 0);
	for (int i = 0; i < 20; i++) {
		struct nl_sock *nl;
		char suffix[16];
		int fd, saved, err = 0;

		snprintf(suffix, sizeof(suffix), "w%d", i);
		err = netns_create(nsname(name, suffix));
		fd = err ? -1 : netns_open(name);
		if (fd >= 0 && !nl_open_in_netns(fd, &nl))
			nl_close(nl);
		if (fd >= 0 && !netns_enter(fd, &saved))
			err = netns_restore(saved);
		if (fd >= 0)
			close(fd);
		netns_delete(name);
		if (err || fd < 0) {
			atomic_store(&w.stop, true);
			pthread_join(tid, NULL);
			fail_msg("round %d: create %s: %d", i, name, err ? err : fd);
		}
	}
	atomic_store(&w.stop, true);
	pthread_join(tid, NULL);
	assert_int_equal(atomic_load(&w.moved), 0);
	assert_true(atomic_load(&w.checks) > 0);
	assert_home();
}

struct racer {
	char name[64];
	int err;
};

static void *race_create(void *arg)
{
	struct racer *r = arg;

	r->err = netns_create(r->name);
	return NULL;
}

/* Concurrent creates: distinct names all succeed, one name is won once. */
static void test_concurrent_create(void **state)
{
	struct racer r[6];
	pthread_t tid[6];
	int ok = 0, eexist = 0;

	(void)state;
	for (int i = 0; i < 6; i++) {
		char suffix[16];

		snprintf(suffix, sizeof(suffix), i < 4 ? "c%d" : "same", i);
		nsname(r[i].name, suffix);
		assert_int_equal(pthread_create(&tid[i], NULL, race_create, &r[i]), 0);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].err, 0);
		assert_true(netns_exists(r[i].name));
	}
	for (int i = 4; i < 6; i++) {
		ok += r[i].err == 0;
		eexist += r[i].err == -EEXIST;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(eexist, 1);
	assert_home();
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_create_open_delete, setup, teardown),
	cmocka_unit_test_setup_teardown(test_create_duplicate, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	cmocka_unit_test_setup_teardown(test_loopback_up_and_alone, setup, teardown),
	cmocka_unit_test_setup_teardown(test_run_dir_is_shared_mount, setup, teardown),
	cmocka_unit_test_setup_teardown(test_enter_restore, setup, teardown),
	cmocka_unit_test_setup_teardown(test_nl_open_in_netns_bad_fd, setup, teardown),
	cmocka_unit_test_setup_teardown(test_namespace_lifetime, setup, teardown),
	cmocka_unit_test_setup_teardown(test_other_threads_unaffected, setup, teardown),
	cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
