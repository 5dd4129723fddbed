// SPDX-License-Identifier: Apache-2.0
/* Manifests: YAML typing as Kubernetes reads it, multi-document streams,
 * Lists, validation errors that say where and why, defaults, and the
 * one-file-per-object directory that `sluicectl lab apply` writes. */
#include "lib/sl_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "k8s/manifest.h"
#include "k8s/yaml_json.h"

/* --- helpers ------------------------------------------------------------------ */

static json_t *parse_one(const char *text)
{
	struct yaml_json_error err;
	json_t *docs, *doc;

	assert_int_equal(yaml_json_parse(text, strlen(text), &docs, &err), 0);
	assert_int_equal(json_array_size(docs), 1);
	doc = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return doc;
}

static int parse_err(const char *text, size_t len, struct yaml_json_error *err)
{
	json_t *docs = NULL;
	int ret = yaml_json_parse(text, len == SIZE_MAX ? strlen(text) : len, &docs, err);

	assert_null(docs);
	return ret;
}

static struct manifest *parse_ok(const char *text)
{
	struct manifest *m = NULL;
	char *msg = NULL;
	int err = manifest_parse_buf("test.yaml", text, strlen(text), &m, &msg);

	if (err)
		print_error("unexpected error: %s\n", msg ? msg : "(none)");
	assert_int_equal(err, 0);
	assert_null(msg);
	return m;
}

/* Parses text (len bytes, SIZE_MAX for all of it) that must fail; returns
 * the error text (caller frees). */
