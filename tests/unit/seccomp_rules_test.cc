// The rule table of seccomp_filter.h, checked row by row on the compiled
// BPF. The program runs in a small classic-BPF interpreter here, so every
// syscall number and thousands of argument values are checked without a
// kernel in the loop; seccomp_filter_test.cc shows the kernel agrees on
// the rows that matter most.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <random>
#include <set>
#include <string>

#include "sandbox/seccomp_filter.h"
#include "supervisor/sandbox_profiles.h"

namespace smol::sandbox {
namespace {

// The seccomp part of a shipped profile (profiles/*.toml).
SeccompPolicy profile(std::string_view name) { return spec::builtin_profile(name).seccomp; }

constexpr std::uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t kViolation = SECCOMP_RET_USER_NOTIF;
constexpr std::uint32_t kKillProcess = SECCOMP_RET_KILL_PROCESS;
constexpr std::uint32_t kEnosys = SECCOMP_RET_ERRNO | ENOSYS;
constexpr std::uint32_t kEafnosupport = SECCOMP_RET_ERRNO | EAFNOSUPPORT;

// Classic BPF as the seccomp subset uses it; the kernel's own checker
// rejects anything else.
std::uint32_t run_bpf(const std::vector<sock_filter>& prog, const seccomp_data& data) {
  std::uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  const auto* bytes = reinterpret_cast<const unsigned char*>(&data);
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& i = prog[pc];
    auto jump = [&](bool cond) { pc += cond ? i.jt : i.jf; };
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS: std::memcpy(&a, bytes + i.k, sizeof a); break;
      case BPF_LD | BPF_MEM: a = mem[i.k]; break;
      case BPF_LDX | BPF_MEM: x = mem[i.k]; break;
      case BPF_ST: mem[i.k] = a; break;
      case BPF_STX: mem[i.k] = x; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;
      case BPF_JMP | BPF_JA: pc += i.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: jump(a == i.k); break;
      case BPF_JMP | BPF_JGT | BPF_K: jump(a > i.k); break;
      case BPF_JMP | BPF_JGE | BPF_K: jump(a >= i.k); break;
      case BPF_JMP | BPF_JSET | BPF_K: jump((a & i.k) != 0); break;
      case BPF_RET | BPF_K: return i.k;
      default: ADD_FAILURE() << "unexpected BPF opcode " << i.code; return 0xdeadbeef;
    }
  }
  ADD_FAILURE() << "the program fell off its end";
  return 0xdeadbeef;
}

struct Call {
  int nr;
  std::array<std::uint64_t, 6> args{};
  std::uint32_t arch = AUDIT_ARCH_X86_64;
};

std::uint32_t verdict(const SeccompProgram& p, const Call& c) {
  seccomp_data d{};
  d.nr = c.nr;
  d.arch = c.arch;
  for (int i = 0; i < 6; ++i) d.args[i] = c.args[static_cast<std::size_t>(i)];
  return run_bpf(p.instructions(), d);
}

std::uint32_t verdict1(const SeccompProgram& p, int nr, unsigned arg, std::uint64_t value) {
  Call c{nr};
  c.args[arg] = value;
  return verdict(p, c);
}

const SeccompProgram& default_program() {
  static const SeccompProgram p(profile("default"));
  return p;
}
const SeccompProgram& strict_program() {
  static const SeccompProgram p(profile("strict"));
  return p;
}

