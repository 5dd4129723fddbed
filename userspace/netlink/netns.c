// SPDX-License-Identifier: Apache-2.0
/*
 * Named network namespaces the iproute2 way, safe in a multithreaded
 * process: only the calling thread (netns_enter) or a short-lived helper
 * thread (netns_create) ever changes namespace, never the process.
 */
#include "netlink/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "netlink/nl.h"

#define THREAD_NETNS "/proc/thread-self/ns/net"

/* NAME -> NETNS_RUN_DIR/NAME; a name is one path component. */
static int netns_path(const char *name, char *buf, size_t len)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (snprintf(buf, len, "%s/%s", NETNS_RUN_DIR, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* A name, or a path when it has a slash in it. */
static int resolve(const char *name_or_path, char *buf, size_t len)
{
	if (name_or_path && strchr(name_or_path, '/')) {
		if (snprintf(buf, len, "%s", name_or_path) >= (int)len)
			return -ENAMETOOLONG;
		return 0;
	}
	return netns_path(name_or_path, buf, len);
}

int netns_open(const char *name_or_path)
{
	char path[PATH_MAX];
	int fd, err;

	err = resolve(name_or_path, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A name whose bind mount is missing (a crashed create, or one still
	 * under way) is a plain empty file: not something to setns into. */
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

bool netns_exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return resolve(name, path, sizeof(path)) == 0 && stat(path, &st) == 0;
}

/* Serializes the first-time mount of NETNS_RUN_DIR within this process
 * (iproute2 has the same window between processes; it is benign there too:
 * a second bind mount stacks, and the shared remount applies to the top). */
static pthread_mutex_t run_dir_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes NETNS_RUN_DIR a shared mount point, as iproute2 does, so a name
 * created here shows up in mount namespaces that were copied from ours
 * (and theirs in ours). */
static int run_dir_prepare(void)
{
	bool bound = false;
	int err = 0;

	pthread_mutex_lock(&run_dir_lock);
	err = fs_mkdir_p(NETNS_RUN_DIR, 0755);
	if (err)
		goto out;
	while (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL)) {
		/* EINVAL: not a mount point yet; make it one and try again. */
		if (errno != EINVAL || bound) {
			err = -errno;
			pr_debug("make %s a shared mount: %s", NETNS_RUN_DIR, strerror(errno));
			goto out;
		}
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL)) {
			err = -errno;
			pr_debug("bind mount %s onto itself: %s", NETNS_RUN_DIR, strerror(errno));
			goto out;
		}
		bound = true;
	}
out:
	pthread_mutex_unlock(&run_dir_lock);
	return err;
}

struct create_job {
	const char *path;
	int err;
	bool mounted;
};

/* Runs in its own thread: the unshare moves only this thread, which then
 * ends; the bind mount keeps the namespace alive. */
static void *create_thread(void *arg)
{
	struct create_job *job = arg;
	struct nl_sock *nl = NULL;
	struct nl_link lo;
	int err;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		pr_debug("unshare(CLONE_NEWNET): %s", strerror(errno));
		goto out;
	}
	if (mount(THREAD_NETNS, job->path, "none", MS_BIND, NULL)) {
		err = -errno;
		pr_debug("bind mount %s on %s: %s", THREAD_NETNS, job->path, strerror(errno));
		goto out;
	}
	job->mounted = true;
	err = nl_open(&nl);
	if (!err)
		err = nl_link_get_by_name(nl, "lo", &lo);
	if (!err)
		err = nl_link_set_up(nl, lo.ifindex, true);
	if (err)
		pr_debug("bring lo up in %s: %s", job->path, strerror(-err));
	nl_close(nl);
out:
	job->err = err;
	return NULL;
}

int netns_create(const char *name)
{
	struct create_job job = { 0 };
	char path[PATH_MAX];
	pthread_t tid;
	int fd, err;

	err = netns_path(name, path, sizeof(path));
	if (err)
		return err;
	err = run_dir_prepare();
	if (err)
		return err;
	/* The mount point; O_EXCL makes the name ours or says it is taken. */
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);

	job.path = path;
	err = -pthread_create(&tid, NULL, create_thread, &job);
	if (!err) {
		pthread_join(tid, NULL);
		err = job.err;
	}
	if (err) {
		if (job.mounted)
			umount2(path, MNT_DETACH);
		unlink(path);
	}
	return err;
}

int netns_delete(const char *name)
{
	char path[PATH_MAX];
	int err;

	err = netns_path(name, path, sizeof(path));
	if (err)
		return err;
	/* EINVAL: not mounted (a half-made name); ENOENT: no such name. */
	if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT) {
		err = -errno;
		pr_debug("umount %s: %s", path, strerror(errno));
		return err;
	}
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_debug("unlink %s: %s", path, strerror(errno));
		return err;
	}
	return 0;
}

int netns_enter(int netns_fd, int *saved)
{
	int cur, err;

	cur = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET)) {
		err = -errno;
		close(cur);
		return err;
	}
	*saved = cur;
	return 0;
}

int netns_restore(int saved)
{
	int err = 0;

	if (saved < 0)
		return -EBADF;
	if (setns(saved, CLONE_NEWNET)) {
		err = -errno;
		pr_debug("setns back to the saved namespace: %s", strerror(errno));
	}
	close(saved);
	return err;
}

bool netns_same(int fd_a, int fd_b)
{
	struct stat a, b;

	if (fstat(fd_a, &a) || fstat(fd_b, &b))
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