static char *parse_bad(const char *source, const char *text, size_t len)
{
	struct manifest *m = NULL;
	char *msg = NULL;

	if (len == SIZE_MAX)
		len = strlen(text);
	assert_int_equal(manifest_parse_buf(source, text, len, &m, &msg), -EINVAL);
	assert_null(m);
	assert_non_null(msg);
	return msg;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static const char *str_at(const json_t *root, const char *path)
{
	json_t *v = json_object_get(root, path);

	return json_string_value(v);
}

/* --- YAML -------------------------------------------------------------------- */

static void test_yaml_scalar_typing(void **state)
{
	json_t *d;

	(void)state;
	d = parse_one("int: 80\n"
		      "str: \"80\"\n"
		      "single: '80'\n"
		      "neg: -3\n"
		      "plus: +7\n"
		      "hex: 0x1f\n"
		      "oct: 0o17\n"
		      "lead0: 012\n"
		      "big: 99999999999999999999\n"
		      "float: 1.5\n"
		      "dotf: .5\n"
		      "exp: 1e3\n"
		      "t: true\n"
		      "T: True\n"
		      "f: FALSE\n"
		      "yes: yes\n"
		      "off: off\n"
		      "n1: null\n"
		      "n2: ~\n"
		      "n3:\n"
		      "tagged: !!str 5\n"
		      "tagint: !!int \"6\"\n"
		      "tagfloat: !!float 2\n"
		      "nonspecific: ! 7\n"
		      "block: |\n  line\n"
		      "folded: >\n  a\n  b\n"
		      "ver: 1.2.3\n"
		      "date: 2024-01-01\n"
		      "80: numeric-key\n"
		      "word: hello world\n");
	assert_int_equal(json_integer_value(json_object_get(d, "int")), 80);
	assert_string_equal(str_at(d, "str"), "80");
	assert_string_equal(str_at(d, "single"), "80");
	assert_int_equal(json_integer_value(json_object_get(d, "neg")), -3);
	assert_int_equal(json_integer_value(json_object_get(d, "plus")), 7);
	assert_int_equal(json_integer_value(json_object_get(d, "hex")), 31);
	assert_int_equal(json_integer_value(json_object_get(d, "oct")), 15);
	assert_int_equal(json_integer_value(json_object_get(d, "lead0")), 12); /* 1.2 core: decimal */
	assert_true(json_is_real(json_object_get(d, "big")));
	assert_true(json_real_value(json_object_get(d, "float")) == 1.5);
	assert_true(json_real_value(json_object_get(d, "dotf")) == 0.5);
	assert_true(json_real_value(json_object_get(d, "exp")) == 1000.0);
	assert_true(json_is_true(json_object_get(d, "t")));
	assert_true(json_is_true(json_object_get(d, "T")));
	assert_true(json_is_false(json_object_get(d, "f")));
	assert_string_equal(str_at(d, "yes"), "yes"); /* YAML 1.1 booleans stay strings */
	assert_string_equal(str_at(d, "off"), "off");
	assert_true(json_is_null(json_object_get(d, "n1")));
	assert_true(json_is_null(json_object_get(d, "n2")));
	assert_true(json_is_null(json_object_get(d, "n3")));
	assert_string_equal(str_at(d, "tagged"), "5");
	assert_int_equal(json_integer_value(json_object_get(d, "tagint")), 6);
	assert_true(json_is_real(json_object_get(d, "tagfloat")));
	assert_string_equal(str_at(d, "nonspecific"), "7");
	assert_string_equal(str_at(d, "block"), "line\n");
	assert_string_equal(str_at(d, "folded"), "a b\n");
	assert_string_equal(str_at(d, "ver"), "1.2.3");
	assert_string_equal(str_at(d, "date"), "2024-01-01");
	assert_string_equal(str_at(d, "80"), "numeric-key");
	assert_string_equal(str_at(d, "word"), "hello world");
	json_decref(d);
}

static void test_yaml_typing_errors(void **state)
{
	struct yaml_json_error err;

	(void)state;
	assert_int_equal(parse_err("a: .inf\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "no JSON representation");
	assert_int_equal(parse_err("a: .NaN\n", SIZE_MAX, &err), -EINVAL);
	assert_int_equal(parse_err("a: !!int abc\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "not a valid !!int");
	assert_int_equal(parse_err("a: !Ref x\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "unsupported tag !Ref");
	assert_int_equal(parse_err("a: 0x10000000000000000\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "out of range");
	assert_int_equal(parse_err("a: \"x\\0y\"\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "must not contain NUL");
	assert_int_equal(parse_err("{\"a\": \"x\\u0000\"}", SIZE_MAX, &err), -EINVAL);
	assert_int_equal(parse_err("[a]: b\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "mapping keys must be scalars");
}

static void test_yaml_multi_doc_and_json(void **state)
{
	static const char stream[] = "a: 1\n"
				     "---\n"
				     "---\n"
				     "# only a comment\n"
				     "---\n"
				     "{\"b\": [1, \"2\", true, null, 1.5e2]}\n"
				     "...\n"
				     "---\n"
				     "- x\n";
	static const char tabbed[] = "{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\n\t\t\"n\": 80\n\t}\n}\n";
	struct yaml_json_error err;
	json_t *docs, *b;

	(void)state;
	assert_int_equal(yaml_json_parse(stream, strlen(stream), &docs, &err), 0);
	assert_int_equal(json_array_size(docs), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(docs, 0), "a")), 1);
	assert_true(json_is_null(json_array_get(docs, 1)));
	assert_true(json_is_null(json_array_get(docs, 2)));
	b = json_object_get(json_array_get(docs, 3), "b");
	assert_int_equal(json_integer_value(json_array_get(b, 0)), 1);
	assert_string_equal(json_string_value(json_array_get(b, 1)), "2");
	assert_true(json_is_true(json_array_get(b, 2)));
	assert_true(json_is_null(json_array_get(b, 3)));
	assert_true(json_real_value(json_array_get(b, 4)) == 150.0);
	assert_string_equal(json_string_value(json_array_get(json_array_get(docs, 4), 0)), "x");
	json_decref(docs);

	assert_int_equal(yaml_json_parse(tabbed, strlen(tabbed), &docs, &err), 0);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_array_get(docs, 0), "spec"), "n")),
			 80);
	json_decref(docs);

	assert_int_equal(yaml_json_parse("", 0, &docs, &err), 0);
	assert_int_equal(json_array_size(docs), 0);
	json_decref(docs);
}

static void test_yaml_anchors_aliases_merge(void **state)
{
	json_t *d, *x, *y;
	struct yaml_json_error err;

	(void)state;
	d = parse_one("base: &b {app: web, tier: front}\n"
		      "copy: *b\n"
		      "merged:\n"
		      "  <<: *b\n"
		      "  tier: back\n"
		      "multi:\n"
		      "  <<: [{a: 1}, {a: 2, c: 3}]\n"
		      "scalar: &s 443\n"
		      "again: *s\n");
	x = json_object_get(d, "base");
	y = json_object_get(d, "copy");
	assert_true(json_equal(x, y));
	assert_ptr_not_equal(x, y); /* a deep copy: defaulting one leaves the other */
	json_object_set_new(y, "extra", json_true());
	assert_null(json_object_get(x, "extra"));
	y = json_object_get(d, "merged");
	assert_string_equal(str_at(y, "app"), "web");
	assert_string_equal(str_at(y, "tier"), "back"); /* own keys win over merged */
	assert_null(json_object_get(y, "<<"));
	y = json_object_get(d, "multi");
	assert_int_equal(json_integer_value(json_object_get(y, "a")), 1); /* earlier map wins */
	assert_int_equal(json_integer_value(json_object_get(y, "c")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "again")), 443);
	json_decref(d);

	assert_int_equal(parse_err("a: *nope\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "unknown anchor &nope");
	assert_int_equal(parse_err("a: &x [1, *x]\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "contains it");
	assert_int_equal(parse_err("a: {b: 1, <<: 5}\n", SIZE_MAX, &err), -EINVAL);
	assert_contains(err.msg, "merge key");
}

static void test_yaml_billion_laughs_rejected(void **state)
{
	char text[4096];
	size_t len = 0;
	struct yaml_json_error err;

	(void)state;
	len += (size_t)snprintf(text + len, sizeof(text) - len, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 12; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
					i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
					i - 1, i - 1);
	assert_int_equal(parse_err(text, len, &err), -EINVAL);
	assert_contains(err.msg, "aliases expand to too many nodes");
}

static void test_yaml_errors_carry_position(void **state)
{
	static const char dup[] = "a: 1\n---\nb: 1\nc:\n  d: 2\n  d: 3\n";
	static const char syntax[] = "a: 1\n---\nb: c: d\n";
	struct yaml_json_error err;
	char buf[400];

	(void)state;
	assert_int_equal(parse_err(dup, strlen(dup), &err), -EINVAL);
	assert_int_equal(err.doc, 2);
	assert_int_equal(err.line, 6);
	assert_int_equal(err.column, 3);
	assert_contains(err.msg, "duplicate mapping key \"d\"");
	assert_string_equal(yaml_json_error_fmt(&err, buf, sizeof(buf)),
			    "line 6, column 3: duplicate mapping key \"d\"");

	assert_int_equal(parse_err(syntax, strlen(syntax), &err), -EINVAL);
	assert_int_equal(err.doc, 2);
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 5);
	assert_contains(err.msg, "mapping values are not allowed");

	assert_int_equal(parse_err("a: [1, 2\n", SIZE_MAX, &err), -EINVAL);
	assert_int_equal(err.doc, 1);
	assert_true(err.line >= 1);
}

/* --- manifests ----------------------------------------------------------------- */

#define POD(name, extra)                                                               \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n" extra             \
	"spec:\n  containers:\n  - name: c\n    image: busybox\n"

static void test_manifest_kinds_and_defaults(void **state)
{
	struct manifest *m;
	json_t *labels, *ports;

	(void)state;
	m = parse_ok("apiVersion: v1\n"
		     "kind: Namespace\n"
		     "metadata:\n"
		     "  name: prod\n"
		     "  namespace: ignored\n"
		     "  labels:\n"
		     "    team: a\n"
		     "    kubernetes.io/metadata.name: wrong\n"
		     "---\n"
		     "apiVersion: v1\n"
		     "kind: Namespace\n"
		     "metadata: {name: bare}\n"
		     "---\n" POD("web", "  labels: {app: web}\n") "    ports:\n"
		     "    - containerPort: 80\n"
		     "      name: http\n"
		     "    - containerPort: 53\n"
		     "      protocol: UDP\n"
		     "---\n"
		     "apiVersion: networking.k8s.io/v1\n"
		     "kind: NetworkPolicy\n"
		     "metadata: {name: deny, namespace: prod}\n");
	assert_int_equal(m->n, 4);
	assert_string_equal(m->source, "test.yaml");

	assert_int_equal(m->objs[0].kind, K8S_KIND_NAMESPACE);
	assert_string_equal(m->objs[0].name, "prod");
	assert_string_equal(m->objs[0].ns, "");
	assert_int_equal(m->objs[0].doc, 1);
	assert_int_equal(m->objs[0].item, -1);
	labels = json_object_get(json_object_get(m->objs[0].json, "metadata"), "labels");
	assert_string_equal(str_at(labels, "kubernetes.io/metadata.name"), "prod");
	assert_string_equal(str_at(labels, "team"), "a");
	assert_null(json_object_get(json_object_get(m->objs[0].json, "metadata"), "namespace"));
	labels = json_object_get(json_object_get(m->objs[1].json, "metadata"), "labels");
	assert_string_equal(str_at(labels, "kubernetes.io/metadata.name"), "bare");

	assert_int_equal(m->objs[2].kind, K8S_KIND_POD);
	assert_string_equal(m->objs[2].ns, "default");
	assert_int_equal(m->objs[2].doc, 3);
	ports = json_object_get(json_array_get(json_object_get(json_object_get(m->objs[2].json, "spec"),
								       "containers"),
						 0),
				"ports");
	assert_string_equal(str_at(json_array_get(ports, 0), "protocol"), "TCP");
	assert_string_equal(str_at(json_array_get(ports, 1), "protocol"), "UDP");

	assert_int_equal(m->objs[3].kind, K8S_KIND_NETWORK_POLICY);
	assert_string_equal(m->objs[3].ns, "prod");
	assert_true(json_is_object(json_object_get(m->objs[3].json, "spec")));
	manifest_free(m);
}

static void test_manifest_list_expansion(void **state)
{
	struct manifest *m;
	char *msg;

	(void)state;
	m = parse_ok("apiVersion: v1\n"
		     "kind: List\n"
		     "items:\n"
		     "- apiVersion: v1\n"
		     "  kind: Namespace\n"
		     "  metadata: {name: a}\n"
		     "- apiVersion: v1\n"
		     "  kind: Pod\n"
		     "  metadata: {name: p1, namespace: a}\n"
		     "  spec: {containers: [{name: c}]}\n"
		     "---\n"
		     "apiVersion: v1\n"
		     "kind: PodList\n"
		     "items:\n"
		     "- metadata: {name: p2}\n"
		     "  spec: {containers: [{name: c}]}\n"
		     "- metadata: {name: p3}\n"
		     "  spec: {containers: [{name: c}]}\n"
		     "---\n"
		     "apiVersion: v1\n"
		     "kind: List\n"
		     "items: []\n");
	assert_int_equal(m->n, 4);
	assert_int_equal(m->objs[0].kind, K8S_KIND_NAMESPACE);
	assert_int_equal(m->objs[0].item, 0);
	assert_int_equal(m->objs[1].kind, K8S_KIND_POD);
	assert_string_equal(m->objs[1].ns, "a");
	assert_int_equal(m->objs[1].item, 1);
	assert_int_equal(m->objs[2].kind, K8S_KIND_POD);
	assert_string_equal(m->objs[2].name, "p2");
	assert_int_equal(m->objs[2].doc, 2);
	assert_string_equal(str_at(m->objs[2].json, "kind"), "Pod");
	assert_string_equal(str_at(m->objs[3].json, "apiVersion"), "v1");
	manifest_free(m);

	msg = parse_bad("l.yaml", "kind: List\napiVersion: v1\nitems:\n- kind: List\n  items: []\n", SIZE_MAX);
	assert_contains(msg, "l.yaml: document 1: items[0]: kind: a List inside a List is not supported");
	free(msg);
	msg = parse_bad("l.yaml", "kind: List\napiVersion: v1\nitems:\n- metadata: {name: x}\n", SIZE_MAX);
	assert_contains(msg, "l.yaml: document 1: items[0]: kind: is required");
	free(msg);
}

struct bad_case {
	const char *yaml;
	const char *want; /* after "bad.yaml: document N: " */
};

static void test_manifest_validation_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
		  "document 1: kind: unknown kind \"Service\"" },
		{ "apiVersion: v1\nmetadata: {name: s}\n", "document 1: kind: is required" },
		{ "apiVersion: v1\nkind: 5\nmetadata: {name: s}\n",
		  "document 1: kind: must be a string, not a number" },
		{ "- a\n- b\n", "document 1: expected a Kubernetes object, got a list" },
		{ "just text\n", "document 1: expected a Kubernetes object, got a string" },
		{ "apiVersion: apps/v1\nkind: Namespace\nmetadata: {name: s}\n",
		  "document 1: Namespace s: apiVersion: \"apps/v1\" does not serve kind Namespace (want \"v1\")" },
		{ "apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: s}\n",
		  "NetworkPolicy default/s: apiVersion: \"v1\" does not serve kind NetworkPolicy" },
		{ "kind: Namespace\nmetadata: {name: s}\n", "Namespace s: apiVersion: is required" },
		{ "apiVersion: v1\nkind: Namespace\n", "document 1: metadata: is required" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {labels: {}}\n",
		  "metadata.name: is required" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: c}]}\n",
		  "metadata.name: is required (generateName is not supported)" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: Prod}\n",
		  "Namespace Prod: metadata.name: \"Prod\" is invalid: a lowercase RFC 1123 label" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n",
		  "metadata.name: \"a.b\" is invalid: a lowercase RFC 1123 label" },
		{ POD("web_1", ""), "Pod default/web_1: metadata.name: \"web_1\" is invalid: a lowercase RFC 1123 subdomain" },
		{ POD("web", "  namespace: Team.A\n"),
		  "Pod Team.A/web: metadata.namespace: \"Team.A\" is invalid" },
		{ POD("web", "  labels: {version: 1}\n"),
		  "Pod default/web: metadata.labels[\"version\"]: label values must be strings, not a number (quote it)" },
		{ POD("web", "  labels: {\"-bad\": x}\n"),
		  "metadata.labels[\"-bad\"]: invalid label key: name part must consist of alphanumeric" },
		{ POD("web", "  labels: {\"Example.com/x\": y}\n"),
		  "invalid label key: prefix part must be a lowercase RFC 1123 subdomain" },
		{ POD("web", "  labels: {a: \"has space\"}\n"),
		  "metadata.labels[\"a\"]: invalid label value \"has space\": must be empty or consist of" },
		{ POD("web", "  labels: [a]\n"), "metadata.labels: must be a map of strings, not a list" },
		{ POD("web", "") "    ports:\n    - containerPort: 0\n",
		  "spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 0" },
		{ POD("web", "") "    ports:\n    - containerPort: 70000\n",
		  "spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000" },
		{ POD("web", "") "    ports:\n    - containerPort: \"80\"\n",
		  "containerPort: must be an integer, not a string" },
		{ POD("web", "") "    ports:\n    - containerPort: 80.5\n",
		  "containerPort: must be an integer, not a number" },
		{ POD("web", "") "    ports:\n    - name: http\n",
		  "spec.containers[0].ports[0].containerPort: is required" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, name: HTTP}\n",
		  "ports[0].name: \"HTTP\" is invalid: must contain only alpha-numeric" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, name: very-long-port-name}\n",
		  "ports[0].name: \"very-long-port-name\" is invalid: must be no more than 15 characters" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, name: \"8080\"}\n",
		  "must contain at least one letter" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, name: a--b}\n",
		  "must not contain consecutive hyphens" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, name: web}\n    - {containerPort: 81, name: web}\n",
		  "spec.containers[0].ports[1].name: duplicate port name \"web\"" },
		{ POD("web", "") "    ports:\n    - {containerPort: 80, protocol: tcp}\n",
		  "ports[0].protocol: unsupported value \"tcp\": must be TCP, UDP or SCTP" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: []}\n",
		  "Pod default/web: spec.containers: must have at least one container" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n", "Pod default/web: spec: is required" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c}, {name: c}]}\n",
		  "spec.containers[1].name: duplicate container name \"c\"" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{image: x}]}\n",
		  "spec.containers[0].name: is required" },
		{ POD("web", "") "status: {podIP: 10.0.0.300}\n",
		  "status.podIP: \"10.0.0.300\" is not an IP address" },
		{ POD("web", "") "status: {podIPs: [{ip: fd00::1}, {}]}\n", "status.podIPs[1].ip: is required" },
		{ POD("web", "") "  nodeName: Node_1\n", "spec.nodeName: \"Node_1\" is invalid" },
		{ POD("web", "") "  hostNetwork: \"yes\"\n", "spec.hostNetwork: must be a boolean, not a string" },
		{ "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: [1]\n",
		  "NetworkPolicy default/p: spec: must be an object, not a list" },
		{ "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {policyTypes: [Ingres]}\n",
		  "spec.policyTypes[0]: must be \"Ingress\" or \"Egress\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *msg = parse_bad("bad.yaml", cases[i].yaml, strlen(cases[i].yaml));

		if (strncmp(msg, "bad.yaml: document 1: ", strlen("bad.yaml: document 1: ")) ||
		    !strstr(msg, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"bad.yaml: document 1: ...%s\"", i, msg,
				 cases[i].want);
		free(msg);
	}
}

