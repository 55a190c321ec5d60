#include "supervisor/memory_rpc.h"

#include "ipc/rpc_error.h"

namespace smol::supervisor::memory_rpc {

mem::Tier from_rpc(rpc::MemoryTier t) {
  switch (t) {
    case rpc::MemoryTier::SHORT_TERM: return mem::Tier::short_term;
    case rpc::MemoryTier::WORKING: return mem::Tier::working;
    case rpc::MemoryTier::LONG_TERM: return mem::Tier::long_term;
  }
  throw ipc::rpc_error("tier: unknown value " + std::to_string(static_cast<unsigned>(t)) +
                       " (short_term, working, long_term)");
}

rpc::MemoryTier to_rpc(mem::Tier t) {
  switch (t) {
    case mem::Tier::short_term: return rpc::MemoryTier::SHORT_TERM;
    case mem::Tier::working: return rpc::MemoryTier::WORKING;
    case mem::Tier::long_term: return rpc::MemoryTier::LONG_TERM;
  }
  return rpc::MemoryTier::WORKING;
}

void fill(rpc::MemoryEntry::Builder b, const mem::Entry& e) {
  b.setKey(e.key);
  b.setTier(to_rpc(e.tier));
  b.setOwner(e.owner);
  b.setValue(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(e.value.data()),
                                 e.value.size()));
  b.setValueSize(e.value_size);
  auto tags = b.initTags(static_cast<unsigned>(e.tags.size()));
  for (unsigned i = 0; i < e.tags.size(); ++i) tags.set(i, e.tags[i]);
  b.setExpiresUnixMillis(e.expires_ms);
  const mem::Provenance& p = e.provenance;
  b.setWriter(p.writer);
  b.setCreatedUnixMillis(p.created_ms);
  b.setUpdatedUnixMillis(p.updated_ms);
  auto steps = b.initTiersPassed(static_cast<unsigned>(p.tiers.size()));
  for (unsigned i = 0; i < p.tiers.size(); ++i) {
    steps[i].setTier(to_rpc(p.tiers[i].tier));
    steps[i].setEnteredUnixMillis(p.tiers[i].entered_ms);
    steps[i].setBy(p.tiers[i].by);
  }
  b.setRecallCount(p.recall_count);
  b.setLastRecalledUnixMillis(p.last_recalled_ms);
}

void fill(capnp::List<rpc::MemoryEntry>::Builder out, const std::vector<mem::Entry>& entries) {
  for (unsigned i = 0; i < entries.size(); ++i) fill(out[i], entries[i]);
}

void fill(capnp::List<rpc::MemoryHit>::Builder out, const std::vector<mem::RecallHit>& hits) {
  for (unsigned i = 0; i < hits.size(); ++i) {
    out[i].setScore(hits[i].score);
    fill(out[i].initEntry(), hits[i].entry);
  }
}

std::string not_found(const mem::EntryRef& r) {
  std::string owner = r.tier == mem::Tier::short_term ? " of agent '" + r.agent + "'" : "";
  return "swarm '" + r.swarm + "' has no " + std::string(mem::tier_name(r.tier)) + " entry '" +
         r.key + "'" + owner;
}

void fill_current(rpc::MemoryEntry::Builder b, MemoryService& memory, const mem::EntryRef& r) {
  // Straight from the store: the write that made it was counted already.
  auto e = memory.store().get(r);
  if (!e) throw ipc::rpc_error(not_found(r));
  fill(b, *e);
}

mem::EntryRef destination(const mem::ConsolidateRequest& req) {
  // The store refuses a move without a tier above (long_term); then this
  // answer is never used.
  mem::Tier to = req.to.value_or(req.from.tier == mem::Tier::short_term ? mem::Tier::working
                                                                         : mem::Tier::long_term);
  return {req.from.swarm, to, "", req.from.key};
}

}  // namespace smol::supervisor::memory_rpc
