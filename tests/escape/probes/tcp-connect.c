// probe-tcp-connect PORT [HOST=127.0.0.1]: connect to a TCP port listening
// on the host's loopback (a database, a metrics endpoint, another agent's
// server). The agent's network namespace has a loopback of its own.
// ESCAPED: connected. The attempt includes socket(AF_INET).
// Confined: BLOCKED EAFNOSUPPORT at socket() (seccomp answers every family
// but AF_UNIX so); behind it the network namespace (ECONNREFUSED) and
// Landlock's TCP connect rule (EACCES). Strict profile: killed, seccomp
// violation "socket".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "probe.h"

int main(int argc, char** argv) {
  long port = probe_num_arg(argc, argv, 1, "port");
  const char* host = probe_arg(argc, argv, 2, "127.0.0.1", "IPv4 address");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) probe_setup("not an IPv4 address: %s", host);
  int fd = (int)probe_try("socket(AF_INET)", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  probe_try("connect", connect(fd, (const struct sockaddr*)&addr, sizeof addr));
  probe_escaped("connected to %s:%ld", host, port);
}
