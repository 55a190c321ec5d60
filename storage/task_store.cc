#include "storage/task_store.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "storage/capnp_record.h"
#include "storage/memory_codec.h"
#include "storage/memory_sorted_set.h"
#include "storage/records.capnp.h"

namespace smol::storage {
namespace {

using memory::SetReader;
using memory::SetWriter;

constexpr size_t kMaxKeyBytes = 256;
// A task's or subtask's input: up to swarmd's largest max_payload.
constexpr size_t kMaxInputBytes = size_t{8} << 20;
// The id counter's key in "tasks"; ids start with "t-", so it is never one.
constexpr std::string_view kNextIdKey = "#next_id";

// Set names in "task_order"; each kind starts with its own byte, so names
// of different kinds never collide.
constexpr std::string_view kAllTasks = "a";
constexpr std::string_view kUnfinishedTasks = "r";
std::string swarm_set(std::string_view swarm) { return "s" + std::string(swarm); }
std::string keys_set(std::string_view task_id) { return "k" + std::string(task_id); }
// A task's input, in "tasks".
std::string input_key(std::string_view task_id) { return "i/" + std::string(task_id); }

// --- ids and keys ---

std::string format_task_id(uint64_t counter) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "t-000000000000";
  for (size_t i = id.size(); i-- > 2; counter >>= 4) id[i] = kHex[counter & 0xf];
  return id;
}

std::string subtask_key(std::string_view task_id, std::string_view key) {
  std::string k(task_id);
  k += '\0';
  k += key;
  return k;
}

// Both halves complemented, so that the set's ascending order lists the
// newest first (the sign bit flipped first, so negative times sort too).
std::string order_item(int64_t created_ms, uint64_t counter) {
  std::string item;
  memory::put_be64(item, ~(static_cast<uint64_t>(created_ms) ^ (uint64_t{1} << 63)));
  memory::put_be64(item, ~counter);
  return item;
}

std::string id_of_order_item(std::string_view item, const NamedDb& db) {
  if (item.size() != 16) throw corrupt_record(db, item, "order item is not 16 bytes");
  return format_task_id(~memory::get_be64(item.data() + 8));
}

// --- argument checks ---

[[noreturn]] void bad(std::string_view field, std::string_view why) {
  throw std::invalid_argument(std::string(field) + ": " + std::string(why));
}

void check_size(std::string_view field, std::string_view value, size_t limit) {
  if (value.size() > limit) {
    bad(field, std::to_string(value.size()) + " bytes, over the limit of " +
                   std::to_string(limit));
  }
}

// --- Cap'n Proto ---

// The C++ enums list their values in the schema's order (records.capnp), so
// a value converts by number; a number past `last` comes from a newer build
// or from garbage, and is corrupt either way.
template <typename To, typename From>
To to_enum(From raw, To last, const NamedDb& db, std::string_view key) {
  auto n = static_cast<uint16_t>(raw);
  if (n > static_cast<uint16_t>(last)) throw corrupt_record(db, key, "unknown state " + std::to_string(n));
  return static_cast<To>(n);
}
static_assert(static_cast<int>(rec::TaskState::PAUSED) == static_cast<int>(TaskState::paused));
static_assert(static_cast<int>(rec::SubtaskState::CANCELLED) ==
              static_cast<int>(SubtaskState::cancelled));

void encode_task(const TaskRecord& t, rec::TaskRecord::Builder b) {
  b.setId(as_text(t.id));
  b.setSwarm(as_text(t.swarm));
  b.setState(static_cast<rec::TaskState>(t.state));
  b.setInputBytes(t.input_bytes);
  b.setResult(as_text(t.result));
  b.setError(as_text(t.error));
  b.setCreatedUnixMillis(t.created_unix_ms);
  b.setFinishedUnixMillis(t.finished_unix_ms);
  b.setTimeoutMillis(t.timeout_ms);
  b.setBudgetTokens(t.budget_tokens);
  b.setSubtasksTotal(t.subtasks_total);
  b.setSubtasksDone(t.subtasks_done);
  b.setSubtasksFailed(t.subtasks_failed);
  b.setSubtasksCancelled(t.subtasks_cancelled);
  auto tokens = b.initTokens(static_cast<unsigned>(t.tokens.size()));
  for (unsigned i = 0; i < tokens.size(); ++i) {
    tokens[i].setModel(as_text(t.tokens[i].model));
    tokens[i].setInputTokens(t.tokens[i].input_tokens);
    tokens[i].setOutputTokens(t.tokens[i].output_tokens);
  }
}

TaskRecord decode_task(const NamedDb& db, std::string_view key, std::string_view value) {
  return read_record<rec::TaskRecord>(db, key, value, [&](rec::TaskRecord::Reader r) {
    TaskRecord t{
        .id = as_string(r.getId()),
        .swarm = as_string(r.getSwarm()),
        .state = to_enum(r.getState(), TaskState::paused, db, key),
        .input = as_string(r.getInput()),
        .input_bytes = r.getInputBytes(),
        .result = as_string(r.getResult()),
        .error = as_string(r.getError()),
        .created_unix_ms = r.getCreatedUnixMillis(),
        .finished_unix_ms = r.getFinishedUnixMillis(),
        .timeout_ms = r.getTimeoutMillis(),
        .budget_tokens = r.getBudgetTokens(),
        .subtasks_total = r.getSubtasksTotal(),
        .subtasks_done = r.getSubtasksDone(),
        .subtasks_failed = r.getSubtasksFailed(),
        .subtasks_cancelled = r.getSubtasksCancelled(),
    };
    for (auto u : r.getTokens()) {
      t.tokens.push_back({as_string(u.getModel()), u.getInputTokens(), u.getOutputTokens()});
    }
    return t;
  });
}

void encode_subtask(const SubtaskRecord& s, rec::SubtaskRecord::Builder b) {
  b.setTaskId(as_text(s.task_id));
  b.setKey(as_text(s.key));
  b.setParent(as_text(s.parent));
  b.setRole(as_text(s.role));
  b.setState(static_cast<rec::SubtaskState>(s.state));
  b.setInput(as_text(s.input));
  b.setResult(as_text(s.result));
  b.setError(as_text(s.error));
  b.setProgress(s.progress);
  b.setProgressNote(as_text(s.progress_note));
  auto attempts = b.initAttempts(static_cast<unsigned>(s.attempts.size()));
  for (unsigned i = 0; i < attempts.size(); ++i) {
    const AttemptRecord& a = s.attempts[i];
    attempts[i].setNumber(a.number);
    attempts[i].setWorker(as_text(a.worker));
    attempts[i].setStartedUnixMillis(a.started_unix_ms);
    attempts[i].setFinishedUnixMillis(a.finished_unix_ms);
    attempts[i].setOk(a.ok);
    attempts[i].setError(as_text(a.error));
  }
}

SubtaskRecord decode_subtask(const NamedDb& db, std::string_view key, std::string_view value) {
  return read_record<rec::SubtaskRecord>(db, key, value, [&](rec::SubtaskRecord::Reader r) {
    SubtaskRecord s{
        .task_id = as_string(r.getTaskId()),
        .key = as_string(r.getKey()),
        .parent = as_string(r.getParent()),
        .role = as_string(r.getRole()),
        .state = to_enum(r.getState(), SubtaskState::cancelled, db, key),
        .input = as_string(r.getInput()),
        .result = as_string(r.getResult()),
        .error = as_string(r.getError()),
        .progress = r.getProgress(),
        .progress_note = as_string(r.getProgressNote()),
    };
    for (auto a : r.getAttempts()) {
      s.attempts.push_back({a.getNumber(), as_string(a.getWorker()), a.getStartedUnixMillis(),
                            a.getFinishedUnixMillis(), a.getOk(), as_string(a.getError())});
    }
    return s;
  });
}

// For listings and sweeps: a record that cannot be decoded reads as absent.
template <typename Read>
auto unless_corrupt(Read read) -> decltype(read()) {
  try {
    return read();
  } catch (const LmdbError& e) {
    if (!e.is_corrupt()) throw;
    return std::nullopt;
  }
}

// --- subtask state changes ---

bool is_open(SubtaskState s) { return s == SubtaskState::pending || s == SubtaskState::running; }
bool is_unfinished(TaskState s) { return s == TaskState::running || s == TaskState::paused; }

// Closes the subtask's running attempt, if it has one.
void end_attempt(SubtaskRecord& s, bool ok, const std::string& error, int64_t now_ms) {
  if (s.state != SubtaskState::running || s.attempts.empty()) return;
  AttemptRecord& a = s.attempts.back();
  a.finished_unix_ms = now_ms;
  a.ok = ok;
  a.error = error;
}


}  // namespace

