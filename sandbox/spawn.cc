#include "sandbox/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "sandbox/clone3.h"
#include "sandbox/namespaces.h"

namespace smol::sandbox {
namespace {

// Where the child writes down the step that failed. It shares the parent's
// memory (CLONE_VM), so a plain struct is the channel.
struct ChildFailure {
  int err = 0;
  const char* step = nullptr;
};

// Everything the child needs, prepared by the parent so the child only makes
// system calls.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  int null_fd;
  int rpc_fd;
  int log_fd;
  int daemon_pidfd;  // readable once the daemon has died
  const Confinement* confinement;  // null: unconfined
  const CgroupPlacement* cgroup;   // null: stays in the daemon's cgroup
  ChildFailure* failure;
  bool cloned_into_cgroup = false;  // clone3 placed it already (v2)
};

// Where the child's own fds of the confinement ended up after step 2.
struct ConfinementFds {
  int landlock = -1;
  int handoff = -1;
};

constexpr int kFirstSpareFd = 10;  // above every fd the child will end up with
constexpr int kAgentRpcFd = 3;

[[noreturn]] void child_fail(const ChildPlan& p, const char* step) {
  p.failure->err = errno;
  p.failure->step = step;
  _exit(127);
}

// Step 1: leave the daemon's session and die with it.
void child_detach(const ChildPlan& p) {
  if (setsid() < 0) child_fail(p, "setsid");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(p, "prctl(PR_SET_PDEATHSIG)");
  // The daemon may have died between clone and prctl; then nobody would
  // ever send the death signal. (getppid() cannot tell: in a new PID
  // namespace it is always 0.)
  pollfd daemon{p.daemon_pidfd, POLLIN, 0};
  if (poll(&daemon, 1, 0) != 0) {
    errno = ESRCH;
    child_fail(p, "poll(daemon pidfd)");
  }
}

// Step 1b: into the agent's cgroup before anything else, so its limits
// hold from here on; then, for an agent, a cgroup namespace rooted there,
// which it could not have had at clone time (it was still in the daemon's).
// The placement's fds may have any number, 0..3 included: this runs before
// step 2 moves anything there.
void child_join_cgroup(const ChildPlan& p) {
  if (p.cgroup != nullptr && !p.cloned_into_cgroup && p.cgroup->join_self() != 0) {
    child_fail(p, "write(cgroup.procs)");
  }
  if (p.confinement != nullptr && unshare(CLONE_NEWCGROUP) != 0) {
    child_fail(p, "unshare(CLONE_NEWCGROUP)");
  }
}

// Step 2a: the confinement's own fds go above 3 before anything lands there.
ConfinementFds child_lift_confinement_fds(const ChildPlan& p) {
  ConfinementFds fds;
  if (p.confinement == nullptr) return fds;
  if (p.confinement->landlock_fd() >= 0) {
    fds.landlock = fcntl(p.confinement->landlock_fd(), F_DUPFD_CLOEXEC, kFirstSpareFd);
    if (fds.landlock < 0) child_fail(p, "fcntl(F_DUPFD, landlock)");
  }
  fds.handoff = fcntl(p.confinement->handoff_fd(), F_DUPFD_CLOEXEC, kFirstSpareFd);
  if (fds.handoff < 0) child_fail(p, "fcntl(F_DUPFD, handoff)");
  return fds;
}

// Step 2b: put /dev/null, the log pipe and the RPC socket at 0..3. Sources are
// first moved above 3 so that no dup2 can overwrite a source not yet copied.
void child_place_fds(const ChildPlan& p) {
  const int sources[] = {p.null_fd, p.log_fd, p.rpc_fd};
  int moved[3];
  for (int i = 0; i < 3; ++i) {
    moved[i] = fcntl(sources[i], F_DUPFD, kFirstSpareFd);
    if (moved[i] < 0) child_fail(p, "fcntl(F_DUPFD)");
  }
  if (dup2(moved[0], STDIN_FILENO) < 0) child_fail(p, "dup2(stdin)");
  if (dup2(moved[1], STDOUT_FILENO) < 0) child_fail(p, "dup2(stdout)");
  if (dup2(moved[1], STDERR_FILENO) < 0) child_fail(p, "dup2(stderr)");
  if (dup2(moved[2], kAgentRpcFd) < 0) child_fail(p, "dup2(fd 3)");
}

// Step 3: nothing else of the daemon's crosses exec. Marking the fds
// close-on-exec rather than closing them here matters: a daemon with
// thousands of agents holds thousands of fds, and this child runs while the
// daemon is suspended (CLONE_VFORK). execve() closes them after it has
// released the daemon.
void child_close_other_fds(const ChildPlan& p) {
  if (syscall(SYS_close_range, kAgentRpcFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (errno != ENOSYS && errno != EINVAL) child_fail(p, "close_range");
  // Kernels before 5.11: close them one by one.
  long max_fd = sysconf(_SC_OPEN_MAX);
  for (long fd = kAgentRpcFd + 1; fd < max_fd; ++fd) close(static_cast<int>(fd));
}

// Step 4: default dispositions and an empty mask, whatever the daemon set up
// (the daemon ignores SIGPIPE and libuv handles SIGTERM/SIGINT). Handlers of
// the parent must not run in this child: it shares the parent's memory.
void child_reset_signals(const ChildPlan& p) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0) continue;  // reserved by libc
    if (old.sa_handler != SIG_DFL) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) child_fail(p, "sigprocmask");
}

