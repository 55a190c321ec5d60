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
// Messaging: on_message() receives what other agents (and the operator)
// send; send() is a direct message, coalesced with the sends queued behind
// it into one call to the daemon; broadcast() reaches every other agent;
// request() waits for the recipient's reply(). What the agent may do is
// its role's grant (Permissions, from hello): a call outside it fails with
// the daemon's reason.
//
// Calls that wait (hello, flush, broadcast, request, and Memory's) run the
// session's event loop while they wait, so handlers keep being called; they
// cannot be made from inside a handler (KJ forbids waiting there). From a
// handler, use send() and reply(), which never wait.
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

#include "agent_runtime/tasks.h"

namespace smol::agent {

enum class Access { none, read, read_write };

// What this agent's role may do ([agents.permissions] of its swarm spec).
struct Permissions {
  std::vector<std::string> dm_roles;  // roles it may send() and request() to
  bool broadcast = false;
  Access short_term = Access::none, working = Access::none, long_term = Access::none;
  uint32_t max_payload = 0;  // bytes; a bigger payload is a protocol error
};

struct Identity {
  std::string agent_id;  // "role-index"
  std::string swarm;
  std::string role;
  uint32_t index = 0;
  std::vector<std::pair<std::string, uint32_t>> peers;  // role, count
  Permissions permissions;
};

struct Message {
  enum class Kind { dm, broadcast, request, undeliverable };
  Kind kind = Kind::dm;
  std::string from;  // an agent id, or "operator"
  std::string topic;
  std::string payload;
  uint64_t request_id = 0;  // kind request: answer with reply()
  // kind undeliverable: why one of this agent's own messages did not
  // arrive (from names the recipient; topic and payload are the original's).
  std::string reason;
};

struct BroadcastResult {
  uint32_t recipients = 0;
  std::vector<std::string> refused;  // agents whose queue was full
};

class Memory;

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

  // Called on the session's loop for every message, in order. Set it before
  // hello(): messages can arrive as soon as the swarm knows the agent.
  void on_message(std::function<void(const Message&)> handler);

  // Queues a direct message to an agent id ("worker-3") or "role/index" and
  // returns at once; sends are coalesced into batches, one call to the
  // daemon in flight at a time. A message the daemon refuses comes back to
  // on_message as kind undeliverable. Outside a handler, send() waits while
  // many are queued locally (the daemon holds back a sender whose
  // recipient is slow, and so does this). Throws if the role may not dm.
  void send(const std::string& to, std::string topic, std::string payload);
  // Waits until every message sent so far is queued by the daemon.
  void flush();

  // To every other agent of the swarm; agents whose queue is full are
  // skipped and named in the result. Throws if the role may not broadcast.
  BroadcastResult broadcast(std::string topic, std::string payload);

  // Sends one message, after the send()s before it, and waits for its
  // reply (deadline 0: the daemon's default, 30 s). Throws
  // std::runtime_error on timeout, on an error reply, or when the recipient
  // stops first; std::logic_error, sending nothing, inside a handler.
  std::string request(const std::string& to, std::string topic, std::string payload,
                      std::chrono::milliseconds deadline = std::chrono::milliseconds(0));

  // How long request() keeps running the event loop for its reply before it
  // sleeps (reply_wait.h): polling keeps the CPU awake, and a reply through
  // swarmd then comes back in about half the time on a VM. It spends this
  // agent's CPU, at most `budget` a request, and only while recent replies
  // came within it, the agent may run on more than one CPU and its
  // [limits] cpu (if any) is at least one core. Default 200 us; 0 turns it
  // off.
  void set_reply_polling(std::chrono::microseconds budget);

  // Answers a request (Message::request_id) with a payload, or with an
  // error the requester's request() throws. Never waits.
  void reply(uint64_t request_id, std::string payload);
  void reply_error(uint64_t request_id, std::string error);

  // The swarm's memory as far as the role may use it; null before hello or
  // when no tier is granted.
  Memory* memory();

  // Tasks (tasks.h): a lead's handler gets each task the swarm is given, a
  // worker's each subtask; run() calls them. Set them before hello().
  void on_task(std::function<std::string(TaskContext&)> handler);
  void on_subtask(std::function<std::string(SubtaskContext&)> handler);
  // Model usage outside any task (inside one, use the context's), counted
  // against the swarm's and this agent's token budgets. Never waits.
  void report_usage(const std::string& model, uint64_t input_tokens, uint64_t output_tokens);

  // Serves the daemon until it asks this agent to shut down or hangs up,
  // running the task handlers as tasks come. Returns the time the daemon
  // allows for finishing up.
  std::chrono::milliseconds run();

  kj::AsyncIoContext& io();
  kj::WaitScope& wait_scope();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smol::agent
