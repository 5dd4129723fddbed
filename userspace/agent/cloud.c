// SPDX-License-Identifier: Apache-2.0
/*
 * Makes the cloud provider the configuration names. Each provider keeps its
 * own retry discipline (cloud_http); the agent adds one budget over all of
 * them, a token per provider call, taken by the pool controller.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "cloud/ibm.h"
#include "cloud/openstack.h"
#include "cloud/sim.h"
#include "common/log.h"

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static int create_ibm(const struct agent_config *c, struct cloud_provider **out)
{
	struct ibm_config ic = {
		.region = or_null(c->ibm_region),
		.vpc_url = or_null(c->ibm_vpc_url),
		.iam_url = or_null(c->ibm_iam_url),
		.metadata_url = or_null(c->ibm_metadata_url),
		.api_key_file = or_null(c->ibm_api_key_file),
		.trusted_profile = or_null(c->ibm_trusted_profile),
		.instance_id = or_null(c->instance_id),
		.subnet_id = or_null(c->pod_subnet),
		.max_interfaces = c->max_interfaces,
		.max_ips_per_interface = c->max_ips_per_interface,
		.http = { .ca_file = or_null(c->cloud_ca_file) },
	};

	return ibm_provider_create(&ic, out);
}

static int create_openstack(const struct agent_config *c, struct cloud_provider **out)
{
	struct openstack_config oc = {
		.network_url = or_null(c->os_network_url),
		.compute_url = or_null(c->os_compute_url),
		.instance_id = or_null(c->instance_id),
		.pod_subnet_id = or_null(c->pod_subnet),
		.security_groups = or_null(c->os_security_groups),
		.limits = { c->max_interfaces, c->max_ips_per_interface },
		.http = { .ca_file = or_null(c->cloud_ca_file) },
	};
	int err;

	err = openstack_config_load(&oc, or_null(c->os_cloud), or_null(c->os_clouds_yaml));
	if (err) {
		pr_err("openstack: credentials (clouds.yaml or OS_* variables): %s", strerror(-err));
		return err;
	}
	err = openstack_provider_create(&oc, out);
	openstack_config_release(&oc);
	return err;
}

int agent_cloud_create(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	int err;

	err = cloud_budget_new(c->cloud_calls_per_s, c->cloud_burst, &a->cloud_budget);
	if (err)
		return err;
	if (!strcmp(c->provider, "ibm"))
		err = create_ibm(c, &a->cloud);
	else if (!strcmp(c->provider, "openstack"))
		err = create_openstack(c, &a->cloud);
	else
		err = sim_provider_create(c->sim_state, c->node, &a->cloud);
	if (err)
		pr_err("cloud provider %s: %s", c->provider, strerror(-err));
	return err;
}
