// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced: the Sluice node agent. Opens (or creates) the pinned datapath,
 * reconciles it with its checkpoint and the cloud, keeps the IP warm pool,
 * and serves the CNI plugin and sluicectl on a unix socket.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "pins.h"

static const char usage_text[] =
	"usage: sluiced [options]\n"
	"  --node NAME             node (cloud instance) name [hostname]\n"
	"  --pin-dir DIR           bpffs directory of the maps and programs [" SL_PIN_DIR_DEFAULT "]\n"
	"  --socket PATH           API socket [/run/sluice/sluiced.sock]\n"
	"  --socket-mode MODE      octal mode of the socket [0600]\n"
	"  --state-dir DIR         checkpoint directory [/var/lib/sluice]\n"
	"  --provider NAME         cloud provider: sim, ibm or openstack [sim]\n"
	"  --sim-state PATH        sim: the VPC's state file\n"
	"  --instance-id ID        ibm, openstack: this node's instance [metadata service]\n"
	"  --pod-subnet ID         ibm, openstack: the subnet of pod interfaces and IPs\n"
	"  --max-interfaces N      interfaces per node, the primary included [the profile's]\n"
	"  --max-ips-per-interface N  IPs per interface, its own included [the profile's]\n"
	"  --ibm-region REGION     ibm: e.g. us-south (sets the VPC endpoint)\n"
	"  --ibm-vpc-url URL       ibm: VPC API base, e.g. https://us-south.iaas.cloud.ibm.com/v1\n"
	"  --ibm-iam-url URL       ibm: IAM base [https://iam.cloud.ibm.com]\n"
	"  --ibm-metadata-url URL  ibm: instance metadata service [http://169.254.169.254]\n"
	"  --ibm-api-key-file PATH ibm: API key file [$IBMCLOUD_API_KEY; none: metadata token]\n"
	"  --ibm-trusted-profile ID  ibm: trusted profile of the metadata token flow\n"
	"  --os-cloud NAME         openstack: entry of clouds.yaml [$OS_CLOUD, else OS_* vars]\n"
	"  --os-clouds-yaml PATH   openstack: clouds.yaml to read\n"
	"  --os-network-url URL    openstack: Neutron endpoint [the catalog's]\n"
	"  --os-compute-url URL    openstack: Nova endpoint [the catalog's]\n"
	"  --os-security-groups IDS  openstack: comma-separated groups of new ports [default]\n"
	"  --cloud-ca-file PATH    CA bundle for the cloud APIs [the system's]\n"
	"  --cloud-calls-per-s R   cloud-call budget: R calls per second on average [2]\n"
	"  --cloud-burst N         cloud-call budget: at most N calls at once [20]\n"
	"  --k8s-source SRC        kube (the API server), dir:PATH (a directory of manifests),\n"
	"                          or none\n"
	"  --kubeconfig PATH       kube: credentials [$KUBECONFIG, else in-cluster]\n"
	"  --kube-context NAME     kube: a context of the kubeconfig [current-context]\n"
	"  --warm-ip-target N      free IPs to keep ready [4]\n"
	"  --min-ip-target N       IPs to hold at least, free and used together [0]\n"
	"  --warm-eni-target N     whole free interfaces' worth of IPs to keep ready [0]\n"
	"  --release-delay-s N     excess free IPs go back to the cloud after N s [60]\n"
	"  --reuse-max-hold-s N    a freed IP with live connections waits at most N s [120]\n"
	"  --reconcile MODE        pool reconcile: immediate (every pod event), scheduled\n"
	"                          (every --reconcile-interval-s) or manual [immediate]\n"
	"  --reconcile-interval-s N  scheduled: period [30]\n"
	"  --orphan-interval-s N   compare the cloud's and the node's interfaces every N s [300]\n"
	"  --add-wait-ms N         how long an ADD waits for the pool to refill [10000]\n"
	"  --eni-mtu N             MTU of cloud interfaces and pods [1500]\n"
	"  --xdp-prefilter         drop new connections that ingress policy denies at XDP on\n"
	"                          each cloud interface, before an skb exists [off]\n"
	"  --replace-maps          recreate pinned maps of another layout version (drops state!)\n"
	"  --no-drop-events        do not emit drop events to the ring buffer\n"
	"  --ct-on-policy-change keep|drop\n"
	"                          established connections a new policy no longer allows:\n"
	"                          keep them until they close, or drop their next packet [keep]\n"
	"  --log-level LEVEL       error, warn, info, debug [info]\n"
	"  --log-format FORMAT     json or text [json]\n"
	"  --version, --help\n";

