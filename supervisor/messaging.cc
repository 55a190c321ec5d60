#include "supervisor/messaging.h"

#include <charconv>
#include <stdexcept>

#include "base/log.h"
#include "base/units.h"
#include "ipc/rpc_error.h"
#include "supervisor/swarm_spec.h"

namespace smol::supervisor {

using Kind = rpc::Message::Kind;

namespace {

std::shared_ptr<const std::string> shared(std::string payload) {
  return std::make_shared<const std::string>(std::move(payload));
}

// A request waits at most this long, whatever its sender asks for: an
// answer later than that is not worth a pending entry.
constexpr std::chrono::milliseconds kMaxRequestDeadline{60 * 60 * 1000};

}  // namespace

// A batch held back by a full queue, with its caller's answer.
struct Messaging::Sender::Held {
  std::vector<Routed> batch;
  size_t next = 0;
  std::vector<Refusal> refused;
  kj::Own<kj::PromiseFulfiller<std::vector<Refusal>>> done;
};

Messaging::Messaging(Runtime& rt, std::string swarm,
                     const std::vector<std::pair<std::string, uint32_t>>& groups,
                     const MessagingLimits& limits)
    : rt_(rt),
      swarm_(std::move(swarm)),
      limits_(limits),
      stats_{rt.metrics, swarm_},
      deadlines_(rt.loop.timer(), [this](uint64_t id) { expired(id); }) {
  for (const auto& [role, count] : groups) {
    for (uint32_t i = 0; i < count; ++i) {
      std::string id = spec::agent_id(role, i);
      auto box = std::make_unique<Mailbox>(
          id, limits_.mailbox, stats_,
          [this, id](uint64_t request, kj::Maybe<kj::Array<kj::byte>> payload, std::string error) {
            answered(id, request, kj::mv(payload), std::move(error));
          });
      roles_.emplace(box.get(), role);
      boxes_.emplace(std::move(id), std::move(box));
    }
  }
}

Messaging::~Messaging() {
  for (auto& [id, p] : requests_) {
    if (p.answer->isWaiting()) {
      p.answer->reject(ipc::rpc_error("request to " + p.to + " failed: swarm " + swarm_ +
                                      " stopped"));
    }
  }
  rt_.metrics.queue_depth(swarm_, 0);
}

Mailbox* Messaging::find(std::string_view address) {
  if (auto it = boxes_.find(address); it != boxes_.end()) return it->second.get();
  size_t slash = address.rfind('/');
  if (slash == std::string_view::npos) return nullptr;
  std::string id(address);
  id[slash] = '-';
  auto it = boxes_.find(id);
  return it == boxes_.end() ? nullptr : it->second.get();
}

std::string_view Messaging::role_of(const Mailbox& box) const { return roles_.at(&box); }

void Messaging::agent_ready(const std::string& id, rpc::Agent::Client agent) {
  if (Mailbox* box = find(id)) box->attach(kj::mv(agent));
}

void Messaging::agent_down(const std::string& id) {
  Mailbox* box = find(id);
  if (!box) return;
  for (uint64_t request : box->detach()) {
    fail_request(request, id + " exited before answering (it is restarting)", "recipient_gone");
  }
}

void Messaging::agent_gone(const std::string& id, std::string_view why) {
  Mailbox* box = find(id);
  if (!box) return;
  gone_.insert(id);
  for (Envelope& e : box->take_all()) bounce(std::move(e), id, why);
  std::vector<uint64_t> to_fail;
  for (const auto& [rid, p] : requests_) {
    if (p.to == id) to_fail.push_back(rid);
  }
  for (uint64_t rid : to_fail) {
    fail_request(rid, id + " stopped before answering (" + std::string(why) + ")",
                 "recipient_gone");
  }
}

void Messaging::count(std::string_view kind, uint64_t n) {
  rt_.metrics.messages(swarm_, kind, n);
  auto it = counted_.find(kind);
  if (it == counted_.end()) it = counted_.emplace(std::string(kind), 0).first;
  it->second += n;
}

// Sends an undelivered message back to its sender as kind undeliverable;
// requests fail their caller instead, and the operator has no mailbox.
void Messaging::bounce(Envelope e, std::string_view recipient, std::string_view why) {
  rt_.metrics.messages_refused(swarm_, "recipient_gone", 1);
  ++refused_since_;
  if (e.kind == Kind::REQUEST) {
    fail_request(e.request_id, std::string(recipient) + " stopped before answering (" +
                                   std::string(why) + ")",
                 "recipient_gone");
    return;
  }
  if (e.kind == Kind::UNDELIVERABLE) return;  // never bounce a bounce
  Mailbox* sender = find(e.from);
  if (!sender || gone_.count(e.from)) return;
  e.kind = Kind::UNDELIVERABLE;
  e.reason = std::string(recipient) + " stopped before it could be delivered (" +
             std::string(why) + ")";
  e.from = std::string(recipient);
  e.queued_at = std::chrono::steady_clock::now();
  // Past the bound on purpose: bounces are few (at most one queue's worth
  // per agent that stops) and must not be lost.
  sender->push(std::move(e));
}

void Messaging::fail_request(uint64_t id, std::string why, std::string_view reason) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  if (reason != "recipient_gone") {
    rt_.metrics.messages_refused(swarm_, reason, 1);
    ++refused_since_;
  }
  if (it->second.answer->isWaiting()) it->second.answer->reject(ipc::rpc_error(why));
  if (it->second.deadline) deadlines_.cancel(*it->second.deadline);
  requests_.erase(it);
}

