// SPDX-License-Identifier: Apache-2.0
/*
 * Which Nova server this node is: the config's instance_id, else the config
 * drive (read where it is mounted: the agent never mounts anything), the
 * metadata service, then the SMBIOS system UUID that libvirt sets to the
 * instance's uuid.
 */
#include <ctype.h>
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/openstack_int.h"
#include "common/fsutil.h"
#include "common/log.h"

#define META_PATH "openstack/latest/meta_data.json"
#define META_MAX (256 * 1024)

static bool set(const char *s)
{
	return s && *s;
}

static int uuid_from_meta(const char *text, const char *where, char *out, size_t len)
{
	json_t *root = json_loads(text, 0, NULL);
	const char *uuid = json_string_value(json_object_get(root, "uuid"));
	int err = 0;

	if (!uuid || !*uuid || strlen(uuid) >= len) {
		pr_warn("openstack: %s has no usable \"uuid\"", where);
		err = -EIO;
	} else {
		snprintf(out, len, "%s", uuid);
	}
	json_decref(root);
	return err;
}

int os_config_drive_uuid(const char *dir, char *out, size_t len)
{
	char path[4096], *text = NULL;
	size_t n;
	int err;

	snprintf(path, sizeof(path), "%s/" META_PATH, dir);
	err = fs_read_all(path, META_MAX, &text, &n);
	if (err)
		return err;
	err = uuid_from_meta(text, path, out, len);
	free(text);
	return err;
}

/* A mounted config drive: an iso9660 or vfat filesystem holding the file. */
static int mounted_config_drive(char *out, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/self/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && (m = getmntent(f))) {
		if (strcmp(m->mnt_type, "iso9660") && strcmp(m->mnt_type, "vfat"))
			continue;
		err = os_config_drive_uuid(m->mnt_dir, out, len);
		if (!err)
			pr_info("openstack: instance %s from the config drive at %s", out, m->mnt_dir);
	}
	endmntent(f);
	return err;
}

static int metadata_uuid(const char *base, char *out, size_t len)
{
	struct cloud_http_opts opts = { .timeout_ms = 2000, .max_retries = 1, .backoff_base_ms = 200 };
	struct cloud_http_resp resp = { 0 };
	struct cloud_http_req req = { .method = "GET" };
	struct cloud_http *h = NULL;
	char *url;
	int err;

	url = os_url_join(base, META_PATH);
	if (!url)
		return -ENOMEM;
	req.url = url;
	err = cloud_http_new(&opts, &h);
	if (!err)
		err = cloud_http_do(h, &req, &resp);
	if (!err && resp.status != 200) {
		pr_debug("openstack: metadata service: HTTP %ld", resp.status);
		err = -ENOENT;
	}
	if (!err)
		err = uuid_from_meta(resp.body, url, out, len);
	if (!err)
		pr_info("openstack: instance %s from the metadata service", out);
	cloud_http_resp_free(&resp);
	cloud_http_free(h);
	free(url);
	return err;
}

static int dmi_uuid(const char *dir, char *out, size_t len)
{
	char path[4096], *name = NULL, *uuid = NULL;
	size_t n, i;
	int err;

	snprintf(path, sizeof(path), "%s/product_name", dir);
	err = fs_read_all(path, 4096, &name, &n);
	if (err)
		return err;
	if (!strstr(name, "OpenStack")) {
		err = -ENOENT; /* not a Nova guest: its UUID means nothing here */
		goto out;
	}
	snprintf(path, sizeof(path), "%s/product_uuid", dir);
	err = fs_read_all(path, 4096, &uuid, &n);
	if (err)
		goto out;
	uuid[strcspn(uuid, " \r\n")] = '\0';
	for (i = 0; uuid[i]; i++) {
		if (!isxdigit((unsigned char)uuid[i]) && uuid[i] != '-')
			break;
		uuid[i] = (char)tolower((unsigned char)uuid[i]);
	}
	if (uuid[i] || i != 36 || i >= len) {
		pr_warn("openstack: %s is not a UUID", path);
		err = -EIO;
		goto out;
	}
	snprintf(out, len, "%s", uuid);
	pr_info("openstack: instance %s from the SMBIOS system UUID", out);
out:
	free(name);
	free(uuid);
	return err;
}

int os_instance_id(const struct openstack_config *cfg, char *out, size_t len)
{
	const char *meta = cfg->metadata_url ? cfg->metadata_url : OPENSTACK_METADATA_URL;
	const char *dmi = cfg->dmi_dir ? cfg->dmi_dir : OPENSTACK_DMI_DIR;

	if (set(cfg->instance_id)) {
		if (strlen(cfg->instance_id) >= len)
			return -ENAMETOOLONG;
		snprintf(out, len, "%s", cfg->instance_id);
		return 0;
	}
	if (set(cfg->config_drive_dir) ? !os_config_drive_uuid(cfg->config_drive_dir, out, len)
				       : !mounted_config_drive(out, len))
		return 0;
	if (set(meta) && strcmp(meta, "none") && !metadata_uuid(meta, out, len))
		return 0;
	if (set(dmi) && strcmp(dmi, "none") && !dmi_uuid(dmi, out, len))
		return 0;
	pr_err("openstack: cannot tell which instance this is (no config drive, metadata service or "
	       "OpenStack SMBIOS UUID): set the instance id");
	return -ENOENT;
}
