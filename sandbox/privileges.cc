#include "sandbox/privileges.h"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace smol::sandbox {

RlimitPlan::RlimitPlan(const Rlimits& limits) {
  auto add = [this](int resource, std::optional<std::uint64_t> value, const char* name) {
    if (value) entries_[count_++] = {resource, static_cast<rlim_t>(*value), name};
  };
  add(RLIMIT_CORE, 0, "setrlimit(RLIMIT_CORE)");
  add(RLIMIT_NOFILE, limits.nofile, "setrlimit(RLIMIT_NOFILE)");
  add(RLIMIT_NPROC, limits.nproc, "setrlimit(RLIMIT_NPROC)");
  add(RLIMIT_FSIZE, limits.fsize, "setrlimit(RLIMIT_FSIZE)");
  add(RLIMIT_AS, limits.as, "setrlimit(RLIMIT_AS)");
  add(RLIMIT_STACK, limits.stack, "setrlimit(RLIMIT_STACK)");
  add(RLIMIT_CPU, limits.cpu, "setrlimit(RLIMIT_CPU)");
}

const char* RlimitPlan::apply() const noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    const rlimit lim{entries_[i].value, entries_[i].value};
    if (::setrlimit(static_cast<__rlimit_resource>(entries_[i].resource), &lim) != 0) {
      return entries_[i].name;
    }
  }
  return nullptr;
}

const char* drop_privileges(uid_t uid, gid_t gid) noexcept {
  constexpr unsigned long kSecureBits =
      SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
      SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (::prctl(PR_SET_SECUREBITS, kSecureBits, 0, 0, 0) != 0) return "prctl(PR_SET_SECUREBITS)";
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
  }
  // Up to the kernel's last capability, which answers EINVAL past it.
  for (unsigned long cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break;
    return "prctl(PR_CAPBSET_DROP)";
  }
  if (::syscall(SYS_setgroups, 0, nullptr) != 0) return "setgroups";
  if (::syscall(SYS_setresgid, gid, gid, gid) != 0) return "setresgid";
  if (::syscall(SYS_setresuid, uid, uid, uid) != 0) return "setresuid";
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return "capset";
  return nullptr;
}

}  // namespace smol::sandbox
