/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files that must survive a crash, locks shared between processes, and the
 * small filesystem chores every binary needs. All return 0 or -errno.
 */
#ifndef SLUICE_FSUTIL_H
#define SLUICE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with data atomically: write a temporary file beside it,
 * fsync it, rename it over path, fsync the directory. A reader (or a crash)
 * sees the old content or the new, never a mix. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer the
 * caller frees. -ENOENT when it does not exist, -EFBIG when larger than max. */
int fs_read_all(const char *path, size_t max, char **out, size_t *len);

/* mkdir -p with mode for every directory created. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf of path; does not cross into other filesystems (bind mounts of
 * network namespaces are unmounted by their owners, not here). */
int fs_remove_tree(const char *path);

/* An exclusive flock on path (created if missing); returns the fd to pass to
 * fs_unlock, or -errno. Blocks until the lock is free. */
int fs_lock(const char *path);
void fs_unlock(int fd);

/* Writes value to a /proc/sys file of the calling thread's network
 * namespace, e.g. sysctl_write("net/ipv4/ip_forward", "1"). */
int sysctl_write(const char *name, const char *value);

#endif /* SLUICE_FSUTIL_H */
