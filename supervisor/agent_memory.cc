#include "supervisor/agent_memory.h"

#include <stdexcept>
#include <utility>

#include "ipc/rpc_error.h"
#include "supervisor/memory_rpc.h"

namespace smol::supervisor {
namespace {

namespace mem = storage::memory;
using memory_rpc::from_rpc;

const char* spelled(spec::MemoryAccess a) {
  switch (a) {
    case spec::MemoryAccess::none: return "none";
    case spec::MemoryAccess::read: return "r";
    case spec::MemoryAccess::read_write: return "rw";
  }
  return "none";
}

// Runs a call's body, turning the store's argument errors (too long, bad
// tag, ...) into the call's error instead of letting them escape the loop.
template <typename Body>
kj::Promise<void> guarded(Body&& body) {
  try {
    return body();
  } catch (const std::invalid_argument& e) {
    return ipc::rpc_error(e.what());
  } catch (const std::runtime_error& e) {
    return ipc::rpc_error(e.what());
  }
}

class AgentMemory final : public rpc::Memory::Server {
 public:
  AgentMemory(MemoryService& memory, metrics::Metrics& metrics, MemoryGrant grant,
              DeniedHook on_denied)
      : memory_(memory),
        metrics_(metrics),
        grant_(std::move(grant)),
        on_denied_(std::move(on_denied)) {}

 protected:
  kj::Promise<void> put(PutContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      auto p = ctx.getParams();
      mem::PutRequest req = memory_rpc::put_request(p, grant_.swarm, grant_.agent);
      need_write(req.tier);
      req.ttl_ms = static_cast<int64_t>(p.getTtlMillis());
      if (req.ttl_ms == 0) req.ttl_ms = grant_.short_term_ttl.count();
      if (req.tier != mem::Tier::short_term) req.ttl_ms = 0;
      return memory_.put(std::move(req));
    });
  }

  kj::Promise<void> get(GetContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      mem::EntryRef ref = ref_of(ctx.getParams());
      need_read(ref.tier);
      auto e = memory_.get(ref);
      auto r = ctx.getResults();
      r.setFound(e.has_value());
      if (e) memory_rpc::fill(r.initEntry(), *e);
      return kj::READY_NOW;
    });
  }

  kj::Promise<void> delete_(DeleteContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      mem::EntryRef ref = ref_of(ctx.getParams());
      need_write(ref.tier);
      return memory_.del(std::move(ref));
    });
  }

  kj::Promise<void> list(ListContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      auto p = ctx.getParams();
      mem::ListRequest req = memory_rpc::list_request(p, grant_.swarm, grant_.agent);
      need_read(req.tier);
      mem::ListPage page = memory_.list(req);
      auto r = ctx.getResults();
      memory_rpc::fill(r.initEntries(static_cast<unsigned>(page.entries.size())), page.entries);
      r.setNextStartAfter(page.next_start_after);
      return kj::READY_NOW;
    });
  }

  kj::Promise<void> recall(RecallContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      auto p = ctx.getParams();
      mem::RecallRequest req = memory_rpc::recall_request(p, grant_.swarm, grant_.agent);
      if (p.getTiers().size() == 0) {
        req.tiers = readable();
      } else {
        for (auto t : p.getTiers()) need_read(from_rpc(t));
      }
      auto hits = memory_.recall(req);
      memory_rpc::fill(ctx.getResults().initHits(static_cast<unsigned>(hits.size())), hits);
      return kj::READY_NOW;
    });
  }

  kj::Promise<void> consolidate(ConsolidateContext ctx) override {
    return guarded([&]() -> kj::Promise<void> {
      auto p = ctx.getParams();
      mem::ConsolidateRequest req;
      req.from = ref_of(p);
      if (p.getHasTo()) req.to = from_rpc(p.getTo());
      req.by = grant_.agent;
      need_write(req.from.tier);
      mem::EntryRef dest = memory_rpc::destination(req);
      need_write(dest.tier);
      return memory_.consolidate(std::move(req)).then([this, ctx, dest]() mutable {
        memory_rpc::fill_current(ctx.getResults().initEntry(), memory_, dest);
      });
    });
  }

 private:
  template <typename Params>
  mem::EntryRef ref_of(Params p) const {
    return {grant_.swarm, from_rpc(p.getTier()), grant_.agent, p.getKey()};
  }

  spec::MemoryAccess access(mem::Tier t) const {
    switch (t) {
      case mem::Tier::short_term: return grant_.short_term;
      case mem::Tier::working: return grant_.working;
      case mem::Tier::long_term: return grant_.long_term;
    }
    return spec::MemoryAccess::none;
  }

  mem::TierSet readable() const {
    mem::TierSet set;
    for (mem::Tier t : {mem::Tier::short_term, mem::Tier::working, mem::Tier::long_term}) {
      if (access(t) != spec::MemoryAccess::none) set.add(t);
    }
    return set;
  }

  void need_read(mem::Tier t) {
    if (access(t) == spec::MemoryAccess::none) deny(t, "memory_read", "may not use");
  }

  void need_write(mem::Tier t) {
    spec::MemoryAccess a = access(t);
    if (a == spec::MemoryAccess::read_write) return;
    deny(t, "memory_write", a == spec::MemoryAccess::read ? "may only read" : "may not use");
  }

  [[noreturn]] void deny(mem::Tier t, const char* op, const char* rule) {
    std::string tier(mem::tier_name(t));
    std::string what = "permission denied: role '" + grant_.role + "' " + rule + " " + tier +
                       " memory ([agents.permissions] memory." + tier + " = \"" +
                       spelled(access(t)) + "\")";
    metrics_.permission_denied(grant_.swarm, grant_.role, op);
    if (on_denied_) on_denied_(op, what);
    throw ipc::rpc_error(what);
  }

  MemoryService& memory_;
  metrics::Metrics& metrics_;
  MemoryGrant grant_;
  DeniedHook on_denied_;
};

}  // namespace

kj::Own<rpc::Memory::Server> make_agent_memory(MemoryService& memory, metrics::Metrics& metrics,
                                               MemoryGrant grant, DeniedHook on_denied) {
  return kj::heap<AgentMemory>(memory, metrics, std::move(grant), std::move(on_denied));
}

}  // namespace smol::supervisor
