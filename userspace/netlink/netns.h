/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named network namespaces, compatible with iproute2 (`ip netns`): a name is
 * a bind mount of the namespace file under /var/run/netns/NAME.
 *
 * Entering a namespace moves only the calling thread (setns); every enter is
 * paired with a restore. Nothing here touches the mount namespace, so bpffs
 * stays visible in the entered namespace (unlike `ip netns exec`).
 */
#ifndef SLUICE_NETNS_H
#define SLUICE_NETNS_H

#include <stdbool.h>

#define NETNS_RUN_DIR "/var/run/netns"

/* Opens a namespace by name ("lab-node-1") or path ("/var/run/netns/x",
 * "/proc/123/ns/net"); returns an O_CLOEXEC fd or -errno: -ENOENT for an
 * unknown name, -EINVAL for a bad name (empty, ".", "..") or a file that is
 * not a network namespace (a name whose creation crashed or is under way). */
int netns_open(const char *name_or_path);

/* Creates the named namespace with its loopback up, like `ip netns add`:
 * NETNS_RUN_DIR made a shared mount point if it is not one yet, the
 * namespace made by a short-lived helper thread (unshare) and bind-mounted
 * on the name. -EEXIST if the name is taken. Moves no thread of the caller;
 * safe to call from several threads at once. */
int netns_create(const char *name);

/* Unmounts and removes the name; the namespace dies with its last user.
 * 0 when it did not exist. */
int netns_delete(const char *name);

/* The name is taken (its file exists; it may be a half-made namespace). */
bool netns_exists(const char *name);

/* Moves the calling thread into netns_fd; *saved receives an fd of the
 * namespace it was in, for netns_restore (which also closes it, and whose
 * failure leaves the thread in the wrong namespace: treat it as fatal for
 * the thread). Threads started in between inherit the entered namespace. */
int netns_enter(int netns_fd, int *saved);
int netns_restore(int saved);

/* Same namespace? (compares st_dev/st_ino of the two files) */
bool netns_same(int fd_a, int fd_b);

#endif /* SLUICE_NETNS_H */