std::string_view state_name(TaskState s) {
  switch (s) {
    case TaskState::running: return "running";
    case TaskState::succeeded: return "succeeded";
    case TaskState::failed: return "failed";
    case TaskState::cancelled: return "cancelled";
    case TaskState::paused: return "paused";
  }
  return "unknown";
}

std::string_view state_name(SubtaskState s) {
  switch (s) {
    case SubtaskState::pending: return "pending";
    case SubtaskState::running: return "running";
    case SubtaskState::succeeded: return "succeeded";
    case SubtaskState::failed: return "failed";
    case SubtaskState::cancelled: return "cancelled";
  }
  return "unknown";
}

TaskStore::TaskStore(LmdbEnv& env)
    : env_(env),
      tasks_(env.open_db("tasks")),
      subtasks_(env.open_db("subtasks")),
      order_(env.open_db("task_order")) {}

// --- record access ---

std::optional<TaskRecord> TaskStore::read_task(const Txn& txn, std::string_view id,
                                               bool with_input) const {
  std::optional<std::string_view> value = txn.get(tasks_, id);
  if (!value) return std::nullopt;
  TaskRecord t = decode_task(tasks_, id, *value);
  if (with_input && t.input_bytes > 0) {
    std::optional<std::string_view> input = txn.get(tasks_, input_key(id));
    if (!input || input->size() != t.input_bytes) {
      throw corrupt_record(tasks_, input_key(id), "the task's input is missing or cut short");
    }
    t.input = std::string(*input);
  }
  return t;
}

