// libsmolagent: the C++ SDK for writing a SmolSwarms agent.
//
// swarmd starts every agent with its end of an RPC socketpair on fd 3
// (SMOLSWARMS_FD). An agent constructs one AgentSession, calls hello() to
// join its swarm and learn who it is, does its work on the session's event
// loop, and returns from run() when the daemon asks it to shut down (or
// hangs up). The smallest agent:
//
//   smol::agent::AgentSession session;
//   auto me = session.hello();
//   session.run();
//
// Thread: an AgentSession and everything it returns belong to the thread
// that created it (it owns that thread's KJ event loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <kj/async-io.h>

namespace smol::agent {

struct Identity {
  std::string agent_id;  // "role-index"
  std::string swarm;
  std::string role;
  uint32_t index = 0;
  std::vector<std::pair<std::string, uint32_t>> peers;  // role, count
};

// This agent's answer to the swarm's vibe check (`swarmctl vibe`).
enum class Health { ok, degraded, failing };
struct Vibe {
  Health health = Health::ok;
  std::string note;
};

class AgentSession {
 public:
  // Connects to the daemon on SMOLSWARMS_FD. Throws std::runtime_error if
  // the process was not started by swarmd (no such variable or fd).
  AgentSession();
  ~AgentSession();
  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;

  // Joins the swarm as SMOLSWARMS_ROLE (or `role`, which must match what
  // the daemon started this agent as). Throws std::runtime_error with the
  // daemon's reason if refused.
  Identity hello(std::string role = {});

  // What to answer to vibe checks; by default {ok, ""}. Called on the
  // session's event loop, so only while the agent is in run() or waits on
  // the session: an agent busy elsewhere misses the check's deadline and is
  // reported as silent, which is the truth. Set it before or after hello().
  void on_vibe_check(std::function<Vibe()> answer);

  // Serves the daemon until it asks this agent to shut down or hangs up.
  // Returns the time the daemon allows for finishing up.
  std::chrono::milliseconds run();

  kj::AsyncIoContext& io();
  kj::WaitScope& wait_scope();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smol::agent
