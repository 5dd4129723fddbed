// SPDX-License-Identifier: Apache-2.0
/* The openstack provider's parts that need no cloud: Keystone request
 * bodies, catalog selection, times, error bodies and their errno, URLs,
 * clouds.yaml / secure.yaml / OS_* loading, and the instance id from a
 * config drive or DMI. The provider against a real Keystone and Neutron is
 * test_openstack_neutron. */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/openstack_int.h"
#include "common/fsutil.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-os-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return fs_remove_tree(dir);
}

static void write_file(const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
}

static json_t *body_of(const struct openstack_config *cfg)
{
	char *text = NULL;
	json_t *j;

	assert_int_equal(os_auth_body(cfg, &text), 0);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	return j;
}

static void test_auth_body_password(void **state)
{
	struct openstack_config cfg = { .username = "cni", .password = "pw", .project_name = "demo",
					.user_domain_name = "Users" };
	json_t *j, *id;

	(void)state;
	j = body_of(&cfg);
	id = json_object_get(json_object_get(j, "auth"), "identity");
	assert_string_equal(json_string_value(json_array_get(json_object_get(id, "methods"), 0)), "password");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(id, "password"), "user"), "domain"),
				    "name")),
			    "Users");
	/* unset project domain: "Default" */
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(json_object_get(j, "auth"), "scope"),
								    "project"),
						    "domain"),
				    "name")),
			    "Default");
	json_decref(j);

	/* ids win over names; a project id needs no domain */
	cfg.user_id = "u1";
	cfg.project_id = "p1";
	j = body_of(&cfg);
	id = json_object_get(json_object_get(json_object_get(j, "auth"), "identity"), "password");
	assert_string_equal(json_string_value(json_object_get(json_object_get(id, "user"), "id")), "u1");
	assert_null(json_object_get(json_object_get(id, "user"), "name"));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(j, "auth"), "scope"), "project"), "id")),
			    "p1");
	json_decref(j);
}

static void test_auth_body_app_credential(void **state)
{
	struct openstack_config cfg = { .auth_type = "v3applicationcredential", .app_cred_id = "ac1",
					.app_cred_secret = "s" };
	char *text = NULL;
	json_t *j, *ac;

	(void)state;
	j = body_of(&cfg);
	/* the credential implies the scope: no "scope" block */
	assert_null(json_object_get(json_object_get(j, "auth"), "scope"));
	ac = json_object_get(json_object_get(json_object_get(j, "auth"), "identity"), "application_credential");
	assert_string_equal(json_string_value(json_object_get(ac, "id")), "ac1");
	assert_string_equal(json_string_value(json_object_get(ac, "secret")), "s");
	json_decref(j);

	cfg.app_cred_id = NULL;
	cfg.app_cred_name = "sluice";
	assert_int_equal(os_auth_body(&cfg, &text), -EINVAL); /* a name needs its user */
	cfg.username = "cni";
	j = body_of(&cfg);
	ac = json_object_get(json_object_get(json_object_get(j, "auth"), "identity"), "application_credential");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ac, "user"), "name")), "cni");
	json_decref(j);
}

static void test_auth_body_incomplete(void **state)
{
	struct openstack_config cfg = { .username = "cni", .password = "pw" };
	char *text = NULL;

	(void)state;
	assert_int_equal(os_auth_body(&cfg, &text), -EINVAL); /* no project */
	cfg.project_name = "demo";
	cfg.password = NULL;
	assert_int_equal(os_auth_body(&cfg, &text), -EINVAL);
	cfg.password = "pw";
	cfg.auth_type = "token";
	assert_int_equal(os_auth_body(&cfg, &text), -EINVAL);
	cfg.auth_type = "v3applicationcredential";
	assert_int_equal(os_auth_body(&cfg, &text), -EINVAL); /* no secret */
	assert_null(text);
}

