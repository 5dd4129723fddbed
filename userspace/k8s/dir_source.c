// SPDX-License-Identifier: Apache-2.0
#include "k8s/dir_source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/manifest.h"

struct obj_key {
	enum k8s_kind kind;
	char *ns;
	char *name;
};

/* A manifest file of the directory, and the owner of its objects in the
 * store (its address is the owner token, so records never move). */
struct dir_file {
	char *name;
	struct obj_key *keys; /* what it holds in the store: its last good content */
	size_t n_keys;
	char *error;   /* the last load's errors, NULL when its content is in force */
	bool conflict; /* it failed on an object another file holds: retry later */
	unsigned scan; /* the rescan that last saw it */
};

struct k8s_dir_source {
	struct k8s_store *store;
	char *path;
	int ifd;
	int wd; /* -1 once the directory itself went away */
	struct dir_file **files;
	size_t n_files, cap_files;
	unsigned scan;
};

#define WATCH_MASK                                                                     \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |          \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* fs_write_atomic's "x.json.tmp.123" and editors' ".x.swp" are not manifests,
 * nor the node status files the agents write here. */
static bool is_manifest_name(const char *name)
{
	return name[0] != '.' &&
	       strncmp(name, K8S_NODESTATUS_FILE_PREFIX, strlen(K8S_NODESTATUS_FILE_PREFIX)) != 0 &&
	       (ends_with(name, ".json") || ends_with(name, ".yaml") || ends_with(name, ".yml"));
}

static int key_cmp(const void *a, const void *b)
{
	const struct obj_key *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

static void keys_free(struct obj_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(keys[i].ns);
		free(keys[i].name);
	}
	free(keys);
}

static struct dir_file *file_find(const struct k8s_dir_source *src, const char *name, size_t *idx)
{
	for (size_t i = 0; i < src->n_files; i++) {
		if (!strcmp(src->files[i]->name, name)) {
			if (idx)
				*idx = i;
			return src->files[i];
		}
	}
	return NULL;
}

static struct dir_file *file_get(struct k8s_dir_source *src, const char *name)
{
	struct dir_file *f = file_find(src, name, NULL);

	if (f)
		return f;
	if (src->n_files == src->cap_files) {
		size_t cap = src->cap_files ? src->cap_files * 2 : 16;
		struct dir_file **files = realloc(src->files, cap * sizeof(*files));

		if (!files)
			return NULL;
		src->files = files;
		src->cap_files = cap;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name))) {
		free(f);
		return NULL;
	}
	src->files[src->n_files++] = f;
	return f;
}

/* Records (and logs, when it is news) why f's content is not in force. */
static void file_set_error(struct dir_file *f, char *msg, bool conflict)
{
	f->conflict = conflict;
	if (f->error && msg && !strcmp(f->error, msg)) {
		free(msg);
		return;
	}
	free(f->error);
	f->error = msg;
	if (!msg)
		return;
	pr_warn("k8s dir source: %s rejected; the %zu object%s it last loaded stay%s in force:",
		f->name, f->n_keys, f->n_keys == 1 ? "" : "s", f->n_keys == 1 ? "s" : "");
	for (char *line = msg, *nl;; line = nl + 1) {
		nl = strchr(line, '\n');
		pr_warn("  %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
		if (!nl)
			break;
	}
}

/* Deletes f's objects from the store and forgets f. */
static void file_forget(struct k8s_dir_source *src, size_t idx)
{
	struct dir_file *f = src->files[idx];

	for (size_t i = 0; i < f->n_keys; i++)
		k8s_store_delete(src->store, f->keys[i].kind, f->keys[i].ns, f->keys[i].name, f);
	if (f->n_keys || f->error)
		pr_debug("k8s dir source: %s gone, %zu objects removed", f->name, f->n_keys);
	keys_free(f->keys, f->n_keys);
	free(f->error);
	free(f->name);
	free(f);
	src->files[idx] = src->files[--src->n_files];
}

static const char *owner_name(const struct k8s_dir_source *src, const void *owner)
{
	for (size_t i = 0; i < src->n_files; i++)
		if (src->files[i] == owner)
			return src->files[i]->name;
	return "another source";
}

/* The objects of m as sorted, unique keys (a file may define one twice: the
 * last definition wins, as with kubectl apply). */
static int keys_of(const struct manifest *m, struct obj_key **out, size_t *n_out)
{
	struct obj_key *keys = calloc(m->n ? m->n : 1, sizeof(*keys));
	size_t n = 0;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		keys[n].kind = m->objs[i].kind;
		keys[n].ns = strdup(m->objs[i].ns);
		keys[n].name = strdup(m->objs[i].name);
		n++;
		if (!keys[n - 1].ns || !keys[n - 1].name) {
			keys_free(keys, n);
			return -ENOMEM;
		}
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 0, j = 0;; i++) {
		if (i == n) {
			n = j;
			break;
		}
		if (j && !key_cmp(&keys[i], &keys[j - 1])) {
			free(keys[i].ns);
			free(keys[i].name);
			continue;
		}
		keys[j++] = keys[i];
	}
	*out = keys;
	*n_out = n;
	return 0;
}

