// CommandRun: one `swarmctl run`, a single command in the agent sandbox.
//
// The command runs as an Agent that belongs to no swarm (its metric label
// and work directory say "(run)") and needs no hello: it is ready once
// spawned and runs until it exits, outlives the profile's max_runtime, or
// the caller hangs up, which destroys the CommandRun and so kills it. Its
// output (stdout and stderr, in one stream) is its Agent's log, which the
// caller follows. Without a work directory of the caller's, it gets a fresh
// one, removed when the CommandRun is destroyed.
//
// Thread: the loop thread.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "supervisor/agent.h"
#include "supervisor/runtime.h"

namespace smol::supervisor {

// What a caller asks to run.
struct RunRequest {
  std::vector<std::string> argv;  // argv[0]: a bare name (searched in PATH) or a path
  std::string profile;            // a builtin profile name; empty: the default
  std::string workdir;            // host directory to work in; empty: a fresh one
  std::string base_dir;           // resolves a relative argv[0]
};

class CommandRun final : public Agent::Listener {
 public:
  // Throws std::invalid_argument for an empty argv or an unknown profile and
  // std::runtime_error for a command that cannot be found.
  CommandRun(Runtime& rt, RunRequest request);
  ~CommandRun();

  Agent& agent() noexcept { return *agent_; }

 private:
  void agent_ready(Agent&) override {}
  void agent_exited(Agent& a, bool was_ready) override;
  void describe_peers(rpc::Identity::Builder) override {}
  // A plain command never says hello, so it is granted nothing and sent no
  // requests.
  void grant(Agent&, rpc::Grants::Builder) override {}
  void agent_reply(Agent&, uint64_t, std::string, std::string) override {
    throw std::runtime_error("a command run by 'swarmctl run' has no requests to answer");
  }
  void agent_usage(Agent&, std::string_view, std::string_view, uint64_t, uint64_t) override {
    throw std::runtime_error("a command run by 'swarmctl run' has no task to report usage for");
  }
  void agent_event(Agent&, std::string_view) override {}

  Runtime& rt_;
  std::string fresh_work_dir_;  // removed afterwards; empty for the caller's own
  std::unique_ptr<Agent> agent_;
};

}  // namespace smol::supervisor