void Messaging::answered(const std::string& agent, uint64_t request_id,
                         kj::Maybe<kj::Array<kj::byte>> payload, std::string error) {
  auto it = requests_.find(request_id);
  // Answered through AgentHost.reply already, or timed out: the first
  // answer counted.
  if (it == requests_.end() || it->second.to != agent) return;
  std::string text;
  KJ_IF_MAYBE (p, payload) { text.assign(reinterpret_cast<const char*>(p->begin()), p->size()); }
  reply(agent, request_id, std::move(text), std::move(error));
}

void Messaging::reply(const std::string& replier, uint64_t request_id, std::string payload,
                      std::string error) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) {
    throw std::runtime_error("no request " + std::to_string(request_id) +
                             " is waiting for an answer (it was answered, timed out, or its "
                             "sender is gone)");
  }
  if (it->second.to != replier) {
    throw std::invalid_argument("request " + std::to_string(request_id) +
                                " was not sent to " + replier);
  }
  count("reply", 1);
  if (it->second.answer->isWaiting()) {
    if (error.empty()) {
      it->second.answer->fulfill(
          kj::heapArray(reinterpret_cast<const kj::byte*>(payload.data()), payload.size()));
    } else {
      it->second.answer->reject(ipc::rpc_error(replier + " answered with an error: " + error));
    }
  }
  if (it->second.deadline) deadlines_.cancel(*it->second.deadline);
  requests_.erase(it);
}

void Messaging::expired(uint64_t request_id) {
  // Every deadline belongs to a waiting request: answered or failed ones
  // take theirs out.
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  it->second.deadline.reset();  // the queue took it out
  fail_request(request_id,
               "request to " + it->second.to + " timed out: no answer within the deadline",
               "timeout");
}

std::string Messaging::summary() {
  rt_.metrics.queue_depth(swarm_, stats_.queued);
  if (counted_.empty() && refused_since_ == 0) return "";
  std::string line = "messages:";
  bool first = true;
  for (const auto& [kind, n] : counted_) {
    line += (first ? " " : ", ") + std::to_string(n) + " " + kind;
    first = false;
  }
  if (refused_since_ > 0) line += (first ? " " : ", ") + std::to_string(refused_since_) + " refused";
  line += "; " + std::to_string(stats_.queued) + " queued";
  counted_.clear();
  refused_since_ = 0;
  return line;
}

Messaging::Sender::Sender(Messaging& m, std::string from, std::string role,
                          const spec::Permissions* dm)
    : m_(m), from_(std::move(from)), role_(std::move(role)), dm_(dm) {}

Messaging::Sender::~Sender() = default;

Mailbox* Messaging::Sender::route(const std::string& to, std::string_view op, std::string& why,
                                  bool& denied) const {
  Mailbox* box = m_.find(to);
  std::string_view role = box ? m_.role_of(*box) : std::string_view();
  if (!box) {
    why = "no agent '" + to + "' in swarm " + m_.swarm_ +
          " (agents are named role-index or role/index, e.g. worker-0)";
  } else if (dm_ && !dm_->may_dm(role)) {
    why = "permission denied: role '" + role_ + "' may not message role '" + std::string(role) +
          "' (its [agents.permissions] dm does not list it)";
  }
  if (!why.empty()) {
    // An agent naming what it may not reach (a forged id, another role) is
    // probing its grant: count it. The operator only mistyped.
    denied = dm_ != nullptr;
    if (denied) m_.rt_.metrics.permission_denied(m_.swarm_, role_, op);
    return nullptr;
  }
  if (m_.gone_.count(box->owner())) {
    why = box->owner() + " has stopped for good";
    return nullptr;
  }
  return box;
}

kj::Promise<std::vector<Messaging::Refusal>> Messaging::Sender::send(std::vector<Outgoing> batch) {
  auto held = std::make_unique<Held>();
  held->batch.reserve(batch.size());
  auto now = std::chrono::steady_clock::now();
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string why;
    bool denied = false;
    Mailbox* box = route(batch[i].to, "dm", why, denied);
    if (!box) {
      held->refused.push_back({static_cast<uint32_t>(i), std::move(why), denied});
      continue;
    }
    held->batch.push_back({box,
                           Envelope{Kind::DM, from_, std::move(batch[i].topic),
                                    shared(std::move(batch[i].payload)), 0, {}, now},
                           static_cast<uint32_t>(i)});
  }
  return submit(std::move(held));
}

