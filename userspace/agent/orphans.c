// SPDX-License-Identifier: Apache-2.0
/*
 * Orphan interfaces: what the cloud, the pool and the node disagree on.
 * (Placeholder until the node-side work lands: nothing is compared yet.)
 */
#include "agent/agent.h"

int agent_orphans_reconcile(struct agent *a)
{
	(void)a;
	return 0;
}
