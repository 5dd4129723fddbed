// SPDX-License-Identifier: Apache-2.0
/*
 * The openstack provider against a REAL Keystone and Neutron (Debian's
 * packages) and the fake Nova of selftests/cloud/, which the group setup
 * starts with selftests/cloud/neutron.sh (installing the packages the first
 * time) and the teardown stops. SLUICE_OS_ENV=<dir>/env reuses a harness
 * started by hand (`neutron.sh start <dir>`) instead.
 *
 * The instance is a fake Nova server whose NICs are veths in a test network
 * namespace ("node"); their other ends are in a "router" namespace that
 * routes every fixed IP Neutron holds, as the sim VPC does. The node already
 * has one port that Sluice did not attach (its "primary" NIC).
 */
#include "lib/sl_test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cloud/openstack.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "netlink/netns.h"

static struct {
	char dir[256];         /* the harness's state directory */
	bool started;          /* by us: stop it at the end */
	char node_ns[32], router_ns[32];
	char server[64];
	char net[64], subnet[64], tiny_net[64], tiny_subnet[64];
	char foreign_port[64];
	char cni_token[1024], admin_token[1024];
	struct cloud_http *http;
	char top[4096];
} H;

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/* --- raw API calls, for setup and checks ----------------------------------------- */

static long api(const char *method, const char *url, const char *token, const char *body, json_t **out)
{
	char auth[1100];
	const char *headers[] = { auth, "Content-Type: application/json", NULL };
	struct cloud_http_req req = { .method = method, .url = url, .headers = headers, .body = body,
				      .body_len = body ? strlen(body) : 0 };
	struct cloud_http_resp resp;
	long status;

	snprintf(auth, sizeof(auth), "X-Auth-Token: %s", token ? token : "");
	if (cloud_http_do(H.http, &req, &resp))
		return -1;
	status = resp.status;
	if (out)
		*out = resp.len ? json_loads(resp.body, 0, NULL) : NULL;
	cloud_http_resp_free(&resp);
	return status;
}