static int parse_uint(const char *s, unsigned base, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, (int)base);
	if (errno || *end || !*s || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* A positive rate, e.g. "2" or "0.5". */
static int parse_rate(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !*s || !(v > 0) || v > 1e6)
		return -EINVAL;
	*out = v;
	return 0;
}

static int copy_opt(char *dst, size_t len, const char *src, const char *name)
{
	if (strlen(src) >= len) {
		fprintf(stderr, "sluiced: %s is too long\n", name);
		return -EINVAL;
	}
	strcpy(dst, src);
	return 0;
}

int agent_parse_args(int argc, char **argv, struct agent_config *cfg)
{
	enum { O_NODE = 256, O_PIN, O_SOCK, O_MODE, O_STATE, O_PROV, O_SIM, O_K8S, O_WARM, O_WAIT,
	       O_MTU, O_REPLACE, O_NOEV, O_CTPOL, O_LEVEL, O_FORMAT, O_VERSION, O_HELP, O_KUBECONFIG, O_KUBECTX,
	       O_INSTANCE, O_SUBNET, O_MAXIF, O_MAXIP, O_IBM_REGION, O_IBM_VPC, O_IBM_IAM, O_IBM_MD,
	       O_IBM_KEYFILE, O_IBM_PROFILE, O_OS_CLOUD, O_OS_YAML, O_OS_NET, O_OS_COMPUTE, O_OS_SG,
	       O_CA, O_RATE, O_BURST, O_MINIP, O_WARMENI, O_RELDELAY, O_HOLD, O_RECMODE, O_RECINT,
	       O_ORPHAN, O_XDP };
	static const struct option opts[] = {
		{ "node", required_argument, NULL, O_NODE },
		{ "pin-dir", required_argument, NULL, O_PIN },
		{ "socket", required_argument, NULL, O_SOCK },
		{ "socket-mode", required_argument, NULL, O_MODE },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "provider", required_argument, NULL, O_PROV },
		{ "sim-state", required_argument, NULL, O_SIM },
		{ "instance-id", required_argument, NULL, O_INSTANCE },
		{ "pod-subnet", required_argument, NULL, O_SUBNET },
		{ "max-interfaces", required_argument, NULL, O_MAXIF },
		{ "max-ips-per-interface", required_argument, NULL, O_MAXIP },
		{ "ibm-region", required_argument, NULL, O_IBM_REGION },
		{ "ibm-vpc-url", required_argument, NULL, O_IBM_VPC },
		{ "ibm-iam-url", required_argument, NULL, O_IBM_IAM },
		{ "ibm-metadata-url", required_argument, NULL, O_IBM_MD },
		{ "ibm-api-key-file", required_argument, NULL, O_IBM_KEYFILE },
		{ "ibm-trusted-profile", required_argument, NULL, O_IBM_PROFILE },
		{ "os-cloud", required_argument, NULL, O_OS_CLOUD },
		{ "os-clouds-yaml", required_argument, NULL, O_OS_YAML },
		{ "os-network-url", required_argument, NULL, O_OS_NET },
		{ "os-compute-url", required_argument, NULL, O_OS_COMPUTE },
		{ "os-security-groups", required_argument, NULL, O_OS_SG },
		{ "cloud-ca-file", required_argument, NULL, O_CA },
		{ "cloud-calls-per-s", required_argument, NULL, O_RATE },
		{ "cloud-burst", required_argument, NULL, O_BURST },
		{ "min-ip-target", required_argument, NULL, O_MINIP },
		{ "warm-eni-target", required_argument, NULL, O_WARMENI },
		{ "release-delay-s", required_argument, NULL, O_RELDELAY },
		{ "reuse-max-hold-s", required_argument, NULL, O_HOLD },
		{ "reconcile", required_argument, NULL, O_RECMODE },
		{ "reconcile-interval-s", required_argument, NULL, O_RECINT },
		{ "orphan-interval-s", required_argument, NULL, O_ORPHAN },
		{ "k8s-source", required_argument, NULL, O_K8S },
		{ "kubeconfig", required_argument, NULL, O_KUBECONFIG },
		{ "kube-context", required_argument, NULL, O_KUBECTX },
		{ "warm-ip-target", required_argument, NULL, O_WARM },
		{ "add-wait-ms", required_argument, NULL, O_WAIT },
		{ "eni-mtu", required_argument, NULL, O_MTU },
		{ "replace-maps", no_argument, NULL, O_REPLACE },
		{ "xdp-prefilter", no_argument, NULL, O_XDP },
		{ "no-drop-events", no_argument, NULL, O_NOEV },
		{ "ct-on-policy-change", required_argument, NULL, O_CTPOL },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "log-format", required_argument, NULL, O_FORMAT },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	enum log_level level = LOG_INFO;
	enum log_format format = LOG_FORMAT_JSON;
	int opt, idx = 0, err = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(cfg->node, sizeof(cfg->node) - 1))
		strcpy(cfg->node, "node");
	strcpy(cfg->pin_dir, SL_PIN_DIR_DEFAULT);
	strcpy(cfg->socket_path, "/run/sluice/sluiced.sock");
	cfg->socket_mode = 0600;
	strcpy(cfg->state_dir, "/var/lib/sluice");
	strcpy(cfg->provider, "sim");
	cfg->warm_ip_target = 4;
	cfg->release_delay_s = 60;
	cfg->reuse_max_hold_s = 120;
	cfg->reconcile_mode = AGENT_RECONCILE_IMMEDIATE;
	cfg->reconcile_interval_s = 30;
	cfg->orphan_interval_s = 300;
	cfg->cloud_calls_per_s = 2;
	cfg->cloud_burst = 20;
	cfg->instance_id = cfg->pod_subnet = "";
	cfg->ibm_region = cfg->ibm_vpc_url = cfg->ibm_iam_url = cfg->ibm_metadata_url = "";
	cfg->ibm_api_key_file = cfg->ibm_trusted_profile = "";
	cfg->os_cloud = cfg->os_clouds_yaml = cfg->os_network_url = cfg->os_compute_url = "";
	cfg->os_security_groups = cfg->cloud_ca_file = "";
	cfg->add_wait_ms = 10000;
	cfg->eni_mtu = 1500;
	cfg->drop_events = true;

	opterr = 0;
	while (!err && (opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (opt) {
		case O_NODE: err = copy_opt(cfg->node, sizeof(cfg->node), optarg, "--node"); break;
		case O_PIN: err = copy_opt(cfg->pin_dir, sizeof(cfg->pin_dir), optarg, "--pin-dir"); break;
		case O_SOCK: err = copy_opt(cfg->socket_path, sizeof(cfg->socket_path), optarg, "--socket"); break;
		case O_MODE: err = parse_uint(optarg, 8, 0777, &cfg->socket_mode); break;
		case O_STATE: err = copy_opt(cfg->state_dir, sizeof(cfg->state_dir), optarg, "--state-dir"); break;
		case O_PROV: err = copy_opt(cfg->provider, sizeof(cfg->provider), optarg, "--provider"); break;
		case O_SIM: err = copy_opt(cfg->sim_state, sizeof(cfg->sim_state), optarg, "--sim-state"); break;
		case O_K8S: err = copy_opt(cfg->k8s_source, sizeof(cfg->k8s_source), optarg, "--k8s-source"); break;
		case O_KUBECONFIG: err = copy_opt(cfg->kubeconfig, sizeof(cfg->kubeconfig), optarg, "--kubeconfig"); break;
		case O_KUBECTX: err = copy_opt(cfg->kube_context, sizeof(cfg->kube_context), optarg, "--kube-context"); break;
		case O_WARM: err = parse_uint(optarg, 10, 4096, &cfg->warm_ip_target); break;
		case O_INSTANCE: cfg->instance_id = optarg; break;
		case O_SUBNET: cfg->pod_subnet = optarg; break;
		case O_MAXIF: err = parse_uint(optarg, 10, 256, &cfg->max_interfaces); break;
		case O_MAXIP: err = parse_uint(optarg, 10, 4096, &cfg->max_ips_per_interface); break;
		case O_IBM_REGION: cfg->ibm_region = optarg; break;
		case O_IBM_VPC: cfg->ibm_vpc_url = optarg; break;
		case O_IBM_IAM: cfg->ibm_iam_url = optarg; break;
		case O_IBM_MD: cfg->ibm_metadata_url = optarg; break;
		case O_IBM_KEYFILE: cfg->ibm_api_key_file = optarg; break;
		case O_IBM_PROFILE: cfg->ibm_trusted_profile = optarg; break;
		case O_OS_CLOUD: cfg->os_cloud = optarg; break;
		case O_OS_YAML: cfg->os_clouds_yaml = optarg; break;
		case O_OS_NET: cfg->os_network_url = optarg; break;
		case O_OS_COMPUTE: cfg->os_compute_url = optarg; break;
		case O_OS_SG: cfg->os_security_groups = optarg; break;
		case O_CA: cfg->cloud_ca_file = optarg; break;
		case O_RATE: err = parse_rate(optarg, &cfg->cloud_calls_per_s); break;
		case O_BURST: err = parse_uint(optarg, 10, 100000, &cfg->cloud_burst); break;
		case O_MINIP: err = parse_uint(optarg, 10, 4096, &cfg->min_ip_target); break;
		case O_WARMENI: err = parse_uint(optarg, 10, 64, &cfg->warm_eni_target); break;
		case O_RELDELAY: err = parse_uint(optarg, 10, 86400, &cfg->release_delay_s); break;
		case O_HOLD: err = parse_uint(optarg, 10, 86400, &cfg->reuse_max_hold_s); break;
		case O_RECMODE:
			if (!strcmp(optarg, "immediate"))
				cfg->reconcile_mode = AGENT_RECONCILE_IMMEDIATE;
			else if (!strcmp(optarg, "scheduled"))
				cfg->reconcile_mode = AGENT_RECONCILE_SCHEDULED;
			else if (!strcmp(optarg, "manual"))
				cfg->reconcile_mode = AGENT_RECONCILE_MANUAL;
			else
				err = -EINVAL;
			break;
		case O_RECINT: err = parse_uint(optarg, 10, 86400, &cfg->reconcile_interval_s); break;
		case O_ORPHAN: err = parse_uint(optarg, 10, 86400, &cfg->orphan_interval_s); break;
		case O_WAIT: err = parse_uint(optarg, 10, 600000, &cfg->add_wait_ms); break;
		case O_MTU: err = parse_uint(optarg, 10, 65535, &cfg->eni_mtu); break;
		case O_REPLACE: cfg->replace_maps = true; break;
		case O_XDP: cfg->xdp_prefilter = true; break;
		case O_NOEV: cfg->drop_events = false; break;
		case O_CTPOL:
			if (!strcmp(optarg, "keep"))
				cfg->ct_on_policy_change = SL_CT_ON_POLICY_CHANGE_KEEP;
			else if (!strcmp(optarg, "drop"))
				cfg->ct_on_policy_change = SL_CT_ON_POLICY_CHANGE_DROP;
			else
				err = -EINVAL;
			break;
		case O_LEVEL: err = log_level_parse(optarg, &level); break;
		case O_FORMAT:
			if (!strcmp(optarg, "json"))
				format = LOG_FORMAT_JSON;
			else if (!strcmp(optarg, "text"))
				format = LOG_FORMAT_TEXT;
			else
				err = -EINVAL;
			break;
		case O_VERSION: printf("sluiced %s\n", SLUICE_VERSION); return 1;
		case O_HELP: fputs(usage_text, stdout); return 1;
		default:
			fprintf(stderr, "sluiced: unknown option %s\n%s", argv[optind - 1], usage_text);
			return -EINVAL;
		}
		if (err)
			fprintf(stderr, "sluiced: invalid value '%s' for --%s\n", optarg, opts[idx].name);
	}
	if (!err && optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
		err = -EINVAL;
	}
	if (!err && cfg->eni_mtu < 576) {
		fprintf(stderr, "sluiced: --eni-mtu must be at least 576\n");
		err = -EINVAL;
	}
	if (!err && strcmp(cfg->provider, "sim") && strcmp(cfg->provider, "ibm") &&
	    strcmp(cfg->provider, "openstack")) {
		fprintf(stderr, "sluiced: unknown provider '%s' (sim, ibm or openstack)\n", cfg->provider);
		err = -EINVAL;
	}
	if (!err && strcmp(cfg->provider, "sim") && !cfg->pod_subnet[0]) {
		fprintf(stderr, "sluiced: --provider %s needs --pod-subnet ID\n", cfg->provider);
		err = -EINVAL;
	}
	if (!err && !strcmp(cfg->provider, "ibm") && !cfg->ibm_region[0] && !cfg->ibm_vpc_url[0]) {
		fprintf(stderr, "sluiced: --provider ibm needs --ibm-region or --ibm-vpc-url\n");
		err = -EINVAL;
	}
	if (!err && cfg->reconcile_mode == AGENT_RECONCILE_SCHEDULED && !cfg->reconcile_interval_s) {
		fprintf(stderr, "sluiced: --reconcile scheduled needs --reconcile-interval-s > 0\n");
		err = -EINVAL;
	}
	if (!err && !cfg->cloud_burst) {
		fprintf(stderr, "sluiced: --cloud-burst must be at least 1\n");
		err = -EINVAL;
	}
	if (!err && !strcmp(cfg->provider, "sim") && !cfg->sim_state[0]) {
		fprintf(stderr, "sluiced: --provider sim needs --sim-state PATH\n");
		err = -EINVAL;
	}
	if (!err && cfg->k8s_source[0] && strncmp(cfg->k8s_source, "dir:", 4) != 0 &&
	    strcmp(cfg->k8s_source, "none") != 0 && strcmp(cfg->k8s_source, "kube") != 0) {
		fprintf(stderr, "sluiced: --k8s-source must be kube, dir:PATH or none\n");
		err = -EINVAL;
	}
	log_init("sluiced", level, format, stderr);
	return err;
}

