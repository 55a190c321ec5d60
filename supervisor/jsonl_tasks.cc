#include "supervisor/jsonl_tasks.h"

#include <set>
#include <utility>

#include <kj/debug.h>

#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"

namespace smol::supervisor::jsonl {

namespace {

// An answer known at once. (Not the Promise<json> constructor: g++ 12
// warns that the json it moves from may be uninitialized.)
kj::Promise<json> now(json answer) {
  return kj::Promise<void>(kj::READY_NOW).then([answer = std::move(answer)]() mutable {
    return std::move(answer);
  });
}

const char* outcome_name(rpc::SubtaskResult::Outcome o) {
  switch (o) {
    case rpc::SubtaskResult::Outcome::SUCCEEDED: return "succeeded";
    case rpc::SubtaskResult::Outcome::FAILED: return "failed";
    case rpc::SubtaskResult::Outcome::CANCELLED: return "cancelled";
  }
  return "failed";
}

}  // namespace

// ---- The capabilities served to the daemon ----

// One delegation's ResultSink: its batches become results lines.
class JsonlTasks::Sink final : public rpc::ResultSink::Server {
 public:
  Sink(std::weak_ptr<JsonlTasks> tasks, uint64_t delegation)
      : tasks_(std::move(tasks)), delegation_(delegation) {}

 protected:
  kj::Promise<void> results(ResultsContext ctx) override {
    auto tasks = tasks_.lock();
    if (!tasks) throw KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone");
    return tasks->results(delegation_, ctx.getParams().getResults());
  }

 private:
  std::weak_ptr<JsonlTasks> tasks_;
  uint64_t delegation_;
};

// The reports to one WorkDesk (the one a work call came with). While a
// report call is in flight, later updates pile up for the next one, and a
// newer progress of an attempt replaces the older one still waiting.
class JsonlTasks::Desk final : public std::enable_shared_from_this<Desk> {
 public:
  struct Update {
    uint64_t attempt = 0;
    enum class Kind { progress, result, error } kind = Kind::progress;
    float fraction = 0;
    std::string text;  // the note, the result or the error
  };

  explicit Desk(rpc::WorkDesk::Client client) : client_(kj::mv(client)) {}

  // Resolves once the report call carrying u has returned. calls holds
  // the calls in flight (and keeps this alive while one is).
  kj::Promise<void> add(Update u, kj::TaskSet& calls) {
    if (u.kind == Update::Kind::progress) {
      for (Update& waiting : next_) {
        if (waiting.attempt == u.attempt && waiting.kind == Update::Kind::progress) {
          waiting = std::move(u);
          return next_sent_->addBranch();
        }
      }
    }
    if (next_.empty()) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      next_done_ = kj::mv(paf.fulfiller);
      next_sent_ = paf.promise.fork();
    }
    next_.push_back(std::move(u));
    auto sent = next_sent_->addBranch();
    if (!in_flight_) send(calls);
    return sent;
  }

