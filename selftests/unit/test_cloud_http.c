// SPDX-License-Identifier: Apache-2.0
/*
 * The cloud HTTP client against fake-ibm's /test/echo with injected faults:
 * what is retried (429, 5xx but 501, timeouts, resets) and what not, how long
 * it waits (Retry-After in seconds and as an HTTP date, capped; jittered
 * backoff inside its bounds), the call budget, the stats, and that no secret
 * reaches the log. Each test starts its own fake (unix socket in a temp dir)
 * and its teardown stops it by PID, failed or not.
 */
#include "lib/sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud_http.h"
#include "common/log.h"
#include "unit/test_ibm_fake.h"

#define URL "http://fake/test/echo"

static struct fake_ibm fake;
static struct cloud_http *http;
static struct cloud_budget *budget;
static FILE *logf;

static int setup(void **state)
{
	(void)state;
	return fake_ibm_start(&fake, NULL) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	cloud_http_free(http);
	http = NULL;
	cloud_budget_free(budget);
	budget = NULL;
	if (logf) {
		log_init("test", LOG_INFO, LOG_FORMAT_TEXT, stderr);
		fclose(logf);
		logf = NULL;
	}
	fake_ibm_stop(&fake);
	return 0;
}

/* A client on the fake's socket with fast, bounded retries. */
static void client(long timeout_ms, unsigned retries, unsigned base, unsigned max)
{
	struct cloud_http_opts o = {
		.timeout_ms = timeout_ms,
		.max_retries = retries,
		.backoff_base_ms = base,
		.backoff_max_ms = max,
		.unix_socket = fake.sock,
		.budget = budget,
	};

	assert_int_equal(cloud_http_new(&o, &http), 0);
}

static int get(struct cloud_http_resp *r)
{
	struct cloud_http_req req = { .method = "GET", .url = URL };

	return cloud_http_do(http, &req, r);
}

static void faults(const char *rules)
{
	assert_int_equal(fake_ibm_faults(&fake, rules), 0);
}

static void assert_stats(uint64_t requests, uint64_t retries, uint64_t throttled, uint64_t denied)
{
	struct cloud_http_stats s;

	cloud_http_stats(http, &s);
	assert_int_equal(s.requests, requests);
	assert_int_equal(s.retries, retries);
	assert_int_equal(s.throttled, throttled);
	assert_int_equal(s.budget_denied, denied);
}

static void test_get_and_post(void **state)
{
	static const char *const hdrs[] = { "X-Test: 1", NULL };
	struct cloud_http_req post = { .method = "POST", .url = URL, .headers = hdrs, .body = "{\"a\":1}", .body_len = 7 };
	struct cloud_http_resp r;
	json_t *j;

	(void)state;
	client(2000, 3, 10, 50);
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
	assert_string_equal(cloud_http_header(&r, "content-TYPE"), "application/json");
	assert_null(cloud_http_header(&r, "X-Absent"));
	json_decref(j);
	cloud_http_resp_free(&r);
	assert_int_equal(cloud_http_do(http, &post, &r), 0);
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"a\":1}");
	json_decref(j);
	cloud_http_resp_free(&r);
	/* PUT without a body still works (Content-Length: 0). */
	post.method = "PUT";
	post.body = NULL;
	post.body_len = 0;
	assert_int_equal(cloud_http_do(http, &post, &r), 0);
	assert_int_equal(r.status, 200);
	cloud_http_resp_free(&r);
	assert_stats(3, 0, 0, 0);
}

static void test_retry_after_seconds(void **state)
{
	struct cloud_http_resp r;
	long t0;

	(void)state;
	client(2000, 3, 10, 5000);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 429, \"retry_after\": \"1\", \"count\": 1}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 200);
	/* Base backoff is 10 ms: a wait near a second is the server's. */
	assert_true(fake_now_ms() - t0 >= 950);
	assert_true(fake_now_ms() - t0 < 3000);
	cloud_http_resp_free(&r);
	assert_stats(2, 1, 1, 0);
}

static void test_retry_after_http_date(void **state)
{
	struct cloud_http_resp r;
	long t0, dt;

	(void)state;
	client(2000, 3, 10, 5000);
	/* "now + 2 s" in whole seconds: the client waits 1 to 2 s. */
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 503, \"retry_after\": \"date:+2\", \"count\": 1}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), 0);
	dt = fake_now_ms() - t0;
	assert_int_equal(r.status, 200);
	assert_true(dt >= 900);
	assert_true(dt < 3500);
	cloud_http_resp_free(&r);
	assert_stats(2, 1, 0, 0);
}

