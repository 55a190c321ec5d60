@0x9222a7a8f88010d1;
# The operator's interface to swarmd, served on the control socket.
#
# Evolution: new methods take the next ordinal; new fields go at the end of
# structs with the next ordinal; nothing is renumbered or retyped. Failures
# come back as RPC exceptions whose description is the user-facing message.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");
using AgentProtocol = import "agent.capnp";
using import "memory.capnp".MemoryTier;
using import "memory.capnp".MemoryEntry;
using import "memory.capnp".MemoryHit;
using Task = import "task.capnp";

interface Control {
  # Validates and starts a swarm from its TOML spec and resolves once every
  # agent has said hello. sourceName is the file name used in error
  # positions; baseDir resolves relative agent commands.
  spawnSwarm @0 (specToml :Text, sourceName :Text, baseDir :Text)
      -> (swarm :SwarmInfo, readyMillis :Float64);

  listSwarms @1 () -> (swarms :List(SwarmInfo));
  listAgents @2 (swarm :Text) -> (agents :List(AgentInfo));

  # Graceful stop: shutdown RPC, then SIGTERM after graceMillis (0 means the
  # daemon's default), then SIGKILL. Resolves when every agent is gone.
  stopSwarm @3 (swarm :Text, graceMillis :UInt32) -> (swarm :SwarmInfo);

  # Without follow: returns the last tailBytes of the agent's captured
  # stdout/stderr in data (0 means all that is kept). With follow: data stays
  # empty; that tail and then all new output are pushed to sink, then
  # sink.end(), and the call returns once the agent has exited.
  agentLogs @4 (swarm :Text, agent :Text, tailBytes :UInt32, follow :Bool,
                sink :LogSink) -> (data :Data);

  status @5 () -> (status :DaemonStatus);

  # Runs one command in the agent sandbox (`swarmctl run`); no hello is
  # needed. profile names a shipped sandbox profile ("" for the default);
  # workdir is a host directory to work in, used as it is ("" for a fresh
  # one, removed afterwards); baseDir resolves a relative argv[0]. Its
  # stdout and stderr, interleaved as written, are pushed to sink, then
  # sink.end(how it ended); the call returns how it ended. Dropping the call
  # kills the command.
  runCommand @6 (argv :List(Text), profile :Text, workdir :Text, baseDir :Text,
                 sink :LogSink) -> (exit :ExitInfo);

  # Freezes (paused = true) or thaws every process of one running agent, or
  # of every running agent of the swarm when agent is "". Returns the
  # swarm's agents as listAgents does.
  pauseAgents @7 (swarm :Text, agent :Text, paused :Bool) -> (agents :List(AgentInfo));

  # Asks every agent of the swarm, all at once, how it is doing, and waits
  # at most deadlineMillis (0: 2 s) for the answers; agents that are not
  # running, have not said hello or do not answer in time are silent.
  vibeCheck @8 (swarm :Text, deadlineMillis :UInt32) -> (check :VibeCheck);

  # The swarm's event stream: one timestamped line per event (agents
  # started, ready, exited and why, restarting, seccomp violations, OOM
  # kills, paused, resumed; the swarm's own state changes and vibe checks).
  # Like agentLogs: the last tailBytes (0: all kept), and with follow, the
  # rest as it comes, until the swarm is replaced or the daemon stops.
  swarmEvents @9 (swarm :Text, tailBytes :UInt32, follow :Bool, sink :LogSink) -> (data :Data);

  # The swarm's memory (storage/memory_store.h), for operators. agent names
  # the owner of a shortTerm entry (required there); in the other tiers it is
  # only the writer recorded in provenance ("" = the operator). Writes answer
  # once their group commit is durable. Errors (no such swarm or entry, a
  # quota, an argument over its limit) are RPC exceptions with the message.

  # Puts (replaces) one entry. ttlMillis: shortTerm only; 0 = the default.
  memPut @10 (swarm :Text, tier :MemoryTier, agent :Text, key :Text, value :Data,
              tags :List(Text), ttlMillis :Int64) -> (entry :MemoryEntry);
  memGet @11 (swarm :Text, tier :MemoryTier, agent :Text, key :Text) -> (entry :MemoryEntry);
  # Keys starting with prefix in key order, without values; at most limit
  # (0: 100); nextStartAfter is "" on the last page.
  memList @12 (swarm :Text, tier :MemoryTier, agent :Text, prefix :Text,
               startAfter :Text, limit :UInt32)
      -> (entries :List(MemoryEntry), nextStartAfter :Text);
  # The k best entries for query (BM25), best first; tiers empty = all
  # (shortTerm: agent's own); an entry must carry every tag given.
  memRecall @13 (swarm :Text, agent :Text, query :Text, k :UInt32,
                 tiers :List(MemoryTier), tags :List(Text)) -> (hits :List(MemoryHit));
  memDelete @14 (swarm :Text, tier :MemoryTier, agent :Text, key :Text) -> ();
  # Moves an entry up to `to` (hasTo false: the next tier up), keeping its
  # provenance; returns it as it is now.
  memConsolidate @15 (swarm :Text, tier :MemoryTier, agent :Text, key :Text,
                      hasTo :Bool, to :MemoryTier) -> (entry :MemoryEntry);

