/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loads the datapath (bpf/pod.bpf.c, bpf/eni.bpf.c, bpf/xdp.bpf.c) against
 * the maps pinned in a pin directory and attaches it to devices: a pod's
 * host-side veth gets sluice_from_pod at tc ingress and sluice_to_pod at tc
 * egress, an ENI sluice_from_eni at tc ingress and, optionally, the
 * sluice_xdp_eni prefilter at XDP.
 *
 * The datapath outlives the agent: maps are pinned by name in pin_dir,
 * programs under pin_dir/progs/, and nothing here ever detaches or unpins on
 * close. A restarted agent calls loader_open() again (the maps, and so every
 * endpoint, policy entry and connection, are reused) and reattaches;
 * BPF_TC_F_REPLACE on our own (handle, priority) swaps the program in one
 * netlink request, with no instant where a hook has no program.
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
	/* Map sizes for maps this open creates; 0: the default of consts.h.
	 * A map already pinned keeps its size (said at info level when it
	 * differs): resizing means recreating it, with replace_incompatible
	 * after unpinning, or a fresh pin_dir. */
	__u32 ct_max_entries;      /* sluice_ct (SL_MAX_CT), preallocated */
	__u32 ipcache_max_entries; /* sluice_ipcache (SL_MAX_IPCACHE) */
	__u32 policy_max_entries;  /* sluice_policy (SL_MAX_POLICY) */
};

enum loader_prog {
	LOADER_PROG_FROM_POD, /* sluice_from_pod: host-side veth of a pod, tc ingress */
	LOADER_PROG_FROM_ENI, /* sluice_from_eni: cloud interface, tc ingress */
	LOADER_PROG_TO_POD,   /* sluice_to_pod: host-side veth of a pod, tc egress */
	LOADER_PROG_XDP_ENI,  /* sluice_xdp_eni: cloud interface, XDP prefilter */
};

/* Where a program runs on a device. */
enum loader_hook {
	LOADER_HOOK_TC_INGRESS,
	LOADER_HOOK_TC_EGRESS,
	LOADER_HOOK_XDP,
};

/* opts NULL: SL_PIN_DIR_DEFAULT, no replacing, drop events on, default sizes.
 * Mounts bpffs on /sys/fs/bpf if needed, creates pin_dir, checks the layout
 * version of existing pins (-EPROTO when it differs, unless
 * replace_incompatible), loads the three objects sharing the pinned maps,
 * pins the programs (replacing older pins atomically) and writes
 * sluice_meta. Maps it creates start with sluice_polcfg = { rev 0, enforce
 * 1, ct_on_policy_change KEEP }: with no policy entries that allows all. */
int loader_open(const struct loader_opts *opts, struct loader **out);

/* Frees the loader. Never detaches or unpins: the datapath keeps running. */
void loader_close(struct loader *l);

/* Attaches a program at its hook (loader_prog_hook()) of ifindex. tc: the
 * clsact qdisc (an existing one is fine) and a filter at (SL_TC_HANDLE,
 * SL_TC_PRIORITY) with BPF_TC_F_REPLACE, so an attached older program is
 * swapped atomically. XDP: in the mode the driver offers (native, else
 * generic), replacing an older sluice_xdp_eni atomically; -EBUSY when
 * another XDP program is attached. */
int loader_attach(struct loader *l, enum loader_prog prog, int ifindex);
/* sluice_from_pod at tc ingress, then sluice_to_pod at tc egress. If the
 * second fails, the first stays attached (and the error is returned): both
 * are safe alone, and the caller retries or detaches. */
int loader_attach_pod(struct loader *l, int ifindex);
int loader_attach_eni(struct loader *l, int ifindex);
/* The optional prefilter, on an ENI that already has sluice_from_eni. */
int loader_attach_xdp_eni(struct loader *l, int ifindex);

/* Removes everything Sluice attached to ifindex: our filters at tc ingress
 * and egress, and sluice_xdp_eni at XDP (another XDP program is left
 * alone). 0 if nothing is there, or if the device is gone. The clsact qdisc
 * stays: others may have filters on it. */
int loader_detach(int ifindex);

/* Id of the program Sluice runs at a hook of ifindex: 0 and *prog_id, or
 * -ENOENT when there is none there (no filter of ours, no clsact qdisc, no
 * XDP program, or one that is not ours). loader_query() is tc ingress. */
int loader_query_at(int ifindex, enum loader_hook hook, __u32 *prog_id);
int loader_query(int ifindex, __u32 *prog_id);

/* The hook a program is attached at. */
enum loader_hook loader_prog_hook(enum loader_prog prog);

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
