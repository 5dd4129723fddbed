// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The production sluice_from_eni, with its redirects recorded, not performed. */
#include "redirect_mock.h"

#include "eni.bpf.c"