static void test_manifest_errors_name_doc_and_object(void **state)
{
	static const char text[] = POD("ok", "") "---\n"
				   "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n"
				   "---\n" POD("web", "  namespace: shop\n") "    ports:\n"
				   "    - containerPort: 70000\n"
				   "      protocol: ICMP\n"
				   "---\n"
				   "apiVersion: v1\nkind: List\nitems:\n"
				   "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: fine}\n"
				   "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: BAD}\n"
				   "---\n"
				   "a: [\n";
	char *msg;

	(void)state;
	/* A syntax error anywhere stops the stream: that is the only error. */
	msg = parse_bad("shop.yaml", text, strlen(text));
	assert_string_equal(msg, "shop.yaml: document 5: line 38, column 1: while parsing a flow node did not find expected node content");
	free(msg);

	/* Without it, every invalid document is reported, one line each. */
	msg = parse_bad("shop.yaml", text, strlen(text) - strlen("---\na: [\n"));
	assert_string_equal(
		msg,
		"shop.yaml: document 3: Pod shop/web: spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000\n"
		"shop.yaml: document 3: Pod shop/web: spec.containers[0].ports[0].protocol: unsupported value \"ICMP\": must be TCP, UDP or SCTP\n"
		"shop.yaml: document 4: items[1]: Namespace BAD: metadata.name: \"BAD\" is invalid: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
	free(msg);
}

static void test_manifest_too_many_errors_counted(void **state)
{
	char text[8192];
	size_t len = 0;
	char *msg, *last;
	unsigned lines = 1;

	(void)state;
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"---\napiVersion: v1\nkind: Secret\nmetadata: {name: s%d}\n", i);
	msg = parse_bad("many.yaml", text, len);
	for (const char *p = msg; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, MANIFEST_MAX_ERRORS + 1);
	last = strrchr(msg, '\n') + 1;
	assert_string_equal(last, "... and 10 more errors");
	free(msg);
}

