// smol-task-agent: a lead and a worker for the task tests, in one binary.
//
// As a lead (on_task) it reads the task's input as a command:
//   fanout N [ROLE]      delegates s-0 .. s-N-1 (input: the index) and
//                        answers "ok=.. failed=.. cancelled=.. sum=.. attempts=.."
//   to TARGET            one subtask "one" for TARGET; answers its outcome
//   chain                subtask "a" to worker-0, which delegates further
//                        (see the worker's "chain" below); answers its result
//   runaway              delegates key "same" again and again
//   cancel-after K N     fanout N, cancel_remaining after K outcomes
//   bigfanout N BYTES    fanout N, input i BYTES long, all of letter 'a' + i % 26
//   hoard N              fanout N, then takes no result until a dm with
//                        topic "take" comes; answers "ok=K bytes=B" (B: the
//                        results' bytes, all 'x')
//   reroute              delegates "q", then "q" again naming a worker that
//                        does not exist; answers q's outcome
// Every refusal is printed ("refused KEY REASON: MESSAGE") and counted in
// the answer as refused=...
//
// As a worker (on_subtask), for input i it answers 2*i, after:
//   --fail-first-every K   failing attempt 1 of every subtask with i % K == 0
//   --fail-attempt N       failing attempt N of every subtask
//   --hang-key KEY         hanging in attempt 1 of KEY (for a test to kill it)
//   --sleep-ms MS          sleeping MS in every subtask
//   --tokens N             reporting N input tokens of model "test-model"
//   --progress             reporting progress 0.5 "halfway"
//   --result-bytes N       answering N bytes of 'x' instead
//   --answer-input-sum     answering the sum of the input's byte values instead
// Input "chain": delegates "b" to worker-1 with input "back" and answers
// what came of it; input "back": tries to delegate to itself and to worker-0
// (which waits on it) and answers both refusals.
// It prints "working on KEY attempt N" as each subtask starts.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent_runtime/smolagent.h"

using smol::agent::AgentSession;
using smol::agent::Delegation;
using smol::agent::Message;
using smol::agent::SubtaskContext;
using smol::agent::SubtaskOutcome;
using smol::agent::SubtaskSpec;
using smol::agent::TaskContext;
using smol::agent::WorkContext;

namespace {

// The operator's dm with topic "take", which the hoarding lead waits for.
struct Take {
  bool came = false;
  kj::Own<kj::PromiseFulfiller<void>> waiter;
};

struct Options {
  long fail_first_every = 0;
  long fail_attempt = 0;
  std::string hang_key;
  long sleep_ms = 0;
  long tokens = 0;
  bool progress = false;
  long result_bytes = 0;
  bool answer_input_sum = false;
};

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string print_refusals(const Delegation& d, const std::vector<SubtaskSpec>& specs) {
  std::string out;
  for (const auto& r : d.refused()) {
    std::string line = "refused " + specs[r.index].key + " " + r.reason + ": " + r.message;
    say(line);
    out += line + "\n";
  }
  return out;
}

std::string tally(Delegation& d, size_t cancel_after = 0) {
  long ok = 0, failed = 0, cancelled = 0, sum = 0, attempts = 0;
  size_t seen = 0;
  while (auto o = d.next()) {
    attempts += o->attempts;
    switch (o->state) {
      case SubtaskOutcome::State::succeeded:
        ++ok;
        sum += std::atol(o->result.c_str());
        break;
      case SubtaskOutcome::State::failed:
        ++failed;
        say("failed " + o->key + ": " + o->error);
        break;
      case SubtaskOutcome::State::cancelled: ++cancelled; break;
    }
    if (++seen == cancel_after) say("cancelled " + std::to_string(d.cancel_remaining()));
  }
  return "ok=" + std::to_string(ok) + " failed=" + std::to_string(failed) +
         " cancelled=" + std::to_string(cancelled) + " sum=" + std::to_string(sum) +
         " attempts=" + std::to_string(attempts) +
         " refused=" + std::to_string(d.refused().size());
}

std::vector<SubtaskSpec> numbered(long n) {
  std::vector<SubtaskSpec> specs;
  for (long i = 0; i < n; ++i) specs.push_back({"s-" + std::to_string(i), std::to_string(i), ""});
  return specs;
}

std::string lead(TaskContext& t, AgentSession& session, Take& take) {
  std::istringstream in(t.input());
  std::string cmd;
  in >> cmd;
  say("task " + t.task_id() + (t.resumed() ? " resumed: " : ": ") + t.input());
  if (cmd == "fanout") {
    long n = 0;
    std::string role;
    in >> n >> role;
    auto specs = numbered(n);
    Delegation d = t.delegate(specs, {role, {}, 0});
    print_refusals(d, specs);
    return tally(d);
  }
  if (cmd == "bigfanout") {
    long n = 0, size = 0;
    in >> n >> size;
    auto specs = numbered(n);
    for (size_t i = 0; i < specs.size(); ++i) {
      specs[i].input = std::string(static_cast<size_t>(size), static_cast<char>('a' + i % 26));
    }
    Delegation d = t.delegate(specs);
    print_refusals(d, specs);
    return tally(d);
  }
  if (cmd == "hoard") {
    long n = 0;
    in >> n;
    auto specs = numbered(n);
    Delegation d = t.delegate(specs);
    // Not taking results meanwhile: they pile up on swarmd's side.
    if (!take.came) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      take.waiter = kj::mv(paf.fulfiller);
      paf.promise.wait(session.wait_scope());
    }
    long ok = 0, bytes = 0;
    while (auto o = d.next()) {
      if (!o->ok()) continue;
      ++ok;
      bytes += static_cast<long>(o->result.size());
      if (o->result.find_first_not_of('x') != std::string::npos) return "corrupt result " + o->key;
    }
    return "ok=" + std::to_string(ok) + " bytes=" + std::to_string(bytes);
  }
  if (cmd == "reroute") {
    std::vector<SubtaskSpec> first{{"q", "4", ""}}, again{{"q", "4", "nobody-7"}};
    Delegation a = t.delegate(first);
    Delegation b = t.delegate(again);
    std::string out = print_refusals(b, again);
    while (auto o = b.next()) out += o->ok() ? "q=" + o->result : "q failed: " + o->error;
    a.wait_all();
    return out;
  }
  if (cmd == "cancel-after") {
    long k = 0, n = 0;
    in >> k >> n;
    auto specs = numbered(n);
    Delegation d = t.delegate(specs);
    return tally(d, static_cast<size_t>(k));
  }
  if (cmd == "to" || cmd == "chain") {
    std::string target = "worker-0";
    if (cmd == "to") in >> target;
    std::vector<SubtaskSpec> specs{{cmd == "to" ? "one" : "a", cmd == "to" ? "1" : "chain", target}};
    Delegation d = t.delegate(specs);
    std::string out = print_refusals(d, specs);
    while (auto o = d.next()) out += o->ok() ? o->result : "failed: " + o->error;
    return out;
  }
  if (cmd == "runaway") {
    std::vector<SubtaskSpec> specs{{"same", "1", ""}};
    std::string out;
    for (int i = 0; i < 5; ++i) {
      Delegation d = t.delegate(specs);
      out += print_refusals(d, specs);
    }
    return out;
  }
  throw std::runtime_error("unknown command: " + t.input());
}

