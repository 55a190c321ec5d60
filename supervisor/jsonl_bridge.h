// JsonlBridge: the daemon's end of fd 3 for an agent that speaks
// newline-delimited JSON (docs/jsonl-protocol.md) instead of Cap'n Proto.
//
// It translates, it does not reimplement: every line the agent sends
// becomes a call on the very capabilities a C++ agent would hold. The bridge
// is a local client of the agent's AgentHost (its hello, reply and
// reportUsage) and of the Grants hello returns (Outbox, Broadcaster,
// Memory); and it hands hello an Agent capability of its own, whose
// deliver, vibe, shutdown, runTask, work and drop become lines to the agent.
// So permissions, bounds, backpressure and metrics are the same for both
// protocols by construction. The task half (runs, subtasks, delegations and
// what the bridge keeps of them) is jsonl_tasks.h.
//
// Framing: a line longer than max_line bytes is a protocol error (the
// on_protocol_error hook stops the agent); a line that is not a JSON object,
// or names an unknown op or a field of the wrong type, is answered with an
// error line naming the problem, and the agent carries on. Answers to ops
// with an id go out as they complete, in any order.
//
// Flow control: deliver (like work, drop and a ResultSink's results)
// resolves once its lines are written to the socket, so an agent that stops
// reading fills its socket, then its mailbox, and then its senders are held
// back. Reading is one line at a time: the next line is
// read only after the current one was dispatched (its answer may come later).
//
// Thread: the loop thread. The Agent that owns it destroys it when the
// process exits; calls still arriving on its Agent capability then fail as
// disconnected.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <kj/async-io.h>

#include "base/unique_fd.h"
#include "ipc/agent.capnp.h"
#include "ipc/event_loop.h"

namespace smol::supervisor {

class JsonlBridge {
 public:
  // Takes the daemon's (non-blocking) end of the agent's socketpair. role:
  // what the agent was started as, which a hello without one says.
  JsonlBridge(ipc::EventLoop& loop, UniqueFd fd, rpc::AgentHost::Client host, std::string role,
              size_t max_line, std::function<void(std::string why)> on_protocol_error);
  ~JsonlBridge();
  JsonlBridge(const JsonlBridge&) = delete;
  JsonlBridge& operator=(const JsonlBridge&) = delete;

  // Resolves when the agent closes its end; fails with the reason when
  // reading fails (a reset connection, say).
  kj::Promise<void> on_disconnect();

  struct State;  // shared with the Agent capability the bridge serves

 private:
  std::shared_ptr<State> state_;
};

}  // namespace smol::supervisor