std::optional<SubtaskRecord> TaskStore::read_subtask(const Txn& txn, std::string_view task_id,
                                                     std::string_view key) const {
  std::string k = subtask_key(task_id, key);
  std::optional<std::string_view> value = txn.get(subtasks_, k);
  if (!value) return std::nullopt;
  return decode_subtask(subtasks_, k, *value);
}

TaskRecord TaskStore::must_task(const Txn& txn, std::string_view id,
                                std::string_view field) const {
  std::optional<TaskRecord> t = read_task(txn, id, false);
  if (!t) bad(field, "no task \"" + memory::printable(id) + "\"");
  return std::move(*t);
}

SubtaskRecord TaskStore::must_subtask(const Txn& txn, std::string_view task_id,
                                      std::string_view key) const {
  std::optional<SubtaskRecord> s = read_subtask(txn, task_id, key);
  if (s) return std::move(*s);
  must_task(txn, task_id, "task_id");  // names the task when it is the one missing
  bad("key", "task " + std::string(task_id) + " has no subtask \"" + memory::printable(key) + "\"");
}

std::vector<SubtaskRecord> TaskStore::readable_subtasks(const Txn& txn,
                                                        std::string_view task_id) const {
  // Keys and records are copied out: the set's views point into the map,
  // which the caller's writes may move.
  std::vector<std::string> keys;
  SetReader r(txn, order_, keys_set(task_id));
  while (std::optional<std::string_view> key = r.next()) keys.emplace_back(*key);

  std::vector<SubtaskRecord> out;
  for (const std::string& key : keys) {
    auto s = unless_corrupt([&] { return read_subtask(txn, task_id, key); });
    if (s) out.push_back(std::move(*s));
  }
  return out;
}

