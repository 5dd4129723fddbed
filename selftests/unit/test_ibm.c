// SPDX-License-Identifier: Apache-2.0
/*
 * The `ibm` provider against fake-ibm (API only, no kernel objects): IAM and
 * the metadata token flow, limits, list with paging, attach pending ->
 * stable, reserved IPs (partial success included), detach, and every error
 * path: 429/500/501, lost answers, garbage, timeouts, refused rollbacks. After
 * each, the fake's inventory must hold exactly what the provider reported:
 * nothing leaked, nothing lost. The last test is a fault run: 30 % of the
 * requests fail in every way while the provider attaches, assigns, releases
 * and detaches in a loop.
 */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ibm.h"
#include "common/log.h"
#include "unit/test_ibm_fake.h"

#define INSTANCE "node-1"
#define POD_SUBNET "subnet-pods"

static struct fake_ibm fake;
static struct cloud_provider *prov;
static struct cloud_iface *ifaces;
static size_t n_ifaces;
static FILE *logf;
static char keyfile[160];
static time_t clock_offset;

static time_t test_clock(void)
{
	return time(NULL) + clock_offset;
}

/* Moves the provider's and the fake's token clocks together. */
static void move_clock(time_t offset)
{
	char body[64];

	clock_offset = offset;
	snprintf(body, sizeof(body), "{\"clock_offset\": %lld}", (long long)offset);
	assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/config", body, NULL), 200);
}

/* Fast timings: 250 ms per attempt, short polls. */
static struct ibm_config base_cfg(void)
{
	struct ibm_config c = {
		.vpc_url = "http://fake/v1",
		.iam_url = "http://fake",
		.metadata_url = "http://fake",
		.api_key = "test-api-key",
		.instance_id = INSTANCE,
		.subnet_id = POD_SUBNET,
		.attach_timeout_ms = 3000,
		.detach_timeout_ms = 3000,
		.poll_min_ms = 10,
		.poll_max_ms = 80,
		.clock = test_clock,
		.http = { .timeout_ms = 250, .max_retries = 4, .backoff_base_ms = 5, .backoff_max_ms = 40 },
	};

	c.http.unix_socket = fake.sock;
	return c;
}

