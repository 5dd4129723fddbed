/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `openstack`: the cloud provider for OpenStack (Keystone v3, Neutron v2.0,
 * Nova os-interface), over the shared cloud HTTP client.
 *
 * The node's interfaces are Neutron ports in the pod subnet, created by the
 * provider and attached to the instance with Nova's os-interface API; a pod
 * IP is an extra fixed IP on such a port. Sluice's ports are recognised by
 * their description "sluice:<instance>" (set atomically when the port is
 * created, and an exact-match Neutron filter), named "sluice-eni<N>" (N is the
 * device index, the agent names the netdev eniN) and carry the tag
 * "sluice-primary=<ip>" (the address the port was created with, the
 * interface's own). Every other port of the instance is reported as primary:
 * the agent never touches it.
 *
 * fixed_ips updates always send the complete list, every existing address
 * spelled out (a bare {"subnet_id"} entry would otherwise be matched to an
 * existing address), guarded by If-Match: revision_number=N; a 412 re-reads
 * the port and tries again (max_conflict_retries). Observed on Neutron 21: an
 * update that changes nothing (our bare entry matched to an address another
 * writer added after our read) is accepted despite a stale revision; that
 * address is then reported as assigned, which is right for a port only this
 * node writes. When the outcome of a write is unknown (the answer was lost,
 * failed on the server's side or unreadable), the port is read back and what
 * it holds is reported, so an address the cloud assigned is never one the
 * caller does not know of; an answer lost for good (the read fails too)
 * shows in the next list_interfaces. An attach that fails after the port was created
 * deletes the port again (detaching it first if Nova may have attached it);
 * what a crash or a failed rollback leaves behind (an unattached port with our
 * description) is deleted by the next list_interfaces.
 *
 * Limits: OpenStack has no API for a flavor's interface or per-port address
 * limit (Nova's hypervisor and Neutron's quotas decide), so they come from
 * the config: max_interfaces defaults to OPENSTACK_DEFAULT_MAX_INTERFACES
 * (the primary included; libvirt/KVM guests hot-plug dozens of virtio NICs, 8
 * keeps PCI slots for volumes), max_ips_per_interface to
 * OPENSTACK_DEFAULT_MAX_IPS (the port's own address included; Neutron 21 sets
 * no per-port fixed-IP limit, the subnet and the project's port quota are the
 * real bounds, and every IP costs a full-list update).
 *
 * Calls on one provider are serialised (one HTTP handle); errors are 0 or
 * -errno as provider.h says, plus -EACCES when Keystone refuses the
 * credentials, -EPERM for a 403, -ETIMEDOUT when a port does not become
 * ACTIVE or does not detach in time.
 */
#ifndef SLUICE_CLOUD_OPENSTACK_H
#define SLUICE_CLOUD_OPENSTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "cloud/cloud_http.h"
#include "cloud/provider.h"

#define OPENSTACK_DEFAULT_MAX_INTERFACES 8
#define OPENSTACK_DEFAULT_MAX_IPS 16
#define OPENSTACK_METADATA_URL "http://169.254.169.254"
#define OPENSTACK_DMI_DIR "/sys/class/dmi/id"

/*
 * Every string is borrowed: the constructor copies what it keeps. NULL or
 * "" means unset. openstack_config_load fills the unset fields of the cloud
 * connection from clouds.yaml or the OS_* environment.
 */
struct openstack_config {
	/* Keystone v3. auth_type: "password" (default) or
	 * "v3applicationcredential" (also "application_credential"). */
	const char *auth_url;     /* http://keystone:5000/v3 ("/v3" is added if missing) */
	const char *auth_type;
	const char *username, *user_id, *password;
	const char *user_domain_name, *user_domain_id;
	const char *project_name, *project_id;
	const char *project_domain_name, *project_domain_id;
	const char *app_cred_id, *app_cred_name, *app_cred_secret;
	const char *region;       /* NULL: the first endpoint of any region */
	const char *interface;    /* public (default), internal or admin */
	const char *network_url;  /* overrides the catalog's network endpoint */
	const char *compute_url;  /* overrides the catalog's compute endpoint */
	unsigned token_margin_s;  /* re-auth this long before expiry; 0: 300 s (at most half the lifetime) */

	/* The node. instance_id NULL: the config drive (a mounted filesystem
	 * holding openstack/latest/meta_data.json, or config_drive_dir), the
	 * metadata service, then DMI product_uuid when product_name says
	 * "OpenStack" (libvirt sets the SMBIOS UUID to the instance's). */
	const char *instance_id;
	const char *metadata_url;     /* NULL: OPENSTACK_METADATA_URL; "" or "none": skip */
	const char *config_drive_dir; /* NULL: look for a mounted config drive */
	const char *dmi_dir;          /* NULL: OPENSTACK_DMI_DIR; "none": skip */

	/* Pods. */
	const char *pod_subnet_id;    /* required: where interfaces and pod IPs come from */
	const char *security_groups;  /* comma-separated ids for new ports; NULL: the project's default */
	struct cloud_limits limits;   /* zero fields: the defaults above */

	/* Timing. */
	unsigned active_timeout_ms;   /* attach: wait for the port to be ACTIVE; 0: 60000 */
	unsigned detach_timeout_ms;   /* detach: wait for Nova to unbind the port; 0: 180000 */
	unsigned detach_resend_ms;    /* ... sending the DELETE again this often; 0: 10000 */
	unsigned poll_interval_ms;    /* 0: 500 */
	unsigned max_conflict_retries; /* 412s and lost answers of one update; 0: 8 */
	unsigned page_size;           /* Neutron list pages; 0: 200 */
	struct cloud_http_opts http;  /* timeouts, retries, TLS (ca_file, insecure), budget */

	/* Tests only: called between the read of a port and its conditional
	 * write (a concurrent writer can be made to race deterministically). */
	void (*before_port_update)(void *arg, const char *port_id);
	void *hook_arg;

	void *owned_; /* what openstack_config_load keeps alive; see openstack_config_release */
};

/*
 * Fills the unset connection fields (Keystone, region, interface, TLS) the
 * way the OpenStack clients do. A cloud name (the argument, else $OS_CLOUD)
 * selects an entry of clouds.yaml, merged with secure.yaml beside it; the
 * file is clouds_yaml if given, else $OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
 * ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml. Without a
 * cloud name the OS_* variables are read (OS_AUTH_URL, OS_AUTH_TYPE,
 * OS_USERNAME, OS_USER_ID, OS_PASSWORD, OS_USER_DOMAIN_NAME/ID,
 * OS_PROJECT_NAME/ID (OS_TENANT_NAME/ID), OS_PROJECT_DOMAIN_NAME/ID,
 * OS_DOMAIN_NAME/ID (default for both domains), OS_APPLICATION_CREDENTIAL_ID/
 * NAME/SECRET, OS_REGION_NAME, OS_INTERFACE (OS_ENDPOINT_TYPE), OS_CACERT,
 * OS_INSECURE). Fields already set are kept. -ENOENT: the named cloud or its
 * file is missing; -EINVAL: the file does not parse.
 */
int openstack_config_load(struct openstack_config *cfg, const char *cloud, const char *clouds_yaml);
/* Frees what openstack_config_load kept; the loaded fields become dangling. */
void openstack_config_release(struct openstack_config *cfg);

/* Authenticates, reads the catalog, finds the instance id and the pod
 * subnet; fails (-EACCES, -ENOENT, -ECONNREFUSED, ...) with a log line that
 * says which. */
int openstack_provider_create(const struct openstack_config *cfg, struct cloud_provider **out);

struct openstack_stats {
	struct cloud_http_stats http; /* every request: Keystone, Neutron, Nova */
	uint64_t auths;               /* tokens obtained */
	uint64_t reauth_401;          /* of which after a 401 */
	uint64_t conflicts;           /* 412 answers to port updates */
	uint64_t readbacks;           /* writes with an unknown outcome, resolved by reading */
	uint64_t rollbacks;           /* attach steps undone */
	uint64_t orphans_deleted;     /* leftover unattached ports deleted */
};

/* Only for a provider made by openstack_provider_create. */
void openstack_provider_stats(struct cloud_provider *p, struct openstack_stats *out);

#endif /* SLUICE_CLOUD_OPENSTACK_H */
