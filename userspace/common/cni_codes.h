/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI error codes, for the plugin and the agent alike: the well-known ones
 * of SPEC.md ("Error"), and Sluice's own from 100 (the spec leaves 100+ to
 * plugins). docs/agent-api.md lists which operation answers which.
 */
#ifndef SLUICE_CNI_CODES_H
#define SLUICE_CNI_CODES_H

enum cni_errcode {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN_LATER = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	CNI_ERR_LIMITED_CONNECTIVITY = 51,
	CNI_ERR_CHECK_FAILED = 100, /* CHECK: the live state differs from prevResult */
	CNI_ERR_INTERNAL = 102,     /* the agent failed a step; details say which */
};

#endif /* SLUICE_CNI_CODES_H */