static const char catalog_json[] =
	"[{\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\", \"region_id\": \"R1\", \"url\": \"http://ks\"}]},"
	" {\"type\": \"network\", \"name\": \"neutron\", \"endpoints\": ["
	"   {\"interface\": \"admin\", \"region_id\": \"R1\", \"region\": \"R1\", \"url\": \"http://admin:9696\"},"
	"   {\"interface\": \"public\", \"region_id\": \"R1\", \"region\": \"R1\", \"url\": \"http://pub1:9696\"},"
	"   {\"interface\": \"internal\", \"region_id\": \"R1\", \"url\": \"http://int1:9696\"},"
	"   {\"interface\": \"public\", \"region_id\": \"R2\", \"region\": \"R2\", \"url\": \"http://pub2:9696\"}]}]";

static void test_catalog_selection(void **state)
{
	json_t *cat = json_loads(catalog_json, 0, NULL);
	const char *url = NULL;

	(void)state;
	assert_non_null(cat);
	assert_int_equal(os_catalog_find(cat, "network", NULL, NULL, &url), 0);
	assert_string_equal(url, "http://pub1:9696");
	assert_int_equal(os_catalog_find(cat, "network", "public", "R2", &url), 0);
	assert_string_equal(url, "http://pub2:9696");
	assert_int_equal(os_catalog_find(cat, "network", "internalURL", "R1", &url), 0);
	assert_string_equal(url, "http://int1:9696");
	assert_int_equal(os_catalog_find(cat, "network", "admin", NULL, &url), 0);
	assert_string_equal(url, "http://admin:9696");
	assert_int_equal(os_catalog_find(cat, "network", "internal", "R2", &url), -ENOENT);
	assert_int_equal(os_catalog_find(cat, "compute", NULL, NULL, &url), -ENOENT);
	json_decref(cat);
}

static void test_parse_time(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(os_parse_time("1970-01-01T01:00:00.000000Z", &t), 0);
	assert_int_equal((long)t, 3600);
	assert_int_equal(os_parse_time("2026-11-22T05:57:54Z", &t), 0);
	assert_int_equal(os_parse_time("2026-11-22T05:57:54+00:00", &t), 0);
	assert_int_equal(os_parse_time("2026-11-22T05:57:54+02:00", &t), -EINVAL);
	assert_int_equal(os_parse_time("yesterday", &t), -EINVAL);
	assert_int_equal(os_parse_time(NULL, &t), -EINVAL);
}