static void test_retry_after_capped(void **state)
{
	struct cloud_http_resp r;
	long t0;

	(void)state;
	client(2000, 3, 10, 200);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 429, \"retry_after\": \"30\", \"count\": 2}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 200);
	assert_true(fake_now_ms() - t0 < 1500);
	assert_true(fake_now_ms() - t0 >= 400);
	cloud_http_resp_free(&r);
	assert_stats(3, 2, 2, 0);
}

static void test_501_and_4xx_not_retried(void **state)
{
	struct cloud_http_resp r;

	(void)state;
	client(2000, 3, 10, 50);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 501, \"count\": 1},"
	       " {\"path\": \"/test/*\", \"status\": 409, \"count\": 1}]}");
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 501);
	assert_non_null(strstr(r.body, "\"trace\""));
	cloud_http_resp_free(&r);
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 409);
	cloud_http_resp_free(&r);
	assert_stats(2, 0, 0, 0);
}

static void test_5xx_gives_up_with_last_status(void **state)
{
	struct cloud_http_resp r;

	(void)state;
	client(2000, 3, 5, 20);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 500}]}");
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 500);
	cloud_http_resp_free(&r);
	assert_stats(4, 3, 0, 0);
	assert_int_equal(fake_ibm_route_count(&fake, "GET /test/echo"), 4);
}

static void test_backoff_bounds(void **state)
{
	struct cloud_http_resp r;
	long t0, dt;

	(void)state;
	/* 4 retries, waits in [50, 50], [50, 100], [50, 200], [50, 200]: 200..550 ms. */
	client(2000, 4, 50, 200);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 502}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), 0);
	dt = fake_now_ms() - t0;
	assert_int_equal(r.status, 502);
	assert_true(dt >= 200);
	assert_true(dt < 550 + 400); /* + five round trips on a loaded machine */
	cloud_http_resp_free(&r);
	assert_stats(5, 4, 0, 0);
}

static void test_timeout_retried_then_fails(void **state)
{
	struct cloud_http_resp r;
	long t0, dt;

	(void)state;
	client(300, 1, 10, 20);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"action\": \"hang\", \"hang_ms\": 3000, \"count\": 1}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), 0);
	dt = fake_now_ms() - t0;
	assert_int_equal(r.status, 200);
	assert_true(dt >= 290 && dt < 2000);
	cloud_http_resp_free(&r);
	assert_stats(2, 1, 0, 0);

	faults("{\"rules\": [{\"path\": \"/test/*\", \"action\": \"hang\", \"hang_ms\": 3000}]}");
	t0 = fake_now_ms();
	assert_int_equal(get(&r), -ETIMEDOUT);
	dt = fake_now_ms() - t0;
	assert_true(dt >= 580 && dt < 2500);
	assert_null(r.body);
	assert_stats(4, 2, 0, 0);
}

static void test_reset_retried(void **state)
{
	struct cloud_http_resp r;
	struct cloud_http_req req = { .method = "POST", .url = URL, .body = "{}", .body_len = 2, .no_retry = true };

	(void)state;
	client(2000, 3, 5, 20);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"action\": \"reset\", \"count\": 2}]}");
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 200);
	cloud_http_resp_free(&r);
	assert_stats(3, 2, 0, 0);
	/* no_retry: one attempt, whatever happens. */
	faults("{\"rules\": [{\"path\": \"/test/*\", \"action\": \"reset\", \"count\": 1}]}");
	assert_int_equal(cloud_http_do(http, &req, &r), -EIO);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 503, \"count\": 1}]}");
	assert_int_equal(cloud_http_do(http, &req, &r), 0);
	assert_int_equal(r.status, 503);
	cloud_http_resp_free(&r);
	assert_stats(5, 2, 0, 0);
}

static void test_garbage_is_the_callers_problem(void **state)
{
	struct cloud_http_resp r;

	(void)state;
	client(2000, 3, 5, 20);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"action\": \"garbage\", \"count\": 1}]}");
	assert_int_equal(get(&r), 0);
	assert_int_equal(r.status, 200);
	assert_null(json_loads(r.body, 0, NULL));
	cloud_http_resp_free(&r);
	assert_stats(1, 0, 0, 0);
}

static void test_connection_refused(void **state)
{
	struct cloud_http_opts o = { .timeout_ms = 500, .max_retries = 2, .backoff_base_ms = 5, .backoff_max_ms = 10 };
	struct cloud_http_req req = { .method = "GET", .url = URL };
	struct cloud_http_resp r;
	char path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/nobody.sock", fake.dir);
	o.unix_socket = path;
	assert_int_equal(cloud_http_new(&o, &http), 0);
	assert_int_equal(cloud_http_do(http, &req, &r), -ECONNREFUSED);
	assert_stats(3, 2, 0, 0);
}

