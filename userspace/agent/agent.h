/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced: the node agent. One struct agent holds everything; one mutex
 * (lock) guards the pool, the endpoints, the datapath maps and the
 * checkpoint, so every change is applied, persisted and answered in one
 * critical section. Cloud calls happen outside it, in the pool controller
 * thread; a CNI ADD that finds the pool empty waits for the controller
 * (pool_cond) instead of calling the cloud itself.
 */
#ifndef SLUICE_AGENT_H
#define SLUICE_AGENT_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "cloud/cloud_http.h"
#include "cloud/provider.h"
#include "endpoints/endpoint.h"
#include "ipam/pool.h"
#include "k8s/dir_source.h"
#include "k8s/kube.h"
#include "k8s/store.h"
#include "loader/loader.h"
#include "maps/ct_gc.h"
#include "maps/maps.h"
#include "policy/policy.h"

#define SLUICE_VERSION "0.1.0"

enum agent_reconcile_mode {
	AGENT_RECONCILE_IMMEDIATE = 0, /* on every pod event */
	AGENT_RECONCILE_SCHEDULED,     /* every reconcile_interval_s */
	AGENT_RECONCILE_MANUAL,        /* only on a config change or `sluicectl ipam reconcile` */
};

struct agent_config {
	char node[CLOUD_ID_LEN];
	char pin_dir[PATH_MAX];
	char socket_path[PATH_MAX];
	unsigned socket_mode;
	char state_dir[PATH_MAX];
	char provider[32];
	char sim_state[PATH_MAX];
	char k8s_source[PATH_MAX]; /* "dir:PATH", "kube" or "" */
	char kubeconfig[PATH_MAX]; /* kube: "" = $KUBECONFIG, else in-cluster */
	char kube_context[256];

	/* The cloud (agent/cloud.c). Strings point into argv or are "". */
	const char *instance_id;       /* "": the provider finds it (metadata, DMI) */
	const char *pod_subnet;        /* ibm, openstack: subnet of pod interfaces */
	unsigned max_interfaces;       /* 0: the profile's */
	unsigned max_ips_per_interface; /* 0: the profile's */
	const char *ibm_region, *ibm_vpc_url, *ibm_iam_url, *ibm_metadata_url;
	const char *ibm_api_key_file, *ibm_trusted_profile;
	const char *os_cloud, *os_clouds_yaml, *os_network_url, *os_compute_url;
	const char *os_security_groups;
	const char *cloud_ca_file;
	double cloud_calls_per_s;      /* the cloud-call budget: a token bucket */
	unsigned cloud_burst;

	/* The warm pool (agent/pool.c), with the well-known meanings. */
	unsigned warm_ip_target;       /* free IPs to keep ready */
	unsigned min_ip_target;        /* IPs (free + used) to hold at least */
	unsigned warm_eni_target;      /* free interfaces' worth of IPs to keep */
	unsigned release_delay_s;      /* excess IPs are released after this long */
	unsigned reuse_max_hold_s;     /* a freed IP with live conntrack waits at most this */
	uint8_t reconcile_mode;        /* AGENT_RECONCILE_* */
	unsigned reconcile_interval_s; /* scheduled: period */
	unsigned orphan_interval_s;    /* cloud vs node interface reconcile period */
	unsigned add_wait_ms;     /* how long an ADD waits for the pool to refill */
	unsigned eni_mtu;
	bool xdp_prefilter;       /* sluice_xdp_eni on every adopted ENI */
	bool replace_maps;
	bool drop_events;
	uint8_t ct_on_policy_change; /* SL_CT_ON_POLICY_CHANGE_KEEP / _DROP */
};

/* pool.c: provider calls by kind, as counted and budgeted by the agent. */
enum agent_cloud_call {
	AGENT_CALL_ASSIGN = 0,
	AGENT_CALL_RELEASE,
	AGENT_CALL_ATTACH,
	AGENT_CALL_DETACH,
	AGENT_CALL_LIST,
	AGENT_CALL_KINDS,
};

/* Why the pool cannot grow now (STATUS, `sluicectl ipam show`). */
enum agent_pool_block {
	AGENT_POOL_OK = 0,
	AGENT_POOL_INTERFACE_LIMIT, /* every interface and IP limit reached */
	AGENT_POOL_SUBNET_EXHAUSTED, /* the provider answered -ENOSPC */
	AGENT_POOL_BUDGET,          /* the cloud-call budget is spent */
	AGENT_POOL_CLOUD_FAILING,   /* several calls in a row failed */
};

