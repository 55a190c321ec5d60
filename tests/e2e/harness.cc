#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/sys_error.h"
#include "sandbox/cgroup.h"

namespace smol::test {
namespace {

std::string read_all(int fd) {
  std::string s;
  char buf[8192];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Waits up to timeout for the process behind pidfd to exit.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

std::string bin(const std::string& name) { return std::string(SMOL_BIN_DIR) + "/" + name; }

std::string http_get(const std::string& address, const std::string& path) {
  size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) return {};
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (::write(fd.get(), req.data(), req.size()) != static_cast<ssize_t>(req.size())) return {};
  std::string resp = read_all(fd.get());
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : resp.substr(body + 4);
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return errno == ESRCH;  // already gone
  return wait_exit(fd.get(), timeout);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

RunResult run(const std::vector<std::string>& argv_in, std::optional<uid_t> as_uid,
              std::optional<gid_t> as_gid, const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = argv_in;
  std::vector<char*> cargv = c_strings(argv);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& e : extra_env) env.push_back(e);
  std::vector<char*> cenv = c_strings(env);
  int out[2], err[2];
  check_sys(::pipe2(out, O_CLOEXEC), "pipe2");
  check_sys(::pipe2(err, O_CLOEXEC), "pipe2");
  pid_t pid = check_sys(::fork(), "fork");
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (as_gid && (::setgroups(0, nullptr) != 0 || ::setgid(*as_gid) != 0)) _exit(125);
    if (as_uid && ::setuid(*as_uid) != 0) _exit(125);
    ::execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  RunResult r;
  // stderr is drained on a thread so neither pipe can fill up and stall the child.
  std::thread t([&] { r.err = read_all(err[0]); });
  r.out = read_all(out[0]);
  t.join();
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  retry_eintr([&] { return ::waitpid(pid, &status, 0); });
  r.status = status_code(status);
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/smol-e2e-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw SysError(errno, "mkdtemp", tmpl);
  path_ = tmpl;
  // Tests run swarmctl as nobody, who must be able to reach the socket.
  check_sys(::chmod(path_.c_str(), 0755), "chmod", path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p) << content;
  return p;
}

namespace {

DaemonOptions plain_options(std::vector<std::string> extra_args, std::string state_dir) {
  DaemonOptions o;
  o.extra_args = std::move(extra_args);
  o.state_dir = std::move(state_dir);
  return o;
}

}  // namespace

Daemon::Daemon(const TempDir& dir, std::vector<std::string> extra_args, std::string state_dir)
    : Daemon(dir, plain_options(std::move(extra_args), std::move(state_dir))) {}

namespace {

UniqueFd bound_unix_socket(int type, const std::string& path) {
  ::unlink(path.c_str());
  UniqueFd fd(check_sys(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0), "socket", path));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  check_sys(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind", path);
  return fd;
}

std::string unique_cgroup_base() {
  static int n = 0;
  return "smolswarms-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// The daemon's arguments with a config that sets [cgroups] base: the test's
// own --config with that table added, or a config of just that.
void use_cgroup_base(const TempDir& dir, const std::string& base, std::vector<std::string>& args) {
  std::string table = "\n[cgroups]\nbase = \"" + base + "\"\n";
  auto given = std::find(args.begin(), args.end(), "--config");
  if (given == args.end() || given + 1 == args.end()) {
    args.push_back("--config");
    args.push_back(dir.write("harness-swarmd.toml", table));
    return;
  }
  std::ifstream in(given[1]);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("[cgroups]") != std::string::npos) return;  // the test chose
  given[1] = dir.write("harness-swarmd.toml", text.str() + table);
}

// Kills and removes whatever a daemon left under its cgroup base (it was
// killed, or failed to clean up).
void remove_cgroup_base(const std::string& base) {
  sandbox::CgroupHost host;
  try {
    host = sandbox::detect_cgroup_host();
  } catch (const std::exception&) {
    return;  // no cgroups: the daemon made none
  }
  const auto& h = host.hierarchies.front();
  std::string parent = host.version == sandbox::CgroupVersion::v1 ? h.own
                       : host.delegated.empty()                  ? h.mount_point
                                                                 : host.delegated;
  if (!std::filesystem::exists(parent + "/" + base)) return;
  sandbox::CgroupTree tree(host, {base});
  tree.remove_stale();
  tree.base().remove();
}

}  // namespace

Daemon::Daemon(const TempDir& dir, DaemonOptions options)
    : socket_(dir.path() + "/swarmd.sock"),
      state_dir_(options.state_dir.empty() ? dir.path() + "/state" : std::move(options.state_dir)),
      cgroup_base_(options.cgroup_base.empty() ? unique_cgroup_base() : options.cgroup_base),
      stderr_path_(dir.path() + "/swarmd.stderr") {
  use_cgroup_base(dir, cgroup_base_, options.extra_args);
  std::string notify_path = dir.path() + "/notify.sock";
  notify_ = bound_unix_socket(SOCK_DGRAM, notify_path);
  UniqueFd activation;
  if (options.socket_activated) {
    activation = bound_unix_socket(SOCK_STREAM, socket_);
    check_sys(::listen(activation.get(), 16), "listen", socket_);
  }

  std::vector<std::string> argv = options.wrapper;
  argv.insert(argv.end(), {bin("swarmd"), "--state-dir", state_dir_, "--socket", socket_,
                           "--metrics", "127.0.0.1:0"});
  for (auto& a : options.extra_args) argv.push_back(a);
  std::vector<char*> cargv = c_strings(argv);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) env.emplace_back(*e);
  }
  env.push_back("NOTIFY_SOCKET=" + notify_path);
  if (options.watchdog) env.push_back("WATCHDOG_USEC=" + std::to_string(options.watchdog->count()));
  // LISTEN_PID must name the daemon itself; the child fills in its pid.
  constexpr const char* kListenPid = "LISTEN_PID=";
  if (activation) {
    env.push_back("LISTEN_FDS=1");
    env.push_back(std::string(kListenPid) + std::string(20, ' '));
  }
  std::vector<char*> cenv = c_strings(env);
  char* listen_pid = activation ? cenv[cenv.size() - 2] : nullptr;
  int err_fd = check_sys(::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                0644), "open", stderr_path_);
  int pidfd = -1;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0));
  if (pid == 0) {
    // A test killed outright (a ctest timeout) takes its daemon, and with it
    // the agents, along.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(err_fd, 2);
    if (listen_pid != nullptr) {
      ::dup2(activation.get(), 3);  // SD_LISTEN_FDS_START; dup2 clears CLOEXEC
      std::snprintf(listen_pid + std::strlen(kListenPid), 20, "%d", ::getpid());
    }
    ::execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  ::close(err_fd);
  check_sys(pid, "clone");
  pid_ = pid;
  pidfd_.reset(pidfd);

  if (!wait_notification("READY=1", std::chrono::seconds(20))) {
    bool exited = wait_exit(pidfd_.get(), std::chrono::milliseconds(0));
    int st = stop(SIGKILL);
    std::ifstream in(stderr_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    throw std::runtime_error(std::string(exited ? "swarmd exited (status " + std::to_string(st) +
                                                      ") before it was ready"
                                                : "swarmd did not report READY=1 within 20 s") +
                             ":\n" + ss.str());
  }
}

bool Daemon::wait_notification(const std::string& text, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p[2] = {{notify_.get(), POLLIN, 0}, {pidfd_.get(), POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(left.count())) <= 0) return false;
    if (p[0].revents & POLLIN) {
      char buf[4096];
      ssize_t n = ::recv(notify_.get(), buf, sizeof buf, 0);
      if (n > 0 && std::string(buf, static_cast<size_t>(n)).find(text) != std::string::npos) {
        return true;
      }
    } else if (p[1].revents & POLLIN) {
      return false;  // the daemon exited
    }
  }
}

