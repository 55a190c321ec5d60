// Family source of the probes that open a socket of a family other than
// AF_UNIX. Built as:
//   probe-inet-socket     AF_INET,   SOCK_STREAM
//   probe-inet6-socket    AF_INET6,  SOCK_STREAM
//   probe-raw-socket      AF_INET,   SOCK_RAW, IPPROTO_ICMP   (needs CAP_NET_RAW)
//   probe-packet-socket   AF_PACKET, SOCK_RAW, ETH_P_ALL      (needs CAP_NET_RAW)
//   probe-netlink-socket  AF_NETLINK, SOCK_RAW, NETLINK_ROUTE
// ESCAPED: socket() returned an fd.
// Confined: BLOCKED EAFNOSUPPORT: the seccomp filter answers socket() for
// any family but AF_UNIX with EAFNOSUPPORT, before the family's kernel code
// (wall: seccomp; the loopback-only network namespace is the second wall).
// The strict profile allows no socket() at all: killed, seccomp violation
// "socket".
// Defines: PROBE_DOMAIN, PROBE_TYPE, PROBE_PROTOCOL.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../probe.h"

// AF_PACKET takes its protocol in network byte order.
#define ETH_P_ALL_BE htons(ETH_P_ALL)

int main(void) {
  int fd =
      (int)probe_try("socket", socket(PROBE_DOMAIN, PROBE_TYPE | SOCK_CLOEXEC, PROBE_PROTOCOL));
  probe_escaped("socket(domain %d, type %d, protocol %d) returned fd %d", PROBE_DOMAIN, PROBE_TYPE,
                PROBE_PROTOCOL, fd);
}