static long apif(const char *method, const char *token, json_t **out, const char *body, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static long apif(const char *method, const char *token, json_t **out, const char *body, const char *fmt, ...)
{
	char url[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(url, sizeof(url), fmt, ap);
	va_end(ap);
	return api(method, url, token, body, out);
}

static int ks_token(const char *user, const char *pw, const char *project, char *out, size_t len)
{
	const char *headers[] = { "Content-Type: application/json", NULL };
	char body[512], url[256];
	struct cloud_http_req req = { .method = "POST", .url = url, .headers = headers, .body = body };
	struct cloud_http_resp resp;
	const char *tok;
	int err;

	snprintf(url, sizeof(url), "%s/auth/tokens", env("OS_AUTH_URL"));
	snprintf(body, sizeof(body),
		 "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"%s\","
		 "\"domain\":{\"name\":\"Default\"},\"password\":\"%s\"}}},\"scope\":{\"project\":{\"name\":\"%s\","
		 "\"domain\":{\"name\":\"Default\"}}}}}",
		 user, pw, project);
	req.body_len = strlen(body);
	err = cloud_http_do(H.http, &req, &resp);
	if (err)
		return err;
	tok = cloud_http_header(&resp, "X-Subject-Token");
	err = resp.status == 201 && tok ? 0 : -EACCES;
	if (!err)
		snprintf(out, len, "%s", tok);
	cloud_http_resp_free(&resp);
	return err;
}

static json_t *neutron_port(const char *id)
{
	json_t *j = NULL, *p;

	if (apif("GET", H.admin_token, &j, NULL, "%s/v2.0/ports/%s", env("NEUTRON_URL"), id) != 200) {
		json_decref(j);
		return NULL;
	}
	p = json_incref(json_object_get(j, "port"));
	json_decref(j);
	return p;
}

static json_t *neutron_ports(const char *query)
{
	json_t *j = NULL, *p;

	assert_int_equal(apif("GET", H.admin_token, &j, NULL, "%s/v2.0/ports?%s", env("NEUTRON_URL"), query), 200);
	p = json_incref(json_object_get(j, "ports"));
	json_decref(j);
	return p;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static int fake(const char *method, const char *path, const char *body)
{
	return (int)apif(method, NULL, NULL, body, "%s/_fake/%s", env("NOVA_URL"), path);
}

static void fault(const char *json)
{
	assert_int_equal(fake("POST", "faults", json), 201);
}

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The node namespace has a link with this MAC (the hot-plugged NIC). */
static bool node_has_mac(const uint8_t mac[6])
{
	char m[SL_MAC_STRLEN];

	return shell("ip -n %s -o link | grep -q ' %s '", H.node_ns, sl_mac_fmt(mac, m)) == 0;
}

/* NICs with a Neutron MAC in the node namespace. */
static int node_nics(void)
{
	return shell("exit $(ip -n %s -o link | grep -c ' fa:16:3e:')", H.node_ns);
}

/* --- setup ---------------------------------------------------------------------------- */

static int load_env_file(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		setenv(line, eq + 1, 1);
	}
	fclose(f);
	return 0;
}

static int create_subnet(const char *name, const char *cidr, char *net, char *subnet)
{
	char body[256];
	json_t *j = NULL;

	snprintf(body, sizeof(body), "{\"network\":{\"name\":\"%s\"}}", name);
	if (apif("POST", H.cni_token, &j, body, "%s/v2.0/networks", env("NEUTRON_URL")) != 201)
		return -EIO;
	snprintf(net, 64, "%s", jstr(json_object_get(j, "network"), "id"));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"subnet\":{\"network_id\":\"%s\",\"cidr\":\"%s\",\"ip_version\":4}}", net,
		 cidr);
	if (apif("POST", H.cni_token, &j, body, "%s/v2.0/subnets", env("NEUTRON_URL")) != 201)
		return -EIO;
	snprintf(subnet, 64, "%s", jstr(json_object_get(j, "subnet"), "id"));
	json_decref(j);
	return 0;
}

static int group_setup(void **state)
{
	struct cloud_http_opts opts = { .timeout_ms = 30000, .max_retries = 0 };
	char body[512], env_path[300], tag[16];
	const char *given = getenv("SLUICE_OS_ENV");
	json_t *j = NULL;

	(void)state;
	log_init("test", getenv("SLUICE_TEST_DEBUG") ? LOG_DEBUG : LOG_WARN, LOG_FORMAT_TEXT, stderr);
	snprintf(H.top, sizeof(H.top), "%s", getenv("SLUICE_TOP") ? getenv("SLUICE_TOP") : ".");
	if (given && *given) {
		snprintf(env_path, sizeof(env_path), "%s", given);
		snprintf(H.dir, sizeof(H.dir), "%.*s", (int)(strrchr(given, '/') ? strrchr(given, '/') - given : 0),
			 given);
	} else {
		snprintf(H.dir, sizeof(H.dir), "/tmp/sluice-os-XXXXXX");
		if (!mkdtemp(H.dir))
			return -1;
		H.started = true;
		if (shell("%s/selftests/cloud/neutron.sh start %s >&2", H.top, H.dir)) {
			fprintf(stderr, "# neutron.sh start failed; logs:\n");
			shell("tail -n 30 %s/log/*.log >&2", H.dir);
			return -1;
		}
		snprintf(env_path, sizeof(env_path), "%s/env", H.dir);
	}
	if (load_env_file(env_path) || cloud_http_new(&opts, &H.http))
		return -1;
	unsetenv("OS_CLOUD");
	if (ks_token("cni", "cnipw", "demo", H.cni_token, sizeof(H.cni_token)) ||
	    ks_token("admin", "adminpw", "admin", H.admin_token, sizeof(H.admin_token)))
		return -1;
	snprintf(tag, sizeof(tag), "%x", (unsigned)(getpid() ^ time(NULL)) & 0xfffff);
	if (create_subnet("pods", "10.99.0.0/24", H.net, H.subnet) ||
	    create_subnet("tiny", "10.98.0.0/29", H.tiny_net, H.tiny_subnet))
		return -1;
	snprintf(H.node_ns, sizeof(H.node_ns), "os%s-node", tag);
	snprintf(H.router_ns, sizeof(H.router_ns), "os%s-rtr", tag);
	snprintf(H.server, sizeof(H.server), "0bad1dea-0000-4000-8000-0000000%05x", (unsigned)strtoul(tag, NULL, 16));
	if (netns_create(H.node_ns) || netns_create(H.router_ns))
		return -1;
	shell("ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.default.proxy_arp=1", H.router_ns);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"host\":\"node-1\",\"netns\":\"%s\",\"router_netns\":\"%s\"}",
		 H.server, H.node_ns, H.router_ns);
	if (fake("POST", "servers", body) != 201)
		return -1;
	/* The node's own NIC: a port Sluice did not make. */
	snprintf(body, sizeof(body), "{\"port\":{\"network_id\":\"%s\",\"name\":\"node-nic\"}}", H.net);
	if (apif("POST", H.cni_token, &j, body, "%s/v2.0/ports", env("NEUTRON_URL")) != 201)
		return -1;
	snprintf(H.foreign_port, sizeof(H.foreign_port), "%s", jstr(json_object_get(j, "port"), "id"));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"interfaceAttachment\":{\"port_id\":\"%s\"}}", H.foreign_port);
	if (apif("POST", H.cni_token, NULL, body, "%s/v2.1/servers/%s/os-interface", env("NOVA_URL"), H.server) != 200)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (H.server[0])
		apif("DELETE", NULL, NULL, NULL, "%s/_fake/servers/%s", env("NOVA_URL"), H.server);
	if (H.node_ns[0])
		netns_delete(H.node_ns);
	if (H.router_ns[0])
		netns_delete(H.router_ns);
	cloud_http_free(H.http);
	if (H.started)
		shell("%s/selftests/cloud/neutron.sh stop %s >&2", H.top, H.dir);
	return 0;
}

/* --- the provider ----------------------------------------------------------------------- */

static void base_cfg(struct openstack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	assert_int_equal(openstack_config_load(cfg, NULL, NULL), 0);
	cfg->instance_id = H.server;
	cfg->pod_subnet_id = H.subnet;
	cfg->http.timeout_ms = 10000;
	cfg->http.max_retries = 3;
	cfg->http.backoff_base_ms = 50;
	cfg->http.backoff_max_ms = 2000;
	cfg->active_timeout_ms = 15000;
	cfg->detach_timeout_ms = 15000;
	cfg->poll_interval_ms = 100;
}

static struct cloud_provider *make(struct openstack_config *cfg)
{
	struct cloud_provider *p = NULL;

	assert_int_equal(openstack_provider_create(cfg, &p), 0);
	openstack_config_release(cfg);
	return p;
}

static struct cloud_provider *default_provider(void)
{
	struct openstack_config cfg;

	base_cfg(&cfg);
	return make(&cfg);
}

static const struct cloud_iface *find_iface(const struct cloud_iface *l, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].id, id))
			return &l[i];
	return NULL;
}

static bool iface_has_ip(const struct cloud_iface *c, const struct sl_ip *ip)
{
	for (size_t i = 0; i < c->n_ips; i++)
		if (sl_ip_equal(&c->ips[i], ip))
			return true;
	return false;
}