/* Truncations and byte flips of a valid manifest: every outcome is a clean
 * success or a clean error (run under valgrind for leaks). */
static void test_manifest_mutations_fail_cleanly(void **state)
{
	static const char seed_text[] =
		"apiVersion: v1\nkind: List\nitems:\n"
		"- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: &l {team: a}}}\n"
		"---\n" POD("web", "  namespace: shop\n  labels: *l\n") "    ports:\n"
		"    - {containerPort: 8080, name: http, protocol: UDP}\n"
		"status: {podIPs: [{ip: 198.18.0.5}]}\n"
		"---\n"
		"{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\",\n"
		" \"metadata\": {\"name\": \"p\"}, \"spec\": {\"podSelector\": {}}}\n";
	static const char noise[] = "\0\t\n :-[]{}&*!|>'\"#%@`,?\x80\xff";
	char buf[sizeof(seed_text)];
	unsigned ok = 0, bad = 0, rnd = 12345;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		size_t len = sizeof(seed_text) - 1;
		struct manifest *m = NULL;
		char *msg = NULL;
		int err;

		memcpy(buf, seed_text, sizeof(buf));
		for (int flips = 0; flips < 1 + i % 4; flips++) {
			rnd = rnd * 1103515245 + 12345;
			buf[(rnd >> 8) % len] = noise[(rnd >> 20) % (sizeof(noise) - 1)];
		}
		if (i % 3 == 0)
			len = (rnd >> 4) % len;
		err = manifest_parse_buf("fuzz", buf, len, &m, &msg);
		if (err == 0) {
			assert_non_null(m);
			assert_null(msg);
			ok++;
		} else {
			assert_int_equal(err, -EINVAL);
			assert_null(m);
			assert_non_null(msg);
			assert_int_equal(strncmp(msg, "fuzz: ", 6), 0);
			bad++;
		}
		manifest_free(m);
		free(msg);
	}
	assert_true(ok > 0 && bad > 0);
}