// Step 2c: the confinement's fds go to 4 and 5, and 6 is left free for the
// seccomp listener. This child's fd table is a copy of the daemon's, whose
// low numbers are all taken, and once RLIMIT_NOFILE is lowered every new fd
// must fit under it: without a free low slot, seccomp() fails with EMFILE.
ConfinementFds child_settle_confinement_fds(const ChildPlan& p, ConfinementFds lifted) {
  ConfinementFds fds;
  if (lifted.landlock >= 0) {
    fds.landlock = dup3(lifted.landlock, kAgentRpcFd + 1, O_CLOEXEC);
    if (fds.landlock < 0) child_fail(p, "dup3(landlock, 4)");
  }
  fds.handoff = dup3(lifted.handoff, kAgentRpcFd + 2, O_CLOEXEC);
  if (fds.handoff < 0) child_fail(p, "dup3(handoff, 5)");
  close(kAgentRpcFd + 3);
  return fds;
}

int child_main(void* arg) {
  const ChildPlan& p = *static_cast<const ChildPlan*>(arg);
  child_reset_signals(p);
  child_detach(p);
  child_join_cgroup(p);
  const ConfinementFds lifted = child_lift_confinement_fds(p);
  child_place_fds(p);
  if (p.confinement == nullptr) {
    child_close_other_fds(p);
    execve(p.path, p.argv, p.envp);
    child_fail(p, "execve");
  }
  const ConfinementFds fds = child_settle_confinement_fds(p, lifted);
  if (const char* failed = p.confinement->apply_until_seccomp(fds.landlock)) {
    child_fail(p, failed);
  }
  child_close_other_fds(p);
  child_fail(p, p.confinement->apply_seccomp_and_exec(fds.handoff, p.path, p.argv, p.envp));
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The child's stack, one per spawning thread. Only one child runs on it at a
// time: CLONE_VFORK keeps the spawning thread suspended until the child execs.
class ChildStack {
 public:
  ChildStack() {
    mem_ = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                -1, 0);
    if (mem_ == MAP_FAILED) throw SysError(errno, "mmap", "child stack");
  }
  ~ChildStack() { munmap(mem_, kSize); }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  void* top() const { return static_cast<char*>(mem_) + kSize; }
  void* base() const { return mem_; }
  static constexpr size_t size() { return kSize; }

 private:
  static constexpr size_t kSize = 64 * 1024;
  void* mem_;
};

// Blocks every signal for the lifetime of the object, so no handler of the
// daemon's can run in the child before it resets them.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