/* Puts f's new objects (all or none, as far as the store's owners go) and
 * deletes those it no longer defines. Each objs[i] put is taken and set to
 * NULL; the caller frees what is left. */
static int file_apply(struct k8s_dir_source *src, struct dir_file *f, const struct manifest *m,
		      struct k8s_obj **objs)
{
	struct obj_key *keys = NULL;
	size_t n_keys = 0, i;
	int err = 0;

	for (i = 0; i < m->n; i++) {
		const void *owner;

		if (k8s_store_get(src->store, objs[i]->kind, objs[i]->ns, objs[i]->name, &owner) &&
		    owner != f) {
			char *msg = NULL;

			if (asprintf(&msg, "%s: document %u: %s %s%s%s: already defined by %s", m->source,
				     m->objs[i].doc, k8s_kind_name(objs[i]->kind), objs[i]->ns,
				     *objs[i]->ns ? "/" : "", objs[i]->name, owner_name(src, owner)) < 0)
				msg = NULL;
			file_set_error(f, msg, true);
			goto out;
		}
	}
	err = keys_of(m, &keys, &n_keys);
	if (err)
		goto out;
	for (i = 0; i < m->n; i++) {
		int e = k8s_store_put(src->store, objs[i], f);

		objs[i] = NULL;
		if (e && !err)
			err = e;
	}
	for (i = 0; i < f->n_keys; i++) {
		if (!bsearch(&f->keys[i], keys, n_keys, sizeof(*keys), key_cmp))
			k8s_store_delete(src->store, f->keys[i].kind, f->keys[i].ns, f->keys[i].name, f);
	}
	keys_free(f->keys, f->n_keys);
	f->keys = keys;
	f->n_keys = n_keys;
	file_set_error(f, NULL, false);
	pr_debug("k8s dir source: %s loaded, %zu objects", f->name, n_keys);
out:
	return err;
}