static int run(struct agent *a)
{
	struct loader_opts lopts = {
		.pin_dir = a->cfg.pin_dir,
		.replace_incompatible = a->cfg.replace_maps,
		.drop_events = a->cfg.drop_events,
	};
	struct agent_http *http = NULL;
	sigset_t sigs;
	int err, sig;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits it */
	signal(SIGPIPE, SIG_IGN);

	if (snprintf(a->checkpoint_path, sizeof(a->checkpoint_path), "%s/checkpoint.json", a->cfg.state_dir) >=
	    (int)sizeof(a->checkpoint_path)) {
		pr_err("--state-dir %s is too long", a->cfg.state_dir);
		return -ENAMETOOLONG;
	}
	err = fs_mkdir_p(a->cfg.state_dir, 0700);
	if (err) {
		pr_err("create state dir %s: %s", a->cfg.state_dir, strerror(-err));
		return err;
	}
	loader_route_libbpf_log();
	err = loader_open(&lopts, &a->loader);
	if (err)
		return err;
	err = maps_open(a->cfg.pin_dir, &a->maps);
	if (err) {
		pr_err("open pinned maps in %s: %s", a->cfg.pin_dir, strerror(-err));
		goto out;
	}
	err = agent_cloud_create(a);
	if (!err)
		err = agent_k8s_start(a);
	if (!err)
		err = agent_policy_start(a);
	if (!err)
		err = agent_pool_start(a);
	if (err)
		goto out;
	err = agent_http_start(a, &http);
	if (err)
		goto stop_pool;
	/* Publishing the node's status is never a reason not to run. */
	if (agent_nodestatus_start(a))
		pr_warn("the node's SluiceNodeStatus will not be published");

	pthread_mutex_lock(&a->lock);
	err = agent_reconcile(a);
	if (!err)
		a->ready = true;
	agent_pool_kick(a);
	pthread_mutex_unlock(&a->lock);
	if (err) {
		pr_err("start-up reconcile failed: %s", strerror(-err));
		goto stop_http;
	}
	pr_info("node %s ready (pins %s)", a->cfg.node, a->cfg.pin_dir);

	while (sigwait(&sigs, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
		;
	pr_info("signal %d: stopping (the datapath keeps running)", sig);
stop_http:
	agent_nodestatus_stop(a);
	agent_http_stop(http);
stop_pool:
	agent_pool_stop(a);
out:
	agent_policy_stop(a);
	if (a->cloud)
		a->cloud->ops->destroy(a->cloud);
	cloud_budget_free(a->cloud_budget);
	agent_k8s_stop(a);
	maps_close(&a->maps);
	loader_close(a->loader);
	return err;
}

int main(int argc, char **argv)
{
	static struct agent agent = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int err;

	err = agent_parse_args(argc, argv, &agent.cfg);
	if (err)
		return err > 0 ? 0 : 2;
	ipam_init(&agent.ipam, agent.cfg.warm_ip_target);
	err = run(&agent);
	ipam_free(&agent.ipam);
	free(agent.endpoints);
	return err ? 1 : 0;
}