static bool port_has_ip(const json_t *port, const struct sl_ip *ip)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, f) {
		struct sl_ip cur;

		if (!sl_ip_parse(jstr(f, "ip_address"), &cur) && sl_ip_equal(&cur, ip))
			return true;
	}
	return false;
}

/*
 * The leak check: after list_interfaces (which deletes what interrupted work
 * left), Neutron holds for this instance exactly the ports the provider
 * reports, each with exactly the reported addresses, and no unattached port
 * of ours.
 */
static void assert_cloud_matches(struct cloud_provider *p, size_t *n_ours)
{
	struct cloud_iface *l = NULL;
	char q[256];
	json_t *ports, *port;
	size_t n = 0, i, ours = 0;

	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	snprintf(q, sizeof(q), "device_id=%s", H.server);
	ports = neutron_ports(q);
	assert_int_equal(json_array_size(ports), n);
	json_array_foreach(ports, i, port) {
		const struct cloud_iface *c = find_iface(l, n, jstr(port, "id"));

		assert_non_null(c);
		if (c->primary)
			continue;
		ours++;
		assert_int_equal(json_array_size(json_object_get(port, "fixed_ips")), c->n_ips + 1);
		assert_true(port_has_ip(port, &c->primary_ip));
		for (size_t k = 0; k < c->n_ips; k++)
			assert_true(port_has_ip(port, &c->ips[k]));
	}
	json_decref(ports);
	snprintf(q, sizeof(q), "description=sluice%%3A%s", H.server);
	ports = neutron_ports(q);
	assert_int_equal(json_array_size(ports), ours);
	json_decref(ports);
	cloud_iface_free_array(l, n);
	if (n_ours)
		*n_ours = ours;
}

/* Per test: no fault left, no interface of ours left. */
static int clean_node(void **state)
{
	struct cloud_provider *p = default_provider();
	struct cloud_iface *l = NULL;
	size_t n = 0;

	(void)state;
	fake("DELETE", "faults", NULL);
	fake("POST", "config", "{\"detach_delay\": 0.3}");
	if (!p->ops->list_interfaces(p, &l, &n)) {
		for (size_t i = 0; i < n; i++)
			if (!l[i].primary)
				p->ops->detach_interface(p, l[i].id);
		cloud_iface_free_array(l, n);
	}
	p->ops->destroy(p);
	return 0;
}

/* --- Keystone ------------------------------------------------------------------------- */

static void test_auth_password_from_environment(void **state)
{
	struct cloud_provider *p = default_provider();
	struct openstack_stats st;
	struct cloud_limits lim;
	struct cloud_iface *l = NULL;
	size_t n = 0;

	(void)state;
	assert_string_equal(p->ops->name, "openstack");
	assert_string_equal(p->instance, H.server);
	assert_int_equal(p->ops->limits(p, &lim), 0);
	assert_int_equal(lim.max_interfaces, OPENSTACK_DEFAULT_MAX_INTERFACES);
	assert_int_equal(lim.max_ips_per_interface, OPENSTACK_DEFAULT_MAX_IPS);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_true(l[0].primary); /* the node's own NIC: never touched */
	assert_string_equal(l[0].id, H.foreign_port);
	cloud_iface_free_array(l, n);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.auths, 1);
	assert_int_equal(st.reauth_401, 0);
	p->ops->destroy(p);
}

static void test_auth_application_credential(void **state)
{
	struct openstack_config cfg = { 0 };
	struct cloud_provider *p;
	struct cloud_iface *l = NULL;
	size_t n = 0;

	(void)state;
	base_cfg(&cfg);
	cfg.auth_type = "v3applicationcredential";
	cfg.username = cfg.password = cfg.project_name = NULL;
	cfg.app_cred_id = env("OS_APP_CRED_ID");
	cfg.app_cred_secret = env("OS_APP_CRED_SECRET");
	p = make(&cfg);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	assert_int_equal(n, 1);
	cloud_iface_free_array(l, n);
	p->ops->destroy(p);

	base_cfg(&cfg);
	cfg.auth_type = "v3applicationcredential";
	cfg.app_cred_id = env("OS_APP_CRED_ID");
	cfg.app_cred_secret = "wrong";
	assert_int_equal(openstack_provider_create(&cfg, &p), -EACCES);
	openstack_config_release(&cfg);
}

static void test_auth_clouds_yaml(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	char dir[64], path[128], text[1024];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-os-yaml-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text),
		 "clouds:\n  lab:\n    auth:\n      auth_url: %s\n      username: cni\n      project_name: demo\n"
		 "      user_domain_name: Default\n      project_domain_name: Default\n"
		 "    region_name: RegionOne\n    interface: internal\n"
		 "  wrong:\n    auth:\n      auth_url: %s\n      username: cni\n      password: nope\n"
		 "      project_name: demo\n",
		 env("OS_AUTH_URL"), env("OS_AUTH_URL"));
	snprintf(path, sizeof(path), "%s/clouds.yaml", dir);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
	snprintf(path, sizeof(path), "%s/secure.yaml", dir);
	snprintf(text, sizeof(text), "clouds:\n  lab:\n    auth:\n      password: cnipw\n");
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
	snprintf(path, sizeof(path), "%s/clouds.yaml", dir);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(openstack_config_load(&cfg, "lab", path), 0);
	cfg.instance_id = H.server;
	cfg.pod_subnet_id = H.subnet;
	p = make(&cfg); /* through the catalog's internal endpoints ("localhost") */
	p->ops->destroy(p);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(openstack_config_load(&cfg, "wrong", path), 0);
	cfg.instance_id = H.server;
	cfg.pod_subnet_id = H.subnet;
	assert_int_equal(openstack_provider_create(&cfg, &p), -EACCES);
	openstack_config_release(&cfg);
	fs_remove_tree(dir);
}