static int start(const char *const *extra)
{
	const char *args[24] = { "--instance", INSTANCE, "--attach-delay-ms", "150", "--detach-delay-ms", "50" };
	size_t n = 6;

	for (size_t i = 0; extra && extra[i] && n < 23; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	clock_offset = 0;
	return fake_ibm_start(&fake, args) ? -1 : 0;
}

static int setup(void **state)
{
	(void)state;
	return start(NULL);
}

static int setup_paged(void **state)
{
	static const char *const extra[] = { "--page-max", "2", NULL };

	(void)state;
	return start(extra);
}

static int teardown(void **state)
{
	(void)state;
	cloud_iface_free_array(ifaces, n_ifaces);
	ifaces = NULL;
	n_ifaces = 0;
	if (prov)
		prov->ops->destroy(prov);
	prov = NULL;
	if (logf) {
		log_init("test", LOG_INFO, LOG_FORMAT_TEXT, stderr);
		fclose(logf);
		logf = NULL;
	}
	if (keyfile[0])
		unlink(keyfile);
	keyfile[0] = '\0';
	unsetenv("IBMCLOUD_API_KEY");
	fake_ibm_stop(&fake);
	return 0;
}

static void create(const struct ibm_config *c)
{
	assert_int_equal(ibm_provider_create(c, &prov), 0);
}

static void create_default(void)
{
	struct ibm_config c = base_cfg();

	create(&c);
}

static void faults(const char *rules)
{
	assert_int_equal(fake_ibm_faults(&fake, rules), 0);
}

static void capture_log(void)
{
	logf = tmpfile();
	assert_non_null(logf);
	log_init("test", LOG_DEBUG, LOG_FORMAT_TEXT, logf);
}

static char *log_text(void)
{
	static char buf[1 << 16];
	size_t n;

	fflush(logf);
	rewind(logf);
	n = fread(buf, 1, sizeof(buf) - 1, logf);
	buf[n] = '\0';
	return buf;
}

static void list(void)
{
	cloud_iface_free_array(ifaces, n_ifaces);
	ifaces = NULL;
	n_ifaces = 0;
	assert_int_equal(prov->ops->list_interfaces(prov, &ifaces, &n_ifaces), 0);
}

/* --- the fake's inventory ------------------------------------------------------------ */

/* Waits (bounded) until no attachment of the instance is pending or deleting. */
static json_t *settled_inventory(void)
{
	long deadline = fake_now_ms() + 3000;
	json_t *inv = NULL;

	for (;;) {
		bool busy = false;
		size_t i;
		json_t *a;

		json_decref(inv);
		assert_int_equal(fake_ibm_ctl(&fake, "GET", "/fake/inventory", NULL, &inv), 200);
		json_array_foreach(json_object_get(inv, "network_attachments"), i, a) {
			const char *s = json_string_value(json_object_get(a, "lifecycle_state"));

			busy |= !strcmp(s, "pending") || !strcmp(s, "deleting");
		}
		if (!busy || fake_now_ms() > deadline)
			return inv;
		usleep(20000);
	}
}

static const char *jstr(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

/* The VPC holds exactly these secondary attachments with exactly these pod
 * IPs: no attachment, VNI or reserved IP besides them and the primaries. */
struct want_iface {
	char id[CLOUD_ID_LEN];
	struct sl_ip ips[16];
	size_t n;
};

static void assert_inventory(const struct want_iface *want, size_t n_want)
{
	json_t *inv = settled_inventory(), *a, *v, *r;
	size_t i, secondary = 0, pod_rips = 0, want_ips = 0;

	json_array_foreach(json_object_get(inv, "network_attachments"), i, a) {
		bool found = false;

		if (!strcmp(jstr(a, "type"), "primary"))
			continue;
		secondary++;
		for (size_t w = 0; w < n_want; w++)
			found |= !strcmp(want[w].id, jstr(a, "id"));
		if (!found)
			fail_msg("attachment %s (%s, %s) is not the provider's", jstr(a, "id"), jstr(a, "name"),
				 jstr(a, "lifecycle_state"));
		assert_string_equal(jstr(a, "lifecycle_state"), "stable");
	}
	assert_int_equal(secondary, n_want);
	json_array_foreach(json_object_get(inv, "virtual_network_interfaces"), i, v) {
		if (!jstr(v, "attachment"))
			fail_msg("VNI %s has no attachment", jstr(v, "id"));
	}
	/* Every reserved IP is a primary IP of a VNI or a wanted pod IP. */
	json_array_foreach(json_object_get(inv, "reserved_ips"), i, r) {
		const char *tid = jstr(json_object_get(r, "target"), "id");
		bool primary = false, wanted = false;
		struct sl_ip ip;
		size_t k;

		json_array_foreach(json_object_get(inv, "virtual_network_interfaces"), k, v)
			primary |= !strcmp(jstr(json_object_get(v, "primary_ip"), "id"), jstr(r, "id"));
		if (primary)
			continue;
		pod_rips++;
		assert_int_equal(sl_ip_parse(jstr(r, "address"), &ip), 0);
		for (size_t w = 0; w < n_want; w++) {
			for (size_t j = 0; j < want[w].n; j++)
				wanted |= sl_ip_equal(&want[w].ips[j], &ip);
		}
		if (!wanted || !tid)
			fail_msg("reserved IP %s (%s, %s) leaked", jstr(r, "address"), jstr(r, "name"),
				 tid ? "bound" : "unbound");
		assert_true(json_is_true(json_object_get(r, "auto_delete")));
	}
	for (size_t w = 0; w < n_want; w++)
		want_ips += want[w].n;
	assert_int_equal(pod_rips, want_ips);
	json_decref(inv);
}

static void attach(struct cloud_iface *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(prov->ops->attach_interface(prov, c), 0);
}

static struct want_iface want_of(const struct cloud_iface *c, const struct sl_ip *ips, size_t n)
{
	struct want_iface w = { 0 };

	snprintf(w.id, sizeof(w.id), "%s", c->id);
	for (size_t i = 0; i < n; i++)
		w.ips[w.n++] = ips[i];
	return w;
}

/* --- IAM and metadata ------------------------------------------------------------------ */

static void test_token_fetched_once(void **state)
{
	struct cloud_limits l;

	(void)state;
	create_default();
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	list();
	list();
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 1);
}

static void test_token_refreshed_before_expiry(void **state)
{
	struct ibm_stats st;

	(void)state;
	create_default();
	list();
	/* 3600 s tokens: refreshed once 80 % of the life has passed, not before. */
	move_clock(2870);
	list();
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 1);
	move_clock(2890);
	list();
	list();
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 2);
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.token_fetches, 2);
}

