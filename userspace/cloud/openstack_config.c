// SPDX-License-Identifier: Apache-2.0
/*
 * Where the openstack provider's credentials come from: clouds.yaml (and
 * secure.yaml) the way openstacksdk reads them, or the OS_* variables of an
 * openrc file. See openstack_config_load in openstack.h.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cloud/openstack.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "k8s/yaml_json.h"

#define CLOUDS_YAML_MAX (1 << 20)

static bool set(const char *s)
{
	return s && *s;
}

static void fill(const char **field, const char *value)
{
	if (!set(*field) && set(value))
		*field = value;
}

static bool truthy(const char *s)
{
	return s && (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes"));
}

/* Keeps doc alive as long as the config (the fields point into it). */
static int keep(struct openstack_config *cfg, json_t *doc)
{
	json_t *owned = cfg->owned_;

	if (!owned) {
		owned = json_array();
		if (!owned)
			return -ENOMEM;
		cfg->owned_ = owned;
	}
	return json_array_append(owned, doc) ? -ENOMEM : 0;
}

void openstack_config_release(struct openstack_config *cfg)
{
	json_decref(cfg->owned_);
	cfg->owned_ = NULL;
}

static int load_yaml(const char *path, json_t **out)
{
	struct yaml_json_error yerr;
	char *text = NULL, ebuf[320];
	json_t *docs = NULL;
	size_t len;
	int err;

	err = fs_read_all(path, CLOUDS_YAML_MAX, &text, &len);
	if (err)
		return err;
	err = yaml_json_parse(text, len, &docs, &yerr);
	free(text);
	if (err) {
		pr_err("openstack: %s: %s", path, yaml_json_error_fmt(&yerr, ebuf, sizeof(ebuf)));
		return err;
	}
	*out = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	if (!json_is_object(*out)) {
		pr_err("openstack: %s: not a mapping", path);
		json_decref(*out);
		return -EINVAL;
	}
	return 0;
}