/* --- the manifest directory ---------------------------------------------------- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-test-manifest-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
	(void)state;
	return fs_remove_tree(tmpdir);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static void test_manifest_filename_scheme(void **state)
{
	char a[MANIFEST_FILENAME_MAX], b[MANIFEST_FILENAME_MAX], name[254];

	(void)state;
	assert_int_equal(manifest_filename(K8S_KIND_POD, "default", "web-0", a), 0);
	assert_string_equal(a, "pod_default_web-0.json");
	assert_int_equal(manifest_filename(K8S_KIND_NAMESPACE, "", "prod", a), 0);
	assert_string_equal(a, "namespace_prod.json");
	assert_int_equal(manifest_filename(K8S_KIND_NETWORK_POLICY, "prod", "deny.all", a), 0);
	assert_string_equal(a, "networkpolicy_prod_deny.all.json");

	memset(name, 'a', 253);
	name[253] = '\0';
	assert_int_equal(manifest_filename(K8S_KIND_POD, "default", name, a), 0);
	name[252] = 'b';
	assert_int_equal(manifest_filename(K8S_KIND_POD, "default", name, b), 0);
	assert_int_equal(strlen(a), NAME_MAX);
	assert_int_equal(strlen(b), NAME_MAX);
	assert_string_not_equal(a, b); /* same prefix, told apart by the hash */
	assert_non_null(strchr(a, '~'));

	assert_int_equal(manifest_filename(K8S_KIND_POD, "default", "../etc", a), -EINVAL);
	assert_int_equal(manifest_filename(K8S_KIND_POD, "default", "a/b", a), -EINVAL);
	assert_int_equal(manifest_filename(K8S_KIND_POD, "", "web", a), -EINVAL);
	assert_int_equal(manifest_filename(K8S_KIND_POD, "x_y", "web", a), -EINVAL);
	assert_int_equal(manifest_filename(K8S_KIND_NONE, "", "web", a), -EINVAL);
}

