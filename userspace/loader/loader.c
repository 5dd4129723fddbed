// SPDX-License-Identifier: Apache-2.0
#include "loader/loader.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "pins.h"
#include "policy_types.h"
#include "sluice_types.h"

#ifdef __clang_analyzer__
/* clang --analyze (14) reports "Potential leak of memory pointed to by 's'"
 * in bpftool's generated *__create_skeleton(): it assumes a function declared
 * in a system header (libbpf.h) frees nothing, so it misses that
 * bpf_object__destroy_skeleton() does. For the analyzer only, route that call
 * through a declaration outside the system headers. */
void sl_analyzer_destroy_skeleton(struct bpf_object_skeleton *s);
#define bpf_object__destroy_skeleton sl_analyzer_destroy_skeleton
#endif
#include "eni.skel.h"
#include "pod.skel.h"
#include "xdp.skel.h"

#define BPFFS_ROOT "/sys/fs/bpf"

/* The kernel's own words (netlink extack) on the last tc request that
 * failed, as libbpf reports them; see libbpf_print(). */
static __thread char kernel_msg[256];

static const char *kmsg_sep(void)
{
	return kernel_msg[0] ? ", kernel says: " : "";
}

struct loader {
	struct pod_bpf *pod;
	struct eni_bpf *eni;
	struct xdp_bpf *xdp;
	char pin_dir[PATH_MAX];
};

/* "EBUSY" for -EBUSY: messages print "-EBUSY", which says more than
 * "Device or resource busy" to someone reading kernel code. */
static const char *errname(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "E?";
}

static const char *ifname(int ifindex, char buf[IF_NAMESIZE])
{
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "?");
	return buf;
}

/* dir/name into buf; -ENAMETOOLONG rather than a silently cut path. */
static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static const char *prog_pin_name(enum loader_prog prog)
{
	switch (prog) {
	case LOADER_PROG_FROM_POD:
		return SL_PROG_FROM_POD;
	case LOADER_PROG_FROM_ENI:
		return SL_PROG_FROM_ENI;
	case LOADER_PROG_TO_POD:
		return SL_PROG_TO_POD;
	case LOADER_PROG_XDP_ENI:
		return SL_PROG_XDP_ENI;
	}
	return "?";
}

enum loader_hook loader_prog_hook(enum loader_prog prog)
{
	switch (prog) {
	case LOADER_PROG_TO_POD:
		return LOADER_HOOK_TC_EGRESS;
	case LOADER_PROG_XDP_ENI:
		return LOADER_HOOK_XDP;
	default:
		return LOADER_HOOK_TC_INGRESS;
	}
}

static const char *hook_name(enum loader_hook hook)
{
	switch (hook) {
	case LOADER_HOOK_TC_INGRESS:
		return "tc ingress";
	case LOADER_HOOK_TC_EGRESS:
		return "tc egress";
	case LOADER_HOOK_XDP:
		return "XDP";
	}
	return "?";
}

/* 1 on bpffs, 0 elsewhere, -errno when path cannot be examined. */
static int is_bpffs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return st.f_type == BPF_FS_MAGIC;
}

static int bpffs_ensure(void)
{
	int err = is_bpffs(BPFFS_ROOT);

	if (err > 0)
		return 0;
	if (err < 0) {
		pr_err("examine %s: -%s", BPFFS_ROOT, errname(err));
		return err;
	}
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
		err = -errno;
		pr_err("mount bpffs on %s: -%s", BPFFS_ROOT, errname(err));
		return err;
	}
	pr_info("mounted bpffs on %s", BPFFS_ROOT);
	return 0;
}

static int pin_dir_prepare(const char *pin_dir)
{
	int err;

	err = fs_mkdir_p(pin_dir, 0700);
	if (err) {
		pr_err("create pin directory %s: -%s", pin_dir, errname(err));
		return err;
	}
	err = is_bpffs(pin_dir);
	if (err < 0) {
		pr_err("examine pin directory %s: -%s", pin_dir, errname(err));
		return err;
	}
	if (!err) {
		pr_err("pin directory %s is not on a bpf filesystem", pin_dir);
		return -EINVAL;
	}
	return 0;
}

/* Unlinks the pins of every pinned map of obj (their paths were set from the
 * pin root at open), so that load creates fresh maps. */
static int unpin_maps(struct bpf_object *obj)
{
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, obj) {
		const char *path = bpf_map__pin_path(map);

		if (!path)
			continue;
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_err("unpin map %s: -%s", path, errname(err));
			return err;
		}
	}
	return 0;
}