static void test_catalog_region_and_interface(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;

	(void)state;
	base_cfg(&cfg);
	cfg.interface = "admin";
	p = make(&cfg);
	p->ops->destroy(p);

	/* RegionTwo's endpoints point to a closed port: the selection is real */
	base_cfg(&cfg);
	cfg.region = "RegionTwo";
	cfg.http.max_retries = 1;
	assert_int_equal(openstack_provider_create(&cfg, &p), -ECONNREFUSED);
	openstack_config_release(&cfg);

	base_cfg(&cfg);
	cfg.region = "Atlantis";
	assert_int_equal(openstack_provider_create(&cfg, &p), -ENOENT);
	openstack_config_release(&cfg);

	/* an explicit endpoint wins over the catalog */
	base_cfg(&cfg);
	cfg.region = "RegionTwo";
	cfg.network_url = env("NEUTRON_URL");
	cfg.compute_url = env("NOVA_URL");
	p = make(&cfg);
	p->ops->destroy(p);
}

static void test_token_renewed_before_expiry(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct openstack_stats st;
	struct cloud_iface *l = NULL;
	size_t n = 0;

	(void)state;
	base_cfg(&cfg);
	cfg.token_margin_s = 3596; /* Keystone's tokens last 3600 s: renew after 4 s */
	p = make(&cfg);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	cloud_iface_free_array(l, n);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.auths, 1);
	sleep(5);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	cloud_iface_free_array(l, n);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.auths, 2);
	assert_int_equal(st.reauth_401, 0);
	p->ops->destroy(p);
}

static void set_cni_password(const char *pw)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"user\":{\"password\":\"%s\"}}", pw);
	assert_int_equal(apif("PATCH", H.admin_token, NULL, body, "%s/users/%s", env("OS_AUTH_URL"),
			      env("OS_CNI_USER_ID")),
			 200);
	/* Keystone revokes by issue time in whole seconds. */
	sleep(2);
}

static void test_reauth_on_401(void **state)
{
	struct cloud_provider *p = default_provider();
	struct openstack_stats st;
	struct cloud_iface *l = NULL;
	size_t n = 0;

	(void)state;
	/* A password change revokes every token of the user. */
	set_cni_password("cnipw");
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	cloud_iface_free_array(l, n);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.reauth_401, 1);
	assert_int_equal(st.auths, 2);

	/* Revoked and the password changed: one re-auth, refused, no loop. */
	set_cni_password("changed");
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), -EACCES);
	openstack_provider_stats(p, &st);
	assert_true(st.reauth_401 >= 2);
	assert_int_equal(st.auths, 2);
	set_cni_password("cnipw");
	assert_int_equal(ks_token("cni", "cnipw", "demo", H.cni_token, sizeof(H.cni_token)), 0);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	cloud_iface_free_array(l, n);
	p->ops->destroy(p);
}

/* --- interfaces and IPs ------------------------------------------------------------------ */

static void test_attach_and_detach(void **state)
{
	struct cloud_provider *p = default_provider();
	struct cloud_iface c, *l = NULL;
	char buf[SL_PREFIX_STRLEN];
	json_t *port;
	size_t n = 0;

	(void)state;
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	assert_false(c.primary);
	assert_int_equal(c.device_index, 1);
	assert_string_equal(c.subnet_id, H.subnet);
	assert_string_equal(sl_prefix_fmt(&c.subnet, buf), "10.99.0.0/24");
	assert_string_equal(sl_ip_fmt(&c.gateway, buf), "10.99.0.1");
	assert_true(sl_prefix_contains(&c.subnet, &c.primary_ip));
	assert_int_equal(c.n_ips, 0);
	port = neutron_port(c.id);
	assert_non_null(port);
	assert_string_equal(jstr(port, "status"), "ACTIVE");
	assert_string_equal(jstr(port, "device_id"), H.server);
	assert_string_equal(jstr(port, "binding:host_id"), "node-1");
	json_decref(port);
	assert_true(node_has_mac(c.mac)); /* the NIC is in the node */

	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	assert_int_equal(n, 2);
	assert_non_null(find_iface(l, n, c.id));
	assert_false(find_iface(l, n, c.id)->primary);
	assert_true(find_iface(l, n, H.foreign_port)->primary);
	cloud_iface_free_array(l, n);

	/* the node's own NIC is never detached */
	assert_int_equal(p->ops->detach_interface(p, H.foreign_port), -EPERM);
	/* detach is asynchronous in Nova: the provider waits, then deletes the port */
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	port = neutron_port(c.id);
	assert_null(port);
	assert_false(node_has_mac(c.mac));
	assert_int_equal(p->ops->detach_interface(p, c.id), -ENOENT);
	free(c.ips);
	assert_cloud_matches(p, NULL);
	p->ops->destroy(p);
}