static void test_refresh_failure_keeps_valid_token(void **state)
{
	(void)state;
	create_default();
	list();
	faults("{\"rules\": [{\"path\": \"/identity/token\", \"status\": 500}]}");
	/* Due for refresh, IAM down, the token still good: carry on with it. */
	move_clock(3100);
	list();
	assert_true(fake_ibm_route_count(&fake, "POST /identity/token") > 1);
	/* Within 10 s of expiry it counts as expired: no token, no call. */
	move_clock(3595);
	assert_int_equal(prov->ops->list_interfaces(prov, &ifaces, &n_ifaces), -EAGAIN);
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	list();
}

static void test_bad_key_refused_and_never_logged(void **state)
{
	struct ibm_config c = base_cfg();
	struct cloud_limits l;

	(void)state;
	capture_log();
	c.api_key = "SECRET-WRONG-KEY";
	create(&c);
	assert_int_equal(prov->ops->limits(prov, &l), -EACCES);
	assert_non_null(strstr(log_text(), "BXNIM0415E"));
	assert_null(strstr(log_text(), "SECRET"));
	/* Asked once: a bad key is not retried. */
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 1);
}

static void test_key_from_env_and_file(void **state)
{
	struct ibm_config c = base_cfg();
	struct cloud_limits l;
	int err;

	(void)state;
	c.api_key = NULL;
	setenv("IBMCLOUD_API_KEY", "test-api-key", 1);
	create(&c);
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	prov->ops->destroy(prov);
	prov = NULL;
	unsetenv("IBMCLOUD_API_KEY");
	snprintf(keyfile, sizeof(keyfile), "%s/key", fake.dir);
	err = fs_write_atomic(keyfile, "  test-api-key \n", 16, 0600);
	assert_int_equal(err, 0);
	c.api_key_file = keyfile;
	create(&c);
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	assert_int_equal(fake_ibm_route_count(&fake, "PUT /instance_identity/v1/token"), 0);
}

static void test_metadata_flow(void **state)
{
	struct ibm_config c = base_cfg();
	struct cloud_limits l;

	(void)state;
	c.api_key = NULL;
	c.instance_id = NULL;
	c.trusted_profile = "Profile-0000";
	create(&c);
	assert_string_equal(prov->instance, INSTANCE);
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	list();
	assert_int_equal(fake_ibm_route_count(&fake, "POST /instance_identity/v1/iam_token"), 1);
	assert_int_equal(fake_ibm_route_count(&fake, "PUT /instance_identity/v1/token"), 2);
	assert_int_equal(fake_ibm_route_count(&fake, "GET /metadata/v1/instance"), 1);
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 0);
}

static void test_revoked_token_refetched(void **state)
{
	(void)state;
	create_default();
	list();
	assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/tokens/revoke", NULL, NULL), 204);
	list();
	assert_int_equal(fake_ibm_route_count(&fake, "POST /identity/token"), 2);
}

static void test_bad_config_refused(void **state)
{
	struct ibm_config c = base_cfg();

	(void)state;
	c.subnet_id = NULL;
	assert_int_equal(ibm_provider_create(&c, &prov), -EINVAL);
	c = base_cfg();
	c.api_version = "2025-1-1";
	assert_int_equal(ibm_provider_create(&c, &prov), -EINVAL);
	c = base_cfg();
	c.name_prefix = "Sluice";
	assert_int_equal(ibm_provider_create(&c, &prov), -EINVAL);
	c = base_cfg();
	c.api_key = NULL;
	c.api_key_file = "/nonexistent/key";
	assert_int_equal(ibm_provider_create(&c, &prov), -ENOENT);
	assert_null(prov);
}

/* --- limits, list, attach, IPs, detach --------------------------------------------------------- */

static void test_limits_from_profile(void **state)
{
	struct ibm_config c = base_cfg();
	struct cloud_limits l;

	(void)state;
	create(&c);
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	assert_int_equal(l.max_interfaces, 4);
	assert_int_equal(l.max_ips_per_interface, 8);
	assert_int_equal(fake_ibm_route_count(&fake, "GET /v1/instance/profiles/*"), 1);
	assert_int_equal(prov->ops->limits(prov, &l), 0); /* cached */
	assert_int_equal(fake_ibm_route_count(&fake, "GET /v1/instance/profiles/*"), 1);
	prov->ops->destroy(prov);
	c.max_interfaces = 2;
	c.max_ips_per_interface = 4;
	create(&c);
	assert_int_equal(prov->ops->limits(prov, &l), 0);
	assert_int_equal(l.max_interfaces, 2);
	assert_int_equal(l.max_ips_per_interface, 4);
}

