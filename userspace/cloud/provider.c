// SPDX-License-Identifier: Apache-2.0
#include "cloud/provider.h"

#include <stdlib.h>

void cloud_iface_free_array(struct cloud_iface *ifaces, size_t n)
{
	for (size_t i = 0; ifaces && i < n; i++)
		free(ifaces[i].ips);
	free(ifaces);
}
