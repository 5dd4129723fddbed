// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The production sluice_xdp_eni, as a test object sharing the tests' pinned
 * maps. It never redirects: nothing to mock. */
#include "xdp.bpf.c"