/* Deep merge: values of src win, mappings merge. */
static void merge(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach(src, k, v) {
		json_t *d = json_object_get(dst, k);

		if (json_is_object(d) && json_is_object(v))
			merge(d, v);
		else
			json_object_set(dst, k, v);
	}
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int find_clouds_yaml(const char *given, char *path, size_t len)
{
	const char *home = getenv("HOME");
	const char *env = getenv("OS_CLIENT_CONFIG_FILE");

	if (set(given) || set(env)) {
		snprintf(path, len, "%s", set(given) ? given : env);
		return 0;
	}
	snprintf(path, len, "clouds.yaml");
	if (!access(path, R_OK))
		return 0;
	if (set(home)) {
		snprintf(path, len, "%s/.config/openstack/clouds.yaml", home);
		if (!access(path, R_OK))
			return 0;
	}
	snprintf(path, len, "/etc/openstack/clouds.yaml");
	if (!access(path, R_OK))
		return 0;
	pr_err("openstack: no clouds.yaml (./, ~/.config/openstack/, /etc/openstack/)");
	return -ENOENT;
}

static int load_cloud(struct openstack_config *cfg, const char *cloud, const char *clouds_yaml)
{
	char path[4096], secure[4096], dir[4096];
	json_t *doc = NULL, *sdoc = NULL, *entry, *auth, *regions, *verify;
	int err;

	err = find_clouds_yaml(clouds_yaml, path, sizeof(path));
	if (err)
		return err;
	err = load_yaml(path, &doc);
	if (err) {
		if (err == -ENOENT)
			pr_err("openstack: %s: no such file", path);
		return err;
	}
	entry = json_object_get(json_object_get(doc, "clouds"), cloud);
	if (!json_is_object(entry)) {
		pr_err("openstack: %s has no cloud '%s'", path, cloud);
		err = -ENOENT;
		goto out;
	}
	/* secure.yaml beside it holds the secrets of the same clouds. */
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(secure, sizeof(secure), "%s/secure.yaml", dirname(dir));
	if (!access(secure, R_OK)) {
		err = load_yaml(secure, &sdoc);
		if (err)
			goto out;
		if (json_is_object(json_object_get(json_object_get(sdoc, "clouds"), cloud)))
			merge(entry, json_object_get(json_object_get(sdoc, "clouds"), cloud));
	}
	if (json_object_get(entry, "profile"))
		pr_warn("openstack: cloud %s: vendor profiles are not read; set auth_url and region", cloud);
	auth = json_object_get(entry, "auth");
	fill(&cfg->auth_url, str(auth, "auth_url"));
	fill(&cfg->auth_type, str(entry, "auth_type"));
	fill(&cfg->username, str(auth, "username"));
	fill(&cfg->user_id, str(auth, "user_id"));
	fill(&cfg->password, str(auth, "password"));
	fill(&cfg->user_domain_name, str(auth, "user_domain_name"));
	fill(&cfg->user_domain_id, str(auth, "user_domain_id"));
	fill(&cfg->project_name, str(auth, "project_name"));
	fill(&cfg->project_name, str(auth, "tenant_name"));
	fill(&cfg->project_id, str(auth, "project_id"));
	fill(&cfg->project_id, str(auth, "tenant_id"));
	fill(&cfg->project_domain_name, str(auth, "project_domain_name"));
	fill(&cfg->project_domain_id, str(auth, "project_domain_id"));
	/* domain_name/domain_id: the default of both */
	fill(&cfg->user_domain_name, str(auth, "domain_name"));
	fill(&cfg->project_domain_name, str(auth, "domain_name"));
	fill(&cfg->user_domain_id, str(auth, "domain_id"));
	fill(&cfg->project_domain_id, str(auth, "domain_id"));
	fill(&cfg->app_cred_id, str(auth, "application_credential_id"));
	fill(&cfg->app_cred_name, str(auth, "application_credential_name"));
	fill(&cfg->app_cred_secret, str(auth, "application_credential_secret"));
	fill(&cfg->region, str(entry, "region_name"));
	regions = json_object_get(entry, "regions");
	if (json_is_array(regions) && json_array_size(regions)) {
		json_t *first = json_array_get(regions, 0);

		fill(&cfg->region, json_is_object(first) ? str(first, "name") : json_string_value(first));
	}
	fill(&cfg->interface, str(entry, "interface"));
	fill(&cfg->interface, str(entry, "endpoint_type"));
	fill(&cfg->http.ca_file, str(entry, "cacert"));
	verify = json_object_get(entry, "verify");
	if (json_is_false(verify) || (json_is_string(verify) && (!strcasecmp(json_string_value(verify), "false") ||
								 !strcasecmp(json_string_value(verify), "no"))))
		cfg->http.insecure = true;
	err = keep(cfg, doc);
out:
	json_decref(doc);
	json_decref(sdoc);
	return err;
}

static void load_env(struct openstack_config *cfg)
{
	fill(&cfg->auth_url, getenv("OS_AUTH_URL"));
	fill(&cfg->auth_type, getenv("OS_AUTH_TYPE"));
	fill(&cfg->username, getenv("OS_USERNAME"));
	fill(&cfg->user_id, getenv("OS_USER_ID"));
	fill(&cfg->password, getenv("OS_PASSWORD"));
	fill(&cfg->user_domain_name, getenv("OS_USER_DOMAIN_NAME"));
	fill(&cfg->user_domain_id, getenv("OS_USER_DOMAIN_ID"));
	fill(&cfg->project_name, getenv("OS_PROJECT_NAME"));
	fill(&cfg->project_name, getenv("OS_TENANT_NAME"));
	fill(&cfg->project_id, getenv("OS_PROJECT_ID"));
	fill(&cfg->project_id, getenv("OS_TENANT_ID"));
	fill(&cfg->project_domain_name, getenv("OS_PROJECT_DOMAIN_NAME"));
	fill(&cfg->project_domain_id, getenv("OS_PROJECT_DOMAIN_ID"));
	fill(&cfg->user_domain_name, getenv("OS_DOMAIN_NAME"));
	fill(&cfg->project_domain_name, getenv("OS_DOMAIN_NAME"));
	fill(&cfg->user_domain_id, getenv("OS_DOMAIN_ID"));
	fill(&cfg->project_domain_id, getenv("OS_DOMAIN_ID"));
	fill(&cfg->app_cred_id, getenv("OS_APPLICATION_CREDENTIAL_ID"));
	fill(&cfg->app_cred_name, getenv("OS_APPLICATION_CREDENTIAL_NAME"));
	fill(&cfg->app_cred_secret, getenv("OS_APPLICATION_CREDENTIAL_SECRET"));
	fill(&cfg->region, getenv("OS_REGION_NAME"));
	fill(&cfg->interface, getenv("OS_INTERFACE"));
	fill(&cfg->interface, getenv("OS_ENDPOINT_TYPE"));
	fill(&cfg->http.ca_file, getenv("OS_CACERT"));
	if (truthy(getenv("OS_INSECURE")))
		cfg->http.insecure = true;
	/* An openrc for an application credential often omits OS_AUTH_TYPE. */
	if (!set(cfg->auth_type) && set(cfg->app_cred_secret) && !set(cfg->password))
		cfg->auth_type = "v3applicationcredential";
}

int openstack_config_load(struct openstack_config *cfg, const char *cloud, const char *clouds_yaml)
{
	int err = 0;

	if (!set(cloud))
		cloud = getenv("OS_CLOUD");
	if (set(cloud))
		err = load_cloud(cfg, cloud, clouds_yaml);
	else
		load_env(cfg);
	if (!err && !set(cfg->auth_type) && set(cfg->app_cred_secret) && !set(cfg->password))
		cfg->auth_type = "v3applicationcredential";
	return err;
}