static void test_list_primary(void **state)
{
	char buf[SL_PREFIX_STRLEN];

	(void)state;
	create_default();
	list();
	assert_int_equal(n_ifaces, 1);
	assert_true(ifaces[0].primary);
	assert_int_equal(ifaces[0].device_index, 0);
	assert_string_equal(ifaces[0].subnet_id, "subnet-nodes");
	assert_string_equal(sl_prefix_fmt(&ifaces[0].subnet, buf), "198.18.0.0/24");
	assert_string_equal(sl_ip_fmt(&ifaces[0].gateway, buf), "198.18.0.1");
	assert_true(sl_prefix_contains(&ifaces[0].subnet, &ifaces[0].primary_ip));
	assert_false(sl_mac_is_zero(ifaces[0].mac));
	assert_int_equal(ifaces[0].n_ips, 0);
}

static void test_attach_pending_to_stable(void **state)
{
	struct cloud_iface c;
	char buf[SL_PREFIX_STRLEN];
	struct want_iface w;
	long t0;

	(void)state;
	create_default();
	t0 = fake_now_ms();
	attach(&c);
	assert_true(fake_now_ms() - t0 >= 140); /* the fake keeps it pending 150 ms */
	assert_true(fake_ibm_route_count(&fake, "GET /v1/instances/*/network_attachments/*") >= 2);
	assert_false(c.primary);
	assert_int_equal(c.device_index, 1);
	assert_string_equal(c.subnet_id, POD_SUBNET);
	assert_string_equal(sl_prefix_fmt(&c.subnet, buf), "198.18.16.0/20");
	assert_string_equal(sl_ip_fmt(&c.gateway, buf), "198.18.16.1");
	assert_true(sl_prefix_contains(&c.subnet, &c.primary_ip));
	assert_false(sl_mac_is_zero(c.mac));
	assert_int_equal(c.n_ips, 0);
	w = want_of(&c, NULL, 0);
	assert_inventory(&w, 1);
	list();
	assert_int_equal(n_ifaces, 2);
	for (size_t i = 0; i < n_ifaces; i++) {
		if (!ifaces[i].primary) {
			assert_string_equal(ifaces[i].id, c.id);
			assert_memory_equal(ifaces[i].mac, c.mac, 6);
			assert_int_equal(ifaces[i].device_index, 1);
			assert_true(sl_ip_equal(&ifaces[i].primary_ip, &c.primary_ip));
		}
	}
	/* Device indexes: the lowest free one. */
	attach(&c);
	assert_int_equal(c.device_index, 2);
	free(c.ips);
}

static void test_assign_and_release(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[8];
	size_t n = 0;
	struct want_iface w;

	(void)state;
	create_default();
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 3, ips, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(sl_prefix_contains(&c.subnet, &ips[i]));
		assert_false(sl_ip_equal(&ips[i], &c.primary_ip));
		for (size_t j = 0; j < i; j++)
			assert_false(sl_ip_equal(&ips[i], &ips[j]));
	}
	w = want_of(&c, ips, 3);
	assert_inventory(&w, 1);
	assert_int_equal(prov->ops->unassign_ip(prov, c.id, &ips[1]), 0);
	assert_int_equal(prov->ops->unassign_ip(prov, c.id, &ips[1]), -ENOENT);
	assert_int_equal(prov->ops->unassign_ip(prov, c.id, &c.primary_ip), -EPERM);
	assert_int_equal(prov->ops->unassign_ip(prov, "0717-no-such-attachment", &ips[0]), -ENOENT);
	ips[1] = ips[2];
	w = want_of(&c, ips, 2);
	assert_inventory(&w, 1);
}

static void test_assign_up_to_limit(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[16];
	size_t n = 0;
	struct want_iface w;

	(void)state;
	create_default();
	attach(&c);
	/* 8 per interface, its own primary IP included. */
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 10, ips, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 1, ips + 7, &n), -ENOSPC);
	assert_int_equal(n, 0);
	w = want_of(&c, ips, 7);
	assert_inventory(&w, 1);
}

static void test_list_follows_pages(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[8];
	size_t n = 0;

	(void)state;
	create_default();
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 7, ips, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(fake_ibm_ctl(&fake, "DELETE", "/fake/stats", NULL, NULL), 204);
	list();
	assert_int_equal(n_ifaces, 2);
	for (size_t i = 0; i < n_ifaces; i++) {
		if (ifaces[i].primary)
			continue;
		assert_int_equal(ifaces[i].n_ips, 7);
		for (size_t j = 0; j < 7; j++) {
			bool found = false;

			for (size_t k = 0; k < 7; k++)
				found |= sl_ip_equal(&ifaces[i].ips[j], &ips[k]);
			assert_true(found);
		}
	}
	/* 8 bound IPs (the primary too) at 2 per page: 4 pages. */
	assert_int_equal(fake_ibm_route_count(&fake, "GET /v1/virtual_network_interfaces/*/ips"), 4);
}

