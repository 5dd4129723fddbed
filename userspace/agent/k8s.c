// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's Kubernetes objects: one store, fed by one source — the API
 * server (`kube`: list + watch, k8s/kube.h) or a directory of manifests
 * (`dir:PATH`, k8s/dir_source.h) — and a thread that waits on the source's
 * fd and applies its changes under the agent lock. Neither source ever makes
 * the agent wait on the network: their I/O runs in their own workers.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/log.h"

static int source_fd(struct agent *a)
{
	return a->kube ? kube_source_fd(a->kube) : k8s_dir_source_fd(a->k8s_dir);
}

/* Applies what the source has queued (lock held). */
static int source_process(struct agent *a)
{
	if (a->kube)
		return kube_source_process_events(a->kube);
	return a->k8s_dir ? k8s_dir_source_process_events(a->k8s_dir) : 0;
}

bool agent_k8s_synced(struct agent *a)
{
	if (!a->kube)
		return true;
	for (enum kube_resource r = KUBE_RES_NAMESPACES; r <= KUBE_RES_NETWORK_POLICIES; r++) {
		if (!kube_source_synced(a->kube, r))
			return false;
	}
	return true;
}

static void *k8s_main(void *arg)
{
	struct agent *a = arg;

	for (;;) {
		struct pollfd pfd = { .fd = source_fd(a), .events = POLLIN };
		bool stop;
		int n = poll(&pfd, 1, 250);

		pthread_mutex_lock(&a->lock);
		stop = a->stopping;
		if (!stop && n > 0) {
			bool was_synced = agent_k8s_synced(a);
			int err = source_process(a);

			if (err)
				pr_warn("k8s: applying changes from %s: %s", a->cfg.k8s_source, strerror(-err));
			/* The first complete list is a change too: the policy
			 * deferred until then can be compiled now. */
			if (!was_synced && agent_k8s_synced(a)) {
				pr_info("k8s: %s has listed every resource", a->cfg.k8s_source);
				agent_policy_mark_dirty(a);
			}
			pthread_cond_broadcast(&a->k8s_cond);
		}
		pthread_mutex_unlock(&a->lock);
		if (stop)
			break;
	}
	return NULL;
}

int agent_k8s_wait_pod(struct agent *a, const char *ns, const char *name)
{
	struct timespec deadline;

	if (!a->k8s_dir && !a->kube)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += a->cfg.add_wait_ms / 1000;
	deadline.tv_nsec += (long)(a->cfg.add_wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* Known means: the Pod is there, and so is everything its policy is
	 * made of (namespaces, policies: the whole first list). */
	while (!agent_k8s_synced(a) || !k8s_store_pod(a->store, ns, name)) {
		/* The watcher may have queued the change already: apply it now
		 * rather than wait for its next wake-up. */
		source_process(a);
		if (agent_k8s_synced(a) && k8s_store_pod(a->store, ns, name))
			break;
		if (pthread_cond_timedwait(&a->k8s_cond, &a->lock, &deadline) == ETIMEDOUT)
			return agent_k8s_synced(a) && k8s_store_pod(a->store, ns, name) ? 0 : -ETIMEDOUT;
	}
	return 0;
}

static int open_source(struct agent *a)
{
	const char *src = a->cfg.k8s_source;

	if (!strncmp(src, "dir:", 4))
		return k8s_dir_source_open(a->store, src + 4, &a->k8s_dir);
	if (!strcmp(src, "kube")) {
		struct kube_config kc = {
			.node_name = a->cfg.node,
			.kubeconfig = a->cfg.kubeconfig[0] ? a->cfg.kubeconfig : NULL,
			.context = a->cfg.kube_context[0] ? a->cfg.kube_context : NULL,
		};

		return kube_source_open(a->store, &kc, &a->kube);
	}
	return 0; /* none */
}

int agent_k8s_start(struct agent *a)
{
	pthread_condattr_t attr;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->k8s_cond, &attr);
	pthread_condattr_destroy(&attr);
	err = k8s_store_new(&a->store);
	if (err)
		return err;
	err = open_source(a);
	if (err) {
		pr_err("k8s source %s: %s", a->cfg.k8s_source, strerror(-err));
		return err;
	}
	if (!a->k8s_dir && !a->kube)
		return 0;
	err = -pthread_create(&a->k8s_thread, NULL, k8s_main, a);
	if (!err)
		a->k8s_running = true;
	return err;
}

void agent_k8s_stop(struct agent *a)
{
	if (a->k8s_running) {
		pthread_mutex_lock(&a->lock);
		a->stopping = true;
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->k8s_thread, NULL);
		a->k8s_running = false;
	}
	kube_source_close(a->kube);
	a->kube = NULL;
	k8s_dir_source_close(a->k8s_dir);
	a->k8s_dir = NULL;
	k8s_store_free(a->store);
	a->store = NULL;
}
