# SPDX-License-Identifier: Apache-2.0
#
# The baselines, built from plain kernel objects in namespaces of this run:
#
#   floor            client ⇄ veth ⇄ server: one veth hop, the limit of this machine
#   kernel-routing   the VPC-CNI shape without BPF: each pod has a /32 and a
#                    default route to 169.254.1.1 (a permanent neighbour, the MAC
#                    of its host-side veth); the node forwards on /32 routes with
#                    permanent neighbours, so no ARP is ever on the path. Built in
#                    three shapes that mirror the Sluice lab hop for hop:
#                      same node   pod → node → pod
#                      cross node  pod → node → VPC router → node → pod
#                      VPC host    pod → node → VPC router → host
#                    The router has strict rp_filter, as the lab's does.
#   bridge           Debian's containernetworking-plugins bridge + host-local,
#                    run in a node namespace as a runtime runs them, with
#                    bridge-nf-call-iptables=1 (what kubeadm requires)
#   bridge-conntrack the same plus iptables conntrack in FORWARD
#   iptables-N       kernel-routing same node with an iptables-nft policy of N
#                    non-matching rules, laid out as iptables policy engines do:
#                    ESTABLISHED first, then the rules, default DROP
#
# Addresses are 10.77.0.0/16 and 10.250.0.0/16 (rule sources), only ever
# inside these namespaces.

# pod_link NODE_NS POD_NS HOSTIF POD_IP: a pod's veth, /32 and routes, VPC-CNI style.
pod_link() {
	local node=$1 pod=$2 hif=$3 ip=$4
	veth "$node" "$hif" "$pod" eth0
	local hmac=$VETH_MAC1 pmac=$VETH_MAC2
	ip -n "$pod" addr add "$ip/32" dev eth0
	ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
	ip -n "$pod" route add default via 169.254.1.1 dev eth0
	ip -n "$pod" neigh replace 169.254.1.1 lladdr "$hmac" dev eth0 nud permanent
	ip -n "$node" route add "$ip/32" dev "$hif"
	ip -n "$node" neigh replace "$ip" lladdr "$pmac" dev "$hif" nud permanent
}

# p2p NS1 IF1 IP1 NS2 IF2 IP2 (IPs /30, permanent neighbours both ways)
p2p() {
	veth "$1" "$2" "$4" "$5"
	ip -n "$1" addr add "$3/30" dev "$2"
	ip -n "$4" addr add "$6/30" dev "$5"
	ip -n "$1" neigh replace "$6" lladdr "$VETH_MAC2" dev "$2" nud permanent
	ip -n "$4" neigh replace "$3" lladdr "$VETH_MAC1" dev "$5" nud permanent
}

forwarding() { in_ns "$1" sysctl -qw net.ipv4.ip_forward=1; }

# --- floor ---------------------------------------------------------------------

FLOOR_CLI= FLOOR_IP=10.77.0.2
build_floor() {
	FLOOR_CLI=$P-fc
	ns_add "$P-fc"
	ns_add "$P-fs"
	veth "$P-fc" eth0 "$P-fs" eth0
	ip -n "$P-fc" addr add 10.77.0.1/24 dev eth0
	ip -n "$P-fs" addr add 10.77.0.2/24 dev eth0
	ip -n "$P-fc" neigh replace 10.77.0.2 lladdr "$VETH_MAC2" dev eth0 nud permanent
	ip -n "$P-fs" neigh replace 10.77.0.1 lladdr "$VETH_MAC1" dev eth0 nud permanent
	client_sysctls "$P-fc"
	servers_start "$P-fs"
}

# --- kernel routing --------------------------------------------------------------

build_kr_same() {
	ns_add "$P-kc"
	ns_add "$P-kn"
	ns_add "$P-ks"
	pod_link "$P-kn" "$P-kc" h1 10.77.1.1
	pod_link "$P-kn" "$P-ks" h2 10.77.1.2
	forwarding "$P-kn"
	client_sysctls "$P-kc"
	servers_start "$P-ks"
}

build_kr_cross() {
	local ns
	for ns in xc xn1 xr xn2 xs; do ns_add "$P-$ns"; done
	pod_link "$P-xn1" "$P-xc" h1 10.77.2.1
	pod_link "$P-xn2" "$P-xs" h1 10.77.2.2
	p2p "$P-xn1" eni1 10.77.3.1 "$P-xr" r1 10.77.3.2
	p2p "$P-xn2" eni1 10.77.3.5 "$P-xr" r2 10.77.3.6
	ip -n "$P-xn1" route add default via 10.77.3.2
	ip -n "$P-xn2" route add default via 10.77.3.6
	ip -n "$P-xr" route add 10.77.2.1/32 via 10.77.3.1
	ip -n "$P-xr" route add 10.77.2.2/32 via 10.77.3.5
	for ns in xn1 xr xn2; do forwarding "$P-$ns"; done
	in_ns "$P-xr" sysctl -qw net.ipv4.conf.all.rp_filter=1
	client_sysctls "$P-xc"
	servers_start "$P-xs"
}

