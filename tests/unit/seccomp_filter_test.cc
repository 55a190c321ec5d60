// Kernel probes for SeccompProgram: each test forks a child that loads a
// filter and tries something, while the test process plays the daemon with
// the listener. Every probe also runs unconfined (program == nullptr) to show
// it does succeed, or at least reaches the kernel, when nothing stops it:
// a probe that is broken cannot pass by failing.
#include "sandbox/seccomp_filter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <linux/sched.h>
#include <stdexcept>
#include <string>
#include <vector>

#include "sandbox/seccomp_handoff.h"
#include "sandbox/seccomp_notify.h"
#include "supervisor/sandbox_profiles.h"

namespace smol::sandbox {
namespace {

// The seccomp part of a shipped profile (profiles/*.toml).
SeccompPolicy profile(std::string_view name) { return spec::builtin_profile(name).seccomp; }

// ---- the child: probes report on fd 1 -------------------------------------

void say(const std::string& line) {
  std::string l = line + "\n";
  (void)!write(STDOUT_FILENO, l.data(), l.size());
}

// "what=ok" or "what=EPERM".
void report(const char* what, long rc) {
  say(std::string(what) + "=" + (rc >= 0 ? "ok" : strerrorname_np(errno)));
}

[[noreturn]] void child_die(const char* step) {
  say(std::string("child setup failed: ") + step + ": " + strerrorname_np(errno));
  _exit(120);
}

// ---- the daemon side ------------------------------------------------------

struct Outcome {
  std::string out;                      // the child's fds 1 and 2
  std::vector<std::string> violations;  // syscall names, as the daemon heard them
  bool signaled = false;
  int code = 0;  // exit code, or the signal

  bool killed_by(int sig) const { return signaled && code == sig; }
  bool exited(int c) const { return !signaled && code == c; }
  bool said(const std::string& s) const { return out.find(s) != std::string::npos; }
};

std::ostream& operator<<(std::ostream& os, const Outcome& r) {
  os << (r.signaled ? "signal " : "exit ") << r.code << ", violations [";
  for (const auto& v : r.violations) os << v << " ";
  return os << "], output:\n" << r.out;
}

// The child's half: confine itself, hand the listener over, run the probe.
[[noreturn]] void child_main(const SeccompProgram* program, int out_w, int sync_w,
                             int handoff_fd, const std::function<void()>& probe) {
  if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(out_w, STDERR_FILENO) < 0) child_die("dup2");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_die("PR_SET_PDEATHSIG");
  if (prctl(PR_SET_DUMPABLE, 0) < 0) child_die("PR_SET_DUMPABLE");  // no cores from SIGSYS
  if (setpgid(0, 0) < 0) child_die("setpgid");
  if (program != nullptr) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_die("PR_SET_NO_NEW_PRIVS");
    int listener = program->install();
    if (listener < 0) child_die("install");
    if (send_fd(handoff_fd, listener) < 0) child_die("send_fd");
  }
  close(sync_w);  // tells the parent the listener is on its way
  probe();
  _exit(0);
}