 private:
  void send(kj::TaskSet& calls) {
    auto req = client_.reportRequest();
    auto list = req.initUpdates(static_cast<unsigned>(next_.size()));
    for (unsigned i = 0; i < list.size(); ++i) {
      const Update& u = next_[i];
      list[i].setAttempt(u.attempt);
      switch (u.kind) {
        case Update::Kind::progress: {
          auto p = list[i].initProgress();
          p.setFraction(u.fraction);
          p.setNote(u.text);
          break;
        }
        case Update::Kind::result: list[i].setResult(ipc::data_of(u.text)); break;
        case Update::Kind::error: list[i].setError(u.text); break;
      }
    }
    next_.clear();
    next_sent_ = std::nullopt;  // the branches taken keep it going
    in_flight_ = true;
    calls.add(req.send()
                  .then([](auto&&) -> kj::Maybe<kj::Exception> { return nullptr; },
                        [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
                  .then([self = shared_from_this(), done = kj::mv(next_done_),
                         &calls](kj::Maybe<kj::Exception> failed) mutable {
                    KJ_IF_MAYBE (e, failed) {
                      done->reject(kj::mv(*e));
                    } else {
                      done->fulfill();
                    }
                    self->in_flight_ = false;
                    if (!self->next_.empty()) self->send(calls);
                  }));
  }

  rpc::WorkDesk::Client client_;
  std::vector<Update> next_;  // for the next call
  kj::Own<kj::PromiseFulfiller<void>> next_done_;
  std::optional<kj::ForkedPromise<void>> next_sent_;
  bool in_flight_ = false;
};

// ---- JsonlTasks ----

JsonlTasks::JsonlTasks(Lines& lines, rpc::AgentHost::Client host)
    : lines_(lines), host_(kj::mv(host)) {}

JsonlTasks::~JsonlTasks() {
  for (auto& [id, t] : tasks_) t.answer->reject(KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone"));
}

kj::Promise<kj::Array<capnp::byte>> JsonlTasks::run_task(rpc::TaskInput::Reader task,
                                                         rpc::Delegator::Client delegator) {
  std::string id = task.getId();
  auto it = tasks_.find(id);
  if (it != tasks_.end()) {
    // The daemon's earlier call for it is answered no more.
    it->second.answer->reject(ipc::rpc_error("task " + id + " was handed to this agent again"));
  } else if (tasks_.size() >= kMaxTasks) {
    throw ipc::rpc_error("this jsonl agent has " + std::to_string(kMaxTasks) +
                         " tasks running, the most it may have");
  }
  uint64_t call = next_call_++;
  auto paf = kj::newPromiseAndFulfiller<kj::Array<capnp::byte>>();
  tasks_[id] = Task{call, kj::mv(paf.fulfiller), kj::mv(delegator)};
  lines_.write_line({{"op", "task"},
                     {"task", id},
                     {"input", ipc::payload_of(task.getInput())},
                     {"resumed", task.getResumed()},
                     {"budget_tokens", task.getBudgetTokens()}});
  return paf.promise.attach(kj::defer([weak = weak_from_this(), id, call] {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->tasks_.find(id);
    if (it != self->tasks_.end() && it->second.call == call) self->end_task(id);
  }));
}

kj::Promise<void> JsonlTasks::work(capnp::List<rpc::Subtask>::Reader subtasks,
                                   rpc::WorkDesk::Client desk) {
  size_t fresh = 0;
  for (auto s : subtasks) fresh += attempts_.contains(s.getAttempt()) ? 0 : 1;
  if (attempts_.size() + fresh > kMaxAttempts) {
    throw ipc::rpc_error("this jsonl agent has " + std::to_string(attempts_.size()) +
                         " subtask attempts and may have at most " +
                         std::to_string(kMaxAttempts));
  }
  auto shared = std::make_shared<Desk>(kj::mv(desk));
  std::string lines;
  for (auto s : subtasks) {
    Attempt& a = attempts_[s.getAttempt()];
    a.desk = shared;
    a.can_delegate = s.hasDelegator();
    a.delegator = a.can_delegate ? s.getDelegator() : rpc::Delegator::Client(nullptr);
    lines += line_of({{"op", "subtask"},
                      {"attempt", s.getAttempt()},
                      {"task", ipc::text_of(s.getTaskId())},
                      {"key", ipc::text_of(s.getKey())},
                      {"input", ipc::payload_of(s.getInput())},
                      {"number", s.getNumber()},
                      {"timeout_ms", s.getTimeoutMillis()},
                      {"can_delegate", a.can_delegate}});
  }
  return lines_.write(std::move(lines));
}

kj::Promise<void> JsonlTasks::drop(capnp::List<uint64_t>::Reader attempts,
                                   capnp::List<capnp::Text>::Reader task_ids) {
  json dropped_attempts = json::array();
  for (uint64_t a : attempts) {
    end_attempt(a);
    dropped_attempts.push_back(a);
  }
  json dropped_tasks = json::array();
  for (auto t : task_ids) {
    std::string id = t;
    if (auto it = tasks_.find(id); it != tasks_.end()) {
      // So the daemon's runTask call ends too; it ignores the answer.
      it->second.answer->reject(ipc::rpc_error("task " + id + " was dropped"));
      end_task(id);
    }
    dropped_tasks.push_back(std::move(id));
  }
  return lines_.write(
      line_of({{"op", "drop"}, {"attempts", std::move(dropped_attempts)}, {"tasks", std::move(dropped_tasks)}}));
}

bool JsonlTasks::is_op(const std::string& op) {
  return op.starts_with("task.") || op.starts_with("subtask.") || op == "usage";
}

kj::Promise<json> JsonlTasks::op(const std::string& op, const json& in) {
  if (op == "task.done" || op == "task.fail") return done_or_fail(op, in);
  if (op == "task.delegate") return delegate(in);
  if (op == "task.cancel_remaining") return cancel_remaining(in);
  if (op == "subtask.progress" || op == "subtask.done" || op == "subtask.fail") return report(op, in);
  if (op == "usage") return usage(in);
  throw BadLine("unknown op '" + op +
                "'; the task ops are task.done, task.fail, task.delegate, "
                "task.cancel_remaining, subtask.progress, subtask.done, subtask.fail and usage");
}

kj::Promise<json> JsonlTasks::done_or_fail(const std::string& op, const json& in) {
  std::string id = text(in, "task");
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    throw BadLine("no task '" + id + "' is running on this agent (it ended, was dropped, or never came)");
  }
  if (op == "task.done") {
    it->second.answer->fulfill(kj::heapArray(ipc::data_of(bytes(in, "result", false))));
  } else {
    std::string error = text(in, "error");
    if (error.empty()) throw BadLine("field 'error' is empty: say why the task failed");
    it->second.answer->reject(ipc::rpc_error(error));
  }
  end_task(id);
  return now(json::object());
}

kj::Promise<json> JsonlTasks::delegate(const json& in) {
  std::optional<uint64_t> id = op_id(in);
  bool by_task = field(in, "task", false) != nullptr;
  if (by_task == (field(in, "attempt", false) != nullptr)) {
    throw BadLine(by_task ? "give field 'task' or 'attempt', not both"
                          : "field 'task' (a task of this agent) or 'attempt' (one of its "
                            "subtask attempts) is missing");
  }
  std::string task;
  uint64_t attempt = 0;
  rpc::Delegator::Client* delegator;
  if (by_task) {
    task = text(in, "task");
    auto it = tasks_.find(task);
    if (it == tasks_.end()) {
      throw BadLine("no task '" + task + "' is running on this agent (it ended, was dropped, or never came)");
    }
    delegator = &it->second.delegator;
  } else {
    attempt = number(in, "attempt", true);
    Attempt& a = attempt_of(in);
    if (!a.can_delegate) {
      throw BadLine("attempt " + std::to_string(attempt) +
                    " may not delegate: its subtask came with can_delegate false ([tasks] max_depth)");
    }
    delegator = &a.delegator;
  }
  const json* subtasks = field(in, "subtasks", true);
  if (!subtasks->is_array() || subtasks->empty()) {
    throw BadLine("field 'subtasks' must be a list of one or more {key, input, to?} objects");
  }
  if (delegations_.size() >= kMaxDelegations) {
    throw BadLine("this agent has " + std::to_string(kMaxDelegations) +
                  " delegations with results still to come, the most it may have; wait for "
                  "their results, or task.cancel_remaining");
  }

  auto req = delegator->delegateRequest();
  auto list = req.initSubtasks(static_cast<unsigned>(subtasks->size()));
  std::vector<std::string> keys;
  for (unsigned i = 0; i < list.size(); ++i) {
    const json& s = (*subtasks)[i];
    try {
      if (!s.is_object()) throw BadLine("not an object");
      keys.push_back(text(s, "key"));
      list[i].setKey(keys.back());
      list[i].setInput(ipc::data_of(bytes(s, "input", false)));
      list[i].setTo(text(s, "to", false));
    } catch (const BadLine& e) {
      throw BadLine("subtasks[" + std::to_string(i) + "]: " + e.what());
    }
  }
  auto options = req.initOptions();
  options.setRole(text(in, "role", false));
  options.setTimeoutMillis(number32(in, "timeout_ms"));
  options.setMaxAttempts(number32(in, "max_attempts"));

  uint64_t n = next_delegation_++;
  auto paf = kj::newPromiseAndFulfiller<void>();
  delegations_.emplace(
      n, Delegation{task, attempt, nullptr, std::set<std::string>(keys.begin(), keys.end()), false,
                    kj::mv(paf.fulfiller), paf.promise.fork()});
  req.setSink(kj::heap<Sink>(weak_from_this(), n));
  return req.send().then(
      [weak = weak_from_this(), n, id, keys = std::move(keys)](
          capnp::Response<rpc::Delegator::DelegateResults> r) -> json {
        auto self = weak.lock();
        if (!self) return nullptr;
        json refused = json::array();
        auto it = self->delegations_.find(n);
        std::set<uint32_t> refused_at;
        for (auto no : r.getRefused()) {
          std::string key = no.getIndex() < keys.size() ? keys[no.getIndex()] : "";
          refused.push_back({{"index", no.getIndex()},
                             {"key", key},
                             {"reason", ipc::text_of(no.getReason())},
                             {"message", ipc::text_of(no.getMessage())}});
          refused_at.insert(no.getIndex());
        }
        if (it != self->delegations_.end()) {
          // No result comes for a refused key, unless the same key was also
          // given at an index that was taken (a key given twice: the second
          // is refused, the first runs).
          std::set<std::string> taken;
          for (size_t i = 0; i < keys.size(); ++i) {
            if (!refused_at.contains(static_cast<uint32_t>(i))) taken.insert(keys[i]);
          }
          for (uint32_t i : refused_at) {
            if (i < keys.size() && !taken.contains(keys[i])) it->second.waiting.erase(keys[i]);
          }
        }
        // Answered here, before the results lines this lets out.
        self->lines_.answer(id, {{"delegation", n}, {"refused", std::move(refused)}});
        if (it != self->delegations_.end()) {  // else its task or attempt has ended
          Delegation& d = it->second;
          if (r.hasDelegation()) d.client = r.getDelegation();
          d.announced = true;
          d.announce->fulfill();
          if (d.waiting.empty()) self->delegations_.erase(it);
        }
        return nullptr;
      },
      [weak = weak_from_this(), n](kj::Exception&& e) -> json {
        if (auto self = weak.lock()) self->delegations_.erase(n);
        kj::throwFatalException(kj::mv(e));
      });
}

kj::Promise<void> JsonlTasks::results(uint64_t delegation,
                                      capnp::List<rpc::SubtaskResult>::Reader results) {
  auto it = delegations_.find(delegation);
  if (it == delegations_.end()) return kj::READY_NOW;  // its task or attempt has ended
  Delegation& d = it->second;
  json items = json::array();
  for (auto r : results) {
    items.push_back({{"key", ipc::text_of(r.getKey())},
                     {"outcome", outcome_name(r.getOutcome())},
                     {"result", ipc::payload_of(r.getResult())},
                     {"error", ipc::text_of(r.getError())},
                     {"attempts", r.getAttempts()},
                     {"worker", ipc::text_of(r.getWorker())}});
    d.waiting.erase(ipc::text_of(r.getKey()));
  }
  std::string line =
      line_of({{"op", "results"}, {"delegation", delegation}, {"results", std::move(items)}});
  if (!d.announced) {
    // Before the ok line that names the delegation: after it, then.
    return d.on_announced.addBranch().then([weak = weak_from_this(), line = std::move(line)]() mutable {
      auto self = weak.lock();
      if (!self) return kj::Promise<void>(kj::READY_NOW);
      return self->lines_.write(std::move(line));
    });
  }
  if (d.waiting.empty()) delegations_.erase(it);
  return lines_.write(std::move(line));
}

kj::Promise<json> JsonlTasks::cancel_remaining(const json& in) {
  uint64_t n = number(in, "delegation", true);
  if (n == 0 || n >= next_delegation_) {
    throw BadLine("no delegation " + std::to_string(n) +
                  " (task.delegate answers with the delegation's number)");
  }
  auto it = delegations_.find(n);
  // All its results are in, or its task or attempt has ended.
  if (it == delegations_.end()) return now({{"cancelled", 0}});
  if (!it->second.announced) {
    throw BadLine("delegation " + std::to_string(n) + " is not made yet: wait for task.delegate's answer");
  }
  return it->second.client.cancelRemainingRequest().send().then(
      [](capnp::Response<rpc::Delegation::CancelRemainingResults> r) {
        return json{{"cancelled", r.getCancelled()}};
      });
}

kj::Promise<json> JsonlTasks::report(const std::string& op, const json& in) {
  Attempt& a = attempt_of(in);
  Desk::Update u;
  u.attempt = number(in, "attempt", true);
  if (op == "subtask.progress") {
    const json* f = field(in, "fraction", true);
    if (!f->is_number() || f->get<double>() < 0 || f->get<double>() > 1) {
      throw BadLine("field 'fraction' must be a number from 0 to 1");
    }
    u.fraction = f->get<float>();
    u.text = text(in, "note", false);
  } else if (op == "subtask.done") {
    u.kind = Desk::Update::Kind::result;
    u.text = bytes(in, "result", false);
  } else {
    u.kind = Desk::Update::Kind::error;
    u.text = text(in, "error");
    if (u.text.empty()) throw BadLine("field 'error' is empty: say why the subtask failed");
  }
  std::shared_ptr<Desk> desk = a.desk;
  if (u.kind != Desk::Update::Kind::progress) end_attempt(u.attempt);
  return desk->add(std::move(u), calls_).then([] { return json::object(); });
}

kj::Promise<json> JsonlTasks::usage(const json& in) {
  auto req = host_.reportUsageRequest();
  req.setTaskId(text(in, "task", false));
  req.setModel(text(in, "model"));
  req.setInputTokens(number(in, "input_tokens", true));
  req.setOutputTokens(number(in, "output_tokens", true));
  return req.send().then([](auto) { return json::object(); });
}

JsonlTasks::Attempt& JsonlTasks::attempt_of(const json& in) {
  uint64_t n = number(in, "attempt", true);
  auto it = attempts_.find(n);
  if (it == attempts_.end()) {
    throw BadLine("attempt " + std::to_string(n) +
                  " is not running on this agent (it ended, was dropped, or never came)");
  }
  return it->second;
}

void JsonlTasks::end_task(const std::string& id) {
  tasks_.erase(id);
  end_delegations(id, 0);
}

void JsonlTasks::end_attempt(uint64_t attempt) {
  attempts_.erase(attempt);
  end_delegations("", attempt);
}

void JsonlTasks::end_delegations(const std::string& task, uint64_t attempt) {
  std::erase_if(delegations_, [&](const auto& entry) {
    const Delegation& d = entry.second;
    return task.empty() ? d.attempt == attempt : d.task == task;
  });
}

}  // namespace smol::supervisor::jsonl
