/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CLOCK_MONOTONIC as the agent, the CLI and the cloud clients use it: for
 * deadlines, durations, and comparisons with bpf_ktime_get_ns() (the same
 * clock). Never for wall time.
 */
#ifndef SLUICE_COMMON_CLOCK_H
#define SLUICE_COMMON_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t sl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sl_now_ms(void)
{
	return sl_now_ns() / 1000000ull;
}

/* Sleeps ms milliseconds, whatever signals arrive meanwhile. */
static inline void sl_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

#endif /* SLUICE_COMMON_CLOCK_H */