kj::Promise<std::vector<Messaging::Refusal>> Messaging::Sender::submit(std::unique_ptr<Held> held) {
  if (held_.empty()) {
    queue_from(*held);
    if (held->next == held->batch.size()) return std::move(held->refused);
  }
  auto paf = kj::newPromiseAndFulfiller<std::vector<Refusal>>();
  held->done = kj::mv(paf.fulfiller);
  held_.push_back(std::move(held));
  if (held_.size() == 1) draining_ = drain().eagerlyEvaluate(nullptr);
  return kj::mv(paf.promise);
}

void Messaging::Sender::queue_from(Held& h) {
  uint64_t dms = 0;
  for (; h.next < h.batch.size(); ++h.next) {
    Routed& r = h.batch[h.next];
    Envelope& e = r.envelope;
    // A request that failed (its deadline, its recipient gone) while held
    // has nobody waiting for its answer.
    if (e.kind == Kind::REQUEST && m_.requests_.count(e.request_id) == 0) continue;
    if (m_.gone_.count(r.box->owner())) {
      if (e.kind == Kind::REQUEST) {
        m_.fail_request(e.request_id, r.box->owner() + " has stopped for good", "recipient_gone");
      } else {
        h.refused.push_back({r.index, r.box->owner() + " has stopped for good", false});
        m_.rt_.metrics.messages_refused(m_.swarm_, "recipient_gone", 1);
        ++m_.refused_since_;
      }
      continue;
    }
    if (!r.box->has_room(e.bytes())) break;
    if (e.kind == Kind::REQUEST) {
      m_.count("request", 1);
    } else {
      ++dms;
    }
    r.box->push(std::move(e));
  }
  if (dms > 0) m_.count("dm", dms);
}

// Feeds the held batches, oldest first, as their recipients make room.
kj::Promise<void> Messaging::Sender::drain() {
  Held& h = *held_.front();
  return h.batch[h.next]
      .box->room()
      .then([this]() -> kj::Promise<void> {
        while (!held_.empty()) {
          Held& front = *held_.front();
          queue_from(front);
          if (front.next < front.batch.size()) return drain();
          front.done->fulfill(std::move(front.refused));
          held_.pop_front();
        }
        return kj::READY_NOW;
      })
      .catch_([this](kj::Exception&& e) {
        // The recipient's mailbox went with its swarm: every caller waiting
        // here hears so, rather than waiting for good.
        for (auto& held : held_) held->done->reject(kj::cp(e));
        held_.clear();
      });
}

Messaging::BroadcastResult Messaging::Sender::broadcast(std::string topic, std::string payload) {
  BroadcastResult result;
  Envelope e{Kind::BROADCAST, from_, std::move(topic), shared(std::move(payload)), 0, {},
             std::chrono::steady_clock::now()};
  for (auto& [id, box] : m_.boxes_) {
    if (id == from_ || m_.gone_.count(id)) continue;
    if (!box->has_room(e.bytes())) {
      result.refused.push_back(id);
      continue;
    }
    box->push(e);
    ++result.recipients;
  }
  if (result.recipients > 0) m_.count("broadcast", result.recipients);
  if (!result.refused.empty()) {
    m_.rt_.metrics.messages_refused(m_.swarm_, "queue_full", result.refused.size());
    m_.refused_since_ += result.refused.size();
  }
  return result;
}

kj::Promise<kj::Array<kj::byte>> Messaging::Sender::request(const std::string& to, std::string topic,
                                                    std::string payload,
                                                    std::chrono::milliseconds deadline) {
  std::string why;
  bool denied = false;
  Mailbox* box = route(to, "request", why, denied);
  if (denied) throw std::invalid_argument(why);
  if (!box) throw std::runtime_error(why);
  if (deadline.count() <= 0) deadline = m_.limits_.default_request_deadline;
  deadline = std::min(deadline, kMaxRequestDeadline);
  uint64_t id = m_.next_request_++;
  auto paf = kj::newPromiseAndFulfiller<kj::Array<kj::byte>>();
  kj::TimePoint due = m_.rt_.loop.timer().now() + deadline.count() * kj::MILLISECONDS;
  m_.requests_.emplace(id, Pending{from_, box->owner(), kj::mv(paf.fulfiller), std::nullopt});
  m_.requests_.at(id).deadline = m_.deadlines_.add(due, id);
  // A request waits its turn behind this sender's held messages, like a dm.
  auto held = std::make_unique<Held>();
  held->batch.push_back({box,
                         Envelope{Kind::REQUEST, from_, std::move(topic), shared(std::move(payload)), id,
                                  {}, std::chrono::steady_clock::now()},
                         0});
  return submit(std::move(held)).then(
      [answer = kj::mv(paf.promise)](std::vector<Refusal>) mutable { return kj::mv(answer); });
}

}  // namespace smol::supervisor