static void test_partial_assign(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[8];
	size_t n = 0;
	struct want_iface w;

	(void)state;
	create_default();
	attach(&c);
	/* The third create fails for good (a definitive 400): two are kept. */
	faults("{\"rules\": [{\"method\": \"POST\", \"path\": \"/v1/subnets/*/reserved_ips\", \"skip\": 2,"
	       " \"count\": 1, \"status\": 400, \"code\": \"subnet_ip_exhausted\"}]}");
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 5, ips, &n), 0);
	assert_int_equal(n, 2);
	w = want_of(&c, ips, 2);
	assert_inventory(&w, 1);
	/* Nothing at all: the error, mapped. */
	faults("{\"rules\": [{\"method\": \"POST\", \"path\": \"/v1/subnets/*/reserved_ips\", \"count\": 1,"
	       " \"status\": 400, \"code\": \"subnet_ip_exhausted\"}]}");
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips + 2, &n), -ENOSPC);
	assert_int_equal(n, 0);
	assert_inventory(&w, 1);
}

static void test_detach(void **state)
{
	struct cloud_iface c, primary;
	struct sl_ip ips[8];
	size_t n = 0;

	(void)state;
	create_default();
	list();
	primary = ifaces[0];
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips, &n), 0);
	assert_int_equal(prov->ops->detach_interface(prov, c.id), 0);
	/* The VNI and its IPs went with it (auto_delete). */
	assert_inventory(NULL, 0);
	assert_int_equal(prov->ops->detach_interface(prov, c.id), -ENOENT);
	assert_int_equal(prov->ops->detach_interface(prov, primary.id), -EPERM);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 1, ips, &n), -ENOENT);
	list();
	assert_int_equal(n_ifaces, 1);
}

static void test_attach_limit(void **state)
{
	struct cloud_iface c[3];

	(void)state;
	assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/config", "{\"max_attachments\": 3}", NULL), 200);
	create_default();
	attach(&c[0]);
	attach(&c[1]);
	assert_int_equal(prov->ops->attach_interface(prov, &c[2]), -ENOSPC);
	/* The cloud says no even when the provider thinks there is room. */
	assert_int_equal(prov->ops->detach_interface(prov, c[1].id), 0);
	assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/config", "{\"max_attachments\": 1}", NULL), 200);
	assert_int_equal(prov->ops->attach_interface(prov, &c[2]), -ENOSPC);
	{
		struct want_iface w = want_of(&c[0], NULL, 0);

		assert_inventory(&w, 1);
	}
}

/* --- error paths ------------------------------------------------------------------------------------ */

static void test_throttling_and_5xx_converge(void **state)
{
	struct ibm_config cfg = base_cfg();
	struct cloud_iface c;
	struct sl_ip ips[4];
	size_t n = 0;
	struct ibm_stats st;
	struct want_iface w;

	(void)state;
	cfg.http.max_retries = 10; /* nine failures in a row, then an answer */
	create(&cfg);
	faults("{\"rules\": [{\"path\": \"/v1/*\", \"status\": 429, \"retry_after\": \"1\", \"count\": 3},"
	       " {\"path\": \"/v1/*\", \"status\": 500, \"count\": 3},"
	       " {\"path\": \"/v1/*\", \"status\": 503, \"phase\": \"after\", \"count\": 3}]}");
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 3, ips, &n), 0);
	assert_int_equal(n, 3);
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.http.throttled, 3);
	assert_true(st.http.retries >= 9);
	assert_int_equal(st.pending_cleanups, 0);
	w = want_of(&c, ips, 3);
	assert_inventory(&w, 1);
}

static void test_lost_answers_resolved_by_name(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[4];
	size_t n = 0;
	struct want_iface w;

	(void)state;
	create_default();
	/* The creates happen, their answers never come; the retry meets the
	 * name (409) and the provider finds what it made. */
	faults("{\"rules\": [{\"method\": \"POST\", \"path\": \"/v1/instances/*/network_attachments\","
	       " \"action\": \"hang\", \"phase\": \"after\", \"hang_ms\": 600, \"count\": 1},"
	       " {\"method\": \"POST\", \"path\": \"/v1/subnets/*/reserved_ips\", \"action\": \"hang\","
	       " \"phase\": \"after\", \"hang_ms\": 600, \"count\": 1},"
	       " {\"method\": \"DELETE\", \"path\": \"/v1/subnets/*/reserved_ips/*\", \"action\": \"reset\","
	       " \"phase\": \"after\", \"count\": 1}]}");
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 3, ips, &n), 0);
	assert_int_equal(n, 3);
	w = want_of(&c, ips, 3);
	assert_inventory(&w, 1);
	assert_int_equal(prov->ops->unassign_ip(prov, c.id, &ips[0]), 0);
	w = want_of(&c, ips + 1, 2);
	assert_inventory(&w, 1);
}

