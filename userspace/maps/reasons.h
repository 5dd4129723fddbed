/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names of the datapath's numbers, generated from the X-macro lists in
 * bpf/include (drop_reasons.h, source_files.h), so sluicectl, the /metrics
 * labels and the BPF enums cannot drift apart. Each returns NULL for a number
 * the list does not have (a newer datapath): print the number instead.
 */
#ifndef SLUICE_MAPS_REASONS_H
#define SLUICE_MAPS_REASONS_H

/* "TTL_EXCEEDED"; SL_METRIC_FORWARDED (0) is "FORWARDED". */
const char *sl_drop_reason_name(unsigned int reason);
/* "TTL exceeded"; 0 is "forwarded". */
const char *sl_drop_reason_desc(unsigned int reason);
/* "from-pod" */
const char *sl_dir_name(unsigned int dir);
/* "bpf/pod.bpf.c" */
const char *sl_source_file_path(unsigned int id);

#endif /* SLUICE_MAPS_REASONS_H */