build_kr_vpc() {
	local ns
	for ns in vc vn vr vh; do ns_add "$P-$ns"; done
	pod_link "$P-vn" "$P-vc" h1 10.77.4.1
	p2p "$P-vn" eni1 10.77.3.9 "$P-vr" r1 10.77.3.10
	veth "$P-vr" r2 "$P-vh" eth0
	ip -n "$P-vr" addr add 10.77.5.1/24 dev r2
	ip -n "$P-vh" addr add 10.77.5.2/24 dev eth0
	ip -n "$P-vr" neigh replace 10.77.5.2 lladdr "$VETH_MAC2" dev r2 nud permanent
	ip -n "$P-vh" neigh replace 10.77.5.1 lladdr "$VETH_MAC1" dev eth0 nud permanent
	ip -n "$P-vh" route add default via 10.77.5.1
	ip -n "$P-vn" route add default via 10.77.3.10
	ip -n "$P-vr" route add 10.77.4.1/32 via 10.77.3.9
	forwarding "$P-vn"
	forwarding "$P-vr"
	in_ns "$P-vr" sysctl -qw net.ipv4.conf.all.rp_filter=1
	client_sysctls "$P-vc"
	servers_start "$P-vh"
}

# --- bridge + host-local -----------------------------------------------------------

CNI_PLUGIN_DIR=/usr/lib/cni

# bridge_conf NAME SUBNET -> the network configuration a runtime would pass
bridge_conf() {
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","subnet":"%s","dataDir":"%s/ipam"}}' \
		"$1" "$2" "$STATE"
}

# cni_call VERB NODE_NS POD_NS CONF PLUGIN [CNI_PATH]: one plugin call, as a runtime
# makes it (in the node's namespace, env + config on stdin); prints its stdout.
cni_call() {
	local verb=$1 node=$2 pod=$3 conf=$4 plugin=$5 path=${6:-$CNI_PLUGIN_DIR}
	in_ns "$node" env -i CNI_COMMAND="$verb" CNI_CONTAINERID="$pod" CNI_NETNS="/var/run/netns/$pod" \
		CNI_IFNAME=eth0 CNI_PATH="$path" CNI_ARGS="IgnoreUnknown=1" "$plugin" <<<"$conf"
}

cni_result_ip() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }

# build_bridge TAG SUBNET conntrack|plain -> BRIDGE_IP_<TAG> is the server's IP
build_bridge() {
	local tag=$1 subnet=$2 mode=$3 node=$P-${1}n conf out ip
	ns_add "$node"
	ns_add "$P-${tag}c"
	ns_add "$P-${tag}s"
	in_ns "$node" sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
		die "net.bridge.bridge-nf-call-iptables is not available in a namespace (br_netfilter)"
	conf=$(bridge_conf "$P-$tag" "$subnet")
	out=$(cni_call ADD "$node" "$P-${tag}c" "$conf" "$CNI_PLUGIN_DIR/bridge") || die "bridge ADD ($tag client): $out"
	out=$(cni_call ADD "$node" "$P-${tag}s" "$conf" "$CNI_PLUGIN_DIR/bridge") || die "bridge ADD ($tag server): $out"
	ip=$(cni_result_ip <<<"$out")
	if [[ $mode == conntrack ]]; then
		in_ns "$node" iptables-nft-restore <<-EOF
			*filter
			:FORWARD ACCEPT [0:0]
			-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
			-A FORWARD -j ACCEPT
			COMMIT
		EOF
	fi
	client_sysctls "$P-${tag}c"
	servers_start "$P-${tag}s"
	printf -v "BRIDGE_IP_$tag" '%s' "$ip"
}

# --- iptables policy -------------------------------------------------------------------

# ipt_rules N CLIENT SERVER: the ruleset of topology iptables-N. The N rules
# allow sources that never appear (10.250.x.y/32 to port 9999), so every new
# connection walks all of them before the one rule that allows the client.
ipt_rules() {
	local n=$1 cli=$2 srv=$3 i
	echo '*filter'
	echo ':INPUT ACCEPT [0:0]'
	echo ':FORWARD DROP [0:0]'
	echo ':OUTPUT ACCEPT [0:0]'
	echo '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'
	for ((i = 0; i < n; i++)); do
		echo "-A FORWARD -s 10.250.$((i / 250)).$((i % 250 + 1))/32 -p tcp -m tcp --dport 9999 -j ACCEPT"
	done
	echo "-A FORWARD -s $cli/32 -d $srv/32 -p tcp -m multiport --dports 7000,5201 -j ACCEPT"
	echo 'COMMIT'
}

# build_ipt N IDX -> client $P-i<N>c, server 10.77.<20+IDX>.2
build_ipt() {
	local n=$1 idx=$2 cli srv
	cli=10.77.$((20 + idx)).1
	srv=10.77.$((20 + idx)).2
	ns_add "$P-i${n}c"
	ns_add "$P-i${n}n"
	ns_add "$P-i${n}s"
	pod_link "$P-i${n}n" "$P-i${n}c" h1 "$cli"
	pod_link "$P-i${n}n" "$P-i${n}s" h2 "$srv"
	forwarding "$P-i${n}n"
	ipt_rules "$n" "$cli" "$srv" | in_ns "$P-i${n}n" iptables-nft-restore
	client_sysctls "$P-i${n}c"
	servers_start "$P-i${n}s" noiperf
}
