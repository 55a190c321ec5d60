#include "sandbox/seccomp_filter.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::sandbox {
namespace {

constexpr std::uint32_t kViolation = SCMP_ACT_NOTIFY;
constexpr std::uint32_t kAllow = SCMP_ACT_ALLOW;
constexpr std::uint64_t kLow32 = 0xffffffffULL;
constexpr std::uint64_t kCloneNewFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                         CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
// Above every native x86_64 syscall number (they end below 512). x32's carry
// bit 30, and the arch check kills them before any of these rules.
constexpr int kSyscallNumberLimit = 1024;

using NameSet = std::unordered_set<std::string_view>;

// Owns a libseccomp filter context.
class FilterContext {
 public:
  FilterContext() : ctx_(seccomp_init(SCMP_ACT_ERRNO(ENOSYS))) {
    if (ctx_ == nullptr) throw SysError(ENOMEM, "seccomp_init");
  }
  ~FilterContext() { seccomp_release(ctx_); }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

void check_libseccomp(int rc, const char* call, std::string_view what_on) {
  if (rc < 0) throw SysError(-rc, call, what_on);
}

// A rule with at most one comparison; libseccomp allows one per argument.
void add_rule(const FilterContext& f, std::uint32_t action, int nr, const char* name,
              const scmp_arg_cmp* cmp = nullptr) {
  int rc = cmp ? seccomp_rule_add_exact_array(f.get(), action, nr, 1, cmp)
               : seccomp_rule_add_exact(f.get(), action, nr, 0);
  check_libseccomp(rc, "seccomp_rule_add", name);
}

void add_masked(const FilterContext& f, std::uint32_t action, int nr, const char* name,
                unsigned arg, std::uint64_t mask, std::uint64_t value) {
  scmp_arg_cmp cmp{arg, SCMP_CMP_MASKED_EQ, mask, value};
  add_rule(f, action, nr, name, &cmp);
}

// Gives every value of argument `arg`, read as the kernel reads an int (its
// low 32 bits), exactly one action: `in` for `values`, `out` for all others.
//
// libseccomp cannot say "any other value": a syscall that has argument rules
// falls through to the filter's default action (ENOSYS here) when none
// matches, and an unconditional rule erases its argument rules. So "all
// others" is spelled out as a binary trie: walking the bits from the top,
// each prefix that no listed value has becomes one masked rule. That is at
// most 32 rules per listed value, evaluated only for this syscall.
void add_split_rec(const FilterContext& f, int nr, const char* name, unsigned arg,
                   const std::vector<std::uint32_t>& values, std::uint32_t in, std::uint32_t out,
                   std::uint32_t prefix, int depth) {
  if (depth == 32) {
    add_masked(f, in, nr, name, arg, kLow32, prefix);
    return;
  }
  const std::uint32_t bit = 1U << (31 - depth);
  const std::uint32_t mask = ~(bit - 1);  // bits 31..(31-depth)
  for (std::uint32_t side : {0U, bit}) {
    std::vector<std::uint32_t> here;
    for (std::uint32_t v : values)
      if ((v & bit) == side) here.push_back(v);
    if (here.empty())
      add_masked(f, out, nr, name, arg, mask, prefix | side);
    else
      add_split_rec(f, nr, name, arg, here, in, out, prefix | side, depth + 1);
  }
}

void add_split(const FilterContext& f, int nr, const char* name, unsigned arg,
               const std::vector<std::uint32_t>& values, std::uint32_t in, std::uint32_t out) {
  add_split_rec(f, nr, name, arg, values, in, out, 0, 0);
}

// clone(flags, ...): threads always, processes only with "fork", never a
// namespace. x86_64's clone reads flags as the low 32 bits, where every
// CLONE_NEW* bit lives.
void add_clone_rules(const FilterContext& f, int nr, bool processes) {
  for (std::uint64_t bit = 1; bit <= kCloneNewFlags; bit <<= 1)
    if (kCloneNewFlags & bit) add_masked(f, kViolation, nr, "clone", 0, bit, bit);
  if (processes) {
    add_masked(f, kAllow, nr, "clone", 0, kCloneNewFlags, 0);
    return;
  }
  add_masked(f, kAllow, nr, "clone", 0, kCloneNewFlags | CLONE_THREAD, CLONE_THREAD);
  add_masked(f, kViolation, nr, "clone", 0, CLONE_THREAD, 0);
}

// seccomp(op, flags, args): more filters may stack, but a filter with a
// listener of its own would win ties with ours (the newest filter's
// notification is the one delivered) and could answer "continue".
void add_seccomp_rules(const FilterContext& f, int nr) {
  add_masked(f, kAllow, nr, "seccomp", 1, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
  add_masked(f, kViolation, nr, "seccomp", 1, SECCOMP_FILTER_FLAG_NEW_LISTENER,
             SECCOMP_FILTER_FLAG_NEW_LISTENER);
}

// execve without "execve": only with the token in its unused 4th argument.
// EQ and NE on the full 64 bits, so together they cover every value.
void add_exec_gate(const FilterContext& f, int nr, std::uint64_t token) {
  scmp_arg_cmp eq{3, SCMP_CMP_EQ, token, 0};
  scmp_arg_cmp ne{3, SCMP_CMP_NE, token, 0};
  add_rule(f, kAllow, nr, "execve", &eq);
  add_rule(f, kViolation, nr, "execve", &ne);
}

// The rules for one allowed syscall that the filter looks into.
void add_allowed(const FilterContext& f, int nr, std::string_view name, const NameSet& allowed) {
  const char* n = name.data();  // names come from libseccomp: NUL-terminated
  if (name == "clone") {
    add_clone_rules(f, nr, allowed.contains("fork"));
  } else if (name == "ioctl") {
    add_split(f, nr, n, 1, {TIOCSTI, TIOCLINUX}, kViolation, kAllow);
  } else if (name == "socket" || name == "socketpair") {
    add_split(f, nr, n, 0, {AF_UNIX}, kAllow, SCMP_ACT_ERRNO(EAFNOSUPPORT));
  } else if (name == "personality") {
    add_split(f, nr, n, 0, {0, 0xffffffffU}, kAllow, kViolation);
  } else if (name == "seccomp") {
    add_seccomp_rules(f, nr);
  } else {
    add_rule(f, kAllow, nr, n);
  }
}

NameSet to_set(std::span<const std::string_view> names) { return NameSet(names.begin(), names.end()); }

NameSet to_set(const std::vector<std::string>& names) { return NameSet(names.begin(), names.end()); }

void check_policy(const SeccompPolicy& policy) {
  for (const auto* names : {&policy.allow, &policy.deny}) {
    if (auto bad = unknown_syscall(*names)) throw std::invalid_argument("unknown syscall: " + *bad);
  }
  NameSet spawn_path = to_set(spawn_path_syscalls());
  for (const std::string& d : policy.deny) {
    if (spawn_path.contains(d))
      throw std::invalid_argument("cannot deny " + d + ": the spawn path needs it after seccomp");
  }
}

// The filter's attributes: the default action (ENOSYS) is set at init; a
// foreign architecture kills the whole process (libseccomp's default,
// SCMP_ACT_KILL, kills only the thread); BPF as a binary tree of syscall
// numbers, so a syscall costs O(log n) comparisons, not a walk of 300.
void set_attributes(const FilterContext& f) {
  check_libseccomp(seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                   "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH");
  check_libseccomp(seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "seccomp_attr_set",
                   "SCMP_FLTATR_CTL_OPTIMIZE");
}

// What the policy lets through after deny and the always-denied list.
NameSet effective_allow(const SeccompPolicy& policy) {
  NameSet allowed = to_set(policy.allow);
  for (const std::string& d : policy.deny) allowed.erase(d);
  for (std::string_view d : always_denied_syscalls()) allowed.erase(d);
  return allowed;
}

// One row per syscall number libseccomp knows for this architecture.
void add_rules(const FilterContext& f, const NameSet& allowed, std::uint64_t token) {
  const NameSet spawn_path = to_set(spawn_path_syscalls());
  const std::uint32_t arch = seccomp_arch_native();
  for (int nr = 0; nr < kSyscallNumberLimit; ++nr) {
    char* resolved = seccomp_syscall_resolve_num_arch(arch, nr);
    if (resolved == nullptr) continue;  // unknown: the default action, ENOSYS
    const std::string name(resolved);
    free(resolved);
    if (name == "clone3") continue;  // ENOSYS, the default action
    if (spawn_path.contains(name)) {
      add_rule(f, kAllow, nr, name.c_str());
    } else if (allowed.contains(name)) {
      add_allowed(f, nr, name, allowed);
    } else if (name == "execve") {
      add_exec_gate(f, nr, token);
    } else {
      add_rule(f, kViolation, nr, name.c_str());
    }
  }
}

// libseccomp 2.5 exports BPF only to an fd; a memfd keeps it in memory.
std::vector<sock_filter> export_bpf(const FilterContext& f) {
  UniqueFd fd(check_sys(memfd_create("smol-seccomp-bpf", MFD_CLOEXEC), "memfd_create"));
  check_libseccomp(seccomp_export_bpf(f.get(), fd.get()), "seccomp_export_bpf", "memfd");
  struct stat st {};
  check_sys(fstat(fd.get(), &st), "fstat", "memfd");
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size % sizeof(sock_filter) != 0 || size / sizeof(sock_filter) > BPF_MAXINSNS)
    throw std::length_error("seccomp: BPF program of " + std::to_string(size) + " bytes");
  std::vector<sock_filter> bpf(size / sizeof(sock_filter));
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = retry_eintr([&] {
      return pread(fd.get(), reinterpret_cast<char*>(bpf.data()) + done, size - done,
                   static_cast<off_t>(done));
    });
    if (check_sys(n, "pread", "memfd") == 0) throw SysError(EIO, "pread", "memfd: short");
    done += static_cast<std::size_t>(n);
  }
  return bpf;
}

// Nonzero, so that an execve whose r10 happens to be 0 never passes.
std::uint64_t draw_exec_token() {
  std::uint64_t token = 0;
  while (token == 0) {
    ssize_t n = retry_eintr([&] { return getrandom(&token, sizeof token, 0); });
    check_sys(n, "getrandom");
  }
  return token;
}

}  // namespace

SeccompProgram::SeccompProgram(const SeccompPolicy& policy)
    : exec_token_(draw_exec_token()), action_(policy.action) {
  check_policy(policy);
  const NameSet allowed = effective_allow(policy);
  exec_after_start_ = allowed.contains("execve");
  FilterContext f;
  set_attributes(f);
  add_rules(f, allowed, exec_token_);
  bpf_ = export_bpf(f);
}

int SeccompProgram::install() const noexcept {
  sock_fprog prog = fprog();
  return static_cast<int>(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, kInstallFlags, &prog));
}

int SeccompProgram::exec(const char* path, char* const argv[], char* const envp[]) const noexcept {
  return static_cast<int>(syscall(SYS_execve, path, argv, envp, exec_token_));
}

sock_fprog SeccompProgram::fprog() const noexcept {
  return sock_fprog{static_cast<unsigned short>(bpf_.size()),
                    const_cast<sock_filter*>(bpf_.data())};
}

}  // namespace smol::sandbox
