// smol-echo-agent: the example agent used by the demo, tests and benchmarks.
// It joins its swarm, says who it is (and $GREETING, if set) on stdout, and
// waits until the daemon asks it to stop.
//
//   smol-echo-agent [--exit-after MS [--exit-code N]]
//
// With --exit-after it instead leaves on its own MS milliseconds after hello,
// with exit code N (default 0): a well-behaved agent whose work is done, or
// a failing one, for trying restart policies.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>

#include "agent_runtime/smolagent.h"

namespace {

struct Options {
  std::optional<long> exit_after_ms;
  int exit_code = 0;
};

long number_arg(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a number");
  char* end = nullptr;
  long v = std::strtol(argv[++i], &end, 10);
  if (*end != '\0' || v < 0) {
    throw std::invalid_argument(std::string(argv[i - 1]) + ": not a number: " + argv[i]);
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--exit-after") == 0) {
      o.exit_after_ms = number_arg(argc, argv, i);
    } else if (std::strcmp(argv[i], "--exit-code") == 0) {
      o.exit_code = static_cast<int>(number_arg(argc, argv, i) & 0xff);
    } else {
      throw std::invalid_argument(std::string("unknown argument: ") + argv[i] +
                                  " (usage: smol-echo-agent [--exit-after MS [--exit-code N]])");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = parse(argc, argv);
    smol::agent::AgentSession session;
    smol::agent::Identity me = session.hello();
    const char* greeting = std::getenv("GREETING");
    std::printf("%s: %s from swarm %s (%zu roles)\n", me.agent_id.c_str(),
                greeting ? greeting : "hello", me.swarm.c_str(), me.peers.size());
    std::fflush(stdout);
    if (opt.exit_after_ms) {
      // The session keeps serving the daemon while the timer runs.
      session.io().provider->getTimer()
          .afterDelay(*opt.exit_after_ms * kj::MILLISECONDS)
          .wait(session.wait_scope());
      std::printf("%s: done, exiting with code %d\n", me.agent_id.c_str(), opt.exit_code);
      return opt.exit_code;
    }
    auto grace = session.run();
    std::printf("%s: shutting down (allowed %lld ms)\n", me.agent_id.c_str(),
                static_cast<long long>(grace.count()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-echo-agent: %s\n", e.what());
    return 1;
  }
}
