// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's Kubernetes objects: a store fed by the dir:PATH source (the API
 * server client comes later behind the same store), kept current by a thread
 * that waits on the source's inotify fd and applies changes under the lock.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "common/log.h"

static void *k8s_main(void *arg)
{
	struct agent *a = arg;

	for (;;) {
		struct pollfd pfd = { .fd = k8s_dir_source_fd(a->k8s_dir), .events = POLLIN };
		bool stop;
		int n = poll(&pfd, 1, 250);

		pthread_mutex_lock(&a->lock);
		stop = a->stopping;
		if (!stop && n > 0) {
			int err = k8s_dir_source_process_events(a->k8s_dir);

			if (err)
				pr_warn("k8s: reading %s: %s", a->cfg.k8s_source + 4, strerror(-err));
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

	if (!a->k8s_dir)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += a->cfg.add_wait_ms / 1000;
	deadline.tv_nsec += (long)(a->cfg.add_wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!k8s_store_pod(a->store, ns, name)) {
		/* The watcher may have queued the change already: apply it now
		 * rather than wait for its next wake-up. */
		k8s_dir_source_process_events(a->k8s_dir);
		if (k8s_store_pod(a->store, ns, name))
			break;
		if (pthread_cond_timedwait(&a->k8s_cond, &a->lock, &deadline) == ETIMEDOUT)
			return k8s_store_pod(a->store, ns, name) ? 0 : -ETIMEDOUT;
	}
	return 0;
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
	if (!a->cfg.k8s_source[0] || !strcmp(a->cfg.k8s_source, "none"))
		return 0;
	err = k8s_dir_source_open(a->store, a->cfg.k8s_source + 4, &a->k8s_dir);
	if (err) {
		pr_err("k8s source %s: %s", a->cfg.k8s_source, strerror(-err));
		return err;
	}
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
	k8s_dir_source_close(a->k8s_dir);
	a->k8s_dir = NULL;
	k8s_store_free(a->store);
	a->store = NULL;
}
