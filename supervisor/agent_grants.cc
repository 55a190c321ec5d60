#include "supervisor/agent_grants.h"

#include <stdexcept>

#include "ipc/rpc_error.h"
#include "ipc/wire.h"

namespace smol::supervisor {
namespace {

rpc::Access to_rpc(spec::MemoryAccess a) {
  switch (a) {
    case spec::MemoryAccess::none: return rpc::Access::NONE;
    case spec::MemoryAccess::read: return rpc::Access::READ;
    case spec::MemoryAccess::read_write: return rpc::Access::READ_WRITE;
  }
  return rpc::Access::NONE;
}

// What the Outbox and the Broadcaster of one agent share.
struct SenderState {
  SenderState(Messaging& m, const GrantRequest& r)
      : sender(m, r.agent, r.role, r.permissions),
        limits(m.limits()),
        agent(r.agent),
        on_protocol_error(r.on_protocol_error),
        on_denied(r.on_denied) {}

  // Throws (and reports) a protocol error if a part is too big.
  void check_size(size_t payload, size_t topic, size_t to = 0) {
    std::string part = oversized_part(limits, payload, topic, to);
    if (part.empty()) return;
    std::string why = "sent " + part;
    on_protocol_error(why);
    throw ipc::rpc_error("protocol error: " + why);
  }

  Messaging::Sender sender;
  const MessagingLimits& limits;
  std::string agent;
  std::function<void(std::string)> on_protocol_error;
  DeniedHook on_denied;
};

class OutboxServer final : public rpc::Outbox::Server {
 public:
  explicit OutboxServer(std::shared_ptr<SenderState> s) : s_(std::move(s)) {}

 protected:
  kj::Promise<void> send(SendContext ctx) override {
    auto in = ctx.getParams().getMessages();
    std::vector<Messaging::Outgoing> batch;
    batch.reserve(in.size());
    for (auto m : in) {
      s_->check_size(m.getPayload().size(), m.getTopic().size(), m.getTo().size());
      batch.push_back({m.getTo(), m.getTopic(), ipc::payload_of(m.getPayload())});
    }
    ctx.releaseParams();
    return s_->sender.send(std::move(batch))
        .then([this, ctx](std::vector<Messaging::Refusal> refused) mutable {
          if (refused.empty()) return;
          for (const auto& r : refused) {
            if (r.denied) s_->on_denied("dm", r.reason);
          }
          auto out = ctx.getResults().initRefused(static_cast<unsigned>(refused.size()));
          for (size_t i = 0; i < refused.size(); ++i) {
            out[static_cast<unsigned>(i)].setIndex(refused[i].index);
            out[static_cast<unsigned>(i)].setReason(refused[i].reason);
          }
        });
  }

  kj::Promise<void> request(RequestContext ctx) override {
    auto p = ctx.getParams();
    s_->check_size(p.getPayload().size(), p.getTopic().size(), p.getTo().size());
    std::string to = p.getTo();
    kj::Promise<kj::Array<kj::byte>> answer = nullptr;
    try {
      answer = s_->sender.request(to, p.getTopic(), ipc::payload_of(p.getPayload()),
                                  std::chrono::milliseconds(p.getDeadlineMillis()));
    } catch (const std::invalid_argument& e) {
      s_->on_denied("request", e.what());
      throw ipc::rpc_error(e.what());
    } catch (const std::runtime_error& e) {
      throw ipc::rpc_error(e.what());
    }
    ctx.allowCancellation();
    return answer.then([ctx](kj::Array<kj::byte> reply) mutable {
      ctx.getResults(ipc::size_hint({reply.size()})).setPayload(reply);
    });
  }

 private:
  std::shared_ptr<SenderState> s_;
};

class BroadcasterServer final : public rpc::Broadcaster::Server {
 public:
  explicit BroadcasterServer(std::shared_ptr<SenderState> s) : s_(std::move(s)) {}

 protected:
  kj::Promise<void> broadcast(BroadcastContext ctx) override {
    auto p = ctx.getParams();
    s_->check_size(p.getPayload().size(), p.getTopic().size());
    fill_broadcast(ctx.getResults(), s_->sender.broadcast(p.getTopic(), ipc::payload_of(p.getPayload())));
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<SenderState> s_;
};

}  // namespace

void fill_grants(Messaging& messaging, MemoryService& memory, metrics::Metrics& metrics,
                 const GrantRequest& request, rpc::Grants::Builder grants) {
  const spec::Permissions& p = *request.permissions;
  grants.setMaxPayload(messaging.limits().max_payload);
  auto state = std::make_shared<SenderState>(messaging, request);
  const std::vector<std::string>& roles = p.dm_any ? request.roles : p.dm;
  if (!roles.empty()) {
    grants.setOutbox(kj::heap<OutboxServer>(state));
    auto out = grants.initDmRoles(static_cast<unsigned>(roles.size()));
    for (size_t i = 0; i < roles.size(); ++i) out.set(static_cast<unsigned>(i), roles[i]);
  }
  if (p.broadcast) grants.setBroadcaster(kj::heap<BroadcasterServer>(state));
  grants.setShortTerm(to_rpc(p.short_term));
  grants.setWorking(to_rpc(p.working));
  grants.setLongTerm(to_rpc(p.long_term));
  if (p.short_term != spec::MemoryAccess::none || p.working != spec::MemoryAccess::none ||
      p.long_term != spec::MemoryAccess::none) {
    grants.setMemory(make_agent_memory(
        memory, metrics,
        MemoryGrant{request.swarm, request.agent, request.role, p.short_term, p.working,
                    p.long_term, request.short_term_ttl},
        request.on_denied));
  }
}

}  // namespace smol::supervisor