static void test_budget(void **state)
{
	struct cloud_http_resp r;

	(void)state;
	/* No refill: two calls, then -EAGAIN without a request. */
	assert_int_equal(cloud_budget_new(0, 2, &budget), 0);
	client(2000, 3, 5, 20);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(get(&r), 0);
		cloud_http_resp_free(&r);
	}
	assert_int_equal(get(&r), -EAGAIN);
	assert_stats(2, 0, 0, 1);
	assert_int_equal(fake_ibm_route_count(&fake, "GET /test/echo"), 2);
	assert_true(cloud_budget_level(budget) < 1.0);
}

static void test_budget_spent_mid_retry(void **state)
{
	struct cloud_http_resp r;

	(void)state;
	/* Every attempt takes a token: retries stop when the bucket is empty. */
	assert_int_equal(cloud_budget_new(0, 3, &budget), 0);
	client(2000, 5, 5, 10);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 500}]}");
	assert_int_equal(get(&r), -EAGAIN);
	assert_stats(3, 3, 0, 1);
}

static void test_budget_refills(void **state)
{
	(void)state;
	assert_int_equal(cloud_budget_new(20.0, 2, &budget), 0);
	assert_true(cloud_budget_take(budget));
	assert_true(cloud_budget_take(budget));
	assert_false(cloud_budget_take(budget));
	usleep(120000); /* 20/s: two tokens back, no more than the burst */
	assert_true(cloud_budget_level(budget) >= 1.0);
	assert_true(cloud_budget_level(budget) <= 2.0);
	assert_true(cloud_budget_take(budget));
	assert_int_equal(cloud_budget_new(1.0, 0, &(struct cloud_budget *){ NULL }), -EINVAL);
}

static void test_no_secret_in_logs(void **state)
{
	static const char *const hdrs[] = { "Authorization: Bearer SECRET-TOKEN-1", "X-Auth-Token: SECRET-TOKEN-2",
					     NULL };
	struct cloud_http_req req = {
		.method = "POST",
		.url = "http://user:SECRET-PASS@fake/test/echo?apikey=SECRET-QUERY",
		.headers = hdrs,
		.body = "apikey=SECRET-BODY",
		.body_len = 18,
	};
	struct cloud_http_resp r;
	char buf[8192];
	size_t n;

	(void)state;
	logf = tmpfile();
	assert_non_null(logf);
	log_init("test", LOG_DEBUG, LOG_FORMAT_TEXT, logf);
	client(200, 2, 5, 10);
	faults("{\"rules\": [{\"path\": \"/test/*\", \"status\": 429, \"count\": 1},"
	       " {\"path\": \"/test/*\", \"action\": \"hang\", \"hang_ms\": 1000}]}");
	assert_int_equal(cloud_http_do(http, &req, &r), -ETIMEDOUT);
	fflush(logf);
	rewind(logf);
	n = fread(buf, 1, sizeof(buf) - 1, logf);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "retry 1/2")); /* the log does speak */
	assert_non_null(strstr(buf, "http://fake/test/echo"));
	assert_null(strstr(buf, "SECRET"));
}

static void test_header_lookup(void **state)
{
	struct cloud_http_resp r = { .headers = (char *)"HTTP/1.1 429 Too Many\r\nretry-after:  7 \r\n"
							"X-Empty:\r\nContent-Type: application/json\r\n\r\n" };

	(void)state;
	assert_string_equal(cloud_http_header(&r, "Retry-After"), "7");
	assert_string_equal(cloud_http_header(&r, "x-empty"), "");
	assert_null(cloud_http_header(&r, "Retry"));
	assert_null(cloud_http_header(&r, "Content"));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_get_and_post, setup, teardown),
	cmocka_unit_test_setup_teardown(test_retry_after_seconds, setup, teardown),
	cmocka_unit_test_setup_teardown(test_retry_after_http_date, setup, teardown),
	cmocka_unit_test_setup_teardown(test_retry_after_capped, setup, teardown),
	cmocka_unit_test_setup_teardown(test_501_and_4xx_not_retried, setup, teardown),
	cmocka_unit_test_setup_teardown(test_5xx_gives_up_with_last_status, setup, teardown),
	cmocka_unit_test_setup_teardown(test_backoff_bounds, setup, teardown),
	cmocka_unit_test_setup_teardown(test_timeout_retried_then_fails, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_retried, setup, teardown),
	cmocka_unit_test_setup_teardown(test_garbage_is_the_callers_problem, setup, teardown),
	cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
	cmocka_unit_test_setup_teardown(test_budget_spent_mid_retry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_budget_refills, setup, teardown),
	cmocka_unit_test_setup_teardown(test_no_secret_in_logs, setup, teardown),
	cmocka_unit_test(test_header_lookup),
};

SL_TEST_MAIN(tests, NULL, NULL)
