// Task benchmark: what the daemon's task scheduling costs, with trivial
// subtasks so that nothing but the scheduling is measured.
//
// (1) throughput: the lead delegates 10,000 subtasks in one call; swarmd
//     records each in its task store, starts it on the least loaded of
//     kWorkers workers, takes the outcome and streams it back to the lead.
//     Subtasks/s from the delegate call to the lead's last outcome; the
//     median of kRounds tasks. Target: >= 20,000 subtasks/s. Also, in that
//     round, how long subtasks waited from the delegate call to their
//     worker's start (p50/p99): the burst's queueing, which the throughput
//     bounds.
// (2) scheduling latency: the lead delegates one subtask at a time and
//     waits for its outcome; the worker answers with the CLOCK_MONOTONIC
//     time it started it. p50/p99 of (worker start - the lead's delegate
//     call): swarmd's receipt to the worker's start, plus the one hop from
//     the lead to swarmd.
//
// Usage: task_bench   (run as root on an otherwise idle machine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace {

constexpr int kSubtasks = 10000;
constexpr int kRounds = 5;
constexpr int kWorkers = 4;
constexpr int kClosedLoop = 2000;

std::map<std::string, double> run_task(smol::test::Daemon& d, smol::test::TempDir& dir,
                                       const std::string& input) {
  smol::test::RunResult r = d.ctl({"--timeout", "120s", "task", "run", "bench", "--input",
                                   dir.write("input", input), "--wait"});
  if (r.status != 0) throw std::runtime_error("task '" + input + "' failed: " + r.err);
  std::map<std::string, double> out;
  std::istringstream in(r.out);
  std::string kv;
  while (in >> kv) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::stod(kv.substr(eq + 1));
  }
  return out;
}

}  // namespace

int main() {
  try {
    smol::test::TempDir dir;
    smol::test::Daemon daemon(dir);
    std::string agent = smol::test::bin("smol-bench-task-agent");
    std::string spec = "name = \"bench\"\n"
                       "[[agents]]\nrole = \"lead\"\ncommand = [\"" + agent + "\"]\n"
                       "[[agents]]\nrole = \"worker\"\ncommand = [\"" + agent + "\"]\ncount = " +
                       std::to_string(kWorkers) + "\n"
                       "[tasks]\nlead = \"lead\"\nmax_concurrency = 10000\nmax_subtasks = 100000\n";
    auto up = daemon.ctl({"up", dir.write("bench.toml", spec)});
    if (up.status != 0) throw std::runtime_error("swarmctl up: " + up.err);

    std::printf("task_bench: %d trivial subtasks per task, lead -> %d workers -> lead, through "
                "swarmd\n\n",
                kSubtasks, kWorkers);
    std::vector<std::map<std::string, double>> rounds;
    for (int round = 0; round < kRounds; ++round) {
      auto r = run_task(daemon, dir, "burst " + std::to_string(kSubtasks));
      if (r["failed"] != 0) throw std::runtime_error("subtasks failed in the burst");
      r["rate"] = r["n"] / (r["total_ns"] / 1e9);
      rounds.push_back(r);
      std::printf("  round %d: %8.0f subtasks/s  (%.1f ms; start waited p50 %.1f ms, p99 %.1f ms)\n",
                  round + 1, r["rate"], r["total_ns"] / 1e6, r["p50_ns"] / 1e6, r["p99_ns"] / 1e6);
    }
    std::sort(rounds.begin(), rounds.end(),
              [](auto& a, auto& b) { return a.at("rate") < b.at("rate"); });
    auto& mid = rounds[rounds.size() / 2];
    double median = mid["rate"];
    auto lat = run_task(daemon, dir, "closed " + std::to_string(kClosedLoop));

    std::printf("\n%-44s %12s\n", "", "figure");
    std::printf("%-44s %12.0f  subtasks/s (median of %d)\n", "(1) throughput, 10,000 subtasks",
                median, kRounds);
    std::printf("%-44s %12.1f  ms\n", "    its subtasks' wait for a worker, p50", mid["p50_ns"] / 1e6);
    std::printf("%-44s %12.1f  ms\n", "    its subtasks' wait for a worker, p99", mid["p99_ns"] / 1e6);
    std::printf("%-44s %12.1f  us\n", "(2) scheduling latency p50, one at a time", lat["p50_ns"] / 1e3);
    std::printf("%-44s %12.1f  us\n", "    scheduling latency p99", lat["p99_ns"] / 1e3);
    std::printf("\nverdict: throughput %.0f subtasks/s, target >= 20000: %s\n", median,
                median >= 20000 ? "met" : "MISSED");
    daemon.ctl({"down", "bench"});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_bench: %s\n", e.what());
    return 1;
  }
}
