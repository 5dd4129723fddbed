// SPDX-License-Identifier: Apache-2.0
/* The lab's names, paths and state file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "lab/lab.h"
#include "lab/lab_int.h"

int lab_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > LAB_NAME_MAX)
		return -EINVAL;
	for (const char *c = name; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			return -EINVAL;
	}
	return 0;
}

void lab_paths(const char *name, struct lab_paths *p)
{
	snprintf(p->dir, sizeof(p->dir), "%s/%s", LAB_RUN_DIR, name);
	snprintf(p->state, sizeof(p->state), "%s/lab.json", p->dir);
	snprintf(p->lock, sizeof(p->lock), "%s/lab.lock", p->dir);
	snprintf(p->vpc, sizeof(p->vpc), "%s/vpc.json", p->dir);
	snprintf(p->manifests, sizeof(p->manifests), "%s/manifests", p->dir);
	snprintf(p->pin_root, sizeof(p->pin_root), "%s/sluice-lab-%s", LAB_PIN_ROOT, name);
}

int lab_lock(const struct lab_paths *p)
{
	int err = fs_mkdir_p(p->dir, 0700);

	return err ? err : fs_lock(p->lock);
}

void lab_unlock(int fd)
{
	fs_unlock(fd);
}

int lab_state_load(const struct lab_paths *p, json_t **out)
{
	json_error_t jerr;
	char *text;
	int err;

	err = fs_read_all(p->state, 16u << 20, &text, NULL);
	if (err)
		return err;
	*out = json_loads(text, 0, &jerr);
	free(text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		pr_err("lab state %s: line %d: %s", p->state, jerr.line, jerr.text);
		return -EINVAL;
	}
	return 0;
}

int lab_state_save(const struct lab_paths *p, json_t *state)
{
	char *text = json_dumps(state, JSON_INDENT(1) | JSON_SORT_KEYS);
	int err;

	if (!text)
		return -ENOMEM;
	err = fs_write_atomic(p->state, text, strlen(text), 0600);
	free(text);
	return err;
}

json_t *lab_find_node(json_t *lab, const char *node)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(lab, "nodes"), i, it) {
		if (!strcmp(json_string_value(json_object_get(it, "name")), node))
			return it;
	}
	return NULL;
}

json_t *lab_find_pod(json_t *lab, const char *k8s_namespace, const char *pod, size_t *index)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(lab, "pods"), i, it) {
		if (!strcmp(json_string_value(json_object_get(it, "namespace")), k8s_namespace) &&
		    !strcmp(json_string_value(json_object_get(it, "name")), pod)) {
			if (index)
				*index = i;
			return it;
		}
	}
	return NULL;
}

int lab_state_read(const char *name, json_t **out)
{
	struct lab_paths p;
	int fd, err;

	lab_paths(name, &p);
	if (access(p.state, F_OK))
		return -ENOENT;
	fd = lab_lock(&p);
	if (fd < 0)
		return fd;
	err = lab_state_load(&p, out);
	lab_unlock(fd);
	return err;
}

int lab_state_open_node(const char *name, const char *node, int *fd, json_t **lab, json_t **n)
{
	struct lab_paths p;
	int err;

	lab_paths(name, &p);
	*fd = lab_lock(&p);
	if (*fd < 0)
		return *fd;
	err = lab_state_load(&p, lab);
	if (!err) {
		*n = lab_find_node(*lab, node);
		if (!*n) {
			pr_err("lab %s has no node %s", name, node);
			json_decref(*lab);
			err = -ENOENT;
		}
	}
	if (err)
		lab_unlock(*fd);
	return err;
}
