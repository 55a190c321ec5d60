// `swarmctl task ...`: the operator's side of tasks (ipc/task.capnp).
//
// A task is input given to a swarm's lead agent, which splits it into
// subtasks that swarmd runs on workers. These commands start one
// (taskRun), watch it to the end (taskWatch, with a TaskWatcher served
// here), list and show tasks, and cancel or resume one. Like the commands
// in commands.h, each connects to swarmd, prints a table or sentence for
// people or with --json the call's results as JSON, and throws Failure
// (exit 1; 2 for bad usage) without printing errors itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "cli/commands.h"

namespace smol::cli {

// What `swarmctl task run` asks for.
struct TaskRunOptions {
  std::string input_file;                // "": no input; "-": all of stdin
  std::chrono::milliseconds timeout{0};  // the task's own deadline; 0: none
  uint64_t budget_tokens = 0;            // 0: the swarm spec's task_budget
  bool wait = false;
};

// Starts a task on `swarm` and prints its id (--json: the task as JSON).
// With wait, then shows its progress until it ends: a live bar when stdout
// is a terminal (and not --json), else one line per event (--json: one
// JSON object each, then the final task); human event lines go to stderr
// when stdout is not a terminal, so stdout carries only the result. At the
// end prints the result on stdout and returns 0 if the task succeeded;
// throws Failure with its error if it failed, was cancelled or paused.
// Ctrl-C stops watching only (the task goes on) and returns 130. A missing
// input file fails before anything is sent.
int task_run(const GlobalOptions& g, const std::string& swarm, const TaskRunOptions& opts);

// Lists tasks, newest first, of one swarm or ("") of all: ID SWARM STATE
// SUBTASKS AGE TOKENS.
void task_ls(const GlobalOptions& g, const std::string& swarm);

// Shows one task (state, times, counters, tokens per model, budget, error
// or result size), then its subtasks as a tree under their parents: KEY
// WORKER STATE ATTEMPTS DURATION ERROR.
void task_show(const GlobalOptions& g, const std::string& id);

// Cancels a running or paused task and says what state it is in now.
void task_cancel(const GlobalOptions& g, const std::string& id);

// Lets a paused task go on, with its token budget raised to budget_tokens
// (0: unchanged).
void task_resume(const GlobalOptions& g, const std::string& id, uint64_t budget_tokens);

}  // namespace smol::cli
