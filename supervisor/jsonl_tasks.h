// JsonlTasks: the task half of a jsonl agent's bridge (jsonl_bridge.h).
//
// The daemon's task calls on the agent (Agent.runTask, work, drop;
// ipc/task.capnp) become lines to the agent, and the agent's task ops
// become calls on the capabilities those calls carried (Delegator,
// Delegation, WorkDesk) and on its AgentHost (reportUsage). The lines are
// in docs/jsonl-protocol.md, "Tasks":
//
//   to the agent:   task, subtask, results, drop
//   from the agent: task.done, task.fail, task.delegate,
//                   task.cancel_remaining, subtask.progress, subtask.done,
//                   subtask.fail, usage
//
// What it keeps per agent, and the bounds:
//   - each task handed to it (runTask waiting for task.done or task.fail),
//     with its Delegator: at most kMaxTasks; a runTask over that fails.
//   - each subtask attempt given to it (work) until subtask.done,
//     subtask.fail or drop, with the WorkDesk it came with and its
//     Delegator, if any: at most kMaxAttempts; a work call that would go
//     over fails.
//   - each delegation it made until every subtask has its result, or its
//     task or attempt ends: at most kMaxDelegations; a task.delegate over
//     that is refused with an error line.
// A task or attempt that ends (answered or dropped) takes its delegations
// with it: results that come for them later are not sent to the agent.
//
// Ordering: a delegation's results lines always come after the ok line that
// names the delegation, even when the daemon sends outcomes it already had
// before the delegate call returns.
//
// Thread: the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <kj/async.h>

#include "ipc/agent.capnp.h"
#include "ipc/task.capnp.h"
#include "supervisor/jsonl_line.h"

namespace smol::supervisor::jsonl {

class JsonlTasks final : public std::enable_shared_from_this<JsonlTasks> {
 public:
  static constexpr size_t kMaxTasks = 1024;
  static constexpr size_t kMaxAttempts = 4096;
  static constexpr size_t kMaxDelegations = 1024;

  // lines must outlive this (the bridge owns both); host: the agent's.
  // Make it with std::make_shared: the capabilities it serves (ResultSink)
  // and its pending calls hold weak references to it.
  JsonlTasks(Lines& lines, rpc::AgentHost::Client host);
  // Tasks still waiting for the agent's answer fail as disconnected.
  ~JsonlTasks();
  JsonlTasks(const JsonlTasks&) = delete;
  JsonlTasks& operator=(const JsonlTasks&) = delete;

  // Agent.runTask: writes the task line; resolves with the agent's
  // task.done result, or fails with its task.fail error, when the daemon
  // drops the task, or when the same task comes again. Dropping the promise
  // (the call was cancelled) forgets the task.
  kj::Promise<kj::Array<capnp::byte>> run_task(rpc::TaskInput::Reader task,
                                               rpc::Delegator::Client delegator);

  // Agent.work: writes a subtask line per subtask; resolves once written.
  kj::Promise<void> work(capnp::List<rpc::Subtask>::Reader subtasks, rpc::WorkDesk::Client desk);

  // Agent.drop: forgets them and writes the drop line; resolves once written.
  kj::Promise<void> drop(capnp::List<uint64_t>::Reader attempts,
                         capnp::List<capnp::Text>::Reader task_ids);

  // The agent's task ops (those for which is_op is true); throws BadLine
  // for a bad line. A null result means the op has answered itself
  // (Lines::answer).
  static bool is_op(const std::string& op);
  kj::Promise<json> op(const std::string& op, const json& in);

 private:
  class Sink;
  class Desk;
  struct Task {
    uint64_t call = 0;  // which runTask call waits for the answer
    kj::Own<kj::PromiseFulfiller<kj::Array<capnp::byte>>> answer;
    rpc::Delegator::Client delegator{nullptr};
  };
  struct Attempt {
    std::shared_ptr<Desk> desk;
    rpc::Delegator::Client delegator{nullptr};
    bool can_delegate = false;
  };
  struct Delegation {
    std::string task;      // the owner: a task of this agent,
    uint64_t attempt = 0;  // or one of its attempts
    rpc::Delegation::Client client{nullptr};  // once made
    std::set<std::string> waiting;            // keys without a result yet
    bool announced = false;  // the ok line naming it is queued
    kj::Own<kj::PromiseFulfiller<void>> announce;  // fulfilled once announced
    kj::ForkedPromise<void> on_announced;
  };

  kj::Promise<json> done_or_fail(const std::string& op, const json& in);
  kj::Promise<json> delegate(const json& in);
  kj::Promise<json> cancel_remaining(const json& in);
  kj::Promise<json> report(const std::string& op, const json& in);
  kj::Promise<json> usage(const json& in);

  // A ResultSink's batch: one results line.
  kj::Promise<void> results(uint64_t delegation, capnp::List<rpc::SubtaskResult>::Reader results);

  Attempt& attempt_of(const json& in);
  void end_task(const std::string& id);
  void end_attempt(uint64_t attempt);
  void end_delegations(const std::string& task, uint64_t attempt);

  Lines& lines_;
  rpc::AgentHost::Client host_;
  std::map<std::string, Task> tasks_;
  std::map<uint64_t, Attempt> attempts_;
  std::map<uint64_t, Delegation> delegations_;
  uint64_t next_call_ = 1;
  uint64_t next_delegation_ = 1;  // the agent's handles, 1, 2, ...
  struct Errors : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}  // told to the agent already
  } errors_;
  kj::TaskSet calls_{errors_};
};

}  // namespace smol::supervisor::jsonl