/*
 * Pins in pin_dir this build cannot read are refused (-EPROTO), or unpinned
 * when replace is set. No sluice_meta at all means fresh pins; a zero version
 * means a loader died between creating the maps and writing sluice_meta. In
 * both cases libbpf's own reuse check (type, key, value, size, flags) still
 * guards every map at load.
 */
static int check_layout(const char *pin_dir, struct bpf_object *obj, bool replace)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info), key = 0;
	struct sl_meta meta = {};
	char path[PATH_MAX], version[16] = "unknown";
	int fd, err = 0;
	bool ok;

	err = path_join(path, sizeof(path), pin_dir, SL_MAP_META);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		pr_err("open pinned map %s: -%s", path, errname(err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		err = -errno;
		pr_err("read info of pinned map %s: -%s", path, errname(err));
		goto out;
	}
	ok = info.type == BPF_MAP_TYPE_ARRAY && info.key_size == sizeof(key) &&
	     info.value_size == sizeof(meta);
	if (ok) {
		if (bpf_map_lookup_elem(fd, &key, &meta)) {
			err = -errno;
			pr_err("read %s: -%s", path, errname(err));
			goto out;
		}
		snprintf(version, sizeof(version), "%u", meta.layout_version);
		ok = meta.layout_version == SL_LAYOUT_VERSION || meta.layout_version == 0;
	}
	if (ok)
		goto out;
	if (!replace) {
		pr_err("pinned maps in %s have layout version %s, this build uses %u: refusing to reuse them "
		       "(replacing them recreates every map and loses the datapath state)",
		       pin_dir, version, SL_LAYOUT_VERSION);
		err = -EPROTO;
		goto out;
	}
	pr_warn("pinned maps in %s have layout version %s, this build uses %u: recreating them", pin_dir,
		version, SL_LAYOUT_VERSION);
	err = unpin_maps(obj);
out:
	close(fd);
	return err;
}

/* Pins under a temporary name, then renames over the old pin: a reader of
 * progs/ sees the old program or the new one, never no program. (bpffs
 * refuses names with a dot, -EPERM: hence "_new", not ".new".) */
static int pin_prog(const char *dir, const char *name, int prog_fd)
{
	char path[PATH_MAX], tmp[PATH_MAX], tmpname[NAME_MAX];
	int err;

	snprintf(tmpname, sizeof(tmpname), "%s_new", name);
	if (path_join(path, sizeof(path), dir, name) || path_join(tmp, sizeof(tmp), dir, tmpname))
		return -ENAMETOOLONG;
	unlink(tmp); /* left by a loader that died here */
	if (bpf_obj_pin(prog_fd, tmp)) {
		err = -errno;
		pr_err("pin program %s at %s: -%s", name, tmp, errname(err));
		return err;
	}
	if (rename(tmp, path)) {
		err = -errno;
		pr_err("rename pin %s to %s: -%s", tmp, path, errname(err));
		unlink(tmp);
		return err;
	}
	return 0;
}

/*
 * The size a map gets: the pinned map's if there is one (libbpf reuses a pin
 * only if everything, max_entries included, matches, and resizing would mean
 * losing its content), else the one asked for, else the consts.h default
 * compiled into the object (0 leaves that).
 */
static int map_size(struct bpf_map *map, __u32 want, __u32 *size)
{
	const char *path = bpf_map__pin_path(map);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	*size = want;
	fd = path ? bpf_obj_get(path) : -1;
	if (fd < 0)
		return 0; /* not pinned yet: created by this load */
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		pr_err("read info of pinned map %s: -%s", path, errname(err));
		close(fd);
		return err;
	}
	close(fd);
	if (want && want != info.max_entries)
		pr_info("%s is pinned with %u entries, not the %u asked for: keeping it (recreate the pins to resize)",
			path, info.max_entries, want);
	*size = info.max_entries;
	return 0;
}

/* Gives the sized maps of every object the same size (a second object
 * reuses the pins of the first only if they match). */
