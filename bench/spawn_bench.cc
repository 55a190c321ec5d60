// Spawn-to-ready benchmark: how long swarmd takes to bring N agents to
// hello, against a floor measured in the same run.
//
// floor: N plain fork+exec of a tiny program that writes one byte back on a
//        socketpair (its fd 3) and waits — the least a supervisor could do.
// swarmd: `swarmctl up` of N smol-echo-agent processes on a real daemon;
//        ready time is the daemon's own spawn-to-last-hello figure, and the
//        daemon's RSS growth is read from /proc before and after.
//
// Each size is measured several times, floor and swarmd alternating so both
// see the same machine, and the medians are printed.
//
// Usage: spawn_bench [N ...]   (default: 100 1000)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "tests/e2e/harness.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Milliseconds until n tiny children have each written their byte.
double floor_ms(int n) {
  std::string tiny = smol::test::bin("smol-bench-tiny-child");
  std::vector<smol::UniqueFd> ends;
  std::vector<pid_t> pids;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    int sv[2];
    smol::check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    pid_t pid = smol::check_sys(::fork(), "fork");
    if (pid == 0) {
      ::dup2(sv[1], 3);
      char* argv[] = {tiny.data(), nullptr};
      char* envp[] = {nullptr};
      ::execve(argv[0], argv, envp);
      _exit(127);
    }
    ::close(sv[1]);
    ends.emplace_back(sv[0]);
    pids.push_back(pid);
  }
  for (auto& e : ends) {
    char c;
    pollfd p{e.get(), POLLIN, 0};
    ::poll(&p, 1, 10000);
    if (::read(e.get(), &c, 1) != 1) std::fprintf(stderr, "floor: a child failed\n");
  }
  double ms = ms_since(start);
  ends.clear();  // hang up: the children exit
  for (pid_t p : pids) ::waitpid(p, nullptr, 0);
  return ms;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long v;
      in >> v;
      return v;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

// User + system CPU the process has used, in milliseconds.
double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);  // utime, stime
  }
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct SwarmdFigures {
  double ready_ms;
  double rss_kib_per_agent;
  double daemon_cpu_ms;
};

SwarmdFigures swarmd_run(int n) {
  smol::test::TempDir dir;
  smol::test::Daemon daemon(dir, {"--log-level", "warning"});
  std::string spec = "name = \"bench\"\n[[agents]]\nrole = \"echo\"\ncommand = [\"smol-echo-agent\"]\n"
                     "count = " + std::to_string(n) + "\n";
  std::string file = dir.write("bench.toml", spec);
  long before = rss_kib(daemon.pid());
  double cpu_before = cpu_ms(daemon.pid());
  auto up = daemon.ctl_json({"up", file, "--timeout", "120s"});
  long after = rss_kib(daemon.pid());
  double cpu = cpu_ms(daemon.pid()) - cpu_before;
  daemon.ctl({"down", "bench"});
  daemon.stop();
  return {up["ready_millis"].get<double>(), static_cast<double>(after - before) / n, cpu};
}

}  // namespace

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {100, 1000};
  std::printf("%-7s %5s %12s %12s %12s %12s %8s %14s %14s\n", "agents", "runs", "floor ms",
              "floor/agent", "swarmd ms", "swarmd/agent", "ratio", "RSS KiB/agent",
              "daemon CPU/agent");
  for (int n : sizes) {
    const int runs = n <= 100 ? 9 : 5;
    std::vector<double> floors, readies, rss, cpu;
    for (int r = 0; r < runs; ++r) {
      floors.push_back(floor_ms(n));
      SwarmdFigures s = swarmd_run(n);
      readies.push_back(s.ready_ms);
      rss.push_back(s.rss_kib_per_agent);
      cpu.push_back(s.daemon_cpu_ms / n);
    }
    double f = median(floors), t = median(readies);
    std::printf("%-7d %5d %12.1f %12.3f %12.1f %12.3f %7.2fx %14.1f %13.3f ms\n", n, runs, f,
                f / n, t, t / n, t / f, median(rss), median(cpu));
  }
  return 0;
}