static void test_manifest_write_and_delete_dir(void **state)
{
	static const char text[] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
				   "---\n" POD("web", "  namespace: shop\n  labels: {app: web}\n") "    ports:\n"
				   "    - {containerPort: 8080, name: http}\n"
				   "---\n"
				   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				   "metadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n";
	char dir[PATH_MAX], path[PATH_MAX + 64], *msg = NULL;
	struct manifest *m = parse_ok(text), *back;
	size_t removed = 99;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/k8s/objects", tmpdir); /* created on demand */
	assert_int_equal(manifest_write_dir(m, dir, &msg), 0);
	assert_null(msg);
	assert_int_equal(count_files(dir), 3);

	/* Each file holds one object, defaults included, that reads back the same. */
	snprintf(path, sizeof(path), "%s/pod_shop_web.json", dir);
	assert_int_equal(manifest_parse_file(path, &back, &msg), 0);
	assert_int_equal(back->n, 1);
	assert_true(json_equal(back->objs[0].json, m->objs[1].json));
	manifest_free(back);
	snprintf(path, sizeof(path), "%s/namespace_shop.json", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/networkpolicy_shop_deny.json", dir);
	assert_int_equal(access(path, R_OK), 0);

	/* Applying again replaces in place. */
	assert_int_equal(manifest_write_dir(m, dir, NULL), 0);
	assert_int_equal(count_files(dir), 3);

	assert_int_equal(manifest_delete_dir(m, dir, &removed, &msg), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(count_files(dir), 0);
	assert_int_equal(manifest_delete_dir(m, dir, &removed, &msg), 0); /* idempotent */
	assert_int_equal(removed, 0);
	manifest_free(m);
}

static void test_manifest_invalid_file_writes_nothing(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], *msg = NULL;
	struct manifest *m = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/all-or-nothing", tmpdir);
	snprintf(path, sizeof(path), "%s/in.yaml", tmpdir);
	write_text(path, POD("a", "") "---\n" POD("b", "") "    ports: [{containerPort: 0}]\n---\n" POD("c", ""));
	assert_int_equal(manifest_parse_file(path, &m, &msg), -EINVAL);
	assert_null(m);
	assert_contains(msg, "in.yaml: document 2: Pod default/b: spec.containers[0].ports[0].containerPort");
	free(msg);
	/* What lab apply does: nothing to write when the parse failed. */
	assert_int_equal(count_files(dir), 0);
}

static void test_manifest_stdin_named(void **state)
{
	char path[PATH_MAX + 32], *msg = NULL;
	struct manifest *m = NULL;
	int saved, fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/stdin.yaml", tmpdir);
	write_text(path, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\nkind: Nope\n");
	saved = dup(STDIN_FILENO);
	fd = open(path, O_RDONLY);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDIN_FILENO);
	close(fd);
	assert_int_equal(manifest_parse_file("-", &m, &msg), -EINVAL);
	dup2(saved, STDIN_FILENO);
	close(saved);
	assert_string_equal(msg, "<stdin>: document 2: kind: unknown kind \"Nope\" (Sluice reads Namespace, Pod and NetworkPolicy)");
	free(msg);
}

static void test_manifest_garbage_input(void **state)
{
	static const char elf[] = "\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00";
	static const char badutf8[] = "kind: \xc3\x28\n";
	char path[PATH_MAX + 32], *msg = NULL, *deep, *big;
	struct manifest *m = NULL;
	size_t n = 5000;

	(void)state;
	msg = parse_bad("bin", elf, sizeof(elf) - 1);
	assert_contains(msg, "bin: document 1: control characters are not allowed");
	free(msg);
	msg = parse_bad("utf", badutf8, sizeof(badutf8) - 1);
	assert_contains(msg, "utf: document 1: invalid trailing UTF-8 octet");
	free(msg);
	msg = parse_bad("nul", "kind: Pod\0\n", 11);
	assert_contains(msg, "nul: document 1: control characters are not allowed");
	free(msg);

	msg = parse_bad("empty.yaml", "", 0);
	assert_string_equal(msg, "empty.yaml: no objects: the input holds no YAML or JSON document");
	free(msg);
	msg = parse_bad("c.yaml", "# nothing\n---\n---\n", SIZE_MAX);
	assert_contains(msg, "no objects");
	free(msg);

	deep = malloc(2 * n + 1);
	assert_non_null(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	msg = parse_bad("deep.json", deep, 2 * n);
	assert_contains(msg, "deep.json: document 1: line 1, column 101: nested deeper than 100 levels");
	free(msg);
	for (size_t i = 0; i < n; i++)
		deep[i] = i % 2 ? ' ' : '{', deep[n + i] = '}';
	msg = parse_bad("deep2.json", deep, 2 * n); /* {{...}} keys that are mappings */
	assert_non_null(msg);
	free(msg);
	free(deep);

	snprintf(path, sizeof(path), "%s/empty.yaml", tmpdir);
	write_text(path, "");
	assert_int_equal(manifest_parse_file(path, &m, &msg), -EINVAL);
	assert_contains(msg, "empty.yaml: no objects");
	free(msg);
	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	assert_int_equal(manifest_parse_file(path, &m, &msg), -ENOENT);
	assert_contains(msg, "missing.yaml: cannot read: No such file or directory");
	free(msg);

	big = malloc(MANIFEST_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, '#', MANIFEST_MAX_BYTES + 1);
	big[MANIFEST_MAX_BYTES + 1] = '\0';
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	write_text(path, big);
	free(big);
	assert_int_equal(manifest_parse_file(path, &m, &msg), -EFBIG);
	assert_contains(msg, "big.yaml: larger than 8 MiB");
	free(msg);
	assert_null(m);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_yaml_scalar_typing),
	cmocka_unit_test(test_yaml_typing_errors),
	cmocka_unit_test(test_yaml_multi_doc_and_json),
	cmocka_unit_test(test_yaml_anchors_aliases_merge),
	cmocka_unit_test(test_yaml_billion_laughs_rejected),
	cmocka_unit_test(test_yaml_errors_carry_position),
	cmocka_unit_test(test_manifest_kinds_and_defaults),
	cmocka_unit_test(test_manifest_list_expansion),
	cmocka_unit_test(test_manifest_validation_errors),
	cmocka_unit_test(test_manifest_errors_name_doc_and_object),
	cmocka_unit_test(test_manifest_too_many_errors_counted),
	cmocka_unit_test(test_manifest_mutations_fail_cleanly),
	cmocka_unit_test(test_manifest_filename_scheme),
	cmocka_unit_test(test_manifest_write_and_delete_dir),
	cmocka_unit_test(test_manifest_invalid_file_writes_nothing),
	cmocka_unit_test(test_manifest_stdin_named),
	cmocka_unit_test(test_manifest_garbage_input),
};

SL_TEST_MAIN(tests, setup_tmpdir, teardown_tmpdir)
