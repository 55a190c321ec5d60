@0x9222a7a8f88010d1;
# The operator's interface to swarmd, served on the control socket.
#
# Evolution: new methods take the next ordinal; new fields go at the end of
# structs with the next ordinal; nothing is renumbered or retyped. Failures
# come back as RPC exceptions whose description is the user-facing message.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");
using AgentProtocol = import "agent.capnp";

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
