#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks that the Debian packages Sluice needs are installed and installs the
# missing ones on Debian and Ubuntu (as root). Elsewhere it names what is
# missing and fails. Usage: mk/deps.sh build|test|bench
set -euo pipefail

build_pkgs=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
	libcurl4-openssl-dev libjansson-dev libmnl-dev libmicrohttpd-dev libyaml-dev
)
test_pkgs=(
	libcmocka-dev iproute2 iputils-ping busybox-static iperf3 procps psmisc python3 openssl
	podman runc containerd containernetworking-plugins
)
# The openstack provider's tests run a real Keystone and Neutron
# (selftests/cloud/neutron.sh): about 2.5 min of apt the first time, ~190
# packages, ~370 MB under /usr/lib/python3/dist-packages.
neutron_pkgs=(python3-neutron python3-keystone)
bench_pkgs=(iperf3 gnuplot-nox containernetworking-plugins iptables ethtool iproute2 util-linux procps python3)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${neutron_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null || ! grep -qiE '^ID(_LIKE)?=.*(debian|ubuntu)' /etc/os-release 2>/dev/null; then
	echo "sluice: missing packages: ${missing[*]}" >&2
	echo "sluice: this is not Debian or Ubuntu; install their equivalents and rerun." >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "sluice: missing packages: ${missing[*]}" >&2
	echo "sluice: run as root to install them (apt-get install ${missing[*]})." >&2
	exit 1
fi

echo "sluice: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
# A fresh machine may have no package lists yet: update once, then retry.
if ! apt_install; then
	apt-get update -q >/dev/null
	apt_install
fi