std::string worker(SubtaskContext& s, const Options& o) {
  say("working on " + s.key() + " attempt " + std::to_string(s.attempt()));
  if (o.progress) s.progress(0.5f, "halfway");
  if (o.tokens > 0) s.report_usage("test-model", static_cast<uint64_t>(o.tokens), 0);
  if (s.input() == "chain") {
    std::vector<SubtaskSpec> specs{{"b", "back", "worker-1"}};
    Delegation d = s.delegate(specs);
    std::string out = print_refusals(d, specs);
    while (auto r = d.next()) out += r->ok() ? r->result : "failed: " + r->error;
    return out;
  }
  if (s.input() == "back") {
    std::vector<SubtaskSpec> specs{{"self", "1", "worker-1"}, {"cycle", "1", "worker-0"}};
    Delegation d = s.delegate(specs);
    std::string out = print_refusals(d, specs);
    d.wait_all();
    return out;
  }
  long i = std::atol(s.input().c_str());
  if (s.attempt() == 1 && s.key() == o.hang_key) {
    for (;;) pause();
  }
  if (o.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.sleep_ms));
  if ((o.fail_first_every > 0 && s.attempt() == 1 && i % o.fail_first_every == 0) ||
      static_cast<long>(s.attempt()) == o.fail_attempt) {
    throw std::runtime_error("failing " + s.key() + " on purpose");
  }
  if (o.result_bytes > 0) return std::string(static_cast<size_t>(o.result_bytes), 'x');
  if (o.answer_input_sum) {
    long sum = 0;
    for (unsigned char c : s.input()) sum += c;
    return std::to_string(sum);
  }
  return std::to_string(2 * i);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--fail-first-every") o.fail_first_every = std::atol(value().c_str());
    else if (a == "--fail-attempt") o.fail_attempt = std::atol(value().c_str());
    else if (a == "--hang-key") o.hang_key = value();
    else if (a == "--sleep-ms") o.sleep_ms = std::atol(value().c_str());
    else if (a == "--tokens") o.tokens = std::atol(value().c_str());
    else if (a == "--progress") o.progress = true;
    else if (a == "--result-bytes") o.result_bytes = std::atol(value().c_str());
    else if (a == "--answer-input-sum") o.answer_input_sum = true;
  }
  AgentSession session;
  Take take;
  session.on_message([&take](const Message& m) {
    if (m.topic != "take") return;
    take.came = true;
    if (take.waiter) take.waiter->fulfill();
  });
  session.on_task([&](TaskContext& t) { return lead(t, session, take); });
  session.on_subtask([&o](SubtaskContext& s) { return worker(s, o); });
  session.hello();
  session.run();
  return 0;
}
