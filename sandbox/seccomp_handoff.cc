#include "sandbox/seccomp_handoff.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/sys_error.h"

namespace smol::sandbox {
namespace {

// Every handoff message: one byte (SEQPACKET carries no empty message with
// ancillary data) and room for exactly one fd, aligned as cmsghdr needs.
// Lives on the stack; msg points into the object itself, hence no copies.
struct OneFdMessage {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};

  OneFdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  OneFdMessage(const OneFdMessage&) = delete;
  OneFdMessage& operator=(const OneFdMessage&) = delete;
};

}  // namespace

ListenerHandoff ListenerHandoff::create() {
  int sv[2];
  check_sys(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair",
            "seccomp listener handoff");
  return ListenerHandoff(UniqueFd(sv[0]), UniqueFd(sv[1]));
}

UniqueFd ListenerHandoff::receive() {
  OneFdMessage m;
  msghdr& msg = m.msg;
  ssize_t n = retry_eintr(
      [&] { return recvmsg(daemon_end_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
  if (n < 0 && errno == EAGAIN) return UniqueFd();
  check_sys(n, "recvmsg", "seccomp listener handoff");
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  // With MSG_CTRUNC the kernel could not install the fd (out of fds) and
  // dropped it.
  if (msg.msg_flags & MSG_CTRUNC) throw SysError(EMFILE, "recvmsg", "seccomp listener handoff");
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int)))
    throw SysError(EBADMSG, "recvmsg", "seccomp listener handoff: no fd");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

int send_fd(int sock, int fd) noexcept {
  OneFdMessage m;
  msghdr& msg = m.msg;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n = retry_eintr([&] { return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); });
  return n < 0 ? -1 : 0;
}

}  // namespace smol::sandbox