static int size_maps(struct loader *l, const struct loader_opts *opts)
{
	struct bpf_object *objs[] = { l->pod->obj, l->eni->obj, l->xdp->obj };
	const struct {
		const char *name;
		__u32 want;
	} sized[] = {
		{ SL_MAP_CT, opts ? opts->ct_max_entries : 0 },
		{ SL_MAP_IPCACHE, opts ? opts->ipcache_max_entries : 0 },
		{ SL_MAP_POLICY, opts ? opts->policy_max_entries : 0 },
	};
	int err;

	for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
		__u32 size;

		err = map_size(bpf_object__find_map_by_name(l->pod->obj, sized[i].name), sized[i].want, &size);
		if (err)
			return err;
		if (!size)
			continue;
		for (size_t j = 0; j < sizeof(objs) / sizeof(objs[0]); j++) {
			err = bpf_map__set_max_entries(bpf_object__find_map_by_name(objs[j], sized[i].name), size);
			if (err) {
				pr_err("size %s to %u entries: -%s", sized[i].name, size, errname(err));
				return err;
			}
		}
	}
	return 0;
}

/* Maps this load created (sluice_meta not written yet) get their initial
 * content, sluice_meta last: a loader dying in between leaves version 0,
 * and the next one does it all again. */
static int init_fresh_maps(const char *pin_dir, int meta_fd, int polcfg_fd)
{
	struct sl_policy_config cfg = { .enforce = 1, .ct_on_policy_change = SL_CT_ON_POLICY_CHANGE_KEEP };
	struct sl_meta meta = {};
	struct timespec ts;
	__u32 key = 0;
	int err;

	if (bpf_map_lookup_elem(meta_fd, &key, &meta)) {
		err = -errno;
		pr_err("read %s/%s: -%s", pin_dir, SL_MAP_META, errname(err));
		return err;
	}
	if (meta.layout_version == SL_LAYOUT_VERSION)
		return 0; /* keep the creation time of the first agent, and the agent's settings */
	if (bpf_map_update_elem(polcfg_fd, &key, &cfg, BPF_ANY)) {
		err = -errno;
		pr_err("write %s/%s: -%s", pin_dir, SL_MAP_POLCFG, errname(err));
		return err;
	}
	clock_gettime(CLOCK_BOOTTIME, &ts);
	meta = (struct sl_meta){
		.layout_version = SL_LAYOUT_VERSION,
		.created_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec,
	};
	if (bpf_map_update_elem(meta_fd, &key, &meta, BPF_ANY)) {
		err = -errno;
		pr_err("write %s/%s: -%s", pin_dir, SL_MAP_META, errname(err));
		return err;
	}
	return 0;
}

int loader_open(const struct loader_opts *opts, struct loader **out)
{
	const char *pin_dir = opts && opts->pin_dir ? opts->pin_dir : SL_PIN_DIR_DEFAULT;
	bool replace = opts ? opts->replace_incompatible : false;
	bool drop_events = opts ? opts->drop_events : true;
	char progs_dir[PATH_MAX];
	struct loader *l;
	int err;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (strlen(pin_dir) >= sizeof(l->pin_dir) ||
	    path_join(progs_dir, sizeof(progs_dir), pin_dir, SL_PIN_PROGS_SUBDIR)) {
		pr_err("pin directory %s: name too long", pin_dir);
		err = -ENAMETOOLONG;
		goto out;
	}
	strcpy(l->pin_dir, pin_dir);

	err = bpffs_ensure();
	if (err)
		goto out;
	err = pin_dir_prepare(l->pin_dir);
	if (err)
		goto out;

	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = l->pin_dir);
	l->pod = pod_bpf__open_opts(&oopts);
	if (!l->pod) {
		err = -errno;
		pr_err("open BPF object pod.bpf.o: -%s", errname(err));
		goto out;
	}
	l->eni = eni_bpf__open_opts(&oopts);
	if (!l->eni) {
		err = -errno;
		pr_err("open BPF object eni.bpf.o: -%s", errname(err));
		goto out;
	}
	l->xdp = xdp_bpf__open_opts(&oopts);
	if (!l->xdp) {
		err = -errno;
		pr_err("open BPF object xdp.bpf.o: -%s", errname(err));
		goto out;
	}

	err = check_layout(l->pin_dir, l->pod->obj, replace);
	if (err)
		goto out;
	err = size_maps(l, opts);
	if (err)
		goto out;

	l->pod->rodata->cfg_drop_events = drop_events;
	l->eni->rodata->cfg_drop_events = drop_events;
	l->xdp->rodata->cfg_drop_events = drop_events;
	/* The first load creates and pins the maps (or reuses the pins), the
	 * others find them pinned and reuse them. */
	err = pod_bpf__load(l->pod);
	if (err) {
		pr_err("load BPF object pod.bpf.o with maps in %s: -%s (see the libbpf messages above)",
		       l->pin_dir, errname(err));
		goto out;
	}
	err = eni_bpf__load(l->eni);
	if (err) {
		pr_err("load BPF object eni.bpf.o with maps in %s: -%s (see the libbpf messages above)",
		       l->pin_dir, errname(err));
		goto out;
	}
	err = xdp_bpf__load(l->xdp);
	if (err) {
		pr_err("load BPF object xdp.bpf.o with maps in %s: -%s (see the libbpf messages above)",
		       l->pin_dir, errname(err));
		goto out;
	}

	err = pin_dir_prepare(progs_dir);
	if (err)
		goto out;
	err = pin_prog(progs_dir, SL_PROG_FROM_POD, bpf_program__fd(l->pod->progs.sluice_from_pod));
	if (err)
		goto out;
	err = pin_prog(progs_dir, SL_PROG_TO_POD, bpf_program__fd(l->pod->progs.sluice_to_pod));
	if (err)
		goto out;
	err = pin_prog(progs_dir, SL_PROG_FROM_ENI, bpf_program__fd(l->eni->progs.sluice_from_eni));
	if (err)
		goto out;
	err = pin_prog(progs_dir, SL_PROG_XDP_ENI, bpf_program__fd(l->xdp->progs.sluice_xdp_eni));
	if (err)
		goto out;

	err = init_fresh_maps(l->pin_dir, bpf_map__fd(l->pod->maps.sluice_meta),
			      bpf_map__fd(l->pod->maps.sluice_polcfg));
	if (err)
		goto out;

	pr_debug("datapath loaded, maps in %s (layout version %u)", l->pin_dir, SL_LAYOUT_VERSION);
	*out = l;
	l = NULL;