void Daemon::drain_notifications() {
  char buf[4096];
  while (::recv(notify_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) {
  }
}

Daemon::~Daemon() {
  if (running()) {
    std::vector<pid_t> kids = children();
    stop(SIGKILL);
    // Agents die with the daemon (PDEATHSIG); make sure of it.
    for (pid_t k : kids) ::kill(k, SIGKILL);
  }
  // On cgroup v1 an exiting process leaves cgroup.procs before its cgroup
  // can be removed (EBUSY for a moment): try again for a while.
  std::string why;
  bool removed = eventually(
      [&] {
        try {
          remove_cgroup_base(cgroup_base_);
          return true;
        } catch (const std::exception& e) {
          why = e.what();
          return false;
        }
      },
      std::chrono::seconds(5));
  if (!removed) {
    std::fprintf(stderr, "harness: cannot remove cgroup base %s: %s\n", cgroup_base_.c_str(),
                 why.c_str());
  }
}

int Daemon::stop(int sig) {
  if (!running()) return -1;
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0);
  if (!wait_exit(pidfd_.get(), std::chrono::seconds(30))) {
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  }
  siginfo_t info{};
  retry_eintr([&] { return ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED); });
  pid_ = -1;
  pidfd_.reset();
  if (info.si_code == CLD_EXITED) return info.si_status;
  return 128 + info.si_status;
}

RunResult Daemon::ctl(const std::vector<std::string>& args, std::optional<uid_t> as_uid,
                      std::optional<gid_t> as_gid) const {
  std::vector<std::string> argv = {bin("swarmctl"), "--socket", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, as_uid, as_gid);
}

std::string Daemon::metrics() const {
  std::string address = ctl_json({"status"})["status"]["metrics_address"];
  return http_get(address, "/metrics");
}

double Daemon::metric(const std::string& series) const {
  std::string body = "\n" + metrics();
  size_t at = body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + series.size() + 2));
}

nlohmann::json Daemon::ctl_json(const std::vector<std::string>& args) const {
  std::vector<std::string> a = args;
  a.push_back("--json");
  RunResult r = ctl(a);
  if (r.status != 0) {
    throw std::runtime_error("swarmctl failed (" + std::to_string(r.status) + "): " + r.err);
  }
  return nlohmann::json::parse(r.out);
}

std::vector<pid_t> Daemon::agent_pids(const std::string& swarm) const {
  std::vector<pid_t> pids;
  nlohmann::json ps = ctl_json({"ps", swarm});
  for (const auto& a : ps["agents"]) {
    if (a.value("pid", 0) > 0) pids.push_back(a["pid"].get<pid_t>());
  }
  return pids;
}

std::vector<pid_t> Daemon::children() const {
  std::vector<pid_t> kids;
  if (pid_ <= 0) return kids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // Field 4 (ppid) follows the command name, which may contain spaces.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == pid_) kids.push_back(std::stoi(name));
  }
  return kids;
}

}  // namespace smol::test