static void test_garbage_answers(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[4];
	size_t n = 0;
	struct want_iface w;

	(void)state;
	create_default();
	/* A create answered with garbage happened; a GET answered with garbage is asked again. */
	faults("{\"rules\": [{\"method\": \"POST\", \"action\": \"garbage\", \"count\": 2},"
	       " {\"method\": \"GET\", \"path\": \"/v1/*\", \"action\": \"garbage\", \"count\": 2}]}");
	attach(&c);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips, &n), 0);
	assert_int_equal(n, 2);
	w = want_of(&c, ips, 2);
	assert_inventory(&w, 1);
	list();
	assert_int_equal(n_ifaces, 2);
}

static void test_never_stable_rolled_back(void **state)
{
	struct ibm_config cfg = base_cfg();
	struct cloud_iface c;
	long t0;

	(void)state;
	cfg.attach_timeout_ms = 400;
	create(&cfg);
	assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/config", "{\"attach_delay_ms\": 100000}", NULL), 200);
	t0 = fake_now_ms();
	assert_int_equal(prov->ops->attach_interface(prov, &c), -ETIMEDOUT);
	assert_true(fake_now_ms() - t0 < 2000);
	assert_inventory(NULL, 0);
}

static void test_poll_errors_then_rollback_refused(void **state)
{
	struct ibm_config cfg = base_cfg();
	struct cloud_iface c;
	struct ibm_stats st;

	(void)state;
	cfg.attach_timeout_ms = 400;
	create(&cfg);
	/* Polls fail (501: not retried), then the rollback's DELETE is refused:
	 * the delete is queued and done by the next call. */
	faults("{\"rules\": [{\"method\": \"GET\", \"path\": \"/v1/instances/*/network_attachments/*\", \"status\": 501},"
	       " {\"method\": \"DELETE\", \"path\": \"/v1/instances/*/network_attachments/*\", \"status\": 501}]}");
	assert_int_equal(prov->ops->attach_interface(prov, &c), -ETIMEDOUT);
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.pending_cleanups, 1);
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	list();
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.pending_cleanups, 0);
	assert_int_equal(n_ifaces, 1);
	assert_inventory(NULL, 0);
}

static void test_unknown_create_cleaned_later(void **state)
{
	struct cloud_iface c;
	struct sl_ip ips[4];
	size_t n = 0;
	struct ibm_stats st;
	struct want_iface w;

	(void)state;
	create_default();
	attach(&c);
	/* Every create of a reserved IP happens but its answer is lost, and
	 * the lookup by name fails too: the provider cannot know, says so,
	 * and deletes it as soon as the cloud lets it. */
	faults("{\"rules\": [{\"method\": \"POST\", \"path\": \"/v1/subnets/*/reserved_ips\", \"action\": \"hang\","
	       " \"phase\": \"after\", \"hang_ms\": 400},"
	       " {\"method\": \"GET\", \"path\": \"/v1/subnets/*/reserved_ips\", \"status\": 501}]}");
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips, &n), -ETIMEDOUT);
	assert_int_equal(n, 0);
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.pending_cleanups, 1);
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	list();
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.pending_cleanups, 0);
	w = want_of(&c, NULL, 0);
	assert_inventory(&w, 1);
}

static void test_timeouts_fail_cleanly(void **state)
{
	struct cloud_limits l;
	struct cloud_iface c;
	struct sl_ip ips[2];
	size_t n = 0;
	long t0;
	struct want_iface w;

	(void)state;
	create_default();
	attach(&c);
	faults("{\"rules\": [{\"path\": \"/v1/*\", \"action\": \"hang\", \"hang_ms\": 2000}]}");
	t0 = fake_now_ms();
	assert_int_equal(prov->ops->list_interfaces(prov, &ifaces, &n_ifaces), -ETIMEDOUT);
	/* 5 attempts of 250 ms plus backoff: bounded. */
	assert_true(fake_now_ms() - t0 < 2500);
	assert_int_equal(prov->ops->assign_ips(prov, c.id, 2, ips, &n), -ETIMEDOUT);
	assert_int_equal(prov->ops->limits(prov, &l), 0); /* cached */
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	w = want_of(&c, NULL, 0);
	assert_inventory(&w, 1);
}

