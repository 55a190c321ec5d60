// smol-load-agent: a test agent that says hello and then leans on one
// resource, so tests can watch swarmd's limits hold. One of:
//
//   --hog MIB        touches MIB mebibytes of memory, 1 MiB at a time,
//                    printing "hogged N MiB" every 8 MiB
//   --fork-bomb      forks children that wait forever until a fork fails,
//                    then prints "fork refused after N children: <error>"
//   --spin           burns CPU on a thread, printing "cpu N ms" each time
//                    another 100 ms of CPU time is used
//   --daemonize      leaves a grandchild behind the classic way (fork,
//                    setsid, fork, the middle one exits) and prints
//                    "daemonized"
//   --busy           prints "busy" and blocks in its main thread for good,
//                    never serving the daemon again: a hung agent
//
// In every other mode it then serves the daemon until asked to shut down,
// like smol-echo-agent. After hello it prints "cpu limit N" if swarmd gave
// it SMOLSWARMS_CPU_LIMIT.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "agent_runtime/smolagent.h"

namespace {

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void hog(long mib) {
  constexpr size_t kMiB = 1 << 20;
  for (long i = 1; i <= mib; ++i) {
    void* m = ::mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      say("mmap failed after " + std::to_string(i - 1) + " MiB: " + std::strerror(errno));
      return;
    }
    std::memset(m, 1, kMiB);
    if (i % 8 == 0) say("hogged " + std::to_string(i) + " MiB");
  }
}

void fork_bomb() {
  for (long n = 0;; ++n) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    if (pid < 0) {
      say("fork refused after " + std::to_string(n) + " children: " + std::strerror(errno));
      return;
    }
  }
}

double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void spin() {
  std::thread([] {
    long reported = 0;
    say("cpu 0 ms");
    for (;;) {
      long used = static_cast<long>(thread_cpu_ms()) / 100 * 100;
      if (used > reported) {
        reported = used;
        say("cpu " + std::to_string(used) + " ms");
      }
    }
  }).detach();
}

void daemonize() {
  pid_t middle = ::fork();
  if (middle == 0) {
    ::setsid();
    if (::fork() == 0) {
      for (;;) ::pause();
    }
    ::_exit(0);
  }
  ::waitpid(middle, nullptr, 0);
  say("daemonized");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::invalid_argument("usage: smol-load-agent --hog MIB|--fork-bomb|--spin|--daemonize");
    std::string mode = argv[1];
    smol::agent::AgentSession session;
    smol::agent::Identity me = session.hello();
    if (const char* cpu = std::getenv("SMOLSWARMS_CPU_LIMIT")) say(std::string("cpu limit ") + cpu);
    say(me.agent_id + ": " + mode);
    if (mode == "--hog" && argc > 2) {
      hog(std::strtol(argv[2], nullptr, 10));
    } else if (mode == "--fork-bomb") {
      fork_bomb();
    } else if (mode == "--spin") {
      spin();
    } else if (mode == "--daemonize") {
      daemonize();
    } else if (mode == "--busy") {
      say("busy");
      for (;;) ::pause();
    } else {
      throw std::invalid_argument("unknown mode " + mode);
    }
    session.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-load-agent: %s\n", e.what());
    return 1;
  }
}
