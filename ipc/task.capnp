@0x8dcbbedcdb04a644;
# Tasks on the wire: how a swarm's lead delegates subtasks to workers
# through swarmd (agent.capnp uses these), and how operators see tasks
# (control.capnp).
#
# The flow: `swarmctl task run` makes a task; the daemon calls the lead's
# Agent.runTask with a Delegator; the lead delegates subtasks, each named by
# a key unique within the task; the daemon runs every subtask on a worker
# (Agent.work), retries it elsewhere when the worker fails, dies or times
# out, and streams each outcome to the lead's ResultSink; the lead returns
# the task's result. A worker answers through its WorkDesk.
#
# Delegating a key the task already has is not a second subtask: it returns
# the stored outcome (or joins the one still running). That is what makes a
# task resumable: after a daemon restart the lead gets the same task again,
# delegates the same keys, and only the unfinished ones run again.
#
# Evolution: as in agent.capnp.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");

# ---- The lead's side ------------------------------------------------------

struct TaskInput {
  id @0 :Text;              # "t-00000000002a"
  input @1 :Data;
  resumed @2 :Bool;         # run again after a daemon restart
  budgetTokens @3 :UInt64;  # the task's token budget; 0: none
}

interface Delegator {
  # Queues subtasks to run on workers and returns at once. Each outcome
  # (ok, failed after its attempts, or cancelled) goes to sink as it comes,
  # in batches, one call in flight. A subtask that cannot be accepted is
  # listed in refused by its index, and the others still go; a refusal is
  # final, the key stays free.
  delegate @0 (subtasks :List(SubtaskSpec), options :DelegateOptions, sink :ResultSink)
      -> (delegation :Delegation, refused :List(DelegationRefusal));
}

struct SubtaskSpec {
  key @0 :Text;     # 1..256 bytes, unique within the task
  input @1 :Data;
  to @2 :Text;      # one agent (id or role/index); "": a worker of options.role
}

struct DelegateOptions {
  role @0 :Text;              # the worker role; "": any of [tasks] workers
  timeoutMillis @1 :UInt32;   # per attempt; 0: [tasks] subtask_timeout
  maxAttempts @2 :UInt32;     # 0: [tasks] max_attempts (and never more)
}

struct DelegationRefusal {
  index @0 :UInt32;
  # One word, also the label of smolswarms_delegations_refused_total:
  # self_delegation, cycle, max_depth, max_subtasks, runaway,
  # budget_exceeded, no_worker, bad_subtask, task_ended.
  reason @1 :Text;
  message @2 :Text;  # for people: what was wrong and which rule refused it
}

interface Delegation {
  # Cancels this delegation's subtasks that have not finished (their
  # workers are told to drop them); each still reaches the sink, cancelled.
  cancelRemaining @0 () -> (cancelled :UInt32);
}

interface ResultSink {
  # Outcomes, in the order they finished. The next batch waits for this
  # call to return.
  results @0 (results :List(SubtaskResult)) -> ();
}

struct SubtaskResult {
  key @0 :Text;
  outcome @1 :Outcome;
  result @2 :Data;     # succeeded
  error @3 :Text;      # failed: the last attempt's error; cancelled: why
  attempts @4 :UInt32;
  worker @5 :Text;     # the agent whose answer this is ("" if none ran it)

  enum Outcome {
    succeeded @0;
    failed @1;
    cancelled @2;
  }
}

# ---- The worker's side ----------------------------------------------------

struct Subtask {
  attempt @0 :UInt64;         # names this attempt to WorkDesk and Agent.drop
  taskId @1 :Text;
  key @2 :Text;
  input @3 :Data;
  number @4 :UInt32;          # 1 for the first attempt
  # The attempt fails when this has passed since the worker's first
  # progress report on it; before that, it has one more timeout for each
  # attempt the worker held when it was sent (agents run them one at a
  # time, so it may wait behind them).
  timeoutMillis @5 :UInt32;
  # Lets this worker delegate further; null unless [tasks] max_depth
  # allows it at this depth.
  delegator @6 :Delegator;
}

interface WorkDesk {
  # Progress and outcomes of this worker's attempts, in any order, batched.
  # An update for an attempt the daemon has dropped is ignored.
  report @0 (updates :List(SubtaskUpdate)) -> ();
}

struct SubtaskUpdate {
  attempt @0 :UInt64;
  union {
    progress @1 :Progress;
    result @2 :Data;   # done
    error @3 :Text;    # failed; the daemon may retry it on another worker
  }
}

struct Progress {
  fraction @0 :Float32;   # 0..1
  note @1 :Text;
}

# ---- The operator's view (control.capnp) ----------------------------------

enum TaskState {
  running @0;
  succeeded @1;
  failed @2;
  cancelled @3;
  paused @4;      # a budget ran out and [tasks] on_budget_exceeded is "pause"
}

enum SubtaskState {
  pending @0;
  running @1;
  succeeded @2;
  failed @3;
  cancelled @4;
}

struct TokenUse {
  model @0 :Text;
  inputTokens @1 :UInt64;
  outputTokens @2 :UInt64;
}

struct TaskInfo {
  id @0 :Text;
  swarm @1 :Text;
  state @2 :TaskState;
  result @3 :Data;         # succeeded
  error @4 :Text;          # failed or cancelled
  createdUnixMillis @5 :Int64;
  finishedUnixMillis @6 :Int64;   # 0 while it runs
  subtasksTotal @7 :UInt32;
  subtasksDone @8 :UInt32;        # succeeded, failed or cancelled
  subtasksFailed @9 :UInt32;
  subtasksRunning @10 :UInt32;
  budgetTokens @11 :UInt64;       # 0: none
  tokens @12 :List(TokenUse);     # by model
  inputBytes @13 :UInt64;
  subtasksCancelled @14 :UInt32;  # of subtasksDone
}

struct AttemptInfo {
  number @0 :UInt32;
  worker @1 :Text;
  startedUnixMillis @2 :Int64;
  finishedUnixMillis @3 :Int64;   # 0 while it runs
  ok @4 :Bool;
  error @5 :Text;
}

struct SubtaskInfo {
  key @0 :Text;
  parent @1 :Text;         # the key of the subtask whose worker delegated it; "": the lead
  state @2 :SubtaskState;
  role @3 :Text;
  attempts @4 :List(AttemptInfo);
  progress @5 :Float32;
  progressNote @6 :Text;
  error @7 :Text;
  resultBytes @8 :UInt64;
}

# What `swarmctl task run --wait` shows while a task runs.
struct TaskEvent {
  atUnixMillis @0 :Int64;
  kind @1 :Kind;
  key @2 :Text;            # the subtask, for subtask kinds
  worker @3 :Text;
  message @4 :Text;        # the error, the progress note, or what happened
  task @5 :TaskInfo;       # the task's counters as of this event (no result)

  enum Kind {
    progress @0;          # counters changed (sent at most a few times a second)
    attemptFailed @1;     # an attempt failed; message says why, and whether it is retried
    subtaskFailed @2;     # a subtask failed for good
    taskEnded @3;         # the last event; task has the result
    note @4;              # anything else worth a line (paused, resumed, budget)
  }
}

interface TaskWatcher {
  event @0 (event :TaskEvent) -> stream;
}