static void test_error_log_carries_trace(void **state)
{
	struct cloud_limits l;
	const char *log;

	(void)state;
	capture_log();
	create_default();
	faults("{\"rules\": [{\"method\": \"GET\", \"path\": \"/v1/instances/*\", \"status\": 400,"
	       " \"code\": \"validation_invalid_argument\", \"count\": 1}]}");
	assert_int_equal(prov->ops->limits(prov, &l), -EINVAL);
	log = log_text();
	assert_non_null(strstr(log, "get instance: HTTP 400 validation_invalid_argument"));
	assert_non_null(strstr(log, "(trace "));
	assert_null(strstr(log, "(trace -)"));
	assert_null(strstr(log, "test-api-key"));
	assert_null(strstr(log, "fake-iam-")); /* nor the token */
}

/* --- the fault run ------------------------------------------------------------------------------------ */

/* What the provider reported. A failed release or detach leaves the IP or
 * interface in doubt (the cloud may have done it with the answer lost), as
 * it does for the agent, which retries it later: so does the test. */
struct model {
	struct want_iface ifaces[8];
	size_t n;
	struct {
		char iface[CLOUD_ID_LEN];
		struct sl_ip ip;
	} doubt[64];
	size_t n_doubt;
};

static void model_drop_iface(struct model *m, size_t i)
{
	m->ifaces[i] = m->ifaces[--m->n];
}

