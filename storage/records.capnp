@0x8fcf29392b537147;
# What swarmd persists in LMDB, one capnp message per value. Fields are only
# ever appended, so an older daemon's records still read.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::storage::rec");

enum SwarmStatus {
  active @0;    # the daemon was running it when the record was written
  stopped @1;
  failed @2;
}

struct SwarmRecord {
  name @0 :Text;
  specToml @1 :Text;
  sourceName @2 :Text;
  baseDir @3 :Text;
  status @4 :SwarmStatus;
  createdUnixMillis @5 :Int64;
  stoppedUnixMillis @6 :Int64;
  lastError @7 :Text;
}

# Tasks (storage/task_store.h). The enums list their values in the order of
# the C++ enums TaskState and SubtaskState, which task_store.cc relies on.

enum TaskState {
  running @0;
  succeeded @1;
  failed @2;
  cancelled @3;
  paused @4;
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

struct TaskRecord {
  id @0 :Text;
  swarm @1 :Text;
  state @2 :TaskState;
  input @3 :Text;
  result @4 :Text;
  error @5 :Text;
  createdUnixMillis @6 :Int64;
  finishedUnixMillis @7 :Int64;
  timeoutMillis @8 :Int64;
  budgetTokens @9 :UInt64;
  subtasksTotal @10 :UInt32;
  subtasksDone @11 :UInt32;
  subtasksFailed @12 :UInt32;
  tokens @13 :List(TokenUse);
  # The input is kept under its own key (task_store.cc), so that the
  # record, rewritten as the task's counters move, stays small.
  inputBytes @14 :UInt64;
  subtasksCancelled @15 :UInt32;   # of subtasksDone
}

struct AttemptRecord {
  number @0 :UInt32;
  worker @1 :Text;
  startedUnixMillis @2 :Int64;
  finishedUnixMillis @3 :Int64;
  ok @4 :Bool;
  error @5 :Text;
}

struct SubtaskRecord {
  taskId @0 :Text;
  key @1 :Text;
  role @2 :Text;
  state @3 :SubtaskState;
  input @4 :Text;
  result @5 :Text;
  error @6 :Text;
  progress @7 :Float32;
  progressNote @8 :Text;
  attempts @9 :List(AttemptRecord);
  parent @10 :Text;
}
