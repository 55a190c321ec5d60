// smol-echo-agent: the example agent used by the demo, tests and benchmarks.
// It joins its swarm, says who it is (and $GREETING, if set) on stdout, and
// waits until the daemon asks it to stop.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "agent_runtime/smolagent.h"

int main() {
  try {
    smol::agent::AgentSession session;
    smol::agent::Identity me = session.hello();
    const char* greeting = std::getenv("GREETING");
    std::printf("%s: %s from swarm %s (%zu roles)\n", me.agent_id.c_str(),
                greeting ? greeting : "hello", me.swarm.c_str(), me.peers.size());
    std::fflush(stdout);
    auto grace = session.run();
    std::printf("%s: shutting down (allowed %lld ms)\n", me.agent_id.c_str(),
                static_cast<long long>(grace.count()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-echo-agent: %s\n", e.what());
    return 1;
  }
}
