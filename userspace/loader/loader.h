/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loads the datapath (bpf/pod.bpf.c, bpf/eni.bpf.c) against the maps pinned
 * in a pin directory and attaches it to devices at tc ingress.
 *
 * The datapath outlives the agent: maps are pinned by name in pin_dir,
 * programs under pin_dir/progs/, and nothing here ever detaches or unpins on
 * close. A restarted agent calls loader_open() again (the maps, and so every
 * endpoint, are reused) and reattaches; BPF_TC_F_REPLACE on our own
 * (handle, priority) swaps the program in one netlink request, with no
 * instant where a device has no program.
 *
 * Every function returns 0 or -errno and logs a message naming the step and
 * the object on failure.
 */
#ifndef SLUICE_LOADER_H
#define SLUICE_LOADER_H

#include <stdbool.h>

#include <linux/types.h>

struct loader;

struct loader_opts {
	const char *pin_dir;       /* NULL: SL_PIN_DIR_DEFAULT */
	bool replace_incompatible; /* pins of another layout version: recreate them (loses all state) */
	bool drop_events;          /* emit a ring-buffer event per drop (counters are always on) */
};

enum loader_prog {
	LOADER_PROG_FROM_POD, /* sluice_from_pod: host-side veth of a pod */
	LOADER_PROG_FROM_ENI, /* sluice_from_eni: cloud interface */
};

/* opts NULL: SL_PIN_DIR_DEFAULT, no replacing, drop events on.
 * Mounts bpffs on /sys/fs/bpf if needed, creates pin_dir, checks the layout
 * version of existing pins (-EPROTO when it differs, unless
 * replace_incompatible), loads both objects sharing the pinned maps, pins the
 * programs (replacing older pins atomically) and writes sluice_meta. */
int loader_open(const struct loader_opts *opts, struct loader **out);

/* Frees the loader. Never detaches or unpins: the datapath keeps running. */
void loader_close(struct loader *l);

/* Attaches a program at tc ingress of ifindex: clsact qdisc (an existing one
 * is fine) and a filter at (SL_TC_HANDLE, SL_TC_PRIORITY) with
 * BPF_TC_F_REPLACE, so an attached older program is swapped atomically. */
int loader_attach(struct loader *l, enum loader_prog prog, int ifindex);
int loader_attach_pod(struct loader *l, int ifindex);
int loader_attach_eni(struct loader *l, int ifindex);

/* Removes our filter from tc ingress of ifindex. 0 if it is not there, or if
 * the device is gone. The clsact qdisc stays: others may have filters on it. */
int loader_detach(int ifindex);

/* Id of the program our filter on ifindex runs: 0 and *prog_id, or -ENOENT
 * when there is no Sluice filter (or no clsact qdisc) on the device. */
int loader_query(int ifindex, __u32 *prog_id);

/* The loaded programs of l: fd (owned by l) and kernel id. */
int loader_prog_fd(const struct loader *l, enum loader_prog prog);
int loader_prog_id(const struct loader *l, enum loader_prog prog, __u32 *id);
const char *loader_pin_dir(const struct loader *l);

/* For `lab down` and uninstall: removes every pin under pin_dir and the
 * directory itself. 0 if it does not exist; -EINVAL if pin_dir is not on a
 * bpf filesystem (never rm -rf anything else). Attached programs keep running
 * until they are detached or their devices go away. */
int loader_unpin_all(const char *pin_dir);

/* Routes libbpf's messages through log.h one level down: its warnings are
 * our info lines, everything else is debug. */
void loader_route_libbpf_log(void);

#endif /* SLUICE_LOADER_H */