void TaskStore::put_task(Txn& txn, const TaskRecord& t) {
  capnp::MallocMessageBuilder message;
  encode_task(t, message.initRoot<rec::TaskRecord>());
  put_record(txn, tasks_, t.id, message);
}

void TaskStore::put_subtask(Txn& txn, const SubtaskRecord& s) {
  capnp::MallocMessageBuilder message;
  encode_subtask(s, message.initRoot<rec::SubtaskRecord>());
  put_record(txn, subtasks_, subtask_key(s.task_id, s.key), message);
}

// --- tasks ---

TaskRecord TaskStore::create_task(Txn& txn, std::string_view swarm, std::string input,
                                  int64_t now_ms, int64_t timeout_ms, uint64_t budget_tokens) {
  if (swarm.empty()) bad("swarm", "empty");
  check_size("input", input, kMaxInputBytes);

  uint64_t counter = 1;
  if (std::optional<std::string_view> next = txn.get(tasks_, kNextIdKey)) {
    if (next->size() != 8) throw corrupt_record(tasks_, kNextIdKey, "id counter is not 8 bytes");
    counter = memory::get_be64(next->data());
  }
  std::string next;
  memory::put_be64(next, counter + 1);
  txn.put(tasks_, kNextIdKey, next);

  TaskRecord t{.id = format_task_id(counter),
               .swarm = std::string(swarm),
               .input = std::move(input),
               .input_bytes = 0,
               .created_unix_ms = now_ms,
               .timeout_ms = timeout_ms,
               .budget_tokens = budget_tokens};
  t.input_bytes = t.input.size();
  put_task(txn, t);
  if (!t.input.empty()) txn.put(tasks_, input_key(t.id), t.input);
  SetWriter sets(txn, order_);
  std::string item = order_item(now_ms, counter);
  sets.insert(kAllTasks, item);
  sets.insert(swarm_set(swarm), item);
  sets.insert(kUnfinishedTasks, t.id);
  sets.write_back();
  return t;
}

std::optional<TaskRecord> TaskStore::task(std::string_view id) const {
  Txn txn = env_.begin_read();
  return read_task(txn, id);
}

std::vector<TaskRecord> TaskStore::list_tasks(std::string_view swarm, size_t limit) const {
  std::vector<TaskRecord> out;
  Txn txn = env_.begin_read();
  SetReader order(txn, order_, swarm.empty() ? std::string(kAllTasks) : swarm_set(swarm));
  while (out.size() < limit) {
    std::optional<std::string_view> item = order.next();
    if (!item) break;
    std::optional<TaskRecord> t =
        unless_corrupt([&] { return read_task(txn, id_of_order_item(*item, order_), false); });
    if (t) out.push_back(std::move(*t));
  }
  return out;
}

std::vector<TaskRecord> TaskStore::unfinished_tasks() const {
  Txn txn = env_.begin_read();
  std::vector<TaskRecord> out;
  SetReader unfinished(txn, order_, kUnfinishedTasks);
  while (std::optional<std::string_view> id = unfinished.next()) {
    std::optional<TaskRecord> t = unless_corrupt([&] { return read_task(txn, *id); });
    if (t && is_unfinished(t->state)) out.push_back(std::move(*t));
  }
  std::sort(out.begin(), out.end(), [](const TaskRecord& a, const TaskRecord& b) {
    return a.created_unix_ms != b.created_unix_ms ? a.created_unix_ms < b.created_unix_ms
                                                  : a.id < b.id;
  });
  return out;
}

bool TaskStore::set_paused(Txn& txn, std::string_view id, bool paused) {
  TaskRecord t = must_task(txn, id, "id");
  if (!is_unfinished(t.state)) return false;
  t.state = paused ? TaskState::paused : TaskState::running;
  put_task(txn, t);
  return true;
}

void TaskStore::set_budget(Txn& txn, std::string_view id, uint64_t budget_tokens) {
  TaskRecord t = must_task(txn, id, "id");
  t.budget_tokens = budget_tokens;
  put_task(txn, t);
}

