/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One logging API for every Sluice binary.
 *
 * pr_err/pr_warn/pr_info/pr_debug take printf formats (checked by the
 * compiler). The agent logs one JSON object per line; the CLI and the CNI
 * plugin log text to stderr. libbpf's own messages are routed here one level
 * down (its warnings become our info lines) by loader_route_libbpf_log().
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

void log_init(const char *component, enum log_level level, enum log_format format, FILE *out);
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);

__attribute__((format(printf, 2, 0))) void log_vmsg(enum log_level level, const char *fmt, va_list ap);
__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

#define pr_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* SLUICE_LOG_H */