/* The warm-pool controller's state (pool.c; lock held to read or write). */
struct agent_pool_state {
	uint8_t block;                        /* AGENT_POOL_* */
	uint64_t calls[AGENT_CALL_KINDS];     /* atomics: counted without the lock */
	uint64_t failed[AGENT_CALL_KINDS];
	uint64_t budget_denied, deferred_passes;
	uint64_t passes, passes_unchanged, last_hash;
	char last_error[256];                 /* kept after successes, unlike last_cloud_error */
	int64_t last_error_time;              /* unix seconds */
	unsigned consecutive_failures;
	uint64_t errors_total;
	uint64_t request_seq, done_seq;       /* passes asked for (config, reconcile) / served */
};

/* orphans.c: what the orphan passes did, cumulative (lock held to read). */
#define AGENT_LOST_MAX 16
struct agent_orphan_stats {
	uint64_t passes;      /* completed passes */
	uint64_t failed;      /* passes that could not list the cloud (or had no budget) */
	uint64_t readopted;   /* Sluice's interfaces the pool did not know, adopted again */
	uint64_t detached;    /* ... whose netdev was not on the node: detached in the cloud */
	uint64_t forgotten;   /* pool interfaces the cloud no longer lists: removed */
	uint64_t lost;        /* ... kept because a pod still holds an IP on them */
	uint64_t ips_added;   /* IPs the cloud lists that the pool lacked: added free */
	uint64_t ips_dropped; /* free pool IPs the cloud no longer lists: dropped */
	int64_t last_pass_time; /* unix seconds; 0 before the first pass */
	char last_error[256];   /* "" when the last pass went through */
	/* Interfaces the cloud no longer lists while pods still hold IPs on
	 * them: out of the pool (it mirrors the cloud), the pods keep their
	 * endpoints, and the node side is cleaned up when the last one goes. */
	struct agent_lost_iface {
		char id[CLOUD_ID_LEN];
		char name[IF_NAMESIZE];
		int ifindex;
		uint8_t mac[6];
		struct sl_ip primary_ip;
	} lost_ifaces[AGENT_LOST_MAX];
	unsigned n_lost;
};

struct agent_nodestatus; /* nodestatus.c */

struct agent {
	struct agent_config cfg;
	char checkpoint_path[PATH_MAX];

	pthread_mutex_t lock;
	struct ipam ipam;
	struct endpoint *endpoints;
	size_t n_endpoints, cap_endpoints;
	bool ready;

	struct loader *loader;
	struct sl_maps maps;
	struct cloud_provider *cloud;
	struct cloud_budget *cloud_budget; /* one token per provider call (pool.c) */
	struct k8s_store *store;
	struct k8s_dir_source *k8s_dir;
	struct kube_source *kube;
	pthread_t k8s_thread;
	bool k8s_running;
	pthread_cond_t k8s_cond; /* broadcast after every batch of object changes */

	/* Pool controller: waits on pool_cond for work, ADDs wait on it for IPs. */
	pthread_t pool_thread;
	pthread_cond_t pool_cond;
	unsigned pool_waiters; /* ADDs waiting for an IP */
	unsigned pool_gen;     /* bumped after every controller pass */
	bool pool_stuck;       /* short of IPs and no cloud call can help now */
	char last_cloud_error[256];
	bool stopping;
	struct agent_pool_state pool;

	/* Policy engine (policy.c) */
	struct identity_table *ids;
	struct policy_state policy;   /* what the maps hold */
	bool policy_dirty;
	uint64_t policy_changed_ns;   /* first unapplied change (CLOCK_MONOTONIC) */
	pthread_t policy_thread;
	pthread_cond_t policy_cond;
	bool policy_running;
	uint64_t policy_syncs;
	uint64_t policy_last_compile_ns, policy_last_apply_ns, policy_last_latency_ns;
	size_t policy_last_ops;
	struct ct_gc_result ct_last_gc;

	struct agent_orphan_stats orphans;   /* orphans.c */
	struct agent_nodestatus *nodestatus; /* nodestatus.c: the SluiceNodeStatus writer */
};

/* main.c */
int agent_parse_args(int argc, char **argv, struct agent_config *cfg);

/* cloud.c: the provider the config names (sim, ibm, openstack) */
int agent_cloud_create(struct agent *a);