bool TaskStore::finish_task(Txn& txn, std::string_view id, TaskState state,
                            std::string result_or_error, int64_t now_ms) {
  if (is_unfinished(state)) bad("state", "a task cannot finish as running or paused");
  TaskRecord t = must_task(txn, id, "id");
  if (!is_unfinished(t.state)) return false;
  t.state = state;
  (state == TaskState::succeeded ? t.result : t.error) = std::move(result_or_error);
  t.finished_unix_ms = now_ms;
  put_task(txn, t);
  SetWriter sets(txn, order_);
  sets.erase(kUnfinishedTasks, t.id);
  sets.write_back();
  return true;
}

void TaskStore::add_tokens(Txn& txn, std::string_view id, const TokenUse& use) {
  TaskRecord t = must_task(txn, id, "id");
  auto it = std::find_if(t.tokens.begin(), t.tokens.end(),
                         [&](const TokenUse& u) { return u.model == use.model; });
  if (it == t.tokens.end()) {
    t.tokens.push_back({use.model, 0, 0});
    it = t.tokens.end() - 1;
  }
  it->input_tokens = storage::add_tokens(it->input_tokens, use.input_tokens);
  it->output_tokens = storage::add_tokens(it->output_tokens, use.output_tokens);
  put_task(txn, t);
}

// --- subtasks ---

SubtaskRecord TaskStore::add_subtask(Txn& txn, std::string_view task_id, std::string_view key,
                                     std::string_view role, std::string input,
                                     std::string_view parent) {
  add_subtasks(txn, task_id,
               {{std::string(key), std::string(role), std::move(input), std::string(parent)}});
  // A re-delegated key gets what is stored: its result if it finished.
  return must_subtask(txn, task_id, key);
}

uint32_t TaskStore::add_subtasks(Txn& txn, std::string_view task_id,
                                 const std::vector<NewSubtask>& subtasks) {
  for (const NewSubtask& n : subtasks) {
    if (n.key.empty()) bad("key", "empty");
    check_size("key", n.key, kMaxKeyBytes);
    check_size("input", n.input, kMaxInputBytes);
  }
  TaskRecord t = must_task(txn, task_id, "task_id");
  std::vector<const std::string*> added;
  for (const NewSubtask& n : subtasks) {
    if (txn.get(subtasks_, subtask_key(t.id, n.key))) continue;
    put_subtask(txn, {.task_id = t.id, .key = n.key, .parent = n.parent, .role = n.role,
                      .input = n.input});
    added.push_back(&n.key);
  }
  if (added.empty()) return 0;
  // The set's writer after the puts: it may hold views into the map.
  SetWriter sets(txn, order_);
  for (const std::string* key : added) sets.insert(keys_set(t.id), *key);
  sets.write_back();
  t.subtasks_total += static_cast<uint32_t>(added.size());
  put_task(txn, t);
  return static_cast<uint32_t>(added.size());
}

std::optional<SubtaskRecord> TaskStore::subtask(std::string_view task_id,
                                                std::string_view key) const {
  Txn txn = env_.begin_read();
  return read_subtask(txn, task_id, key);
}

std::vector<SubtaskRecord> TaskStore::subtasks(std::string_view task_id) const {
  Txn txn = env_.begin_read();
  return readable_subtasks(txn, task_id);
}

uint32_t TaskStore::start_attempt(Txn& txn, std::string_view task_id, std::string_view key,
                                  std::string_view worker, int64_t now_ms) {
  SubtaskRecord s = must_subtask(txn, task_id, key);
  if (s.state != SubtaskState::pending) {
    bad("key", "subtask \"" + memory::printable(key) + "\" is " +
                   std::string(state_name(s.state)) + ", not pending");
  }
  auto number = static_cast<uint32_t>(s.attempts.size() + 1);
  s.attempts.push_back(
      {.number = number, .worker = std::string(worker), .started_unix_ms = now_ms});
  s.state = SubtaskState::running;
  // Progress is the current attempt's; a retry starts from nothing.
  s.progress = 0;
  s.progress_note.clear();
  put_subtask(txn, s);
  return number;
}