static void test_assign_and_unassign(void **state)
{
	struct cloud_provider *p = default_provider();
	struct sl_ip ips[8], more[4];
	struct cloud_iface c, *l = NULL;
	char a[SL_IP_STRLEN], ns_ip[SL_IP_STRLEN];
	size_t n = 0, got = 0;
	json_t *port;

	(void)state;
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	assert_int_equal(p->ops->assign_ips(p, c.id, 3, ips, &got), 0);
	assert_int_equal(got, 3);
	assert_int_equal(p->ops->assign_ips(p, c.id, 2, more, &got), 0);
	assert_int_equal(got, 2);
	/* the complete list was sent each time: nothing lost, nothing twice */
	port = neutron_port(c.id);
	assert_int_equal(json_array_size(json_object_get(port, "fixed_ips")), 6);
	assert_true(port_has_ip(port, &c.primary_ip));
	for (int i = 0; i < 3; i++)
		assert_true(port_has_ip(port, &ips[i]));
	for (int i = 0; i < 2; i++)
		assert_true(port_has_ip(port, &more[i]));
	json_decref(port);

	assert_int_equal(p->ops->unassign_ip(p, c.id, &ips[1]), 0);
	assert_int_equal(p->ops->unassign_ip(p, c.id, &ips[1]), 0); /* idempotent */
	assert_int_equal(p->ops->unassign_ip(p, c.id, &c.primary_ip), -EINVAL);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	assert_int_equal(find_iface(l, n, c.id)->n_ips, 4);
	assert_false(iface_has_ip(find_iface(l, n, c.id), &ips[1]));
	assert_true(iface_has_ip(find_iface(l, n, c.id), &ips[0]));
	assert_true(sl_ip_equal(&find_iface(l, n, c.id)->primary_ip, &c.primary_ip));
	cloud_iface_free_array(l, n);

	/* The fake SDN delivers an assigned IP to the node: configure the NIC as
	 * the agent would, and reach the gateway from a pod address. */
	sl_ip_fmt(&ips[0], ns_ip);
	{
		char mac[SL_MAC_STRLEN];

		sl_mac_fmt(c.mac, mac);
		assert_int_equal(shell("ip -n %s -o link | grep ' %s ' | awk -F': ' '{print $2}' | cut -d@ -f1 > /tmp/.osif.%d",
				       H.node_ns, mac, getpid()),
				 0);
		assert_int_equal(shell("IF=$(cat /tmp/.osif.%d); rm -f /tmp/.osif.%d; ip -n %s link set $IF up && "
				       "ip -n %s addr add %s/24 dev $IF && "
				       "for i in $(seq 30); do ip netns exec %s ping -q -c1 -W1 -I %s %s >/dev/null "
				       "&& exit 0; sleep 0.3; done; exit 1", /* the fake SDN syncs every 0.5 s */
				       getpid(), getpid(), H.node_ns, H.node_ns, ns_ip, H.node_ns, ns_ip,
				       sl_ip_fmt(&c.gateway, a)),
				 0);
	}
	assert_int_equal(p->ops->unassign_ip(p, c.id, &ips[2]), 0);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	assert_cloud_matches(p, NULL);
	p->ops->destroy(p);
}

/* The concurrent writer: adds (then removes) an address of its own between
 * the provider's read and its conditional write. */
static struct {
	int mode;  /* 0 off, 1 once, 2 every time */
	int calls;
} race;

static void racer(void *arg, const char *port_id)
{
	json_t *port, *list;
	char *body;
	struct sl_ip own;

	(void)arg;
	if (!race.mode || (race.mode == 1 && race.calls > 0))
		return;
	race.calls++;
	port = neutron_port(port_id);
	assert_non_null(port);
	if (race.mode == 2) {
		/* Another attribute, so Neutron bumps the revision each time. (An
		 * address the racer adds could instead be matched by our bare
		 * {"subnet_id"} entry: an update that changes nothing, accepted
		 * by Neutron 21 despite the stale If-Match, and the address
		 * reported as ours - it is on our port.) */
		body = json_array_size(json_object_get(port, "allowed_address_pairs"))
			       ? strdup("{\"port\":{\"allowed_address_pairs\":[]}}")
			       : strdup("{\"port\":{\"allowed_address_pairs\":[{\"ip_address\":\"10.99.0.249\"}]}}");
		assert_int_equal(apif("PUT", H.cni_token, NULL, body, "%s/v2.0/ports/%s", env("NEUTRON_URL"), port_id), 200);
		free(body);
		json_decref(port);
		return;
	}
	sl_ip_parse("10.99.0.250", &own);
	list = json_array();
	{
		size_t i;
		json_t *f;

		json_array_foreach(json_object_get(port, "fixed_ips"), i, f) {
			struct sl_ip cur;

			sl_ip_parse(jstr(f, "ip_address"), &cur);
			if (!sl_ip_equal(&cur, &own))
				json_array_append_new(list, json_pack("{s:s}", "ip_address", jstr(f, "ip_address")));
		}
	}
	if (!port_has_ip(port, &own))
		json_array_append_new(list, json_pack("{s:s, s:s}", "subnet_id", H.subnet, "ip_address", "10.99.0.250"));
	{
		json_t *req = json_pack("{s:{s:o}}", "port", "fixed_ips", list);

		body = json_dumps(req, 0);
		json_decref(req);
	}
	assert_int_equal(apif("PUT", H.cni_token, NULL, body, "%s/v2.0/ports/%s", env("NEUTRON_URL"), port_id), 200);
	free(body);
	json_decref(port);
}

