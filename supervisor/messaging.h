// Messaging: how the agents of one swarm (and the operator) reach each
// other through the daemon: direct messages, broadcasts, and requests that
// expect an answer.
//
// Every agent id of the swarm has a Mailbox (mailbox.h) for the swarm's
// whole life, so messages to an agent that is starting or restarting wait
// for it. Agents are addressed by id ("worker-3") or "role/index"
// ("worker/3"), only within this swarm: there is no syntax for another
// swarm, so none can be named.
//
// Senders: each agent's outgoing traffic goes through one Sender, which
// keeps the agent's calls in order: a direct message that finds its
// recipient's queue full holds that call and every later one of the same
// sender (so per sender and recipient, order is FIFO, and a flooder is held
// back by a slow receiver, not buffered). A broadcast never waits: it is
// queued for every agent whose queue has room at once, and the agents with
// a full queue are skipped and named to the sender (messages_refused_total
// reason queue_full), so one stuck agent cannot stall the rest. (So a
// broadcast may reach an agent before a direct message of the same sender
// that is still held back for it.)
//
// Nothing is dropped silently. A message whose recipient stops for good
// (exited, no restart to come) goes back to its sender as an
// `undeliverable` message (reason recipient_gone); a request fails its
// caller when the recipient is gone, answers with an error, or misses the
// deadline (reason timeout).
//
// Permissions are checked by the caller (agent_grants.h) before a Sender is
// used; a Sender made for an agent carries its role's dm grant and refuses
// messages to roles outside it, so a forged recipient cannot get through.
//
// Thread: the loop thread. Declared before the swarm's agents, so it outlives
// their connections and the capabilities served on them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <kj/async.h>

#include "supervisor/deadline_queue.h"
#include "supervisor/mailbox.h"
#include "supervisor/messaging_limits.h"
#include "supervisor/permissions_spec.h"
#include "supervisor/runtime.h"

namespace smol::supervisor {

class Messaging {
 public:
  // groups: the swarm's roles and how many agents each has, in spec order.
  Messaging(Runtime& rt, std::string swarm,
            const std::vector<std::pair<std::string, uint32_t>>& groups,
            const MessagingLimits& limits);
  ~Messaging();
  Messaging(const Messaging&) = delete;
  Messaging& operator=(const Messaging&) = delete;

  const MessagingLimits& limits() const noexcept { return limits_; }

  // Lifecycle, from the swarm.
  void agent_ready(const std::string& id, rpc::Agent::Client agent);
  // Exited, and a restart is coming: its queue waits for the next run.
  void agent_down(const std::string& id);
  // Stopped for good: its queue goes back to the senders, and requests to it fail.
  void agent_gone(const std::string& id, std::string_view why);

  struct Outgoing {
    std::string to;
    std::string topic;
    std::string payload;
  };
  struct Refusal {
    uint32_t index;  // in the batch
    std::string reason;
    bool denied = false;  // the sender's grant does not reach the recipient
  };
  struct BroadcastResult {
    uint32_t recipients = 0;
    std::vector<std::string> refused;  // agent ids whose queue was full
  };

  // One agent's (or the operator's) outgoing side; see the file comment.
  class Sender {
   public:
    // from: the agent's id, or "operator". dm: the role's grant; null for
    // the operator, who may message anyone.
    Sender(Messaging& m, std::string from, std::string role, const spec::Permissions* dm);
    ~Sender();
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    // Queues every message it may; resolves with the refused ones once the
    // rest are queued (held back while a recipient's queue is full).
    kj::Promise<std::vector<Refusal>> send(std::vector<Outgoing> batch);
    BroadcastResult broadcast(std::string topic, std::string payload);
    // Resolves with the answer's payload; rejects with a message saying why
    // there is none. Throws std::runtime_error if `to` cannot be messaged
    // (std::invalid_argument if the grant does not reach it).
    // (An Array rather than a std::string: g++ 12 misreads a promised string
    // as maybe uninitialized.)
    kj::Promise<kj::Array<kj::byte>> request(const std::string& to, std::string topic,
                                     std::string payload, std::chrono::milliseconds deadline);

   private:
    struct Routed {
      Mailbox* box;
      Envelope envelope;
      uint32_t index;  // in the caller's batch, for its refusals
    };
    struct Held;
    kj::Promise<std::vector<Refusal>> submit(std::unique_ptr<Held> held);
    // Queues h's messages from h.next on while there is room, advancing
    // h.next; a recipient that stopped for good meanwhile is a refusal.
    void queue_from(Held& h);
    kj::Promise<void> drain();
    // The recipient's mailbox, or null and why it cannot be messaged;
    // denied tells a recipient outside the grant (counted in
    // permission_denied_total with op) from one that has stopped.
    Mailbox* route(const std::string& to, std::string_view op, std::string& why,
                   bool& denied) const;

    Messaging& m_;
    std::string from_;
    std::string role_;
    const spec::Permissions* dm_;
    std::deque<std::unique_ptr<Held>> held_;  // batches waiting for room, in order
    kj::Promise<void> draining_{nullptr};
  };

  // Answers request id from agent `replier`; throws std::runtime_error when
  // there is no such request waiting for that agent's answer.
  void reply(const std::string& replier, uint64_t request_id, std::string payload,
             std::string error);

  // A line for the swarm's event stream about the traffic since the last
  // call ("messages: 1200 dm, 3 broadcasts to 297 agents, ..."), or "" when
  // there was none; also refreshes the queue_depth gauge.
  std::string summary();

  // The mailbox of an agent by id or "role/index"; null if none.
  Mailbox* find(std::string_view address);
  // The role of an agent id of this swarm.
  std::string_view role_of(const Mailbox& box) const;

 private:
  struct Pending {
    std::string from;
    std::string to;
    kj::Own<kj::PromiseFulfiller<kj::Array<kj::byte>>> answer;
    std::optional<DeadlineQueue::Handle> deadline;  // none once it has passed
  };

  // An agent's answer to an ask (mailbox.h).
  void answered(const std::string& agent, uint64_t request_id,
                kj::Maybe<kj::Array<kj::byte>> payload, std::string error);
  void count(std::string_view kind, uint64_t n);
  void bounce(Envelope e, std::string_view recipient, std::string_view why);
  void fail_request(uint64_t id, std::string why, std::string_view reason);
  void expired(uint64_t request_id);

  Runtime& rt_;
  std::string swarm_;
  MessagingLimits limits_;
  Mailbox::Stats stats_;
  std::map<std::string, std::unique_ptr<Mailbox>, std::less<>> boxes_;  // by agent id
  std::map<const Mailbox*, std::string> roles_;
  std::set<std::string, std::less<>> gone_;  // agent ids stopped for good
  uint64_t next_request_ = 1;
  std::unordered_map<uint64_t, Pending> requests_;
  DeadlineQueue deadlines_;
  // Since the last summary().
  std::map<std::string, uint64_t, std::less<>> counted_;
  uint64_t refused_since_ = 0;
};

}  // namespace smol::supervisor