static void test_fault_run_leaks_nothing(void **state)
{
	struct ibm_config cfg = base_cfg();
	struct model m = { 0 };
	struct ibm_stats st;
	unsigned seed = 7, ops[4] = { 0 }, failed = 0;
	json_t *stats = NULL;
	long injected;

	(void)state;
	/* SLUICE_FAULT_SEED=N replays another run (the test's and the fake's dice);
	 * SLUICE_FAULT_RETRIES=N (at least 1) changes the retries. */
	if (getenv("SLUICE_FAULT_SEED")) {
		char body[64];

		seed = (unsigned)strtoul(getenv("SLUICE_FAULT_SEED"), NULL, 10);
		snprintf(body, sizeof(body), "{\"seed\": %u}", seed);
		assert_int_equal(fake_ibm_ctl(&fake, "POST", "/fake/config", body, NULL), 200);
	}
	/* One retry only: many calls fail, so the rollbacks are exercised. */
	cfg.http.max_retries = getenv("SLUICE_FAULT_RETRIES") ? (unsigned)atoi(getenv("SLUICE_FAULT_RETRIES")) : 1;
	create(&cfg);
	/* About 30 % of the VPC and IAM requests fail, in every way there is. */
	faults("{\"rules\": ["
	       " {\"path\": \"/[vi]*\", \"status\": 429, \"retry_after\": \"1\", \"probability\": 0.08},"
	       " {\"path\": \"/[vi]*\", \"status\": 500, \"probability\": 0.07},"
	       " {\"path\": \"/[vi]*\", \"status\": 503, \"phase\": \"after\", \"probability\": 0.05},"
	       " {\"path\": \"/[vi]*\", \"action\": \"hang\", \"hang_ms\": 500, \"probability\": 0.03},"
	       " {\"path\": \"/[vi]*\", \"action\": \"hang\", \"phase\": \"after\", \"hang_ms\": 500, \"probability\": 0.03},"
	       " {\"path\": \"/[vi]*\", \"action\": \"garbage\", \"probability\": 0.04},"
	       " {\"path\": \"/[vi]*\", \"action\": \"reset\", \"probability\": 0.02},"
	       " {\"path\": \"/[vi]*\", \"action\": \"reset\", \"phase\": \"after\", \"probability\": 0.02},"
	       " {\"path\": \"/[vi]*\", \"status\": 501, \"probability\": 0.02}]}");
	for (int round = 0; round < 60; round++) {
		unsigned r = (unsigned)rand_r(&seed) % 100;
		int err;

		if (r < 25 && m.n < 3) {
			struct cloud_iface c;

			ops[0]++;
			err = prov->ops->attach_interface(prov, &c);
			if (!err) {
				m.ifaces[m.n++] = want_of(&c, NULL, 0);
				free(c.ips);
			}
		} else if (r < 60 && m.n) {
			struct want_iface *w = &m.ifaces[(unsigned)rand_r(&seed) % m.n];
			unsigned want = 1 + (unsigned)rand_r(&seed) % 3;
			size_t n = 0;

			ops[1]++;
			err = prov->ops->assign_ips(prov, w->id, want, w->ips + w->n, &n);
			if (err == -ENOSPC)
				err = 0;
			assert_true(n <= want);
			w->n += n;
		} else if (r < 90 && m.n) {
			struct want_iface *w = &m.ifaces[(unsigned)rand_r(&seed) % m.n];
			size_t k;

			if (!w->n)
				continue;
			ops[2]++;
			k = (unsigned)rand_r(&seed) % w->n;
			err = prov->ops->unassign_ip(prov, w->id, &w->ips[k]);
			if (err && err != -ENOENT && m.n_doubt < 64) {
				memcpy(m.doubt[m.n_doubt].iface, w->id, CLOUD_ID_LEN);
				m.doubt[m.n_doubt++].ip = w->ips[k];
			}
			w->ips[k] = w->ips[--w->n];
		} else if (m.n) {
			size_t k = (unsigned)rand_r(&seed) % m.n;

			ops[3]++;
			err = prov->ops->detach_interface(prov, m.ifaces[k].id);
			if (!err || err == -ENOENT)
				model_drop_iface(&m, k);
		} else {
			continue;
		}
		failed += err != 0;
	}
	assert_int_equal(fake_ibm_ctl(&fake, "GET", "/fake/stats", NULL, &stats), 200);
	injected = (long)json_integer_value(json_object_get(stats, "faults_injected"));
	print_message("# fault run: %u attach, %u assign, %u release, %u detach; %u failed; %ld of %lld requests faulted\n",
		      ops[0], ops[1], ops[2], ops[3], failed, injected,
		      (long long)json_integer_value(json_object_get(stats, "requests")));
	assert_true(injected * 100 >= (long)json_integer_value(json_object_get(stats, "requests")) * 20);
	json_decref(stats);
	/* The cloud heals: the releases in doubt are done again, the provider's
	 * queued cleanups run on the next call, and the cloud then holds
	 * exactly what the provider reported. */
	assert_int_equal(fake_ibm_clear_faults(&fake), 0);
	for (size_t i = 0; i < m.n_doubt; i++) {
		int err = prov->ops->unassign_ip(prov, m.doubt[i].iface, &m.doubt[i].ip);

		assert_true(err == 0 || err == -ENOENT);
	}
	list();
	ibm_provider_stats(prov, &st);
	assert_int_equal(st.pending_cleanups, 0);
	assert_inventory(m.ifaces, m.n);
	/* And list_interfaces says the same. */
	assert_int_equal(n_ifaces, m.n + 1);
	for (size_t i = 0; i < n_ifaces; i++) {
		bool found = ifaces[i].primary;

		for (size_t k = 0; k < m.n; k++) {
			if (strcmp(ifaces[i].id, m.ifaces[k].id))
				continue;
			found = true;
			assert_int_equal(ifaces[i].n_ips, m.ifaces[k].n);
		}
		assert_true(found);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_token_fetched_once, setup, teardown),
	cmocka_unit_test_setup_teardown(test_token_refreshed_before_expiry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refresh_failure_keeps_valid_token, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_key_refused_and_never_logged, setup, teardown),
	cmocka_unit_test_setup_teardown(test_key_from_env_and_file, setup, teardown),
	cmocka_unit_test_setup_teardown(test_metadata_flow, setup, teardown),
	cmocka_unit_test_setup_teardown(test_revoked_token_refetched, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_config_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_limits_from_profile, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_primary, setup, teardown),
	cmocka_unit_test_setup_teardown(test_attach_pending_to_stable, setup, teardown),
	cmocka_unit_test_setup_teardown(test_assign_and_release, setup, teardown),
	cmocka_unit_test_setup_teardown(test_assign_up_to_limit, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_follows_pages, setup_paged, teardown),
	cmocka_unit_test_setup_teardown(test_partial_assign, setup, teardown),
	cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
	cmocka_unit_test_setup_teardown(test_attach_limit, setup, teardown),
	cmocka_unit_test_setup_teardown(test_throttling_and_5xx_converge, setup, teardown),
	cmocka_unit_test_setup_teardown(test_lost_answers_resolved_by_name, setup, teardown),
	cmocka_unit_test_setup_teardown(test_garbage_answers, setup, teardown),
	cmocka_unit_test_setup_teardown(test_never_stable_rolled_back, setup, teardown),
	cmocka_unit_test_setup_teardown(test_poll_errors_then_rollback_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unknown_create_cleaned_later, setup, teardown),
	cmocka_unit_test_setup_teardown(test_timeouts_fail_cleanly, setup, teardown),
	cmocka_unit_test_setup_teardown(test_error_log_carries_trace, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fault_run_leaks_nothing, setup, teardown),
};

SL_TEST_MAIN(tests, NULL, NULL)
