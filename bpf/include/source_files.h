/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ids of the BPF source files, so a drop event can say where a packet died.
 * A file defines SL_SOURCE_FILE to its id before including lib/drop.h; a
 * bpf/lib header with drop sites of its own switches it to its own id for its
 * body (#pragma push_macro / pop_macro), so a line number is never read
 * against the wrong file. Append-only, like the drop reasons.
 */
#ifndef SLUICE_SOURCE_FILES_H
#define SLUICE_SOURCE_FILES_H

#define SL_SOURCE_FILES(X)                                                             \
	X(POD, 1, "bpf/pod.bpf.c")                                                     \
	X(ENI, 2, "bpf/eni.bpf.c")                                                     \
	X(XDP, 3, "bpf/xdp.bpf.c")                                                     \
	X(LIB, 4, "bpf/lib")                                                           \
	X(LIB_IPV4, 5, "bpf/lib/ipv4.h")                                               \
	X(LIB_FORWARD, 6, "bpf/lib/forward.h")                                         \
	X(LIB_REDIRECT, 7, "bpf/lib/redirect.h")                                       \
	X(LIB_POLICY, 8, "bpf/lib/policy.h")

enum sl_source_file {
#define SL_SRC_ENUM(name, num, path) SL_SRC_##name = num,
	SL_SOURCE_FILES(SL_SRC_ENUM)
#undef SL_SRC_ENUM
};

#endif /* SLUICE_SOURCE_FILES_H */
