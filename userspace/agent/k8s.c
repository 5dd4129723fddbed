// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's Kubernetes objects: a store fed by the dir:PATH source (the API
 * server client comes later behind the same store), kept current by a thread
 * that waits on the source's inotify fd and applies changes under the lock.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

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
		}
		pthread_mutex_unlock(&a->lock);
		if (stop)
			break;
	}
	return NULL;
}

int agent_k8s_start(struct agent *a)
{
	int err;

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
