// smol-bench-task-agent: the lead and the workers of task_bench.
//
// Worker: answers every subtask with the CLOCK_MONOTONIC time it started
// it, in nanoseconds. Lead, by the task's input:
//   burst N    delegates N subtasks in one call and waits for every
//              outcome; answers "n=N total_ns=T failed=F p50_ns=.. p99_ns=.."
//              (worker start - the delegate call: the wait in the burst)
//   closed N   delegates N subtasks one at a time, each once the previous
//              one's outcome is in; answers "n=N p50_ns=.. p99_ns=.." of
//              (worker start - lead's delegate call), the scheduling
//              latency plus one hop from the lead to swarmd.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "agent_runtime/smolagent.h"

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t pct(std::vector<uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string lead(smol::agent::TaskContext& t) {
  std::istringstream in(t.input());
  std::string mode;
  long n = 0;
  in >> mode >> n;
  if (mode == "burst") {
    std::vector<smol::agent::SubtaskSpec> specs;
    specs.reserve(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) specs.push_back({"k" + std::to_string(i), "", ""});
    uint64_t t0 = now_ns();
    auto d = t.delegate(specs);
    long failed = static_cast<long>(d.refused().size());
    std::vector<uint64_t> waited;
    waited.reserve(static_cast<size_t>(n));
    while (auto o = d.next()) {
      if (!o->ok()) {
        ++failed;
        continue;
      }
      waited.push_back(std::strtoull(o->result.c_str(), nullptr, 10) - t0);
    }
    return "n=" + std::to_string(n) + " total_ns=" + std::to_string(now_ns() - t0) +
           " failed=" + std::to_string(failed) + " p50_ns=" + std::to_string(pct(waited, 0.5)) +
           " p99_ns=" + std::to_string(pct(waited, 0.99));
  }
  if (mode == "closed") {
    std::vector<uint64_t> lat;
    for (long i = 0; i < n; ++i) {
      uint64_t sent = now_ns();
      auto d = t.delegate({{"c" + std::to_string(i), "", ""}});
      auto o = d.next();
      if (!o || !o->ok()) throw std::runtime_error("subtask c" + std::to_string(i) + " failed");
      lat.push_back(std::strtoull(o->result.c_str(), nullptr, 10) - sent);
    }
    return "n=" + std::to_string(n) + " p50_ns=" + std::to_string(pct(lat, 0.5)) +
           " p99_ns=" + std::to_string(pct(lat, 0.99));
  }
  throw std::runtime_error("unknown mode: " + t.input());
}

}  // namespace

int main() {
  smol::agent::AgentSession session;
  session.on_task(lead);
  session.on_subtask([](smol::agent::SubtaskContext&) { return std::to_string(now_ns()); });
  session.hello();
  session.run();
  return 0;
}
