#include "sandbox/seccomp_notify.h"

#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/ioctl.h>

#include <cstdlib>
#include <cstring>

#include "base/sys_error.h"

namespace smol::sandbox {
namespace {

short poll_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  int n = retry_eintr([&] { return poll(&p, 1, 0); });
  check_sys(n, "poll", "seccomp listener");
  return n == 0 ? 0 : p.revents;
}

// Names are resolved here, in the daemon, for the architecture the call
// came from; the filter kills foreign architectures before they notify, so
// in practice that is the native one.
std::string syscall_name(std::uint32_t arch, int nr) {
  char* name = seccomp_syscall_resolve_num_arch(arch, nr);
  if (name == nullptr) return "syscall " + std::to_string(nr);
  std::string out(name);
  free(name);
  return out;
}

Violation to_violation(const seccomp_notif& n) {
  Violation v;
  v.id = n.id;
  v.pid = static_cast<pid_t>(n.pid);
  v.syscall_nr = n.data.nr;
  v.syscall = syscall_name(n.data.arch, n.data.nr);
  v.arch = n.data.arch;
  for (std::size_t i = 0; i < v.args.size(); ++i) v.args[i] = n.data.args[i];
  v.instruction_pointer = n.data.instruction_pointer;
  return v;
}

}  // namespace

std::optional<Violation> SeccompListener::receive() {
  // The RECV ioctl blocks whatever O_NONBLOCK says; poll says whether a
  // notification is queued. With one reader, one queued means RECV returns
  // at once: with it, or with ENOENT if it vanished meanwhile.
  if ((poll_now(fd_.get()) & POLLIN) == 0) return std::nullopt;
  seccomp_notif n;
  std::memset(&n, 0, sizeof n);  // the kernel rejects a struct that is not zeroed
  int rc = retry_eintr([&] { return ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &n); });
  if (rc < 0 && errno == ENOENT) return std::nullopt;
  check_sys(rc, "ioctl", "SECCOMP_IOCTL_NOTIF_RECV");
  return to_violation(n);
}

bool SeccompListener::respond_errno(std::uint64_t id, int error) {
  seccomp_notif_resp r;
  std::memset(&r, 0, sizeof r);
  r.id = id;
  r.error = -error;
  int rc = retry_eintr([&] { return ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &r); });
  // ENOENT: the notification is gone. EINPROGRESS: it is still queued but
  // not waiting for an answer: answered already, its thread not yet woken.
  if (rc < 0 && (errno == ENOENT || errno == EINPROGRESS)) return false;
  check_sys(rc, "ioctl", "SECCOMP_IOCTL_NOTIF_SEND");
  return true;
}

bool SeccompListener::id_valid(std::uint64_t id) const {
  int rc = ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
  if (rc < 0 && errno == ENOENT) return false;
  check_sys(rc, "ioctl", "SECCOMP_IOCTL_NOTIF_ID_VALID");
  return true;
}

bool SeccompListener::all_targets_exited() const { return (poll_now(fd_.get()) & POLLHUP) != 0; }

}  // namespace smol::sandbox
