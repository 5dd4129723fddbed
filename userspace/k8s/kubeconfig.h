/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the API server is and how to prove who we are: a kubeconfig file or
 * the in-cluster service account, reduced to a struct kube_auth the kube
 * source hands to libcurl.
 *
 * kube_auth_load() picks, as client-go's loading rules do:
 *   1. the kubeconfig path given (sluiced --kubeconfig),
 *   2. else $KUBECONFIG, a ':'-separated list merged like kubectl: the first
 *      file that sets current-context wins, and a context, cluster or user
 *      comes from the first file that names it,
 *   3. else the in-cluster service account: https://$KUBERNETES_SERVICE_HOST:
 *      $KUBERNETES_SERVICE_PORT, SA_DIR/token (re-read when it changes:
 *      kubelet rotates it) and SA_DIR/ca.crt, SA_DIR being
 *      /var/run/secrets/kubernetes.io/serviceaccount unless given.
 *
 * From a kubeconfig (YAML or JSON, read with k8s/yaml_json.h): the context
 * (the one named, else current-context), its cluster's server,
 * certificate-authority / certificate-authority-data and
 * insecure-skip-tls-verify, its user's token / tokenFile,
 * client-certificate(-data) and client-key(-data). Relative paths are relative
 * to the file that holds them. exec, auth-provider and basic-auth users are
 * refused with a message saying so (sluiced needs a credential it can use
 * unattended).
 *
 * Functions return 0 or -errno; on error, msg (if not NULL) gets one line
 * naming the file, the context and the field.
 */
#ifndef SLUICE_K8S_KUBECONFIG_H
#define SLUICE_K8S_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBECONFIG_MAX_BYTES (1u << 20)

struct kube_blob {
	unsigned char *data; /* decoded *-data field; NULL when absent */
	size_t len;
};

struct kube_auth {
	char *server;     /* "https://host:port[/prefix]" without a trailing '/' */
	char *token;      /* a static bearer token, or NULL */
	char *token_file; /* or a file holding it, re-read when it changes */
	char *ca_file;
	struct kube_blob ca_data;
	char *cert_file;
	struct kube_blob cert_data;
	char *key_file;
	struct kube_blob key_data;
	bool insecure; /* insecure-skip-tls-verify */
	char *origin;  /* "in-cluster" or "kubeconfig PATH, context NAME", for messages */
};

int kube_auth_load(const char *kubeconfig, const char *context, const char *sa_dir,
		   struct kube_auth *out, char *msg, size_t msg_len);
/* paths: one file or a ':'-separated list; context NULL: current-context. */
int kube_auth_from_kubeconfig(const char *paths, const char *context, struct kube_auth *out,
			      char *msg, size_t msg_len);
int kube_auth_in_cluster(const char *sa_dir, struct kube_auth *out, char *msg, size_t msg_len);
void kube_auth_free(struct kube_auth *a);

/* RFC 4648 base64 (whitespace ignored, padding optional) into a new buffer. */
int kube_base64_decode(const char *s, struct kube_blob *out);

#endif /* SLUICE_K8S_KUBECONFIG_H */