AttemptOutcome TaskStore::finish_attempt(Txn& txn, std::string_view task_id, std::string_view key,
                                         uint32_t number, bool ok, std::string result_or_error,
                                         bool retry, int64_t now_ms) {
  SubtaskRecord s = must_subtask(txn, task_id, key);
  // Only a running subtask has a current attempt: one that went back to
  // pending or ended has none, so a late or duplicate outcome is stale.
  bool current = s.state == SubtaskState::running && !s.attempts.empty() &&
                 s.attempts.back().number == number;
  if (!current) return AttemptOutcome::stale;

  end_attempt(s, ok, ok ? std::string() : result_or_error, now_ms);
  if (ok) {
    s.state = SubtaskState::succeeded;
    s.result = std::move(result_or_error);
    s.error.clear();
  } else {
    s.state = retry ? SubtaskState::pending : SubtaskState::failed;
    s.error = std::move(result_or_error);
  }
  put_subtask(txn, s);
  if (s.state != SubtaskState::pending) {
    TaskRecord t = must_task(txn, task_id, "task_id");
    t.count_ended(s.state);
    put_task(txn, t);
  }
  return AttemptOutcome::accepted;
}

void TaskStore::set_progress(Txn& txn, std::string_view task_id, std::string_view key,
                             float fraction, std::string note) {
  SubtaskRecord s = must_subtask(txn, task_id, key);
  if (s.state != SubtaskState::running) return;
  s.progress = std::isnan(fraction) ? 0.0f : std::clamp(fraction, 0.0f, 1.0f);
  s.progress_note = std::move(note);
  put_subtask(txn, s);
}

namespace {

// Cancels s if it is open; false if it had ended.
bool cancel_open(SubtaskRecord& s, TaskRecord& t, const std::string& why, int64_t now_ms) {
  if (!is_open(s.state)) return false;
  end_attempt(s, false, why, now_ms);
  s.state = SubtaskState::cancelled;
  s.error = why;
  t.count_ended(SubtaskState::cancelled);
  return true;
}

}  // namespace

bool TaskStore::cancel_subtask(Txn& txn, std::string_view task_id, std::string_view key,
                               std::string why, int64_t now_ms) {
  SubtaskRecord s = must_subtask(txn, task_id, key);
  TaskRecord t = must_task(txn, task_id, "task_id");
  if (!cancel_open(s, t, why, now_ms)) return false;
  put_subtask(txn, s);
  put_task(txn, t);
  return true;
}

uint32_t TaskStore::cancel_subtasks(Txn& txn, std::string_view task_id, int64_t now_ms) {
  TaskRecord t = must_task(txn, task_id, "task_id");
  uint32_t cancelled = 0;
  for (SubtaskRecord& s : readable_subtasks(txn, task_id)) {
    if (!cancel_open(s, t, "cancelled", now_ms)) continue;
    put_subtask(txn, s);
    ++cancelled;
  }
  if (cancelled > 0) put_task(txn, t);
  return cancelled;
}

// --- restart ---

std::vector<TaskRecord> TaskStore::recover(Txn& txn, int64_t now_ms) {
  // Read out before writing: the set's views die with the next put.
  std::vector<std::string> ids;
  SetReader running(txn, order_, kUnfinishedTasks);
  while (std::optional<std::string_view> id = running.next()) ids.emplace_back(*id);

  std::vector<TaskRecord> out;
  for (const std::string& id : ids) {
    std::optional<TaskRecord> t = unless_corrupt([&] { return read_task(txn, id, false); });
    if (!t || !is_unfinished(t->state)) continue;
    for (SubtaskRecord& s : readable_subtasks(txn, id)) {
      if (s.state != SubtaskState::running) continue;
      // Its worker died with the daemon: the attempt is lost, and the
      // scheduler runs the subtask again.
      end_attempt(s, false, std::string(kAttemptLostToRestart), now_ms);
      s.state = SubtaskState::pending;
      s.error = kAttemptLostToRestart;
      put_subtask(txn, s);
    }
    out.push_back(std::move(*t));
  }
  return out;
}

}  // namespace smol::storage