// Starts the child with clone3, straight into its cgroup where the placement
// allows it (v2); falls back to clone(2) where clone3 or CLONE_INTO_CGROUP
// is missing, and the child then joins its cgroup itself. Returns the pid
// or -1 with errno.
pid_t clone_child(int flags, const ChildStack& stack, ChildPlan& plan, int* pidfd) {
  static std::atomic<bool> no_clone3{false}, no_into_cgroup{false};
  while (!no_clone3.load(std::memory_order_relaxed)) {
    const int into = plan.cgroup != nullptr && !no_into_cgroup.load(std::memory_order_relaxed)
                         ? plan.cgroup->clone_into_fd()
                         : -1;
    clone_args args{};
    args.flags = static_cast<uint64_t>(flags & ~CSIGNAL) | (into >= 0 ? CLONE_INTO_CGROUP : 0);
    args.exit_signal = static_cast<uint64_t>(flags & CSIGNAL);
    args.pidfd = reinterpret_cast<uint64_t>(pidfd);
    args.stack = reinterpret_cast<uint64_t>(stack.base());
    args.stack_size = ChildStack::size();
    args.cgroup = into >= 0 ? static_cast<uint64_t>(into) : 0;
    plan.cloned_into_cgroup = into >= 0;
    pid_t pid = clone3_run(&args, child_main, &plan);
    if (pid >= 0) return pid;
    // Kernels 5.3 to 5.6 have clone3 but no cgroup field: E2BIG for the
    // larger struct (EINVAL for the flag). The child then joins by itself.
    if (into >= 0 && (errno == E2BIG || errno == EINVAL)) {
      no_into_cgroup.store(true, std::memory_order_relaxed);
      continue;
    }
    if (errno != ENOSYS) return pid;
    no_clone3.store(true, std::memory_order_relaxed);
  }
  plan.cloned_into_cgroup = false;
  return clone(child_main, stack.top(), flags, &plan, pidfd);
}

}  // namespace

SpawnError::SpawnError(int code, std::string step, std::string_view what_on)
    : SysError(code, step, what_on), step_(std::move(step)) {}

Child spawn(const SpawnRequest& req) {
  const auto began = std::chrono::steady_clock::now();
  thread_local ChildStack stack;
  thread_local UniqueFd null_fd(
      check_sys(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open", "/dev/null"));
  static const UniqueFd daemon_pidfd(check_sys(
      static_cast<int>(::syscall(SYS_pidfd_open, getpid(), 0)), "pidfd_open", "swarmd"));
  std::optional<Confinement> confinement;
  if (req.confine) confinement.emplace(*req.confine, req.path);
  std::vector<char*> argv = c_strings(req.argv);
  std::vector<char*> envp = c_strings(req.env);
  ChildFailure failure;
  ChildPlan plan{req.path.c_str(),   argv.data(),
                 envp.data(),        null_fd.get(),
                 req.rpc_fd,         req.log_fd,
                 daemon_pidfd.get(), confinement ? &*confinement : nullptr,
                 req.cgroup ? &*req.cgroup : nullptr, &failure};

  int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD;
  if (confinement) flags |= kCloneNamespaces;
  int pidfd = -1;
  pid_t pid;
  {
    AllSignalsBlocked blocked;
    pid = clone_child(flags, stack, plan, &pidfd);
  }
  if (pid < 0) throw SysError(errno, "clone", req.path);
  Child child;
  child.pid = pid;
  child.pidfd.reset(pidfd);
  if (failure.step != nullptr) {
    // The child has already _exit()ed; reap it so no zombie is left.
    siginfo_t info;
    waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED);
    throw SpawnError(failure.err, failure.step, req.path);
  }
  if (confinement) {
    try {
      child.seccomp_listener = confinement->take_listener();
      if (!child.seccomp_listener) throw SysError(EPROTO, "recvmsg", "seccomp listener");
    } catch (...) {
      // Without its listener nobody could answer the agent's violations.
      signal_child(child.pidfd.get(), SIGKILL);
      siginfo_t info;
      waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED);
      throw;
    }
    child.landlock = confinement->landlock_summary();
    child.landlocked = confinement->landlocked();
  }
  child.setup_time = std::chrono::steady_clock::now() - began;
  return child;
}

namespace {

// Whether /proc/PID/status lists sig among the caught signals (SigCgt, a hex
// mask with bit sig-1 for each). Unreadable counts as not caught.
bool catches(pid_t pid, int sig) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[4096];
  ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf - 1); });
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nSigCgt:");
  if (line == nullptr) return false;
  unsigned long long mask = std::strtoull(line + 8, nullptr, 16);
  return (mask >> (sig - 1)) & 1;
}

}  // namespace

bool terminate_child(int pidfd, pid_t pid) {
  return signal_child(pidfd, catches(pid, SIGTERM) ? SIGTERM : SIGKILL);
}

bool signal_child(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
  if (errno == ESRCH) return false;
  throw SysError(errno, "pidfd_send_signal", std::to_string(sig));
}

}  // namespace smol::sandbox