out:
	loader_close(l);
	return err;
}

void loader_close(struct loader *l)
{
	if (!l)
		return;
	xdp_bpf__destroy(l->xdp);
	eni_bpf__destroy(l->eni);
	pod_bpf__destroy(l->pod);
	free(l);
}

int loader_prog_fd(const struct loader *l, enum loader_prog prog)
{
	switch (prog) {
	case LOADER_PROG_FROM_POD:
		return bpf_program__fd(l->pod->progs.sluice_from_pod);
	case LOADER_PROG_FROM_ENI:
		return bpf_program__fd(l->eni->progs.sluice_from_eni);
	case LOADER_PROG_TO_POD:
		return bpf_program__fd(l->pod->progs.sluice_to_pod);
	case LOADER_PROG_XDP_ENI:
		return bpf_program__fd(l->xdp->progs.sluice_xdp_eni);
	}
	return -EINVAL;
}

int loader_prog_id(const struct loader *l, enum loader_prog prog, __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = loader_prog_fd(l, prog);

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

const char *loader_pin_dir(const struct loader *l)
{
	return l->pin_dir;
}

static enum bpf_tc_attach_point tc_point(enum loader_hook hook)
{
	return hook == LOADER_HOOK_TC_EGRESS ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

static int attach_tc(int prog_fd, enum loader_prog prog, int ifindex)
{
	enum loader_hook hook = loader_prog_hook(prog);
	LIBBPF_OPTS(bpf_tc_hook, tch, .ifindex = ifindex, .attach_point = tc_point(hook));
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	char name[IF_NAMESIZE];
	int err;

	kernel_msg[0] = '\0';
	/* One clsact qdisc holds both directions: creating it for the second
	 * answers -EEXIST. */
	err = bpf_tc_hook_create(&tch);
	if (err && err != -EEXIST) {
		pr_err("create clsact qdisc on %s (ifindex %d): -%s%s%s", ifname(ifindex, name), ifindex,
		       errname(err), kmsg_sep(), kernel_msg);
		return err;
	}
	kernel_msg[0] = '\0';
	err = bpf_tc_attach(&tch, &tc);
	if (err) {
		pr_err("attach %s at %s on %s (ifindex %d): -%s%s%s", prog_pin_name(prog), hook_name(hook),
		       ifname(ifindex, name), ifindex, errname(err), kmsg_sep(), kernel_msg);
		return err;
	}
	pr_debug("attached %s (prog id %u) at %s on %s (ifindex %d)", prog_pin_name(prog), tc.prog_id,
		 hook_name(hook), ifname(ifindex, name), ifindex);
	return 0;
}

/* 1 when prog id is a sluice_xdp_eni (of any loader), 0 when it is someone
 * else's, -errno when it cannot be told. */
static int xdp_prog_is_ours(__u32 id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	close(fd);
	if (err)
		return err;
	return !strncmp(info.name, SL_PROG_XDP_ENI, sizeof(info.name) - 1);
}

/* The program at XDP of ifindex, whatever the mode: 0 if none. */
static int xdp_query(int ifindex, __u32 *id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err;

	*id = 0;
	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	*id = q.prog_id;
	return 0;
}

static int attach_xdp(int prog_fd, int ifindex)
{
	char name[IF_NAMESIZE];
	__u32 cur;
	int err;

	err = xdp_query(ifindex, &cur);
	if (!err && cur) {
		err = xdp_prog_is_ours(cur);
		if (err == 0) {
			pr_err("attach %s at XDP on %s (ifindex %d): another XDP program (id %u) is attached",
			       SL_PROG_XDP_ENI, ifname(ifindex, name), ifindex, cur);
			return -EBUSY;
		}
	}
	if (err < 0) {
		pr_err("query XDP on %s (ifindex %d): -%s", ifname(ifindex, name), ifindex, errname(err));
		return err;
	}
	/* No mode flags: the driver's native XDP where it has one (veth
	 * does), generic otherwise; the same every time, so a reattach
	 * replaces in place instead of meeting the other mode (-EEXIST). */
	err = bpf_xdp_attach(ifindex, prog_fd, 0, NULL);
	if (err) {
		pr_err("attach %s at XDP on %s (ifindex %d): -%s", SL_PROG_XDP_ENI, ifname(ifindex, name), ifindex,
		       errname(err));
		return err;
	}
	pr_debug("attached %s at XDP on %s (ifindex %d)", SL_PROG_XDP_ENI, ifname(ifindex, name), ifindex);
	return 0;
}

int loader_attach(struct loader *l, enum loader_prog prog, int ifindex)
{
	int prog_fd = loader_prog_fd(l, prog);

	if (prog_fd < 0)
		return -EINVAL;
	if (loader_prog_hook(prog) == LOADER_HOOK_XDP)
		return attach_xdp(prog_fd, ifindex);
	return attach_tc(prog_fd, prog, ifindex);
}

int loader_attach_pod(struct loader *l, int ifindex)
{
	int err = loader_attach(l, LOADER_PROG_FROM_POD, ifindex);

	return err ? err : loader_attach(l, LOADER_PROG_TO_POD, ifindex);
}

int loader_attach_eni(struct loader *l, int ifindex)
{
	return loader_attach(l, LOADER_PROG_FROM_ENI, ifindex);
}

int loader_attach_xdp_eni(struct loader *l, int ifindex)
{
	return loader_attach(l, LOADER_PROG_XDP_ENI, ifindex);
}

int loader_query_at(int ifindex, enum loader_hook hook, __u32 *prog_id)
{
	LIBBPF_OPTS(bpf_tc_hook, tch, .ifindex = ifindex, .attach_point = tc_point(hook));
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);
	char name[IF_NAMESIZE];
	__u32 id;
	int err;

	if (hook == LOADER_HOOK_XDP) {
		err = xdp_query(ifindex, &id);
		if (err == -ENODEV)
			return -ENOENT;
		if (!err && id)
			err = xdp_prog_is_ours(id);
		if (err < 0) {
			pr_err("query XDP on %s (ifindex %d): -%s", ifname(ifindex, name), ifindex, errname(err));
			return err;
		}
		if (!id || !err)
			return -ENOENT;
		*prog_id = id;
		return 0;
	}
	kernel_msg[0] = '\0';
	err = bpf_tc_query(&tch, &tc);
	/* No clsact qdisc at all: the kernel answers -EINVAL ("parent qdisc
	 * doesn't exist"), which for us is the same as no filter. */
	if (err == -ENOENT || (err == -EINVAL && if_indextoname(ifindex, name)))
		return -ENOENT;
	if (err) {
		pr_err("query %s on %s (ifindex %d): -%s%s%s", hook_name(hook), ifname(ifindex, name), ifindex,
		       errname(err), kmsg_sep(), kernel_msg);
		return err;
	}
	*prog_id = tc.prog_id;
	return 0;
}

int loader_query(int ifindex, __u32 *prog_id)
{
	return loader_query_at(ifindex, LOADER_HOOK_TC_INGRESS, prog_id);
}

static int detach_tc(int ifindex, const char *name, enum loader_hook hook)
{
	LIBBPF_OPTS(bpf_tc_hook, tch, .ifindex = ifindex, .attach_point = tc_point(hook));
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);
	__u32 id;
	int err;

	err = loader_query_at(ifindex, hook, &id);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	kernel_msg[0] = '\0';
	err = bpf_tc_detach(&tch, &tc);
	if (err == -ENOENT || err == -ENODEV)
		return 0;
	if (err) {
		pr_err("detach %s on %s (ifindex %d): -%s%s%s", hook_name(hook), name, ifindex, errname(err),
		       kmsg_sep(), kernel_msg);
		return err;
	}
	pr_debug("detached prog id %u from %s on %s (ifindex %d)", id, hook_name(hook), name, ifindex);
	return 0;
}