std::set<std::string> names(std::span<const std::string_view> v) { return {v.begin(), v.end()}; }
std::set<std::string> names(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// The syscalls whose rows look at arguments; their own tests below.
const std::set<std::string> kArgumentRows = {"clone",       "ioctl",   "socket", "socketpair",
                                             "personality", "seccomp", "execve"};

void expect_plain_rows(const SeccompPolicy& policy, const SeccompProgram& program) {
  const auto allowed = names(policy.allow);
  const auto denied = names(always_denied_syscalls());
  const auto spawn_path = names(spawn_path_syscalls());
  int checked = 0;
  for (int nr = 0; nr < 1024; ++nr) {
    char* resolved = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
    if (resolved == nullptr) {
      EXPECT_EQ(verdict(program, {nr}), kEnosys) << "unknown syscall " << nr;
      continue;
    }
    const std::string name(resolved);
    free(resolved);
    if (kArgumentRows.contains(name)) continue;
    std::uint32_t want = kViolation;
    if (name == "clone3")
      want = kEnosys;
    else if (spawn_path.contains(name))
      want = kAllow;
    else if (allowed.contains(name) && !denied.contains(name))
      want = kAllow;
    EXPECT_EQ(verdict(program, {nr}), want) << name;
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST(SeccompRules, EverySyscallOfTheDefaultProfileLandsOnItsRow) {
  expect_plain_rows(profile("default"), default_program());
}

TEST(SeccompRules, EverySyscallOfTheStrictProfileLandsOnItsRow) {
  expect_plain_rows(profile("strict"), strict_program());
}

TEST(SeccompRules, AlwaysDeniedAndPolicyDeniedAreViolations) {
  SeccompPolicy p = profile("default");
  for (std::string_view d : always_denied_syscalls()) p.allow.emplace_back(d);
  p.deny = {"read", "ioctl", "clone"};
  SeccompProgram program(p);
  for (std::string_view d : always_denied_syscalls()) {
    int nr = seccomp_syscall_resolve_name(std::string(d).c_str());
    if (nr >= 0) {
      EXPECT_EQ(verdict(program, {nr}), kViolation) << d;
    }
  }
  EXPECT_EQ(verdict(program, {SYS_read}), kViolation);
  EXPECT_EQ(verdict1(program, SYS_ioctl, 1, FIONREAD), kViolation);
  EXPECT_EQ(verdict1(program, SYS_clone, 0, CLONE_VM | CLONE_THREAD), kViolation);
  EXPECT_EQ(verdict(program, {SYS_sendmsg}), kAllow);  // the spawn path, whatever the policy
}

TEST(SeccompRules, ForeignArchitecturesAndX32AreKilled) {
  for (const SeccompProgram* p : {&default_program(), &strict_program()}) {
    EXPECT_EQ(verdict(*p, {20, {}, AUDIT_ARCH_I386}), kKillProcess);  // int $0x80 getpid
    EXPECT_EQ(verdict(*p, {SYS_read, {}, AUDIT_ARCH_AARCH64}), kKillProcess);
    EXPECT_EQ(verdict(*p, {0x40000000 | 39}), kKillProcess);  // x32 getpid
    EXPECT_EQ(verdict(*p, {0x40000000 | 520}), kKillProcess);  // x32 execve
    EXPECT_EQ(verdict(*p, {0x7fffffff}), kKillProcess);
    EXPECT_EQ(verdict(*p, {-1}), kEnosys);  // what a tracer uses to skip a call
  }
}

TEST(SeccompRules, NumbersUnknownToLibseccompGetEnosys) {
  for (int nr : {457, 462, 467, 470, 600, 1000, 0x3fffffff})
    EXPECT_EQ(verdict(default_program(), {nr}), kEnosys) << nr;
}

TEST(SeccompRules, IoctlRefusesTiocstiAndTioclinuxOnTheLow32Bits) {
  const auto& p = default_program();
  for (std::uint64_t high : std::initializer_list<std::uint64_t>{0, 1ULL << 32, 0xffffffff00000000ULL}) {
    EXPECT_EQ(verdict1(p, SYS_ioctl, 1, high | TIOCSTI), kViolation);
    EXPECT_EQ(verdict1(p, SYS_ioctl, 1, high | TIOCLINUX), kViolation);
    for (std::uint64_t near : std::initializer_list<std::uint64_t>{
             TIOCSTI - 1, TIOCSTI + 1, TIOCLINUX - 1, TIOCLINUX + 1, 0, 0xffffffff, TCGETS,
             FIONREAD})
      EXPECT_EQ(verdict1(p, SYS_ioctl, 1, high | near), kAllow) << std::hex << (high | near);
  }
  std::mt19937_64 rng(4);
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t cmd = rng();
    std::uint32_t low = static_cast<std::uint32_t>(cmd);
    bool refused = low == TIOCSTI || low == TIOCLINUX;
    ASSERT_EQ(verdict1(p, SYS_ioctl, 1, cmd), refused ? kViolation : kAllow) << std::hex << cmd;
  }
}

TEST(SeccompRules, SocketDomainsOtherThanAfUnixGetEafnosupport) {
  for (const SeccompProgram* p : {&default_program()}) {
    for (int nr : {SYS_socket, SYS_socketpair}) {
      EXPECT_EQ(verdict1(*p, nr, 0, AF_UNIX), kAllow);
      EXPECT_EQ(verdict1(*p, nr, 0, (1ULL << 32) | AF_UNIX), kAllow);  // the kernel reads an int
      for (std::uint64_t d = 0; d < 64; ++d)
        if (d != AF_UNIX) {
          EXPECT_EQ(verdict1(*p, nr, 0, d), kEafnosupport) << d;
        }
      EXPECT_EQ(verdict1(*p, nr, 0, 0xffffffffULL), kEafnosupport);
    }
  }
  EXPECT_EQ(verdict1(strict_program(), SYS_socket, 0, AF_UNIX), kViolation);  // not in strict
}

TEST(SeccompRules, PersonalityOnlyWithSafeValues) {
  const auto& p = default_program();
  for (std::uint64_t ok : {0ULL, 0xffffffffULL, 1ULL << 32, 0xffffffffffffffffULL})
    EXPECT_EQ(verdict1(p, SYS_personality, 0, ok), kAllow) << std::hex << ok;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t v = rng() >> (i % 64);
    std::uint32_t low = static_cast<std::uint32_t>(v);
    bool safe = low == 0 || low == 0xffffffffU;
    ASSERT_EQ(verdict1(p, SYS_personality, 0, v), safe ? kAllow : kViolation) << std::hex << v;
  }
  EXPECT_EQ(verdict1(p, SYS_personality, 0, 0x0040000 /* ADDR_NO_RANDOMIZE */), kViolation);
}

TEST(SeccompRules, CloneMakesThreadsAndOnlyDefaultMakesProcesses) {
  constexpr std::uint64_t kThread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                    CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
                                    CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  constexpr std::uint64_t kFork = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
  constexpr std::uint64_t kVfork = CLONE_VM | CLONE_VFORK | SIGCHLD;
  const auto& d = default_program();
  const auto& s = strict_program();
  EXPECT_EQ(verdict1(d, SYS_clone, 0, kThread), kAllow);
  EXPECT_EQ(verdict1(s, SYS_clone, 0, kThread), kAllow);
  EXPECT_EQ(verdict1(d, SYS_clone, 0, kFork), kAllow);
  EXPECT_EQ(verdict1(d, SYS_clone, 0, kVfork), kAllow);
  EXPECT_EQ(verdict1(s, SYS_clone, 0, kFork), kViolation);
  EXPECT_EQ(verdict1(s, SYS_clone, 0, kVfork), kViolation);
  for (std::uint64_t ns : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                           CLONE_NEWPID, CLONE_NEWNET}) {
    for (std::uint64_t base : std::initializer_list<std::uint64_t>{kThread, kFork, 0}) {
      EXPECT_EQ(verdict1(d, SYS_clone, 0, base | ns), kViolation) << std::hex << (base | ns);
      EXPECT_EQ(verdict1(s, SYS_clone, 0, base | ns), kViolation) << std::hex << (base | ns);
    }
  }
  EXPECT_EQ(verdict1(d, SYS_clone3, 0, 0), kEnosys);
  EXPECT_EQ(verdict1(s, SYS_clone3, 0, 0), kEnosys);
}

