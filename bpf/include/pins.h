/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Names under the pin directory and the layout version of what is pinned.
 *
 * Maps are pinned by their own name (LIBBPF_PIN_BY_NAME) directly in the pin
 * directory, /sys/fs/bpf/sluice by default; programs are pinned under
 * progs/. Map names stay within 15 characters so the kernel's name, the pin
 * file and bpftool's output are the same string.
 */
#ifndef SLUICE_PINS_H
#define SLUICE_PINS_H

/* Bump when any pinned map's key, value or type changes meaning. An agent
 * finding pins of another version refuses to start unless told to replace
 * them (sluiced --replace-maps), because guessing would corrupt the datapath. */
#define SL_LAYOUT_VERSION 2 /* 2: NetworkPolicy maps (ipcache, policy, ct, polcfg) */

#define SL_PIN_DIR_DEFAULT "/sys/fs/bpf/sluice"
#define SL_PIN_PROGS_SUBDIR "progs"

#define SL_MAP_ENDPOINT "sluice_endpoint"
#define SL_MAP_ENI "sluice_eni"
#define SL_MAP_METRICS "sluice_metrics"
#define SL_MAP_EVENTS "sluice_events"
#define SL_MAP_META "sluice_meta"
#define SL_MAP_IPCACHE "sluice_ipcache"
#define SL_MAP_POLICY "sluice_policy"
#define SL_MAP_CT "sluice_ct"
#define SL_MAP_POLCFG "sluice_polcfg"

/* Program names, as bpftool shows them (kernel names are cut at 15 chars). */
#define SL_PROG_FROM_POD "sluice_from_pod"
#define SL_PROG_FROM_ENI "sluice_from_eni"
#define SL_PROG_TO_POD "sluice_to_pod"
#define SL_PROG_XDP_ENI "sluice_xdp_eni"

/* tc filter handle and priority Sluice owns on every device it attaches to;
 * reattaching with the same pair replaces the program atomically. */
#define SL_TC_HANDLE 0x5c
#define SL_TC_PRIORITY 1

#endif /* SLUICE_PINS_H */