/* state.c: endpoints array and the checkpoint (lock held) */
struct endpoint *agent_endpoint_find(struct agent *a, const struct ipam_owner *key);
int agent_endpoint_add(struct agent *a, const struct endpoint *ep);
void agent_endpoint_remove(struct agent *a, const struct endpoint *ep);
int agent_checkpoint(struct agent *a);
int agent_map_endpoint(struct agent *a, const struct endpoint *ep);
int agent_map_ip(struct agent *a, const struct sl_ip *ip, const struct sl_endpoint_info *info);
int agent_unmap_endpoint(struct agent *a, const struct sl_ip *ip);

/* reconcile.c */
int agent_reconcile(struct agent *a);
int agent_adopt_eni(struct agent *a, struct ipam_iface *iface);
int agent_sync_host_addresses(struct agent *a);
/* Releases endpoints whose host link and netns are both gone (lock held). */
int agent_sweep_gone_endpoints(struct agent *a);

/* pool.c: the warm-pool controller */
int agent_pool_start(struct agent *a);
void agent_pool_stop(struct agent *a);
void agent_pool_kick(struct agent *a); /* lock held */
/* Waits (lock held) until an IP can be allocated or the pool is stuck. */
int agent_pool_wait_for_ip(struct agent *a);
/* Takes a token of the cloud-call budget for a call of kind and counts it;
 * -EAGAIN (counted as denied) when the budget is spent. Lock not needed. */
int agent_cloud_call(struct agent *a, enum agent_cloud_call kind);
const char *agent_cloud_call_name(enum agent_cloud_call kind);
const char *agent_pool_block_name(uint8_t block); /* "" for AGENT_POOL_OK */
const char *agent_reconcile_mode_name(uint8_t mode);
/* POST /v1/ipam/config: applies the keys of body (lock NOT held); 0, or
 * -EINVAL with why. */
int agent_pool_configure(struct agent *a, json_t *body, char *why, size_t why_len);
/* POST /v1/ipam/reconcile: one pass now, waited for up to wait_ms (lock NOT held). */
int agent_pool_reconcile_now(struct agent *a, unsigned wait_ms);

/* orphans.c: compares the cloud's interfaces of this instance with the pool's
 * and the node's netdevs, and settles every difference (re-adopt, detach,
 * forget). Called by the pool controller thread after start-up and every
 * orphan_interval_s, with the lock NOT held (it makes cloud calls). */
int agent_orphans_reconcile(struct agent *a);
/* Has the cloud stopped listing this pool interface while pods use it? (lock held) */
bool agent_iface_lost(const struct agent *a, const char *iface_id);

/* nodestatus.c: publishes the SluiceNodeStatus of this node (kube: to the
 * API server; dir:PATH: as PATH/sluicenodestatus-NODE.json) from its own
 * thread, on change (at most once a second) and at least every minute. */
int agent_nodestatus_start(struct agent *a);
void agent_nodestatus_stop(struct agent *a);
/* The object as it would be written now (lock NOT held). */
json_t *agent_nodestatus_build(struct agent *a);

/* k8s.c: the object source (dir:PATH), watched by its own thread */
int agent_k8s_start(struct agent *a);
void agent_k8s_stop(struct agent *a);
/* Waits (lock held) up to the ADD wait for Pod ns/name to be known; 0 when it
 * is (or when no Kubernetes source is configured), -ETIMEDOUT otherwise. */
int agent_k8s_wait_pod(struct agent *a, const char *ns, const char *name);
/* Has the source listed every resource once? (Always true for dir: and none.) */
bool agent_k8s_synced(struct agent *a);

/* policy.c */
int agent_policy_start(struct agent *a);
void agent_policy_stop(struct agent *a);
void agent_policy_mark_dirty(struct agent *a);  /* lock held */
int agent_policy_sync(struct agent *a);         /* lock held: compile, diff, apply now;
						 * -EAGAIN until the k8s source has synced */
int agent_policy_load_maps(struct agent *a);    /* the maps' contents become the diff base */

/* cni.c: POST /v1/cni; returns the response body (never NULL) */
json_t *agent_cni(struct agent *a, json_t *req);

/* views.c: GET bodies */
json_t *agent_view_status(struct agent *a);
json_t *agent_view_endpoints(struct agent *a);
json_t *agent_view_ipam(struct agent *a);
json_t *agent_view_identities(struct agent *a);
/* The effective policy of a local pod ("namespace/name"); NULL if unknown. */
json_t *agent_view_policy(struct agent *a, const char *pod);
char *agent_view_metrics(struct agent *a);

/* http.c */
struct agent_http;
int agent_http_start(struct agent *a, struct agent_http **out);
void agent_http_stop(struct agent_http *h);

#endif /* SLUICE_AGENT_H */