static void test_concurrent_update_412_retried(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct openstack_stats st;
	struct sl_ip ips[4], intruder;
	struct cloud_iface c;
	size_t got = 0;
	json_t *port;

	(void)state;
	base_cfg(&cfg);
	cfg.before_port_update = racer;
	cfg.max_conflict_retries = 3;
	p = make(&cfg);
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	sl_ip_parse("10.99.0.250", &intruder);

	race.mode = 1;
	race.calls = 0;
	assert_int_equal(p->ops->assign_ips(p, c.id, 2, ips, &got), 0);
	assert_int_equal(got, 2);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.conflicts, 1);
	/* both writes survived: the intruder's address and ours; ours are reported, not its */
	port = neutron_port(c.id);
	assert_true(port_has_ip(port, &intruder));
	assert_true(port_has_ip(port, &ips[0]) && port_has_ip(port, &ips[1]));
	assert_false(sl_ip_equal(&ips[0], &intruder) || sl_ip_equal(&ips[1], &intruder));
	json_decref(port);

	/* release under a race too (the racer removes its address this time) */
	race.calls = 0;
	assert_int_equal(p->ops->unassign_ip(p, c.id, &ips[0]), 0);
	port = neutron_port(c.id);
	assert_false(port_has_ip(port, &ips[0]));
	assert_true(port_has_ip(port, &ips[1]));
	assert_false(port_has_ip(port, &intruder));
	json_decref(port);
	openstack_provider_stats(p, &st);
	assert_int_equal(st.conflicts, 2);

	/* a writer that always wins: bounded, then -EAGAIN and nothing assigned */
	race.mode = 2;
	race.calls = 0;
	assert_int_equal(p->ops->assign_ips(p, c.id, 1, ips, &got), -EAGAIN);
	assert_int_equal(got, 0);
	assert_int_equal(race.calls, 4); /* the first try and 3 retries */
	race.mode = 0;
	port = neutron_port(c.id);
	assert_false(port_has_ip(port, &intruder));
	json_decref(port);
	free(c.ips);
	p->ops->destroy(p);
}

static void test_subnet_exhausted_is_enospc(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct cloud_iface c, c2;
	struct sl_ip ips[16];
	size_t got = 0, total = 0;
	int err = 0, calls = 0;

	(void)state;
	base_cfg(&cfg);
	cfg.pod_subnet_id = H.tiny_subnet; /* /29: 5 addresses */
	p = make(&cfg);
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	/* Asking for more than is left gives what is left, then -ENOSPC. */
	while (calls++ < 10 && !(err = p->ops->assign_ips(p, c.id, 10, ips, &got)))
		total += got;
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(total, 4);
	assert_int_equal(p->ops->attach_interface(p, &c2), -ENOSPC);
	assert_cloud_matches(p, NULL);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	p->ops->destroy(p);
}

static void test_interface_limit_from_config(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct cloud_iface c, c2;
	struct sl_ip ips[4];
	size_t got = 0;

	(void)state;
	base_cfg(&cfg);
	cfg.limits.max_interfaces = 2;       /* the node's NIC + one */
	cfg.limits.max_ips_per_interface = 3; /* its own + two */
	p = make(&cfg);
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	assert_int_equal(p->ops->attach_interface(p, &c2), -ENOSPC);
	assert_int_equal(p->ops->assign_ips(p, c.id, 4, ips, &got), 0);
	assert_int_equal(got, 2);
	assert_int_equal(p->ops->assign_ips(p, c.id, 1, ips, &got), -ENOSPC);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	p->ops->destroy(p);
}

static void test_list_pages_with_marker(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct openstack_stats before, after;
	struct cloud_iface c[3], *l = NULL;
	size_t n = 0, ours = 0;

	(void)state;
	base_cfg(&cfg);
	cfg.page_size = 2;
	p = make(&cfg);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p->ops->attach_interface(p, &c[i]), 0);
		assert_int_equal(c[i].device_index, (unsigned)i + 1);
	}
	openstack_provider_stats(p, &before);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	openstack_provider_stats(p, &after);
	assert_int_equal(n, 4);
	for (int i = 0; i < 3; i++)
		assert_non_null(find_iface(l, n, c[i].id));
	/* 4 ports in pages of 2: 3 pages (the last one empty), plus the orphan check's 2 */
	assert_true(after.http.requests - before.http.requests >= 4);
	cloud_iface_free_array(l, n);
	assert_cloud_matches(p, &ours);
	assert_int_equal(ours, 3);
	/* the lowest free index is reused */
	assert_int_equal(p->ops->detach_interface(p, c[1].id), 0);
	free(c[1].ips);
	assert_int_equal(p->ops->attach_interface(p, &c[1]), 0);
	assert_int_equal(c[1].device_index, 2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p->ops->detach_interface(p, c[i].id), 0);
		free(c[i].ips);
	}
	p->ops->destroy(p);
}

/* --- faults ------------------------------------------------------------------------------- */

static struct cloud_provider *fault_provider(unsigned timeout_ms, unsigned retries)
{
	struct openstack_config cfg;

	base_cfg(&cfg);
	cfg.http.timeout_ms = timeout_ms;
	cfg.http.max_retries = retries;
	cfg.detach_timeout_ms = 4000;
	cfg.detach_resend_ms = 1000;
	return make(&cfg);
}

static void attach_fails_cleanly(struct cloud_provider *p, const char *faults, int expect)
{
	struct cloud_iface c;
	size_t ours = 1;

	fault(faults);
	if (expect)
		assert_int_equal(p->ops->attach_interface(p, &c), expect);
	else
		assert_int_not_equal(p->ops->attach_interface(p, &c), 0);
	fake("DELETE", "faults", NULL);
	/* rolled back: no port of ours in Neutron, no NIC in the node */
	assert_cloud_matches(p, &ours);
	assert_int_equal(ours, 0);
	assert_int_equal(node_nics(), 1); /* the node's own NIC only */
}

