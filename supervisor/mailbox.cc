#include "supervisor/mailbox.h"

#include <kj/debug.h>

#include "base/log.h"
#include "ipc/rpc_error.h"
#include "ipc/wire.h"

namespace smol::supervisor {

// The largest answer kept for its Finish to go with the next call.
constexpr size_t kKeptAnswerBytes = 4096;

Mailbox::Mailbox(std::string owner, const Limits& limits, Stats& stats, Answer answer)
    : owner_(std::move(owner)), limits_(limits), stats_(stats), answer_(std::move(answer)) {}

Mailbox::~Mailbox() { stats_.queued -= queue_.size(); }

bool Mailbox::has_room(size_t bytes) const noexcept {
  if (queue_.empty() && asked_.empty()) return true;
  return queue_.size() + asked_.size() < limits_.messages &&
         queued_bytes_ + asked_bytes_ + bytes <= limits_.bytes;
}

kj::Promise<void> Mailbox::room() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  senders_.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void Mailbox::push(Envelope e) {
  queued_bytes_ += e.bytes();
  queue_.push_back(std::move(e));
  ++stats_.queued;
  if (wake_pump_ && wake_pump_->isWaiting()) wake_pump_->fulfill();
}

void Mailbox::attach(rpc::Agent::Client agent) {
  agent_ = kj::mv(agent);
  pumping_ = pump().eagerlyEvaluate([this](kj::Exception&& e) {
    // The agent's connection broke; its exit is seen through its pidfd and
    // decides what happens to this queue.
    log::debug("delivery to " + owner_ + " stopped: " + e.getDescription().cStr());
  });
}

std::vector<uint64_t> Mailbox::detach() {
  pumping_ = nullptr;
  ++run_;
  release_answers();
  agent_ = nullptr;
  wake_pump_ = nullptr;
  std::vector<uint64_t> unanswered;
  for (const auto& [id, bytes] : asked_) unanswered.push_back(id);
  asked_.clear();
  asked_bytes_ = 0;
  wake_senders();
  return unanswered;
}

void Mailbox::unasked(uint64_t request_id) {
  auto it = asked_.find(request_id);
  if (it == asked_.end()) return;  // this run was detached meanwhile
  asked_bytes_ -= it->second;
  asked_.erase(it);
  wake_senders();
}

std::deque<Envelope> Mailbox::take_all() {
  detach();  // the caller fails the requests asked, with the rest
  std::deque<Envelope> all = std::move(queue_);
  queue_.clear();
  stats_.queued -= all.size();
  queued_bytes_ = 0;
  wake_senders();
  return all;
}

kj::Promise<void> Mailbox::pump() {
  if (queue_.empty()) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    wake_pump_ = kj::mv(paf.fulfiller);
    return paf.promise.then([this] { return pump(); });
  }
  if (queue_.front().kind == rpc::Message::Kind::REQUEST) {
    KJ_IF_MAYBE (agent, agent_) { ask(*agent); }
    // Through the loop, so a queue of requests cannot hold it.
    return kj::evalLater([this] { return pump(); });
  }
  return deliver_batch().then([this] { return pump(); });
}

void Mailbox::release_answers() {
  last_ask_ = nullptr;
  last_delivery_ = nullptr;
}

template <typename Results>
void Mailbox::keep_answer(uint64_t run, capnp::Response<Results> answer,
                          kj::Maybe<capnp::Response<Results>>& slot) {
  // One from a connection since detached is dropped: its Finish goes
  // nowhere. A big one is dropped too, rather than held while the agent
  // idles (a reply can be max_payload).
  if (run != run_ || answer.totalSize().wordCount * sizeof(capnp::word) > kKeptAnswerBytes) return;
  slot = kj::mv(answer);
}

void Mailbox::ask(rpc::Agent::Client& agent) {
  release_answers();
  Envelope& e = queue_.front();
  auto req = agent.askRequest(ipc::size_hint({e.from.size(), e.topic.size(), e.payload->size()}));
  auto m = req.initMessage();
  m.setKind(e.kind);
  m.setFrom(e.from);
  if (!e.topic.empty()) m.setTopic(e.topic);
  m.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(e.payload->data()),
                            e.payload->size()));
  m.setRequestId(e.request_id);
  uint64_t id = e.request_id;
  // Until answered it still takes its room in the queue: a recipient that
  // sits on requests holds its senders back like one that does not read.
  asked_.emplace(id, e.bytes());
  asked_bytes_ += e.bytes();
  asks_.add(req.send().then(
      [this, id, run = run_](capnp::Response<rpc::Agent::AskResults> r) {
        unasked(id);
        answer_(id, kj::heapArray(r.getPayload()), "");
        keep_answer(run, kj::mv(r), last_ask_);
      },
      [this, id](kj::Exception&& err) {
        unasked(id);
        if (err.getType() == kj::Exception::Type::DISCONNECTED) return;
        answer_(id, nullptr, ipc::remote_reason(err));
      }));
  acknowledged(1);
}

kj::Promise<void> Mailbox::deliver_batch() {
  // Up to the next request, which goes on its own (ask).
  size_t n = 0, bytes = 0;
  while (n < queue_.size() && n < limits_.batch_messages &&
         queue_[n].kind != rpc::Message::Kind::REQUEST &&
         (n == 0 || bytes + queue_[n].bytes() <= limits_.batch_bytes)) {
    bytes += queue_[n].bytes();
    ++n;
  }
  KJ_IF_MAYBE (agent, agent_) {
    release_answers();
    auto req = agent->deliverRequest();
    auto list = req.initMessages(static_cast<unsigned>(n));
    for (size_t i = 0; i < n; ++i) {
      const Envelope& e = queue_[i];
      auto m = list[static_cast<unsigned>(i)];
      m.setKind(e.kind);
      m.setFrom(e.from);
      if (!e.topic.empty()) m.setTopic(e.topic);
      m.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(e.payload->data()),
                                e.payload->size()));
      if (e.request_id != 0) m.setRequestId(e.request_id);
      if (!e.reason.empty()) m.setReason(e.reason);
    }
    return req.send().then([this, n, run = run_](capnp::Response<rpc::Agent::DeliverResults> r) {
      acknowledged(n);
      keep_answer(run, kj::mv(r), last_delivery_);
    });
  }
  KJ_FAIL_REQUIRE("mailbox pumped while detached", owner_);
}

void Mailbox::acknowledged(size_t n) {
  auto now = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    Envelope& e = queue_.front();
    stats_.metrics.observe_message_latency(
        std::chrono::duration<double>(now - e.queued_at).count());
    queued_bytes_ -= e.bytes();
    queue_.pop_front();
  }
  stats_.queued -= n;
  stats_.delivered += n;
  wake_senders();
}

void Mailbox::wake_senders() {
  // Every waiting sender checks again; the ones that still find no room
  // wait again, behind the others.
  auto waiting = std::move(senders_);
  senders_.clear();
  for (auto& s : waiting) {
    if (s->isWaiting()) s->fulfill();
  }
}

}  // namespace smol::supervisor
