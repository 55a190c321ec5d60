// SeccompListener against a real filter: a forked child loads the default
// program and makes refused syscalls; the test process holds the listener.
#include "sandbox/seccomp_notify.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "sandbox/seccomp_filter.h"
#include "sandbox/seccomp_handoff.h"
#include "supervisor/sandbox_profiles.h"

namespace smol::sandbox {
namespace {

// The seccomp part of a shipped profile (profiles/*.toml).
SeccompPolicy profile(std::string_view name) { return spec::builtin_profile(name).seccomp; }

const SeccompProgram& program() {
  static const SeccompProgram p(profile("default"));
  return p;
}

// A forked child under the default filter whose listener the test holds.
// The destructor kills and reaps the child if the test has not.
class ConfinedChild {
 public:
  explicit ConfinedChild(const std::function<void()>& body) {
    const SeccompProgram& prog = program();  // compiled in the parent
    ListenerHandoff handoff = ListenerHandoff::create();
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(120);
      int listener = prog.install();
      if (listener < 0 || send_fd(handoff.child_end(), listener) < 0) _exit(121);
      close(sync[1]);
      body();
      _exit(0);
    }
    close(sync[1]);
    char c;
    while (read(sync[0], &c, 1) < 0 && errno == EINTR) {
    }
    close(sync[0]);
    listener_ = std::make_unique<SeccompListener>(handoff.receive());
  }
  ~ConfinedChild() {
    if (pid_ > 0) kill_and_reap();
  }

  pid_t pid() const { return pid_; }
  SeccompListener& listener() { return *listener_; }

  // Blocks until a notification is queued (or 30 s pass: a hung test).
  bool wait_pending() {
    pollfd p{listener_->fd(), POLLIN, 0};
    return poll(&p, 1, 30000) == 1 && (p.revents & POLLIN);
  }

  // The exit code, or 128 + signal.
  int reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  int kill_and_reap() {
    kill(pid_, SIGKILL);
    return reap();
  }

 private:
  pid_t pid_ = -1;
  std::unique_ptr<SeccompListener> listener_;
};

// Exits 42 if the refused call failed with `want`.
void call_ptrace_expecting(int want) {
  long r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 11, 22, 33);
  _exit(r == -1 && errno == want ? 42 : 1);
}

TEST(SeccompNotify, NothingIsReceivedWhileNothingIsPending) {
  ConfinedChild child([] { pause(); });
  EXPECT_EQ(child.listener().receive(), std::nullopt);
  EXPECT_FALSE(child.listener().all_targets_exited());
  EXPECT_EQ(child.kill_and_reap(), 128 + SIGKILL);
}

TEST(SeccompNotify, AViolationCarriesNameNumberArchArgumentsAndPid) {
  ConfinedChild child([] { call_ptrace_expecting(EPERM); });
  ASSERT_TRUE(child.wait_pending());
  std::optional<Violation> v = child.listener().receive();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->syscall, "ptrace");
  EXPECT_EQ(v->syscall_nr, SYS_ptrace);
  EXPECT_EQ(v->arch, AUDIT_ARCH_X86_64);
  EXPECT_EQ(v->pid, child.pid());  // single-threaded: the thread id is the pid
  EXPECT_EQ(v->args[0], 0u);
  EXPECT_EQ(v->args[1], 11u);
  EXPECT_EQ(v->args[2], 22u);
  EXPECT_EQ(v->args[3], 33u);
  EXPECT_NE(v->instruction_pointer, 0u);
  EXPECT_TRUE(child.listener().respond_errno(v->id, EPERM));
  EXPECT_EQ(child.reap(), 42);
}

TEST(SeccompNotify, TheResponseChoosesTheErrnoAndEndsTheNotification) {
  ConfinedChild child([] { call_ptrace_expecting(EACCES); });
  ASSERT_TRUE(child.wait_pending());
  std::optional<Violation> v = child.listener().receive();
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(child.listener().id_valid(v->id));
  EXPECT_TRUE(child.listener().respond_errno(v->id, EACCES));
  EXPECT_FALSE(child.listener().id_valid(v->id));
  EXPECT_FALSE(child.listener().respond_errno(v->id, EPERM));  // answered already
  EXPECT_EQ(child.reap(), 42);
  EXPECT_TRUE(child.listener().all_targets_exited());
}

TEST(SeccompNotify, ANotificationWhoseThreadDiedIsGoneNotAnError) {
  ConfinedChild child([] { call_ptrace_expecting(EPERM); });
  ASSERT_TRUE(child.wait_pending());
  std::optional<Violation> v = child.listener().receive();
  ASSERT_TRUE(v.has_value());
  // The `kill` action: kill the agent; no response is needed.
  EXPECT_EQ(child.kill_and_reap(), 128 + SIGKILL);
  EXPECT_FALSE(child.listener().id_valid(v->id));
  EXPECT_FALSE(child.listener().respond_errno(v->id, EPERM));
  EXPECT_EQ(child.listener().receive(), std::nullopt);
  EXPECT_TRUE(child.listener().all_targets_exited());
}

TEST(SeccompNotify, ANotificationWithdrawnBeforeItIsReadIsSkipped) {
  ConfinedChild child([] { call_ptrace_expecting(EPERM); });
  ASSERT_TRUE(child.wait_pending());
  EXPECT_EQ(child.kill_and_reap(), 128 + SIGKILL);
  EXPECT_EQ(child.listener().receive(), std::nullopt);
}

void* unshare_thread(void*) {
  long r = syscall(SYS_unshare, CLONE_NEWUSER);
  return reinterpret_cast<void*>(r == -1 && errno == EPERM ? 1L : 0L);
}

TEST(SeccompNotify, EveryThreadOfTheAgentReportsThroughTheOneListener) {
  ConfinedChild child([] {
    pthread_t t;
    if (pthread_create(&t, nullptr, unshare_thread, nullptr) != 0) _exit(2);
    long r = syscall(SYS_ptrace, 0, 0, 0, 0);
    void* thread_ok = nullptr;
    pthread_join(t, &thread_ok);
    _exit(r == -1 && errno == EPERM && thread_ok ? 42 : 1);
  });
  std::set<std::string> names;
  std::set<pid_t> tids;
  while (names.size() < 2) {
    ASSERT_TRUE(child.wait_pending());
    std::optional<Violation> v = child.listener().receive();
    if (!v) continue;
    names.insert(v->syscall);
    tids.insert(v->pid);
    EXPECT_TRUE(child.listener().respond_errno(v->id, EPERM));
  }
  EXPECT_EQ(names, (std::set<std::string>{"ptrace", "unshare"}));
  EXPECT_EQ(tids.size(), 2u);  // thread ids: the daemon learns which thread
  EXPECT_TRUE(tids.contains(child.pid()));
  EXPECT_EQ(child.reap(), 42);
}

}  // namespace
}  // namespace smol::sandbox
