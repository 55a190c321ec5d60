// Harness for end-to-end tests: a real swarmd in a private temp directory,
// driven by the real swarmctl.
//
// The daemon gets its own state dir, control socket and an ephemeral
// metrics port, and is waited for the way systemd waits for it: through a
// NOTIFY_SOCKET owned by the harness, until READY=1 (no sleeps). Everything
// it starts is found by ids the harness recorded (the daemon's pid and its
// children, its cgroup base), and is killed and reaped, with the temp dir and
// any cgroups it left removed, when the harness is destroyed.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/unique_fd.h"

namespace smol::test {

struct RunResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv to completion, capturing stdout and stderr. With as_uid/as_gid,
// the child drops to that user first (groups cleared).
RunResult run(const std::vector<std::string>& argv, std::optional<uid_t> as_uid = std::nullopt,
              std::optional<gid_t> as_gid = std::nullopt,
              const std::vector<std::string>& extra_env = {});

// Path of a built binary (swarmd, swarmctl, smol-echo-agent).
std::string bin(const std::string& name);

// Re-checks pred every few milliseconds until it holds or timeout passes.
// Only for state the daemon exposes by query alone (e.g. restart counts);
// prefer waiting for the event itself (wait_gone, `logs -f`).
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// GET http://address/path over loopback; returns the body ("" on failure).
std::string http_get(const std::string& address, const std::string& path);

// True while a process with this pid exists (zombies included).
bool process_exists(pid_t pid);

// Waits, through a pidfd, until the process has exited; false on timeout.
// Works for any process, not only our children.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(10));

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes a file under the dir and returns its path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// How to start swarmd, beyond its private paths.
struct DaemonOptions {
  std::vector<std::string> extra_args;
  std::string state_dir;          // empty: a fresh one under the temp dir
  bool socket_activated = false;  // pass the control socket as systemd would
  std::optional<std::chrono::microseconds> watchdog;  // WATCHDOG_USEC, as systemd would
  // [cgroups] base; empty: one unique to this Daemon. Two Daemons given the
  // same one act as a daemon and its successor.
  std::string cgroup_base;
  // A program (and its arguments) that swarmd is started through; it must
  // exec swarmd in the same process, as systemd's helpers do.
  std::vector<std::string> wrapper;
};

class Daemon {
 public:
  // Starts swarmd on state_dir (a fresh one under dir if empty).
  explicit Daemon(const TempDir& dir, std::vector<std::string> extra_args = {},
                  std::string state_dir = {});
  Daemon(const TempDir& dir, DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& state_dir() const { return state_dir_; }
  // The daemon's cgroup base ([cgroups] base), unique to this Daemon so that
  // tests running side by side never touch each other's cgroups.
  const std::string& cgroup_base() const { return cgroup_base_; }
  const std::string& stderr_path() const { return stderr_path_; }

  // swarmctl --socket <ours> args...
  RunResult ctl(const std::vector<std::string>& args, std::optional<uid_t> as_uid = std::nullopt,
                std::optional<gid_t> as_gid = std::nullopt) const;
  // ctl(args + --json), parsed; fails the test if it does not exit 0.
  nlohmann::json ctl_json(const std::vector<std::string>& args) const;

  // The daemon's /metrics page, scraped now.
  std::string metrics() const;
  // The value of one series, written as on that page
  // ("smolswarms_swarms", "name{label=\"v\",...}"); -1 when it is absent.
  double metric(const std::string& series) const;

  // Agent pids the daemon reports for a swarm (running agents only).
  std::vector<pid_t> agent_pids(const std::string& swarm) const;
  // Pids whose parent is the daemon.
  std::vector<pid_t> children() const;

  // Waits for an sd_notify message containing `text` from the daemon.
  bool wait_notification(const std::string& text, std::chrono::milliseconds timeout);
  // Reads and drops every sd_notify message the daemon has sent so far.
  // The notify socket queues only net.unix.max_dgram_qlen (10) messages and
  // swarmd blocks in sd_notify when it is full (systemd always reads): a test
  // that changes many swarms without waiting for notifications drains it.
  void drain_notifications();

  // Sends sig and waits for the daemon to exit; returns its exit status.
  int stop(int sig = SIGTERM);
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd notify_;
  std::string socket_;
  std::string state_dir_;
  std::string cgroup_base_;
  std::string stderr_path_;
};

}  // namespace smol::test
