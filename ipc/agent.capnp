@0xb737038e332f746b;
# The protocol between swarmd and one agent, on the socketpair the agent
# inherits as fd 3. The daemon serves AgentHost as the bootstrap capability;
# the agent hands its own Agent capability over in hello().
#
# Permissions are capabilities: hello returns exactly the ones the agent's
# role is granted by the spec's [agents.permissions]; a capability not
# granted is null, so the operation cannot even be named. Each capability
# checks its arguments against the grant it was made with (a recipient of a
# role it may not message, a tier it may only read) and refuses with an
# error saying which rule was broken.
#
# Evolution: new methods take the next ordinal; new fields go at the end of
# structs with the next ordinal; nothing is renumbered or retyped.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");
using import "memory.capnp".MemoryTier;
using import "memory.capnp".MemoryEntry;
using import "memory.capnp".MemoryHit;
using Task = import "task.capnp";

interface AgentHost {
  # The agent is up. role must match the role the daemon spawned it as.
  hello @0 (role :Text, agent :Agent) -> (identity :Identity, grants :Grants);

  # Answers a request delivered to this agent (Message.requestId): payload,
  # or error when it is not empty. Every agent may answer the requests it
  # was sent, and only those.
  reply @1 (requestId :UInt64, payload :Data, error :Text) -> ();

  # Model usage (an agent that calls a model says what it used), counted
  # against the token budgets of the swarm, of this agent, and of task
  # taskId ("": the task this agent is working on, if there is exactly one).
  reportUsage @2 (taskId :Text, model :Text, inputTokens :UInt64, outputTokens :UInt64) -> ();
}

interface Agent {
  # Finish up and exit within deadlineMillis; after that the daemon sends
  # SIGTERM, then SIGKILL.
  shutdown @0 (deadlineMillis :UInt32) -> ();

  # The swarm's vibe check: how this agent is doing, in a word and a short
  # note. Answer at once; an agent that misses the check's deadline is
  # reported as silent.
  vibe @1 () -> (health :Health, note :Text);

  # Messages for this agent, in the order they were queued (so FIFO per
  # sender). The daemon sends the next batch only once this call returns:
  # returning is the agent's flow control, and while it does not, its queue
  # fills and senders to it are held back.
  deliver @2 (messages :List(Message)) -> ();

  # A request for this agent (kind request), in its place among the
  # delivered messages. Returning answers it with payload; failing answers
  # it with the error's description. The answer travels as this call's
  # return, so a request and its reply cost the daemon no more messages
  # than two plain calls. (AgentHost.reply answers one too, for agents that
  # answer later from elsewhere; the first answer counts.)
  ask @3 (message :Message) -> (payload :Data);

  # The lead's: a task to split with delegator.delegate, aggregate, and
  # answer with the task's result (task.capnp); failing fails the task.
  # After a daemon restart an unfinished task comes again (resumed).
  runTask @4 (task :Task.TaskInput, delegator :Task.Delegator) -> (result :Data);

  # A worker's: subtasks to run. Return once they are taken (returning is
  # the flow control: the next batch waits for it); answer each through
  # desk, in any order, as it finishes.
  work @5 (subtasks :List(Task.Subtask), desk :Task.WorkDesk) -> ();

  # Attempts (Subtask.attempt, or a task's runTask by its id in taskIds)
  # the daemon no longer wants: cancelled, timed out, or their task ended.
  # Stop working on them; answers to them are ignored.
  drop @6 (attempts :List(UInt64), taskIds :List(Text)) -> ();
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

# What the agent's role may do; a null capability was not granted.
struct Grants {
  outbox @0 :Outbox;             # direct messages and requests, to dmRoles
  dmRoles @1 :List(Text);
  broadcaster @2 :Broadcaster;   # broadcast to the whole swarm
  memory @3 :Memory;             # the tiers below that are not `none`
  shortTerm @4 :Access;
  working @5 :Access;
  longTerm @6 :Access;
  maxPayload @7 :UInt32;         # bytes; a bigger payload is a protocol error
}

enum Access {
  none @0;
  read @1;
  readWrite @2;
}

interface Outbox {
  # Direct messages, each to an agent of the swarm by id ("worker-3") or
  # "role/index" ("worker/3"), delivered in order per recipient. Resolves
  # once every message is queued for its recipient; while a recipient's
  # queue is full the call (and every later one) is held back. A message
  # to an agent that does not exist, has stopped for good, or is of a role
  # this outbox does not reach is refused on its own and listed in refused
  # (by its index in messages); the others still go.
  send @0 (messages :List(Outgoing)) -> (refused :List(Refusal));

  # One message that expects an answer (AgentHost.reply) within
  # deadlineMillis (0: 30 s); fails when the deadline passes, or when the
  # recipient exits or answers with an error.
  request @1 (to :Text, topic :Text, payload :Data, deadlineMillis :UInt32)
      -> (payload :Data);
}

struct Refusal {
  index @0 :UInt32;
  reason @1 :Text;
}

struct Outgoing {
  to @0 :Text;
  topic @1 :Text;
  payload @2 :Data;
}

interface Broadcaster {
  # Queues the message for every other agent of the swarm without waiting
  # for any of them: an agent whose queue is full is skipped and named in
  # refused, so one stuck agent never stalls the rest.
  broadcast @0 (topic :Text, payload :Data) -> (recipients :UInt32, refused :List(Text));
}

struct Message {
  kind @0 :Kind;
  from @1 :Text;           # the sender's agent id, or "operator"
  topic @2 :Text;
  payload @3 :Data;
  requestId @4 :UInt64;    # kind request: answer it with AgentHost.reply

  enum Kind {
    dm @0;
    broadcast @1;
    request @2;
    # A message this agent sent that could not be delivered (its recipient
    # stopped for good); topic and payload are the original's, from is the
    # recipient, and the reason is in `reason`.
    undeliverable @3;
  }
  reason @5 :Text;
}

# The swarm's memory, within the tiers the grant allows (Grants.shortTerm,
# working, longTerm). shortTerm is always this agent's own.
interface Memory {
  # ttlMillis: shortTerm only (0: the swarm's default).
  put @0 (tier :MemoryTier, key :Text, value :Data, tags :List(Text), ttlMillis :UInt64)
      -> ();
  get @1 (tier :MemoryTier, key :Text) -> (found :Bool, entry :MemoryEntry);
  delete @2 (tier :MemoryTier, key :Text) -> ();
  # Keys starting with prefix, in key order, without values; at most limit
  # (0: 100); nextStartAfter is "" on the last page.
  list @3 (tier :MemoryTier, prefix :Text, startAfter :Text, limit :UInt32)
      -> (entries :List(MemoryEntry), nextStartAfter :Text);
  # The k best entries for query (BM25), best first, over the given tiers
  # (empty: every readable one); an entry must carry every tag given.
  recall @4 (query :Text, k :UInt32, tiers :List(MemoryTier), tags :List(Text))
      -> (hits :List(MemoryHit));
  # Moves an entry up to `to` (hasTo false: the next tier up), keeping its
  # provenance; needs write access to both tiers.
  consolidate @5 (tier :MemoryTier, key :Text, hasTo :Bool, to :MemoryTier)
      -> (entry :MemoryEntry);
}