  # A message from the operator (sender "operator") to one agent, by id or
  # role/index; resolves once it is queued, held back while the agent's
  # queue is full.
  sendMessage @16 (swarm :Text, to :Text, topic :Text, payload :Data) -> ();
  # The same to every agent of the swarm; agents whose queue is full are
  # skipped and listed in refused.
  broadcastMessage @17 (swarm :Text, topic :Text, payload :Data)
      -> (recipients :UInt32, refused :List(Text));

  # Tasks (task.capnp): the swarm's [tasks] lead receives input and
  # delegates to workers. taskRun makes the task and returns at once;
  # timeoutMillis 0: none; budgetTokens 0: the spec's task_budget.
  taskRun @18 (swarm :Text, input :Data, timeoutMillis :UInt64, budgetTokens :UInt64)
      -> (task :Task.TaskInfo);
  # Newest first; swarm "" = every swarm's; limit 0: 100.
  taskList @19 (swarm :Text, limit :UInt32) -> (tasks :List(Task.TaskInfo));
  # The task and its subtasks (in key order).
  taskShow @20 (id :Text) -> (task :Task.TaskInfo, subtasks :List(Task.SubtaskInfo));
  # Cancels a running or paused task: its lead and workers are told to
  # drop it. Returns it as it is now.
  taskCancel @21 (id :Text) -> (task :Task.TaskInfo);
  # Pushes the task's events to watcher (a progress event first) and
  # returns when the task has ended (at once for one that has), with it.
  taskWatch @22 (id :Text, watcher :Task.TaskWatcher) -> (task :Task.TaskInfo);
  # A paused task goes on, with its token budget raised to budgetTokens
  # (0: unchanged).
  taskResume @23 (id :Text, budgetTokens :UInt64) -> (task :Task.TaskInfo);
}

struct VibeCheck {
  agents @0 :List(AgentVibe);   # in spec order
  ok @1 :UInt32;
  degraded @2 :UInt32;
  failing @3 :UInt32;
  silent @4 :UInt32;
  tookMillis @5 :Float64;
}

struct AgentVibe {
  id @0 :Text;
  answered @1 :Bool;
  health @2 :AgentProtocol.Health;   # when answered
  note @3 :Text;                     # the agent's note, or why it is silent
  millis @4 :Float64;                # how long the answer took
}

interface LogSink {
  write @0 (data :Data) -> stream;
  # The agent is gone (or the swarm was stopped); no more writes follow.
  end @1 (reason :Text);
}

enum SwarmState {
  starting @0;
  ready @1;
  stopping @2;
  stopped @3;
  failed @4;
}

struct SwarmInfo {
  name @0 :Text;
  state @1 :SwarmState;
  agentsReady @2 :UInt32;
  agentsTotal @3 :UInt32;
  createdUnixMillis @4 :Int64;
  sourceName @5 :Text;
  lastError @6 :Text;
}

enum AgentState {
  starting @0;
  ready @1;
  stopping @2;
  exited @3;
  paused @4;        # running, frozen by pauseAgents
}

enum ExitReason {
  none @0;          # still running
  exited @1;        # exited on its own; see code
  crashed @2;       # killed by a signal nobody asked for
  startTimeout @3;  # never said hello within ready_timeout
  stopped @4;       # stopped on request
  spawnFailed @5;   # could not be started at all; see detail
  seccomp @6;       # killed for a forbidden system call; see syscall
  timeout @7;       # killed for running longer than its max_runtime
  oom @8;           # killed by the OOM killer at a memory limit; see detail
  protocolError @9; # killed for malformed or oversized messages; see detail
}

struct ExitInfo {
  reason @0 :ExitReason;
  code @1 :Int32;       # exit status, when reason is exited
  signal @2 :Int32;     # terminating signal, 0 if none
  detail @3 :Text;      # human summary, e.g. "killed by SIGKILL"
  atUnixMillis @4 :Int64;
  syscall @5 :Text;     # reason seccomp: the forbidden system call, if known
}

struct AgentInfo {
  id @0 :Text;
  role @1 :Text;
  pid @2 :Int32;
  state @3 :AgentState;
  startedUnixMillis @4 :Int64;
  restarts @5 :UInt32;
  lastExit @6 :ExitInfo;
  # What its cgroup uses now; hasUsage is false when it runs without one
  # (or is not running).
  hasUsage @7 :Bool;
  memoryBytes @8 :UInt64;
  cpuPercent @9 :Float64;   # of one core, over the last few seconds
  cpuSeconds @10 :Float64;  # since this run started
  pids @11 :UInt64;
  memoryLimit @12 :UInt64;  # its own memory limit in bytes; 0: none
}

struct DaemonStatus {
  version @0 :Text;
  pid @1 :Int32;
  uptimeMillis @2 :Int64;
  socketPath @3 :Text;
  stateDir @4 :Text;
  metricsAddress @5 :Text;   # "off" when disabled
  swarmsTotal @6 :UInt32;
  swarmsRunning @7 :UInt32;
  agentsRunning @8 :UInt32;
  cgroups @9 :Text;          # the backend in use, or why there is none
}