TEST(SeccompRules, SeccompMayStackFiltersButNotListeners) {
  SeccompPolicy policy = profile("default");
  policy.allow.push_back("seccomp");
  SeccompProgram p(policy);
  EXPECT_EQ(verdict1(p, SYS_seccomp, 1, 0), kAllow);
  EXPECT_EQ(verdict1(p, SYS_seccomp, 1, SECCOMP_FILTER_FLAG_TSYNC), kAllow);
  EXPECT_EQ(verdict1(p, SYS_seccomp, 1, SECCOMP_FILTER_FLAG_NEW_LISTENER), kViolation);
  EXPECT_EQ(verdict1(p, SYS_seccomp, 1, SECCOMP_FILTER_FLAG_NEW_LISTENER | 1), kViolation);
  EXPECT_EQ(verdict1(default_program(), SYS_seccomp, 1, 0), kViolation);  // not in default
}

TEST(SeccompRules, ExecveWithoutTheTokenIsAViolationOnlyWhereExecIsNotAllowed) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t r10 = i == 0 ? 0 : rng();
    EXPECT_EQ(verdict1(strict_program(), SYS_execve, 3, r10), kViolation);
    EXPECT_EQ(verdict1(default_program(), SYS_execve, 3, r10), kAllow);
  }
  EXPECT_EQ(verdict(strict_program(), {SYS_execveat}), kViolation);
  EXPECT_EQ(verdict(default_program(), {SYS_execveat}), kAllow);
}

TEST(SeccompRules, ProgramsFitTheKernelLimit) {
  EXPECT_LT(default_program().instructions().size(), static_cast<std::size_t>(BPF_MAXINSNS));
  EXPECT_LT(strict_program().instructions().size(), static_cast<std::size_t>(BPF_MAXINSNS));
  sock_fprog f = default_program().fprog();
  EXPECT_EQ(f.len, default_program().instructions().size());
  EXPECT_EQ(f.filter, default_program().instructions().data());
}

TEST(SeccompRules, EachCompileDrawsItsOwnExecToken) {
  // Two programs of one policy differ exactly in the token's two words.
  SeccompProgram a(profile("strict")), b(profile("strict"));
  ASSERT_EQ(a.instructions().size(), b.instructions().size());
  int differing = 0;
  for (std::size_t i = 0; i < a.instructions().size(); ++i)
    differing += std::memcmp(&a.instructions()[i], &b.instructions()[i], sizeof(sock_filter)) != 0;
  EXPECT_GE(differing, 1);
  EXPECT_LE(differing, 2);
}

}  // namespace
}  // namespace smol::sandbox