static int file_load(struct k8s_dir_source *src, const char *name)
{
	struct manifest *m = NULL;
	struct k8s_obj **objs = NULL;
	struct dir_file *f;
	char path[PATH_MAX], *msg = NULL;
	struct stat st;
	size_t idx, i;
	int err;

	if (snprintf(path, sizeof(path), "%s/%s", src->path, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		/* Gone (or a directory, or a dangling link): its objects go too. */
		if (file_find(src, name, &idx))
			file_forget(src, idx);
		return 0;
	}
	f = file_get(src, name);
	if (!f)
		return -ENOMEM;
	f->scan = src->scan;
	err = manifest_parse_file(path, &m, &msg);
	if (err == -ENOMEM && !msg)
		return err;
	if (err) {
		file_set_error(f, msg, false);
		return 0;
	}
	objs = calloc(m->n ? m->n : 1, sizeof(*objs));
	if (!objs) {
		manifest_free(m);
		return -ENOMEM;
	}
	for (i = 0; i < m->n && !err; i++)
		err = k8s_obj_from_json(m->objs[i].json, &objs[i]);
	if (err == -ENOMEM)
		goto out;
	if (err) {
		if (asprintf(&msg, "%s: document %u: %s %s: unreadable object", path, m->objs[i - 1].doc,
			     k8s_kind_name(m->objs[i - 1].kind), m->objs[i - 1].name) < 0)
			msg = NULL;
		file_set_error(f, msg, false);
		err = 0;
		goto out;
	}
	err = file_apply(src, f, m, objs);
out:
	for (i = 0; i < m->n; i++)
		k8s_obj_free(objs[i]);
	free(objs);
	manifest_free(m);
	return err;
}

struct name_set {
	char **v;
	size_t n, cap;
};

static int name_set_add(struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = strdup(name);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

static void name_set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* After a change, a file that lost an object to another may now load. */
static int retry_conflicts(struct k8s_dir_source *src)
{
	struct name_set names = { 0 };
	int err = 0;

	for (size_t i = 0; i < src->n_files && !err; i++)
		if (src->files[i]->conflict)
			err = name_set_add(&names, src->files[i]->name);
	for (size_t i = 0; i < names.n && !err; i++)
		err = file_load(src, names.v[i]);
	name_set_free(&names);
	return err;
}

int k8s_dir_source_rescan(struct k8s_dir_source *src)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (src->wd < 0) {
		src->wd = inotify_add_watch(src->ifd, src->path, WATCH_MASK);
		if (src->wd < 0)
			return -errno;
	}
	d = opendir(src->path);
	if (!d)
		return -errno;
	src->scan++;
	while (!err && (errno = 0, de = readdir(d))) {
		if (is_manifest_name(de->d_name))
			err = file_load(src, de->d_name);
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err)
		return err;
	for (size_t i = src->n_files; i-- > 0;)
		if (src->files[i]->scan != src->scan)
			file_forget(src, i);
	return retry_conflicts(src);
}

static bool is_symlink(const struct k8s_dir_source *src, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", src->path, name);
	return !lstat(path, &st) && S_ISLNK(st.st_mode);
}


static void dir_gone(struct k8s_dir_source *src)
{
	pr_warn("k8s dir source: %s was removed; its %zu files' objects are removed", src->path,
		src->n_files);
	while (src->n_files)
		file_forget(src, src->n_files - 1);
	if (src->wd >= 0)
		inotify_rm_watch(src->ifd, src->wd);
	src->wd = -1;
}

int k8s_dir_source_process_events(struct k8s_dir_source *src)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct name_set names = { 0 };
	bool rescan = false, gone = false;
	int err = 0;

	for (;;) {
		ssize_t len = read(src->ifd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			break;
		if (len <= 0) {
			err = len < 0 ? -errno : -EIO;
			goto out;
		}
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW)
				rescan = true;
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				gone = ev->wd == src->wd || gone;
			if (!ev->len)
				continue;
			if (!strncmp(ev->name, "..", 2)) {
				rescan = true; /* a ConfigMap volume swapped its ..data link */
				continue;
			}
			if ((ev->mask & IN_ISDIR) || !is_manifest_name(ev->name))
				continue;
			/* A new regular file is read once it is closed after writing. */
			if ((ev->mask & IN_CREATE) && !is_symlink(src, ev->name))
				continue;
			err = name_set_add(&names, ev->name);
			if (err)
				goto out;
		}
	}
	if (gone) {
		dir_gone(src);
	} else if (rescan) {
		err = k8s_dir_source_rescan(src);
	} else if (names.n) {
		for (size_t i = 0; i < names.n && !err; i++)
			err = file_load(src, names.v[i]);
		if (!err)
			err = retry_conflicts(src);
	}
out:
	name_set_free(&names);
	return err;
}

int k8s_dir_source_open(struct k8s_store *store, const char *path, struct k8s_dir_source **out)
{
	struct k8s_dir_source *src;
	size_t n_objs = 0, n_bad = 0;
	int err;

	err = fs_mkdir_p(path, 0755);
	if (err) {
		pr_err("k8s dir source: create %s: %s", path, strerror(-err));
		return err;
	}
	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	src->store = store;
	src->wd = -1;
	src->path = strdup(path);
	src->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!src->path || src->ifd < 0) {
		err = src->path ? -errno : -ENOMEM;
		pr_err("k8s dir source: inotify for %s: %s", path, strerror(-err));
		goto out;
	}
	/* Watch first, then read: a change in between is seen twice, never missed. */
	err = k8s_dir_source_rescan(src);
	if (err) {
		pr_err("k8s dir source: read %s: %s", path, strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < src->n_files; i++) {
		n_objs += src->files[i]->n_keys;
		n_bad += src->files[i]->error != NULL;
	}
	pr_info("k8s dir source: %s: %zu files, %zu objects, %zu files rejected", path,
		src->n_files, n_objs, n_bad);
	*out = src;
	return 0;
out:
	k8s_dir_source_close(src);
	return err;
}

void k8s_dir_source_close(struct k8s_dir_source *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->n_files; i++) {
		keys_free(src->files[i]->keys, src->files[i]->n_keys);
		free(src->files[i]->error);
		free(src->files[i]->name);
		free(src->files[i]);
	}
	free(src->files);
	if (src->ifd >= 0)
		close(src->ifd);
	free(src->path);
	free(src);
}

int k8s_dir_source_fd(const struct k8s_dir_source *src)
{
	return src->ifd;
}

int k8s_dir_source_for_each_file(const struct k8s_dir_source *src,
				 int (*fn)(const char *file, size_t n_objs, const char *error, void *arg),
				 void *arg)
{
	for (size_t i = 0; i < src->n_files; i++) {
		const struct dir_file *f = src->files[i];
		int ret = fn(f->name, f->n_keys, f->error, arg);

		if (ret)
			return ret;
	}
	return 0;
}
