@0xb737038e332f746b;
# The protocol between swarmd and one agent, on the socketpair the agent
# inherits as fd 3. The daemon serves AgentHost as the bootstrap capability;
# the agent hands its own Agent capability over in hello().
#
# Evolution: later capabilities (messaging, memory, tasks) arrive as new
# result fields of hello, so an agent holds exactly what it was granted.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");

interface AgentHost {
  # The agent is up. role must match the role the daemon spawned it as.
  hello @0 (role :Text, agent :Agent) -> (identity :Identity);
}

interface Agent {
  # Finish up and exit within deadlineMillis; after that the daemon sends
  # SIGTERM, then SIGKILL.
  shutdown @0 (deadlineMillis :UInt32) -> ();

  # The swarm's vibe check: how this agent is doing, in a word and a short
  # note. Answer at once; an agent that misses the check's deadline is
  # reported as silent.
  vibe @1 () -> (health :Health, note :Text);
}

enum Health {
  ok @0;
  degraded @1;   # working, but not as it should (slow, retrying, low on something)
  failing @2;    # cannot do its job
}

struct Identity {
  agentId @0 :Text;       # "role-index", unique within the swarm
  swarm @1 :Text;
  role @2 :Text;
  index @3 :UInt32;
  peers @4 :List(PeerGroup);  # the swarm's agents, as role and count
}

struct PeerGroup {
  role @0 :Text;
  count @1 :UInt32;   # agent ids are role-0 .. role-(count-1)
}
