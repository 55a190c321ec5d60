#include "agent_runtime/tasks.h"

#include <stdexcept>
#include <utility>

#include "agent_runtime/task_runner.h"
#include "ipc/rpc_error.h"

namespace smol::agent {

Delegation::Delegation(std::shared_ptr<State> state) : state_(std::move(state)) {}
Delegation::~Delegation() = default;
Delegation::Delegation(Delegation&&) noexcept = default;
Delegation& Delegation::operator=(Delegation&&) noexcept = default;

const std::vector<DelegationRefusal>& Delegation::refused() const { return state_->refused; }

size_t Delegation::remaining() const {
  return state_->expected - state_->received + state_->ready.size();
}

std::optional<SubtaskOutcome> Delegation::next() {
  while (state_->ready.empty() && state_->received < state_->expected) {
    state_->owner->runner->wait_for(*state_);
  }
  if (state_->ready.empty()) return std::nullopt;
  SubtaskOutcome o = std::move(state_->ready.front());
  state_->ready.pop_front();
  return o;
}

std::vector<SubtaskOutcome> Delegation::wait_all() {
  std::vector<SubtaskOutcome> out;
  while (auto o = next()) out.push_back(std::move(*o));
  return out;
}

uint32_t Delegation::cancel_remaining() {
  uint32_t cancelled = 0;
  try {
    for (auto& handle : state_->handles) {
      cancelled += handle.cancelRemainingRequest().send().wait(*state_->wait_scope).getCancelled();
    }
  } catch (const kj::Exception& e) {
    throw std::runtime_error("cancel_remaining: " + ipc::remote_reason(e));
  }
  return cancelled;
}

WorkContext::WorkContext(std::shared_ptr<State> state) : state_(std::move(state)) {}
WorkContext::~WorkContext() = default;

const std::string& WorkContext::task_id() const { return state_->task_id; }
const std::string& WorkContext::input() const { return state_->input; }
bool WorkContext::can_delegate() const { return state_->delegator.has_value(); }
bool WorkContext::cancelled() const { return state_->cancelled; }

Delegation WorkContext::delegate(const std::vector<SubtaskSpec>& subtasks,
                                 const DelegateOptions& options) {
  return state_->runner->delegate(state_, subtasks, options);
}

void WorkContext::report_usage(const std::string& model, uint64_t input_tokens,
                               uint64_t output_tokens) {
  state_->runner->report_usage(state_->task_id, model, input_tokens, output_tokens);
}

bool TaskContext::resumed() const { return state_->resumed; }
uint64_t TaskContext::budget_tokens() const { return state_->budget_tokens; }

const std::string& SubtaskContext::key() const { return state_->key; }
uint32_t SubtaskContext::attempt() const { return state_->number; }
std::chrono::milliseconds SubtaskContext::timeout() const {
  return std::chrono::milliseconds(state_->timeout_ms);
}
void SubtaskContext::progress(float fraction, const std::string& note) {
  state_->runner->progress(*state_, fraction, note);
}

}  // namespace smol::agent
