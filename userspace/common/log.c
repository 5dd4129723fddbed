// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static struct {
	const char *component;
	enum log_level level;
	enum log_format format;
	FILE *out;
	pthread_mutex_t lock;
} logger = {
	.component = "sluice",
	.level = LOG_INFO,
	.format = LOG_FORMAT_TEXT,
	.out = NULL,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_init(const char *component, enum log_level level, enum log_format format, FILE *out)
{
	logger.component = component;
	logger.level = level;
	logger.format = format;
	logger.out = out;
}

enum log_level log_get_level(void)
{
	return logger.level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Writes s as a JSON string body (without quotes), escaping what JSON needs. */
static void put_json_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	FILE *f = logger.out ? logger.out : stderr;
	char msg[2048];
	size_t len;

	if (level > logger.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';

	pthread_mutex_lock(&logger.lock);
	if (logger.format == LOG_FORMAT_JSON) {
		struct timeval tv;
		struct tm tm;
		char ts[32];

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(f, "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"", ts,
			(long)tv.tv_usec, level_names[level], logger.component);
		put_json_escaped(f, msg);
		fputs("\"}\n", f);
	} else {
		fprintf(f, "%s: %s%s\n", logger.component,
			level <= LOG_WARN ? (level == LOG_ERR ? "error: " : "warning: ") : "", msg);
	}
	fflush(f);
	pthread_mutex_unlock(&logger.lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