static void test_nova_faults_attach(void **state)
{
	struct cloud_provider *p = fault_provider(5000, 2);
	struct openstack_stats st;
	struct cloud_iface c;

	(void)state;
	/* 429 with Retry-After, then success */
	fault("{\"op\":\"attach\",\"kind\":\"429\",\"count\":1,\"retry_after\":1}");
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	openstack_provider_stats(p, &st);
	assert_true(st.http.throttled >= 1);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	/* a garbage body with 200: the attach happened; the port says so */
	fault("{\"op\":\"attach\",\"kind\":\"garbage\",\"count\":1}");
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	assert_true(node_has_mac(c.mac));
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	/* done, but the answer lost: the repeat finds the port "in use" (409),
	 * by this instance, which is success */
	fault("{\"op\":\"attach\",\"kind\":\"late\",\"count\":1,\"delay\":6}");
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	assert_true(node_has_mac(c.mac));
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);

	/* failures: every one leaves nothing behind */
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"500\",\"count\":3}", -EIO);
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"503\",\"count\":3}", -EAGAIN);
	/* attached, then 500 and 500 again on the repeats: undone */
	fault("{\"op\":\"attach\",\"kind\":\"partial\",\"count\":1}");
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"500\",\"count\":2}", -EIO);
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"timeout\",\"count\":3,\"delay\":6}", -ETIMEDOUT);
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"drop\",\"count\":3}", 0);
	/* and the rollback's own detach faulted once: retried */
	fault("{\"op\":\"detach\",\"kind\":\"500\",\"count\":1}");
	fault("{\"op\":\"attach\",\"kind\":\"partial\",\"count\":1}");
	attach_fails_cleanly(p, "{\"op\":\"attach\",\"kind\":\"500\",\"count\":2}", -EIO);
	openstack_provider_stats(p, &st);
	assert_true(st.rollbacks >= 5);
	p->ops->destroy(p);
}

static void test_nova_faults_detach(void **state)
{
	struct cloud_provider *p = fault_provider(5000, 2);
	struct cloud_iface c, *l = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	/* Nova accepts the detach and loses it: asked again, it goes through
	 * well within the timeout */
	fault("{\"op\":\"detach\",\"kind\":\"stuck\",\"count\":1}");
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	assert_null(neutron_port(c.id));
	free(c.ips);
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	/* Nova accepts and never finishes however often asked: bounded wait,
	 * the port stays ours and listed */
	fault("{\"op\":\"detach\",\"kind\":\"stuck\",\"count\":100}");
	assert_int_equal(p->ops->detach_interface(p, c.id), -ETIMEDOUT);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	assert_non_null(find_iface(l, n, c.id));
	cloud_iface_free_array(l, n);
	fake("DELETE", "faults", NULL);
	/* Nova still has it: the next detach goes through */
	fault("{\"op\":\"detach\",\"kind\":\"drop\",\"count\":1}");
	fault("{\"op\":\"detach\",\"kind\":\"429\",\"count\":1,\"retry_after\":1}");
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	assert_null(neutron_port(c.id));
	free(c.ips);
	/* a detach refused for good: the port is still attached and listed */
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	fault("{\"op\":\"detach\",\"kind\":\"500\",\"count\":5}");
	assert_int_equal(p->ops->detach_interface(p, c.id), -EIO);
	fake("DELETE", "faults", NULL);
	assert_cloud_matches(p, NULL);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	p->ops->destroy(p);
}

static void nova_counts(long long *requests, long long *faults)
{
	json_t *j = NULL, *v;
	const char *k;

	*requests = *faults = 0;
	assert_int_equal(apif("GET", NULL, &j, NULL, "%s/_fake/stats", env("NOVA_URL")), 200);
	json_object_foreach(json_object_get(j, "requests"), k, v)
		*requests += json_integer_value(v);
	json_object_foreach(json_object_get(j, "faults"), k, v)
		*faults += json_integer_value(v);
	json_decref(j);
}

/* 30% of Nova's answers are faults of every kind; the provider's view and
 * Neutron's agree at the end, and what the provider reported done is there. */
