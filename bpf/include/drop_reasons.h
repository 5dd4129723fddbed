/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every reason the datapath drops a packet, written once.
 *
 * SL_DROP_REASONS(X) expands X(NAME, number, "description") for each reason.
 * BPF code uses the enum (SL_DROP_<NAME>, returned negated by helpers);
 * userspace builds its name table for sluicectl and the /metrics labels from
 * the same list. The list is append-only: a number never changes meaning, and
 * a retired reason keeps its number (mark it "reserved").
 *
 * Number 0 in the metrics map means "forwarded", not a drop.
 */
#ifndef SLUICE_DROP_REASONS_H
#define SLUICE_DROP_REASONS_H

#define SL_METRIC_FORWARDED 0

#define SL_DROP_REASONS(X)                                                            \
	X(INVALID_PACKET, 130, "malformed or truncated packet")                        \
	X(UNSUPPORTED_L3, 131, "unsupported L3 protocol")                              \
	X(UNKNOWN_SOURCE, 132, "source is not a known endpoint")                       \
	X(POLICY_DENIED, 133, "policy denied")                                         \
	X(SPOOFED_SOURCE, 134, "source address not owned by the sending pod")          \
	X(NO_ENI, 135, "no cloud interface for the endpoint")                          \
	X(UNKNOWN_DEST, 136, "destination is not a local endpoint")                    \
	X(REDIRECT_FAILED, 137, "redirect failed")                                     \
	X(TTL_EXCEEDED, 138, "TTL exceeded")                                           \
	X(FRAGMENT, 139, "IP fragment without ports where policy needs them")          \
	X(WRONG_ENI, 140, "arrived on an ENI that does not own the destination")

enum sl_drop_reason {
#define SL_DROP_ENUM(name, num, desc) SL_DROP_##name = num,
	SL_DROP_REASONS(SL_DROP_ENUM)
#undef SL_DROP_ENUM
};

/* Where a packet was seen; the second half of a metrics key. */
#define SL_DIRECTIONS(X)                                                               \
	X(FROM_POD, 1, "from-pod")                                                     \
	X(FROM_ENI, 2, "from-eni")                                                     \
	X(TO_POD, 3, "to-pod")                                                         \
	X(XDP_ENI, 4, "xdp-eni")

enum sl_direction {
#define SL_DIR_ENUM(name, num, desc) SL_DIR_##name = num,
	SL_DIRECTIONS(SL_DIR_ENUM)
#undef SL_DIR_ENUM
};

#endif /* SLUICE_DROP_REASONS_H */
