// SPDX-License-Identifier: Apache-2.0
/*
 * sl-arping IFNAME TARGET-IP [TIMEOUT-MS]: sends one ARP who-has for
 * TARGET-IP out of IFNAME (from the interface's MAC and first IPv4 address,
 * or 0.0.0.0) and waits for a reply. Exit 0: answered; 1: no answer; 2: error.
 * Tests use it to prove the node answers no ARP from a pod.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct arp_frame {
	struct ether_header eth;
	struct ether_arp arp;
} __attribute__((packed));

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct in_addr first_ipv4(const char *ifname)
{
	struct in_addr addr = { 0 };
	struct ifaddrs *ifs, *it;

	if (getifaddrs(&ifs))
		return addr;
	for (it = ifs; it; it = it->ifa_next) {
		if (it->ifa_addr && it->ifa_addr->sa_family == AF_INET && !strcmp(it->ifa_name, ifname)) {
			addr = ((struct sockaddr_in *)it->ifa_addr)->sin_addr;
			break;
		}
	}
	freeifaddrs(ifs);
	return addr;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP) };
	struct arp_frame req = { 0 };
	struct in_addr target, self;
	struct ifreq ifr = { 0 };
	long timeout = argc > 3 ? strtol(argv[3], NULL, 10) : 1000, deadline;
	int s;

	if (argc < 3 || inet_pton(AF_INET, argv[2], &target) != 1) {
		fprintf(stderr, "usage: sl-arping IFNAME TARGET-IP [TIMEOUT-MS]\n");
		return 2;
	}
	s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
	if (s < 0) {
		perror("socket");
		return 2;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) || !(sll.sll_ifindex = (int)if_nametoindex(argv[1]))) {
		perror(argv[1]);
		return 2;
	}
	self = first_ipv4(argv[1]);
	memset(req.eth.ether_dhost, 0xff, ETH_ALEN);
	memcpy(req.eth.ether_shost, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	req.eth.ether_type = htons(ETH_P_ARP);
	req.arp.ea_hdr.ar_hrd = htons(ARPHRD_ETHER);
	req.arp.ea_hdr.ar_pro = htons(ETH_P_IP);
	req.arp.ea_hdr.ar_hln = ETH_ALEN;
	req.arp.ea_hdr.ar_pln = 4;
	req.arp.ea_hdr.ar_op = htons(ARPOP_REQUEST);
	memcpy(req.arp.arp_sha, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(req.arp.arp_spa, &self, 4);
	memcpy(req.arp.arp_tpa, &target, 4);
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) ||
	    sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("send");
		return 2;
	}
	deadline = now_ms() + timeout;
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		struct arp_frame rep;

		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		if (recv(s, &rep, sizeof(rep), 0) < (ssize_t)sizeof(rep))
			continue;
		if (ntohs(rep.arp.ea_hdr.ar_op) == ARPOP_REPLY && !memcmp(rep.arp.arp_spa, &target, 4)) {
			printf("reply from %s\n", argv[2]);
			return 0;
		}
	}
	return 1;
}