static void test_fault_storm_leaves_no_leak(void **state)
{
	struct cloud_provider *p = fault_provider(5000, 2);
	struct {
		char id[CLOUD_ID_LEN];
		struct sl_ip ips[16];
		size_t n;
	} model[4];
	struct openstack_stats st;
	struct cloud_iface *l = NULL;
	size_t nm = 0, n = 0, ours = 0;
	unsigned seed = 7, ok = 0, failed = 0;
	const char *kinds[] = { "429", "500", "503", "garbage", "partial", "drop", "late", "stuck" };
	long long requests0, faults0, requests, faults;

	(void)state;
	nova_counts(&requests0, &faults0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char f[160];

		/* 8 kinds at 4.4% each: 30% of Nova's answers are faults */
		snprintf(f, sizeof(f), "{\"op\":\"*\",\"kind\":\"%s\",\"rate\":0.044,\"seed\":%zu,\"delay\":6}",
			 kinds[k], k + 1);
		fault(f);
	}
	for (int i = 0; i < 40; i++) {
		int op = (int)(rand_r(&seed) % 5);
		int err;

		if (nm == 4 && (op == 0 || op == 3))
			op = 4; /* full: detach instead */
		if (op == 0 || op == 3 || nm == 0) {
			struct cloud_iface c;

			err = p->ops->attach_interface(p, &c);
			if (!err) {
				snprintf(model[nm].id, CLOUD_ID_LEN, "%s", c.id);
				model[nm++].n = 0;
				free(c.ips);
			}
		} else if (op == 1) {
			size_t m = rand_r(&seed) % nm, got = 0;

			if (model[m].n + 2 > 14)
				continue;
			err = p->ops->assign_ips(p, model[m].id, 2, model[m].ips + model[m].n, &got);
			model[m].n += got;
		} else if (op == 2) {
			size_t m = rand_r(&seed) % nm;

			if (!model[m].n)
				continue;
			err = p->ops->unassign_ip(p, model[m].id, &model[m].ips[0]);
			if (!err)
				memmove(model[m].ips, model[m].ips + 1, --model[m].n * sizeof(model[m].ips[0]));
		} else { /* attach and detach weigh most: they are what Nova serves */
			size_t m = rand_r(&seed) % nm;

			err = p->ops->detach_interface(p, model[m].id);
			if (!err)
				model[m] = model[--nm];
		}
		err ? failed++ : ok++;
	}
	fake("DELETE", "faults", NULL);
	nova_counts(&requests, &faults);
	requests -= requests0;
	faults -= faults0;
	fprintf(stderr, "# fault storm: %u provider calls ok, %u failed; %lld of %lld Nova answers were faults\n", ok,
		failed, faults, requests);
	assert_true(faults > 0);
	assert_cloud_matches(p, &ours);
	/* everything reported done is in the cloud */
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	for (size_t m = 0; m < nm; m++) {
		const struct cloud_iface *c = find_iface(l, n, model[m].id);

		assert_non_null(c);
		assert_int_equal(c->n_ips, model[m].n);
		for (size_t k = 0; k < model[m].n; k++)
			assert_true(iface_has_ip(c, &model[m].ips[k]));
	}
	/* anything more is an interface whose detach or rollback failed: listed, so the agent adopts or detaches it */
	fprintf(stderr, "# fault storm: %zu interfaces in the model, %zu of ours in the cloud\n", nm, ours);
	cloud_iface_free_array(l, n);
	openstack_provider_stats(p, &st);
	fprintf(stderr, "# stats: %llu requests, %llu retries, %llu throttled, %llu rollbacks, %llu readbacks, %llu orphans\n",
		(unsigned long long)st.http.requests, (unsigned long long)st.http.retries,
		(unsigned long long)st.http.throttled, (unsigned long long)st.rollbacks,
		(unsigned long long)st.readbacks, (unsigned long long)st.orphans_deleted);
	p->ops->destroy(p);
}

static pid_t neutron_pid(void)
{
	char path[300], *text = NULL;
	size_t len;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/neutron.pid", H.dir);
	assert_int_equal(fs_read_all(path, 64, &text, &len), 0);
	pid = (pid_t)atoi(text);
	free(text);
	return pid;
}

static pid_t frozen;

/* Freezes Neutron right before the provider's write. */
static void freezer(void *arg, const char *port_id)
{
	(void)arg;
	(void)port_id;
	if (!frozen) {
		frozen = neutron_pid();
		assert_int_equal(kill(frozen, SIGSTOP), 0);
	}
}

/* Neutron stops answering mid-way, between the read and the write of an
 * update: the call fails in bounded time; what the server applies once it
 * runs again shows up in the next list, so nothing is unknown for long. */
static void test_neutron_unresponsive(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	struct cloud_iface c, *l = NULL;
	struct sl_ip ips[4];
	size_t got = 5, n = 0;
	time_t t0;
	int err;

	(void)state;
	base_cfg(&cfg);
	cfg.http.timeout_ms = 4000;
	cfg.http.max_retries = 1;
	cfg.before_port_update = freezer;
	p = make(&cfg);
	assert_int_equal(p->ops->attach_interface(p, &c), 0);
	frozen = 0;
	t0 = time(NULL);
	err = p->ops->assign_ips(p, c.id, 2, ips, &got);
	assert_int_equal(kill(frozen, SIGCONT), 0);
	assert_int_equal(err, -ETIMEDOUT);
	assert_int_equal(got, 0);
	assert_true(time(NULL) - t0 < 30);
	sleep(2);
	assert_cloud_matches(p, NULL);
	assert_int_equal(p->ops->list_interfaces(p, &l, &n), 0);
	fprintf(stderr, "# after the freeze the port holds %zu pod IPs\n", find_iface(l, n, c.id)->n_ips);
	cloud_iface_free_array(l, n);
	assert_int_equal(p->ops->detach_interface(p, c.id), 0);
	free(c.ips);
	p->ops->destroy(p);
}

static void test_instance_id_from_metadata_service(void **state)
{
	struct openstack_config cfg;
	struct cloud_provider *p;
	char url[256];

	(void)state;
	base_cfg(&cfg);
	cfg.instance_id = NULL;
	cfg.config_drive_dir = "/nonexistent";
	cfg.dmi_dir = "none";
	snprintf(url, sizeof(url), "%s/_fake/metadata/%s", env("NOVA_URL"), H.server);
	cfg.metadata_url = url;
	p = make(&cfg);
	assert_string_equal(p->instance, H.server);
	p->ops->destroy(p);
}

#define T(f) cmocka_unit_test_teardown(f, clean_node)

static const struct CMUnitTest tests[] = {
	T(test_auth_password_from_environment),
	T(test_auth_application_credential),
	T(test_auth_clouds_yaml),
	T(test_catalog_region_and_interface),
	T(test_token_renewed_before_expiry),
	T(test_reauth_on_401),
	T(test_instance_id_from_metadata_service),
	T(test_attach_and_detach),
	T(test_assign_and_unassign),
	T(test_concurrent_update_412_retried),
	T(test_subnet_exhausted_is_enospc),
	T(test_interface_limit_from_config),
	T(test_list_pages_with_marker),
	T(test_nova_faults_attach),
	T(test_nova_faults_detach),
	T(test_fault_storm_leaves_no_leak),
	T(test_neutron_unresponsive),
};

SL_TEST_MAIN(tests, group_setup, group_teardown)
