// TaskRunner: the inside of libsmolagent's task support (tasks.h); not part
// of the public API.
//
// The daemon's runTask and work calls arrive as event callbacks, where KJ
// forbids waiting, but handlers want to wait (for outcomes, for memory). So
// the calls only queue jobs; AgentSession::run() waits for jobs and runs
// each at the top of the stack, where waiting is allowed. A lead's runTask
// answer is the handler's return, sent when the job finishes; a worker's
// outcome and progress go back through the WorkDesk, coalesced: while one
// report is in flight, the next ones pile up into one call.
//
// Thread: the session's.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <kj/async.h>

#include "agent_runtime/tasks.h"
#include "ipc/agent.capnp.h"

namespace smol::agent {

struct Delegation::State {
  std::vector<rpc::Delegation::Client> handles;  // one per delegate call it took
  std::vector<DelegationRefusal> refused;
  size_t expected = 0;  // accepted subtasks
  size_t received = 0;
  std::deque<SubtaskOutcome> ready;
  kj::Own<kj::PromiseFulfiller<void>> wake;  // next() waiting
  std::shared_ptr<WorkContext::State> owner;
  kj::WaitScope* wait_scope = nullptr;
};

struct WorkContext::State {
  std::string task_id;
  std::string key;  // a subtask's; "" for a lead's task
  std::string input;
  uint64_t attempt = 0;  // a subtask's attempt id
  uint32_t number = 0;
  uint32_t timeout_ms = 0;
  bool resumed = false;
  uint64_t budget_tokens = 0;
  bool cancelled = false;
  std::optional<rpc::Delegator::Client> delegator;
  std::vector<std::weak_ptr<Delegation::State>> delegations;
  class TaskRunner* runner = nullptr;
};

class TaskRunner {
 public:
  using LeadHandler = std::function<std::string(TaskContext&)>;
  using WorkerHandler = std::function<std::string(SubtaskContext&)>;

  // disconnected: resolves when the daemon hangs up.
  TaskRunner(rpc::AgentHost::Client host, kj::WaitScope& wait_scope,
             kj::ForkedPromise<void>& disconnected);
  ~TaskRunner();

  void on_task(LeadHandler h) { lead_ = std::move(h); }
  void on_subtask(WorkerHandler h) { worker_ = std::move(h); }

  // From the AgentServer (event callbacks: they only queue).
  kj::Promise<kj::Array<kj::byte>> run_task(rpc::TaskInput::Reader task,
                                            rpc::Delegator::Client delegator);
  void work(capnp::List<rpc::Subtask>::Reader subtasks, rpc::WorkDesk::Client desk);
  void drop(capnp::List<uint64_t>::Reader attempts, capnp::List<capnp::Text>::Reader task_ids);

  // For run(): resolves once a job is queued.
  kj::Promise<void> job_queued();
  // Runs the queued jobs, one after the other, at the top of the stack.
  void run_jobs();

  // For WorkContext and Delegation.
  Delegation delegate(std::shared_ptr<WorkContext::State> ctx,
                      const std::vector<SubtaskSpec>& subtasks, const DelegateOptions& options);
  void report_usage(const std::string& task_id, const std::string& model, uint64_t in,
                    uint64_t out);
  void progress(const WorkContext::State& ctx, float fraction, const std::string& note);
  // Waits for d's next outcome (or its task's cancellation, or a hang-up).
  void wait_for(Delegation::State& d);

 private:
  struct Job {
    std::shared_ptr<WorkContext::State> ctx;
    kj::Own<kj::PromiseFulfiller<kj::Array<kj::byte>>> answer;  // a lead's runTask
  };
  struct Update {
    uint64_t attempt;
    enum class Kind { progress, result, error } kind;
    float fraction;
    std::string text;
  };
  class Sink;
  class Errors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  void run_one(Job& job);
  void report(Update u);
  void send_reports();
  void cancel(WorkContext::State& ctx);

  rpc::AgentHost::Client host_;
  kj::WaitScope& wait_scope_;
  kj::ForkedPromise<void>& disconnected_;
  LeadHandler lead_;
  WorkerHandler worker_;
  std::deque<Job> queue_;
  kj::Own<kj::PromiseFulfiller<void>> queued_;  // run() waiting for a job
  std::map<uint64_t, std::shared_ptr<WorkContext::State>> attempts_;  // queued or running
  std::map<std::string, std::shared_ptr<WorkContext::State>> tasks_;  // a lead's, by id
  rpc::WorkDesk::Client desk_{nullptr};
  std::vector<Update> reports_;
  bool reporting_ = false;
  Errors errors_;
  kj::TaskSet calls_{errors_};
};

}  // namespace smol::agent
