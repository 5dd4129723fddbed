// SPDX-License-Identifier: Apache-2.0
#include "maps/reasons.h"

#include <stddef.h>

#include "drop_reasons.h"
#include "source_files.h"

const char *sl_drop_reason_name(unsigned int reason)
{
	switch (reason) {
	case SL_METRIC_FORWARDED:
		return "FORWARDED";
#define X(name, num, desc)                                                                             \
	case num:                                                                                      \
		return #name;
		SL_DROP_REASONS(X)
#undef X
	}
	return NULL;
}

const char *sl_drop_reason_desc(unsigned int reason)
{
	switch (reason) {
	case SL_METRIC_FORWARDED:
		return "forwarded";
#define X(name, num, desc)                                                                             \
	case num:                                                                                      \
		return desc;
		SL_DROP_REASONS(X)
#undef X
	}
	return NULL;
}

const char *sl_dir_name(unsigned int dir)
{
	switch (dir) {
#define X(name, num, desc)                                                                             \
	case num:                                                                                      \
		return desc;
		SL_DIRECTIONS(X)
#undef X
	}
	return NULL;
}

const char *sl_source_file_path(unsigned int id)
{
	switch (id) {
#define X(name, num, path)                                                                             \
	case num:                                                                                      \
		return path;
		SL_SOURCE_FILES(X)
#undef X
	}
	return NULL;
}