static void test_error_bodies(void **state)
{
	char type[96], msg[320];

	(void)state;
	os_error_parse("{\"NeutronError\": {\"type\": \"IpAddressGenerationFailure\", \"message\": "
		       "\"No more IP addresses available on network x.\", \"detail\": \"\"}}",
		       type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "IpAddressGenerationFailure");
	assert_string_equal(msg, "No more IP addresses available on network x.");
	os_error_parse("{\"NeutronError\": \"old style\"}", type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "");
	assert_string_equal(msg, "old style");
	os_error_parse("{\"conflictingRequest\": {\"code\": 409, \"message\": \"Port p is still\\nin use.\"}}", type,
		       sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "conflictingRequest");
	assert_string_equal(msg, "Port p is still in use."); /* one log line */
	os_error_parse("{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"The request you "
		       "have made requires authentication.\"}}",
		       type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "Unauthorized");
	os_error_parse("\n<html><body>502 Bad Gateway</body></html>\nmore", type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "");
	assert_string_equal(msg, "<html><body>502 Bad Gateway</body></html>");
	os_error_parse("{\"interfaceAttachment\": [", type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(msg, "{\"interfaceAttachment\": [");
	os_error_parse(NULL, type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(msg, "");
}

static void test_error_errno(void **state)
{
	(void)state;
	assert_int_equal(os_error_errno(200, ""), 0);
	assert_int_equal(os_error_errno(409, "IpAddressGenerationFailure"), -ENOSPC);
	assert_int_equal(os_error_errno(409, "OverQuota"), -ENOSPC);
	assert_int_equal(os_error_errno(403, "PortLimitExceeded"), -ENOSPC);
	assert_int_equal(os_error_errno(409, "IpAddressAlreadyAllocated"), -EBUSY);
	assert_int_equal(os_error_errno(403, "PolicyNotAuthorized"), -EPERM);
	assert_int_equal(os_error_errno(404, "PortNotFound"), -ENOENT);
	assert_int_equal(os_error_errno(412, "RevisionNumberConstraintFailed"), -ESTALE);
	assert_int_equal(os_error_errno(429, "overLimit"), -EAGAIN);
	assert_int_equal(os_error_errno(503, ""), -EAGAIN);
	assert_int_equal(os_error_errno(500, "computeFault"), -EIO);
	assert_int_equal(os_error_errno(401, "Unauthorized"), -EACCES);
	assert_int_equal(os_error_errno(400, "HTTPBadRequest"), -EINVAL);
}

static void test_url_join(void **state)
{
	char *u;

	(void)state;
	u = os_url_join("http://a:9696/", "/v2.0");
	assert_string_equal(u, "http://a:9696/v2.0");
	free(u);
	u = os_url_join("http://a/v2.1", "servers/x/os-interface");
	assert_string_equal(u, "http://a/v2.1/servers/x/os-interface");
	free(u);
	u = os_url_join("http://a//", "");
	assert_string_equal(u, "http://a");
	free(u);
}

static const char clouds_yaml[] =
	"clouds:\n"
	"  prod:\n"
	"    auth:\n"
	"      auth_url: https://keystone.example:5000/v3\n"
	"      username: cni\n"
	"      project_name: k8s\n"
	"      domain_name: Corp\n"
	"    region_name: RegionTwo\n"
	"    interface: internal\n"
	"    verify: false\n"
	"  appcred:\n"
	"    auth_type: v3applicationcredential\n"
	"    auth:\n"
	"      auth_url: http://ks:5000\n"
	"      application_credential_id: abc\n"
	"      application_credential_secret: \"123\"\n"
	"    regions: [R9, R10]\n"
	"    cacert: /etc/ssl/ca.pem\n";

static void test_clouds_yaml(void **state)
{
	struct openstack_config cfg = { .region = "Explicit" };
	char path[128];

	(void)state;
	write_file("clouds.yaml", clouds_yaml);
	write_file("secure.yaml", "clouds:\n  prod:\n    auth:\n      password: s3cret\n");
	snprintf(path, sizeof(path), "%s/clouds.yaml", dir);
	assert_int_equal(openstack_config_load(&cfg, "prod", path), 0);
	assert_string_equal(cfg.auth_url, "https://keystone.example:5000/v3");
	assert_string_equal(cfg.username, "cni");
	assert_string_equal(cfg.password, "s3cret"); /* from secure.yaml */
	assert_string_equal(cfg.project_name, "k8s");
	assert_string_equal(cfg.user_domain_name, "Corp");
	assert_string_equal(cfg.project_domain_name, "Corp");
	assert_string_equal(cfg.region, "Explicit"); /* set fields are kept */
	assert_string_equal(cfg.interface, "internal");
	assert_true(cfg.http.insecure);
	openstack_config_release(&cfg);

	memset(&cfg, 0, sizeof(cfg));
	setenv("OS_CLOUD", "appcred", 1);
	setenv("OS_CLIENT_CONFIG_FILE", path, 1);
	assert_int_equal(openstack_config_load(&cfg, NULL, NULL), 0);
	assert_string_equal(cfg.auth_type, "v3applicationcredential");
	assert_string_equal(cfg.app_cred_id, "abc");
	assert_string_equal(cfg.app_cred_secret, "123"); /* quoted: a string */
	assert_string_equal(cfg.region, "R9");
	assert_string_equal(cfg.http.ca_file, "/etc/ssl/ca.pem");
	openstack_config_release(&cfg);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(openstack_config_load(&cfg, "nope", path), -ENOENT);
	openstack_config_release(&cfg);
	unsetenv("OS_CLOUD");
	unsetenv("OS_CLIENT_CONFIG_FILE");
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(openstack_config_load(&cfg, "prod", path), -ENOENT);
	write_file("bad.yaml", "clouds: [unclosed\n");
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	assert_int_equal(openstack_config_load(&cfg, "prod", path), -EINVAL);
	openstack_config_release(&cfg);
}

static void test_environment(void **state)
{
	struct openstack_config cfg = { 0 };

	(void)state;
	unsetenv("OS_CLOUD");
	setenv("OS_AUTH_URL", "http://ks:5000/v3", 1);
	setenv("OS_USERNAME", "cni", 1);
	setenv("OS_PASSWORD", "pw", 1);
	setenv("OS_TENANT_NAME", "legacy", 1);
	setenv("OS_USER_DOMAIN_NAME", "Default", 1);
	setenv("OS_ENDPOINT_TYPE", "internalURL", 1);
	setenv("OS_INSECURE", "true", 1);
	assert_int_equal(openstack_config_load(&cfg, NULL, NULL), 0);
	assert_string_equal(cfg.auth_url, "http://ks:5000/v3");
	assert_string_equal(cfg.project_name, "legacy");
	assert_string_equal(cfg.interface, "internalURL");
	assert_null(cfg.auth_type); /* password is the default */
	assert_true(cfg.http.insecure);
	openstack_config_release(&cfg);

	/* an application credential openrc without OS_AUTH_TYPE */
	memset(&cfg, 0, sizeof(cfg));
	unsetenv("OS_PASSWORD");
	setenv("OS_APPLICATION_CREDENTIAL_ID", "ac", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "s", 1);
	assert_int_equal(openstack_config_load(&cfg, NULL, NULL), 0);
	assert_string_equal(cfg.auth_type, "v3applicationcredential");
	openstack_config_release(&cfg);
	unsetenv("OS_AUTH_URL");
	unsetenv("OS_USERNAME");
	unsetenv("OS_TENANT_NAME");
	unsetenv("OS_USER_DOMAIN_NAME");
	unsetenv("OS_ENDPOINT_TYPE");
	unsetenv("OS_INSECURE");
	unsetenv("OS_APPLICATION_CREDENTIAL_ID");
	unsetenv("OS_APPLICATION_CREDENTIAL_SECRET");
}

static void test_instance_id_sources(void **state)
{
	struct openstack_config cfg = { .metadata_url = "none", .dmi_dir = "none" };
	char id[CLOUD_ID_LEN], sub[128];

	(void)state;
	/* config drive */
	snprintf(sub, sizeof(sub), "%s/cd/openstack/latest", dir);
	assert_int_equal(fs_mkdir_p(sub, 0755), 0);
	write_file("cd/openstack/latest/meta_data.json", "{\"uuid\": \"3f1e2d4c-0000-4000-8000-00000000abcd\"}");
	snprintf(sub, sizeof(sub), "%s/cd", dir);
	cfg.config_drive_dir = sub;
	assert_int_equal(os_instance_id(&cfg, id, sizeof(id)), 0);
	assert_string_equal(id, "3f1e2d4c-0000-4000-8000-00000000abcd");
	/* the config wins */
	cfg.instance_id = "given";
	assert_int_equal(os_instance_id(&cfg, id, sizeof(id)), 0);
	assert_string_equal(id, "given");
	cfg.instance_id = NULL;

	/* DMI: only on an OpenStack guest, lower-cased */
	snprintf(sub, sizeof(sub), "%s/nothing", dir);
	cfg.config_drive_dir = sub;
	write_file("product_uuid", "3F1E2D4C-0000-4000-8000-00000000ABCD\n");
	write_file("product_name", "Standard PC (Q35 + ICH9, 2009)\n");
	cfg.dmi_dir = dir;
	assert_int_equal(os_instance_id(&cfg, id, sizeof(id)), -ENOENT);
	write_file("product_name", "OpenStack Nova\n");
	assert_int_equal(os_instance_id(&cfg, id, sizeof(id)), 0);
	assert_string_equal(id, "3f1e2d4c-0000-4000-8000-00000000abcd");
	write_file("product_uuid", "not-a-uuid\n");
	assert_int_equal(os_instance_id(&cfg, id, sizeof(id)), -ENOENT);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_auth_body_password),
	cmocka_unit_test(test_auth_body_app_credential),
	cmocka_unit_test(test_auth_body_incomplete),
	cmocka_unit_test(test_catalog_selection),
	cmocka_unit_test(test_parse_time),
	cmocka_unit_test(test_error_bodies),
	cmocka_unit_test(test_error_errno),
	cmocka_unit_test(test_url_join),
	cmocka_unit_test(test_clouds_yaml),
	cmocka_unit_test(test_environment),
	cmocka_unit_test(test_instance_id_sources),
};

SL_TEST_MAIN(tests, setup, teardown)
