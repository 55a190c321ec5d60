// Swarm memory on the wire: the conversions between the store's types
// (storage/memory_types.h, memory_store.h) and ipc/memory.capnp that the
// operator's Control service (control_service.cc) and the agents' Memory
// capability (agent_memory.cc) share, so both protocols show an entry the
// same way and read a request's common fields the same way.
//
// The request builders are templates over the params of the two protocols'
// calls (Control.memPut and Memory.put, ...), which name the same fields;
// who asks (swarm, agent) comes from the caller, because an agent's
// capability never takes it from the call.
//
// Errors: from_rpc throws an rpc_error for a tier this daemon does not know
// (a newer client); fill_current throws one when the entry is gone.
// Thread: the loop thread (fill_current reads through the MemoryService).
#pragma once

#include <string>
#include <vector>

#include "ipc/memory.capnp.h"
#include "storage/memory_store.h"
#include "supervisor/memory_service.h"

namespace smol::supervisor::memory_rpc {

namespace mem = storage::memory;

mem::Tier from_rpc(rpc::MemoryTier tier);
rpc::MemoryTier to_rpc(mem::Tier tier);

// Everything the entry carries, value included (empty in list pages).
void fill(rpc::MemoryEntry::Builder out, const mem::Entry& entry);
// out must have been initialized with entries.size() elements; likewise hits.
void fill(capnp::List<rpc::MemoryEntry>::Builder out, const std::vector<mem::Entry>& entries);
void fill(capnp::List<rpc::MemoryHit>::Builder out, const std::vector<mem::RecallHit>& hits);

// "swarm 'alpha' has no working entry 'plan'" (short_term: "... of agent 'a-0'").
std::string not_found(const mem::EntryRef& ref);

// The entry as it is now, after a write that was just answered ok made it
// exist; a write in between may have removed it again (not_found then).
void fill_current(rpc::MemoryEntry::Builder out, MemoryService& memory, const mem::EntryRef& ref);

// Where the entry of a consolidation lands: the destination tier, keyed by
// swarm and key only (entries leave short_term when they move).
mem::EntryRef destination(const mem::ConsolidateRequest& request);

// The fields of a put but its ttl, whose type differs between the two
// protocols; the caller sets ttl_ms.
template <typename Params>
mem::PutRequest put_request(Params p, std::string swarm, std::string agent) {
  mem::PutRequest req;
  req.swarm = std::move(swarm);
  req.tier = from_rpc(p.getTier());
  req.agent = std::move(agent);
  req.key = p.getKey();
  req.value.assign(p.getValue().asChars().begin(), p.getValue().size());
  for (auto t : p.getTags()) req.tags.emplace_back(t);
  return req;
}

template <typename Params>
mem::ListRequest list_request(Params p, std::string swarm, std::string agent) {
  mem::ListRequest req;
  req.swarm = std::move(swarm);
  req.tier = from_rpc(p.getTier());
  req.agent = std::move(agent);
  req.prefix = p.getPrefix();
  req.start_after = p.getStartAfter();
  if (p.getLimit() > 0) req.limit = p.getLimit();
  return req;
}

// Tiers as asked for; none named leaves the store's default (all three).
template <typename Params>
mem::RecallRequest recall_request(Params p, std::string swarm, std::string agent) {
  mem::RecallRequest req;
  req.swarm = std::move(swarm);
  req.agent = std::move(agent);
  req.query = p.getQuery();
  if (p.getK() > 0) req.k = p.getK();
  if (p.getTiers().size() > 0) {
    req.tiers = mem::TierSet{};
    for (auto t : p.getTiers()) req.tiers.add(from_rpc(t));
  }
  for (auto t : p.getTags()) req.tags.emplace_back(t);
  return req;
}

}  // namespace smol::supervisor::memory_rpc