static int detach_xdp(int ifindex, const char *name)
{
	__u32 id;
	int err;

	err = loader_query_at(ifindex, LOADER_HOOK_XDP, &id);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	err = bpf_xdp_detach(ifindex, 0, NULL);
	if (err == -ENODEV)
		return 0;
	if (err) {
		pr_err("detach XDP on %s (ifindex %d): -%s", name, ifindex, errname(err));
		return err;
	}
	pr_debug("detached prog id %u from XDP on %s (ifindex %d)", id, name, ifindex);
	return 0;
}

int loader_detach(int ifindex)
{
	char name[IF_NAMESIZE];
	int err;

	if (!if_indextoname(ifindex, name))
		return 0; /* the device went, and its programs with it */
	err = detach_tc(ifindex, name, LOADER_HOOK_TC_INGRESS);
	if (!err)
		err = detach_tc(ifindex, name, LOADER_HOOK_TC_EGRESS);
	if (!err)
		err = detach_xdp(ifindex, name);
	return err;
}

int loader_unpin_all(const char *pin_dir)
{
	char parent[PATH_MAX], *slash;
	struct stat st, pst;
	int err;

	err = is_bpffs(pin_dir);
	if (err == -ENOENT)
		return 0;
	if (err < 0) {
		pr_err("examine pin directory %s: -%s", pin_dir, errname(err));
		return err;
	}
	if (!err) {
		pr_err("unpin %s: not on a bpf filesystem, refusing to remove it", pin_dir);
		return -EINVAL;
	}
	/* Never the bpffs mount itself: that would remove everyone's pins. */
	snprintf(parent, sizeof(parent), "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "/");
	if (stat(pin_dir, &st) || stat(parent, &pst)) {
		err = -errno;
		pr_err("examine pin directory %s: -%s", pin_dir, errname(err));
		return err;
	}
	if (st.st_dev != pst.st_dev) {
		pr_err("unpin %s: it is the root of a bpf filesystem, refusing to remove it", pin_dir);
		return -EINVAL;
	}
	err = fs_remove_tree(pin_dir);
	if (err) {
		pr_err("remove pins in %s: -%s", pin_dir, errname(err));
		return err;
	}
	pr_debug("removed pins in %s", pin_dir);
	return 0;
}

#define LIBBPF_KERNEL_MSG "libbpf: Kernel error message: " /* libbpf's pr_warn() adds "libbpf: " */

/* libbpf warns with the kernel's extack on every failed netlink request,
 * including the answers we expect (clsact exists, no filter to query). Those
 * go to debug; the text is kept and quoted by our own message when the step
 * really fails. */
__attribute__((format(printf, 2, 0))) static int libbpf_print(enum libbpf_print_level level, const char *fmt,
							       va_list ap)
{
	if (!strncmp(fmt, LIBBPF_KERNEL_MSG, strlen(LIBBPF_KERNEL_MSG))) {
		va_list copy;
		size_t len;

		va_copy(copy, ap);
		vsnprintf(kernel_msg, sizeof(kernel_msg), fmt + strlen(LIBBPF_KERNEL_MSG), copy);
		va_end(copy);
		len = strlen(kernel_msg);
		while (len && kernel_msg[len - 1] == '\n')
			kernel_msg[--len] = '\0';
		level = LIBBPF_DEBUG;
	}
	log_vmsg(level == LIBBPF_WARN ? LOG_INFO : LOG_DEBUG, fmt, ap);
	return 0;
}

void loader_route_libbpf_log(void)
{
	libbpf_set_print(libbpf_print);
}