void serve(SeccompListener* listener, ViolationAction action, pid_t pid, int out_r, Outcome& run) {
  for (;;) {
    pollfd fds[2] = {{out_r, POLLIN, 0}, {listener ? listener->fd() : -1, POLLIN, 0}};
    int n = poll(fds, 2, 30000);  // a guard against a hung probe, not a measurement
    if (n == 0) {
      ADD_FAILURE() << "child " << pid << " hung";
      kill(-pid, SIGKILL);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << strerror(errno);
    if (fds[1].revents & POLLIN) {
      if (auto v = listener->receive()) {
        run.violations.push_back(v->syscall);
        if (action == ViolationAction::eperm)
          listener->respond_errno(v->id, EPERM);
        else
          kill(-pid, SIGKILL);  // the whole agent: its process group here
      }
    } else if (fds[1].revents & POLLHUP) {
      listener = nullptr;  // nobody uses the filter any more
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      char buf[4096];
      ssize_t got = read(out_r, buf, sizeof buf);
      if (got <= 0) return;
      run.out.append(buf, static_cast<size_t>(got));
    }
  }
}

// Runs `probe` in a child confined by `program` (nullptr: unconfined) and
// reaps it.
Outcome run_child(const SeccompProgram* program, const std::function<void()>& probe) {
  int out[2], sync[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(sync, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
  ListenerHandoff handoff = ListenerHandoff::create();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    close(out[0]);
    close(sync[0]);
    child_main(program, out[1], sync[1], handoff.child_end(), probe);
  }
  close(out[1]);
  close(sync[1]);
  char c;
  while (read(sync[0], &c, 1) < 0 && errno == EINTR) {
  }
  close(sync[0]);
  Outcome run;
  UniqueFd listener_fd = program ? handoff.receive() : UniqueFd();
  EXPECT_EQ(static_cast<bool>(listener_fd), program != nullptr);
  SeccompListener listener(std::move(listener_fd));
  serve(program && listener.fd() >= 0 ? &listener : nullptr,
        program ? program->action() : ViolationAction::kill, pid, out[0], run);
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.signaled = WIFSIGNALED(status);
  run.code = run.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  return run;
}

SeccompPolicy with_action(SeccompPolicy p, ViolationAction a) {
  p.action = a;
  return p;
}

const SeccompProgram& default_kill() {
  static const SeccompProgram p(profile("default"));
  return p;
}
const SeccompProgram& default_errno() {
  static const SeccompProgram p(with_action(profile("default"), ViolationAction::eperm));
  return p;
}
const SeccompProgram& strict_errno() {
  static const SeccompProgram p(with_action(profile("strict"), ViolationAction::eperm));
  return p;
}

using Names = std::vector<std::string>;

// ---- allowed calls work ---------------------------------------------------

void* thread_body(void* arg) {
  *static_cast<int*>(arg) = 42;
  return nullptr;
}

void files_memory_threads_probe() {
  char path[] = "/tmp/smol-seccomp-probe-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  report("open", fd);
  report("write", write(fd, "hello", 5));
  char buf[5] = {};
  report("read", pread(fd, buf, 5, 0) == 5 && std::memcmp(buf, "hello", 5) == 0 ? 0 : -1);
  void* file_map = mmap(nullptr, 5, PROT_READ, MAP_SHARED, fd, 0);
  report("mmap_file", file_map == MAP_FAILED ? -1 : 0);
  void* anon = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  report("mprotect", anon == MAP_FAILED ? -1 : mprotect(anon, 4096, PROT_READ));
  unlink(path);
  close(fd);
  int value = 0;
  pthread_t t;
  int rc = pthread_create(&t, nullptr, thread_body, &value);  // clone3 → ENOSYS → clone
  if (rc == 0) pthread_join(t, nullptr);
  report("thread", rc == 0 && value == 42 ? 0 : (errno = rc, -1));
  char rnd[16];
  report("getrandom", getrandom(rnd, sizeof rnd, 0));
}

TEST(SeccompFilter, DefaultAllowsFilesMemoryAndThreads) {
  for (const SeccompProgram* p : {static_cast<const SeccompProgram*>(nullptr), &default_kill()}) {
    Outcome r = run_child(p, files_memory_threads_probe);
    EXPECT_TRUE(r.exited(0)) << r;
    EXPECT_EQ(r.violations, Names{}) << r;
    EXPECT_EQ(r.out,
              "open=ok\nwrite=ok\nread=ok\nmmap_file=ok\nmprotect=ok\nthread=ok\ngetrandom=ok\n");
  }
}

TEST(SeccompFilter, StrictAllowsFilesMemoryAndThreads) {
  Outcome r = run_child(&strict_errno(), files_memory_threads_probe);
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
  EXPECT_EQ(r.out,
            "open=ok\nwrite=ok\nread=ok\nmmap_file=ok\nmprotect=ok\nthread=ok\ngetrandom=ok\n");
}

// ---- ptrace: the violation path, both actions -------------------------------

void ptrace_probe() {
  say("before");
  report("ptrace", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
  say("after");
}

TEST(SeccompFilter, PtraceSucceedsUnconfined) {
  Outcome r = run_child(nullptr, ptrace_probe);
  EXPECT_EQ(r.out, "before\nptrace=ok\nafter\n") << r;
}

TEST(SeccompFilter, PtraceInKillModeReachesTheDaemonByNameAndTheAgentDies) {
  Outcome r = run_child(&default_kill(), ptrace_probe);
  EXPECT_EQ(r.violations, Names{"ptrace"}) << r;
  EXPECT_TRUE(r.killed_by(SIGKILL)) << r;
  EXPECT_EQ(r.out, "before\n") << r;
}

TEST(SeccompFilter, PtraceInErrnoModeFailsWithEpermAndTheAgentGoesOn) {
  Outcome r = run_child(&default_errno(), ptrace_probe);
  EXPECT_EQ(r.violations, Names{"ptrace"}) << r;
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.out, "before\nptrace=EPERM\nafter\n") << r;
}

TEST(SeccompFilter, AlwaysDeniedSyscallsStayDeniedWhenAPolicyAllowsThem) {
  SeccompPolicy p = with_action(profile("default"), ViolationAction::eperm);
  p.allow.push_back("ptrace");
  SeccompProgram program(p);
  Outcome r = run_child(&program, ptrace_probe);
  EXPECT_EQ(r.violations, Names{"ptrace"}) << r;
  EXPECT_TRUE(r.said("ptrace=EPERM")) << r;
}

TEST(SeccompFilter, PolicyDenyWinsOverAllow) {
  SeccompPolicy p = with_action(profile("default"), ViolationAction::eperm);
  p.deny.push_back("mkdirat");
  SeccompProgram program(p);
  auto probe = [] { report("mkdirat", mkdirat(AT_FDCWD, "/nonexistent-dir/x", 0700)); };
  EXPECT_EQ(run_child(nullptr, probe).out, "mkdirat=ENOENT\n");  // reached the kernel
  Outcome r = run_child(&program, probe);
  EXPECT_EQ(r.violations, Names{"mkdirat"}) << r;
  EXPECT_EQ(r.out, "mkdirat=EPERM\n") << r;
}

// ---- sockets: AF_UNIX only -------------------------------------------------

void socket_probe() {
  report("unix", socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int sv[2];
  report("unix_pair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  // The kernel reads the domain as an int: high bits are noise to it.
  report("unix_high_bits", syscall(SYS_socket, (1UL << 32) | AF_UNIX, SOCK_STREAM, 0));
  report("inet", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  report("inet_high_bits", syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0));
  report("inet6", socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  report("netlink", socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
  report("inet_pair", socketpair(AF_INET, SOCK_STREAM, 0, sv));  // EOPNOTSUPP from the kernel
}

TEST(SeccompFilter, SocketIsAfUnixOnly) {
  Outcome free = run_child(nullptr, socket_probe);
  EXPECT_EQ(free.out,
            "unix=ok\nunix_pair=ok\nunix_high_bits=ok\ninet=ok\ninet_high_bits=ok\ninet6=ok\n"
            "netlink=ok\ninet_pair=EOPNOTSUPP\n")
      << free;
  Outcome r = run_child(&default_kill(), socket_probe);
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;  // an errno of its own, not a violation
  EXPECT_EQ(r.out,
            "unix=ok\nunix_pair=ok\nunix_high_bits=ok\ninet=EAFNOSUPPORT\n"
            "inet_high_bits=EAFNOSUPPORT\ninet6=EAFNOSUPPORT\nnetlink=EAFNOSUPPORT\n"
            "inet_pair=EAFNOSUPPORT\n")
      << r;
}

// ---- namespaces and processes ---------------------------------------------

// A raw clone: a fork-like child (no CLONE_VM) that exits at once.
long clone_and_reap(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid;
}

// unshare last: unconfined, it leaves the child in a user namespace without
// a uid map, where creating further namespaces fails.
void namespace_probe() {
  report("clone_newuser", clone_and_reap(CLONE_NEWUSER));
  report("clone_newnet", clone_and_reap(CLONE_NEWNET));
  report("setns", setns(-1, 0));  // EBADF from the kernel, when it gets there
  report("unshare_user", unshare(CLONE_NEWUSER));
}

TEST(SeccompFilter, NamespacesAreViolations) {
  Outcome free = run_child(nullptr, namespace_probe);
  EXPECT_EQ(free.out, "clone_newuser=ok\nclone_newnet=ok\nsetns=EBADF\nunshare_user=ok\n")
      << free;
  Outcome r = run_child(&default_errno(), namespace_probe);
  EXPECT_EQ(r.violations, (Names{"clone", "clone", "setns", "unshare"})) << r;
  EXPECT_EQ(r.out, "clone_newuser=EPERM\nclone_newnet=EPERM\nsetns=EPERM\nunshare_user=EPERM\n")
      << r;
}

void clone3_probe() {
  clone_args args{};
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  report("clone3", pid);
}

TEST(SeccompFilter, Clone3FailsWithEnosysAndIsNoViolation) {
  EXPECT_EQ(run_child(nullptr, clone3_probe).out, "clone3=ok\n");
  Outcome r = run_child(&default_kill(), clone3_probe);
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
  EXPECT_EQ(r.out, "clone3=ENOSYS\n") << r;
}

void fork_probe() {
  pid_t pid = fork();  // glibc: clone(SIGCHLD | CLONE_CHILD_*), no CLONE_THREAD
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, nullptr, 0);
  report("fork", pid);
}

TEST(SeccompFilter, DefaultForksAndStrictDoesNot) {
  EXPECT_EQ(run_child(&default_kill(), fork_probe).out, "fork=ok\n");
  Outcome r = run_child(&strict_errno(), fork_probe);
  EXPECT_EQ(r.violations, Names{"clone"}) << r;
  EXPECT_EQ(r.out, "fork=EPERM\n") << r;
}

// ---- ioctl: TIOCSTI and TIOCLINUX on their low 32 bits ----------------------

void tty_probe() {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) child_die("posix_openpt");
  int tty = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) child_die("open pts");
  int n = 0;
  report("fionread", ioctl(tty, FIONREAD, &n));
  char c = 'x';
  report("tiocsti", syscall(SYS_ioctl, tty, TIOCSTI, &c));
  report("tiocsti_high_bits", syscall(SYS_ioctl, tty, (1UL << 32) | TIOCSTI, &c));
  char sub = 0;  // TIOCLINUX needs a VT; on a pty the kernel answers ENOTTY
  report("tioclinux", syscall(SYS_ioctl, tty, TIOCLINUX, &sub));
}

TEST(SeccompFilter, TiocstiAndTioclinuxAreViolationsWhateverTheHighBits) {
  Outcome free = run_child(nullptr, tty_probe);
  EXPECT_EQ(free.out, "fionread=ok\ntiocsti=ok\ntiocsti_high_bits=ok\ntioclinux=ENOTTY\n")
      << free;
  Outcome r = run_child(&default_errno(), tty_probe);
  EXPECT_EQ(r.violations, (Names{"ioctl", "ioctl", "ioctl"})) << r;
  EXPECT_EQ(r.out, "fionread=ok\ntiocsti=EPERM\ntiocsti_high_bits=EPERM\ntioclinux=EPERM\n")
      << r;
}

// ---- foreign ABIs: killed by the kernel, SIGSYS ---------------------------------

void x32_probe() {
  say("before");
  constexpr long kX32SyscallBit = 0x40000000;
  constexpr long kX32Getpid = 39;
  report("x32_getpid", syscall(kX32SyscallBit | kX32Getpid));
  say("after");
}

TEST(SeccompFilter, X32SyscallKillsWithSigsys) {
  // This kernel has no x32 ABI (CONFIG_X86_X32_ABI unset): unconfined, the
  // call reaches the kernel and fails; seccomp sees it before that.
  Outcome free = run_child(nullptr, x32_probe);
  EXPECT_EQ(free.out, "before\nx32_getpid=ENOSYS\nafter\n") << free;
  Outcome r = run_child(&default_errno(), x32_probe);
  EXPECT_TRUE(r.killed_by(SIGSYS)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
  EXPECT_EQ(r.out, "before\n") << r;
}

long int80_getpid() {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(20L /* i386 getpid */) : "memory");
  return ret;
}

void* int80_thread(void* out) {
  *static_cast<long*>(out) = int80_getpid();
  return nullptr;
}

// From a second thread, so that killing only that thread (libseccomp's
// default bad-arch action) would leave the process alive to say "survived".
void int80_probe() {
  say("before");
  long ret = -1;
  pthread_t t;
  if (pthread_create(&t, nullptr, int80_thread, &ret) != 0) child_die("pthread_create");
  pthread_join(t, nullptr);
  say(ret == getpid() ? "int80_getpid=ok" : "int80_getpid=" + std::to_string(ret));
  say("survived");
}

TEST(SeccompFilter, Int80SyscallKillsTheWholeProcessWithSigsys) {
  Outcome free = run_child(nullptr, int80_probe);
  EXPECT_EQ(free.out, "before\nint80_getpid=ok\nsurvived\n") << free;
  Outcome r = run_child(&default_errno(), int80_probe);
  EXPECT_TRUE(r.killed_by(SIGSYS)) << r;
  EXPECT_EQ(r.out, "before\n") << r;
}

// ---- more of the always-denied list, personality, nested filters ---------

void io_uring_probe() {
  io_uring_params params{};
  report("io_uring_setup", syscall(SYS_io_uring_setup, 4, &params));
}

TEST(SeccompFilter, IoUringSetupIsAViolation) {
  EXPECT_EQ(run_child(nullptr, io_uring_probe).out, "io_uring_setup=ok\n");
  Outcome r = run_child(&default_errno(), io_uring_probe);
  EXPECT_EQ(r.violations, Names{"io_uring_setup"}) << r;
  EXPECT_EQ(r.out, "io_uring_setup=EPERM\n") << r;
}

void personality_probe() {
  report("query", syscall(SYS_personality, 0xffffffffUL));
  report("linux", syscall(SYS_personality, PER_LINUX));
  report("no_aslr", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
}

TEST(SeccompFilter, PersonalityOnlyWithSafeValues) {
  EXPECT_EQ(run_child(nullptr, personality_probe).out, "query=ok\nlinux=ok\nno_aslr=ok\n");
  Outcome r = run_child(&default_errno(), personality_probe);
  EXPECT_EQ(r.violations, Names{"personality"}) << r;
  EXPECT_EQ(r.out, "query=ok\nlinux=ok\nno_aslr=EPERM\n") << r;
}

void nested_filter_probe() {
  // Allows everything; only the flags matter.
  sock_filter allow_all = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{1, &allow_all};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_die("PR_SET_NO_NEW_PRIVS");
  report("plain", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
  report("listener",
         syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
}

TEST(SeccompFilter, NestedFiltersMayNotBringAListener) {
  EXPECT_EQ(run_child(nullptr, nested_filter_probe).out, "plain=ok\nlistener=ok\n");
  SeccompPolicy p = with_action(profile("default"), ViolationAction::eperm);
  p.allow.push_back("seccomp");
  SeccompProgram program(p);
  Outcome r = run_child(&program, nested_filter_probe);
  EXPECT_EQ(r.violations, Names{"seccomp"}) << r;
  EXPECT_EQ(r.out, "plain=ok\nlistener=EPERM\n") << r;
}

// mseal (462, Linux 6.10) is newer than libseccomp's table (Debian's 2.5.4
// knows up to 456).
void unknown_syscall_probe() { report("mseal", syscall(462, 1, 0, 0)); }

TEST(SeccompFilter, SyscallsUnknownToLibseccompGetEnosysWithoutViolation) {
  EXPECT_EQ(run_child(nullptr, unknown_syscall_probe).out, "mseal=EINVAL\n");
  Outcome r = run_child(&default_kill(), unknown_syscall_probe);
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
  EXPECT_EQ(r.out, "mseal=ENOSYS\n") << r;
}

// ---- real programs, and exec -----------------------------------------------

// Runs argv through SeccompProgram::exec() (or plain execve unconfined).
std::function<void()> exec_probe(const SeccompProgram* program, std::vector<const char*> argv) {
  return [program, argv]() mutable {
    argv.push_back(nullptr);
    char* envp[] = {const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    auto* args = const_cast<char* const*>(argv.data());
    if (program)
      program->exec(argv[0], args, envp);
    else
      execve(argv[0], args, envp);
    child_die("exec");
  };
}

TEST(SeccompFilter, DefaultRunsShellCoreutilsAndPythonWithoutViolations) {
  const char* script =
      "set -e; d=$(mktemp -d); cd \"$d\"; echo hi > a; cp a b; mkdir sub; mv b sub/c; "
      "ls -la sub >/dev/null; cat sub/c; sort a | wc -l; sh -c 'echo child'; "
      "find . -name c; rm -rf \"$d\"; "
      "python3 -c 'import os, threading, subprocess, json, tempfile, socket\n"
      "t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join()\n"
      "print(subprocess.run([\"echo\", \"sub\"], capture_output=True, text=True).stdout, end=\"\")\n"
      "a, b = socket.socketpair(); a.send(b\"x\"); print(b.recv(1).decode())\n"
      "print(json.dumps({\"ok\": 1}))'";
  const std::string expected = "hi\n1\nchild\n./sub/c\nthread\nsub\nx\n{\"ok\": 1}\n";
  Outcome free = run_child(nullptr, exec_probe(nullptr, {"/bin/sh", "-c", script}));
  EXPECT_TRUE(free.exited(0)) << free;
  EXPECT_EQ(free.out, expected) << free;
  // errno mode, so that every missing syscall shows up rather than only the
  // first one.
  Outcome r = run_child(&default_errno(), exec_probe(&default_errno(), {"/bin/sh", "-c", script}));
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
  EXPECT_EQ(r.out, expected) << r;
}

TEST(SeccompFilter, StrictStartsItsProgramButAllowsNoExecveAfter) {
  std::vector<const char*> argv{"/bin/sh", "-c", "echo started; exec /bin/true"};
  Outcome free = run_child(nullptr, exec_probe(nullptr, argv));
  EXPECT_TRUE(free.exited(0)) << free;
  EXPECT_EQ(free.out, "started\n") << free;
  Outcome r = run_child(&strict_errno(), exec_probe(&strict_errno(), argv));
  EXPECT_EQ(r.violations, Names{"execve"}) << r;  // sh's exec, not the spawn's
  EXPECT_TRUE(r.said("started\n")) << r;
  EXPECT_TRUE(r.said("exec: /bin/true: Operation not permitted")) << r;  // EPERM
  EXPECT_FALSE(r.exited(0)) << r;
}

TEST(SeccompFilter, StrictRefusesAnExecveWithoutTheToken) {
  auto probe = [] {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    char* envp[] = {nullptr};
    report("execve", execve("/bin/true", argv, envp));
  };
  EXPECT_TRUE(run_child(nullptr, probe).exited(0));  // /bin/true ran
  Outcome r = run_child(&strict_errno(), probe);
  EXPECT_EQ(r.violations, Names{"execve"}) << r;
  EXPECT_EQ(r.out, "execve=EPERM\n") << r;
}

TEST(SeccompFilter, DefaultAllowsExecveAfterStart) {
  EXPECT_TRUE(default_kill().exec_after_start());
  EXPECT_FALSE(strict_errno().exec_after_start());
  Outcome r = run_child(&default_kill(), exec_probe(&default_kill(), {"/bin/sh", "-c", "exec /bin/true"}));
  EXPECT_TRUE(r.exited(0)) << r;
  EXPECT_EQ(r.violations, Names{}) << r;
}

// ---- policy errors ------------------------------------------------------------

TEST(SeccompFilter, UnknownNamesAndDenyingTheSpawnPathAreRejected) {
  SeccompPolicy unknown = profile("default");
  unknown.allow.push_back("frobnicate");
  EXPECT_THROW(SeccompProgram{unknown}, std::invalid_argument);
  SeccompPolicy no_sendmsg = profile("default");
  no_sendmsg.deny.push_back("sendmsg");
  EXPECT_THROW(SeccompProgram{no_sendmsg}, std::invalid_argument);
}

TEST(SeccompFilter, InstallWithoutNoNewPrivsIsRefusedUnlessPrivileged) {
  const SeccompProgram& program = default_kill();  // compiled here, not in the child
  // As root (CAP_SYS_ADMIN) the kernel accepts a filter without
  // no_new_privs; an unprivileged child must set it. Show the latter.
  Outcome r = run_child(nullptr, [&program] {
    if (setgid(65534) < 0 || setuid(65534) < 0) child_die("setuid");
    errno = 0;
    report("install", program.install());
  });
  EXPECT_EQ(r.out, "install=EACCES\n") << r;
}

}  // namespace
}  // namespace smol::sandbox
