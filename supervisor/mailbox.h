// Mailbox: one agent's queue of messages in the daemon, bounded, and the
// pump that delivers it over the agent's Agent.deliver.
//
// Bounds: at most Limits::messages messages or Limits::bytes bytes wait,
// requests asked but not yet answered included (one message always fits an
// empty queue, so the byte bound never makes a message undeliverable). Callers check has_room() before push(); a sender
// that finds no room waits on room(), which is how a flooder is held back
// by a slow receiver without the daemon growing.
//
// Delivery: while attached to a ready agent, the pump sends everything
// queued (up to Limits::batch_messages / batch_bytes) in one deliver call
// and sends the next batch only when that call returns. A request goes on
// its own, in its place, as an Agent.ask call whose return is the answer
// (handed to the Answer callback); the pump does not wait for that answer,
// which may take the agent a while, before delivering what follows. So there is one
// call in flight per recipient, an agent that does not return from deliver
// stops only its own queue, and throughput comes from batching rather than
// from calls in flight. Messages leave the queue only once their batch was
// acknowledged: a batch interrupted by the agent's exit is delivered again
// to its next run (at least once across restarts; exactly once otherwise).
//
// The answer to the last ask and to the last deliver (if small, at most 4
// KiB) is kept until the next call to the agent goes out: dropping an answer
// makes capnp send the agent a Finish message, which then leaves in the
// same write as that call instead of waking the agent on its own (on a
// request's path that is one wakeup of the recipient fewer).
//
// Thread: the loop thread. The Stats outlives the mailbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>
#include <string>

#include <kj/async.h>

#include "ipc/agent.capnp.h"
#include "metrics/metrics.h"
#include "supervisor/messaging_limits.h"

namespace smol::supervisor {

// A message on its way through the daemon.
struct Envelope {
  rpc::Message::Kind kind = rpc::Message::Kind::DM;
  std::string from;
  std::string topic;
  // Shared: a broadcast queues one payload for every recipient, not a
  // copy each (each queue still counts its size against its bound).
  std::shared_ptr<const std::string> payload;
  uint64_t request_id = 0;
  std::string reason;  // kind undeliverable
  std::chrono::steady_clock::time_point queued_at;

  // What it costs the queue: its text, plus a fixed overhead per message
  // so that a flood of empty messages is bounded by bytes too.
  size_t bytes() const noexcept {
    return from.size() + topic.size() + (payload ? payload->size() : 0) + reason.size() + 64;
  }
};

class Mailbox {
 public:
  using Limits = MailboxLimits;

  // What the swarm's mailboxes share: counters for its metrics.
  struct Stats {
    metrics::Metrics& metrics;
    std::string swarm;
    uint64_t queued = 0;     // messages waiting in all of the swarm's mailboxes
    uint64_t delivered = 0;  // ever
  };

  // How a request's answer comes back: its id, and the payload or, when
  // the agent failed the ask, the error. A broken connection reports
  // nothing (the request then fails by its deadline, or when the agent is
  // found gone).
  using Answer = std::function<void(uint64_t request_id, kj::Maybe<kj::Array<kj::byte>> payload,
                                    std::string error)>;

  Mailbox(std::string owner, const Limits& limits, Stats& stats, Answer answer);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  const std::string& owner() const noexcept { return owner_; }
  bool has_room(size_t bytes) const noexcept;
  // Resolves once a delivery has made room (or the queue is taken): the
  // caller checks has_room() again.
  kj::Promise<void> room();
  // Queues e (bounds are the caller's check) and wakes the pump.
  void push(Envelope e);
  size_t size() const noexcept { return queue_.size(); }

  // The agent is ready: deliver to it.
  void attach(rpc::Agent::Client agent);
  // The agent is gone, perhaps to come back: stop delivering, keep the
  // queue. Returns the requests it was asked and had not answered, which
  // this run of it never will.
  std::vector<uint64_t> detach();
  // The agent is gone for good: hands over what was never delivered and
  // wakes every waiting sender.
  std::deque<Envelope> take_all();

 private:
  kj::Promise<void> pump();
  kj::Promise<void> deliver_batch();
  void ask(rpc::Agent::Client& agent);
  void acknowledged(size_t n);
  void unasked(uint64_t request_id);
  void wake_senders();
  // Drops the answers kept (see above): their Finish goes with the next call.
  void release_answers();
  // Keeps a small answer from the agent's current run in slot.
  template <typename Results>
  void keep_answer(uint64_t run, capnp::Response<Results> answer,
                   kj::Maybe<capnp::Response<Results>>& slot);

  std::string owner_;
  const Limits& limits_;
  Stats& stats_;
  Answer answer_;
  std::deque<Envelope> queue_;
  size_t queued_bytes_ = 0;
  std::map<uint64_t, size_t> asked_;  // requests asked and not answered, with their bytes
  size_t asked_bytes_ = 0;
  kj::Maybe<rpc::Agent::Client> agent_;
  uint64_t run_ = 0;  // counts detaches: answers from an earlier run are not kept
  kj::Maybe<capnp::Response<rpc::Agent::AskResults>> last_ask_;
  kj::Maybe<capnp::Response<rpc::Agent::DeliverResults>> last_delivery_;
  kj::Own<kj::PromiseFulfiller<void>> wake_pump_;  // set while the pump idles
  std::deque<kj::Own<kj::PromiseFulfiller<void>>> senders_;  // waiting for room
  kj::Promise<void> pumping_{nullptr};
  struct Ignore : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  } ignore_;
  kj::TaskSet asks_{ignore_};  // asks sent, waiting for their answers
};

}  // namespace smol::supervisor
