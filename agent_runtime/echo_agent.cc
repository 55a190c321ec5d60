// smol-echo-agent: the example agent used by the demo, tests and benchmarks.
// It joins its swarm, says who it is (and $GREETING, if set) on stdout, and
// waits until the daemon asks it to stop. Every message it receives is
// printed on a line of its own, and every request is answered with
// "echo: " and the request's payload.
//
//   smol-echo-agent [--exit-after MS [--exit-code N]] [--vibe HEALTH[:NOTE]]
//
// With --exit-after it instead leaves on its own MS milliseconds after hello,
// with exit code N (default 0): a well-behaved agent whose work is done, or
// a failing one, for trying restart policies. To vibe checks it answers ok
// with the note "echoing", or what --vibe says (ok, degraded or failing).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include "agent_runtime/smolagent.h"

namespace {

constexpr const char* kUsage =
    "usage: smol-echo-agent [--exit-after MS [--exit-code N]] [--vibe HEALTH[:NOTE]]";

struct Options {
  std::optional<long> exit_after_ms;
  int exit_code = 0;
  smol::agent::Vibe vibe{smol::agent::Health::ok, "echoing"};
};

smol::agent::Vibe vibe_arg(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw std::invalid_argument(std::string("--vibe needs HEALTH[:NOTE]; ") + kUsage);
  std::string v = argv[++i];
  std::string health = v.substr(0, v.find(':'));
  std::string note = v.find(':') == std::string::npos ? "" : v.substr(v.find(':') + 1);
  if (health == "ok") return {smol::agent::Health::ok, note};
  if (health == "degraded") return {smol::agent::Health::degraded, note};
  if (health == "failing") return {smol::agent::Health::failing, note};
  throw std::invalid_argument("--vibe: health must be ok, degraded or failing, not '" + health + "'");
}

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
    } else if (std::strcmp(argv[i], "--vibe") == 0) {
      o.vibe = vibe_arg(argc, argv, i);
    } else {
      throw std::invalid_argument(std::string("unknown argument: ") + argv[i] + " (" + kUsage + ")");
    }
  }
  return o;
}

const char* kind_name(smol::agent::Message::Kind k) {
  switch (k) {
    case smol::agent::Message::Kind::dm: return "dm";
    case smol::agent::Message::Kind::broadcast: return "broadcast";
    case smol::agent::Message::Kind::request: return "request";
    case smol::agent::Message::Kind::undeliverable: return "undeliverable";
  }
  return "message";
}

void print_message(const std::string& self, const smol::agent::Message& m) {
  std::printf("%s: %s from %s", self.c_str(), kind_name(m.kind), m.from.c_str());
  if (!m.topic.empty()) std::printf(" [%s]", m.topic.c_str());
  std::printf(": %.*s", static_cast<int>(std::min<size_t>(m.payload.size(), 200)), m.payload.data());
  if (!m.reason.empty()) std::printf(" (%s)", m.reason.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = parse(argc, argv);
    smol::agent::AgentSession session;
    session.on_vibe_check([vibe = opt.vibe] { return vibe; });
    std::string self;
    session.on_message([&session, &self](const smol::agent::Message& m) {
      print_message(self, m);
      if (m.kind == smol::agent::Message::Kind::request) session.reply(m.request_id, "echo: " + m.payload);
    });
    smol::agent::Identity me = session.hello();
    self = me.agent_id;
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
