#include "agent_runtime/memory.h"

#include <stdexcept>
#include <utility>

#include "ipc/rpc_error.h"
#include "ipc/wire.h"

namespace smol::agent {
namespace {

rpc::MemoryTier to_rpc(Tier t) {
  switch (t) {
    case Tier::short_term: return rpc::MemoryTier::SHORT_TERM;
    case Tier::working: return rpc::MemoryTier::WORKING;
    case Tier::long_term: return rpc::MemoryTier::LONG_TERM;
  }
  return rpc::MemoryTier::WORKING;
}

// A tier this SDK does not know comes from a newer daemon; saying working
// would be a lie, so it is an error.
Tier from_rpc(rpc::MemoryTier t) {
  switch (t) {
    case rpc::MemoryTier::SHORT_TERM: return Tier::short_term;
    case rpc::MemoryTier::WORKING: return Tier::working;
    case rpc::MemoryTier::LONG_TERM: return Tier::long_term;
  }
  throw std::runtime_error("memory: the daemon sent an unknown tier " +
                           std::to_string(static_cast<unsigned>(t)) + "; update libsmolagent");
}

Entry from_rpc(rpc::MemoryEntry::Reader in) {
  Entry e;
  e.key = in.getKey();
  e.tier = from_rpc(in.getTier());
  e.owner = in.getOwner();
  e.value.assign(in.getValue().asChars().begin(), in.getValue().size());
  e.value_size = in.getValueSize();
  for (auto t : in.getTags()) e.tags.emplace_back(t);
  e.expires_unix_ms = in.getExpiresUnixMillis();
  e.writer = in.getWriter();
  e.created_unix_ms = in.getCreatedUnixMillis();
  e.updated_unix_ms = in.getUpdatedUnixMillis();
  for (auto s : in.getTiersPassed()) {
    e.tiers_passed.push_back({from_rpc(s.getTier()), s.getEnteredUnixMillis(), s.getBy()});
  }
  e.recall_count = in.getRecallCount();
  e.last_recalled_unix_ms = in.getLastRecalledUnixMillis();
  return e;
}

// Sends the request and waits for the answer; a failure becomes a
// runtime_error with the daemon's reason, without KJ's prefix for
// exceptions from the peer.
template <typename Request>
auto call(const char* op, Request& request, kj::WaitScope& wait) {
  try {
    return request.send().wait(wait);
  } catch (const kj::Exception& e) {
    throw std::runtime_error(std::string("memory ") + op + ": " + ipc::remote_reason(e));
  }
}

void set(capnp::List<capnp::Text>::Builder out, const std::vector<std::string>& in) {
  for (size_t i = 0; i < in.size(); ++i) out.set(static_cast<unsigned>(i), in[i]);
}

}  // namespace

std::string_view tier_name(Tier t) {
  switch (t) {
    case Tier::short_term: return "short_term";
    case Tier::working: return "working";
    case Tier::long_term: return "long_term";
  }
  return "unknown";
}

Memory::Memory(rpc::Memory::Client client, Access short_term, Access working, Access long_term,
               kj::WaitScope& wait)
    : client_(std::move(client)),
      short_term_(short_term),
      working_(working),
      long_term_(long_term),
      wait_(wait) {}

Access Memory::access(Tier t) const {
  switch (t) {
    case Tier::short_term: return short_term_;
    case Tier::working: return working_;
    case Tier::long_term: return long_term_;
  }
  return Access::none;
}

bool Memory::can_read(Tier t) const { return access(t) != Access::none; }
bool Memory::can_write(Tier t) const { return access(t) == Access::read_write; }

void Memory::put(Tier tier, const std::string& key, const std::string& value,
                 const std::vector<std::string>& tags, std::chrono::milliseconds ttl) {
  try {
    put_async(tier, key, value, tags, ttl).wait(wait_);
  } catch (const kj::Exception& e) {
    throw std::runtime_error(std::string("memory put: ") + ipc::remote_reason(e));
  }
}

kj::Promise<void> Memory::put_async(Tier tier, const std::string& key, const std::string& value,
                                    const std::vector<std::string>& tags,
                                    std::chrono::milliseconds ttl) {
  size_t tag_bytes = 0;
  for (const std::string& t : tags) tag_bytes += t.size() + 2 * sizeof(capnp::word);
  auto req = client_.putRequest(ipc::size_hint({key.size(), value.size(), tag_bytes}));
  req.setTier(to_rpc(tier));
  req.setKey(key);
  req.setValue(ipc::data_of(value));
  set(req.initTags(static_cast<unsigned>(tags.size())), tags);
  req.setTtlMillis(ttl.count() > 0 ? static_cast<uint64_t>(ttl.count()) : 0);
  return req.send().ignoreResult();
}

std::optional<Entry> Memory::get(Tier tier, const std::string& key) {
  auto req = client_.getRequest();
  req.setTier(to_rpc(tier));
  req.setKey(key);
  auto r = call("get", req, wait_);
  if (!r.getFound()) return std::nullopt;
  return from_rpc(r.getEntry());
}

void Memory::remove(Tier tier, const std::string& key) {
  auto req = client_.deleteRequest();
  req.setTier(to_rpc(tier));
  req.setKey(key);
  call("remove", req, wait_);
}

ListPage Memory::list(Tier tier, const std::string& prefix, const std::string& start_after,
                      uint32_t limit) {
  auto req = client_.listRequest();
  req.setTier(to_rpc(tier));
  req.setPrefix(prefix);
  req.setStartAfter(start_after);
  req.setLimit(limit);
  auto r = call("list", req, wait_);
  ListPage page;
  for (auto e : r.getEntries()) page.entries.push_back(from_rpc(e));
  page.next_start_after = r.getNextStartAfter();
  return page;
}

std::vector<Hit> Memory::recall(const std::string& query, uint32_t k,
                                const std::vector<Tier>& tiers,
                                const std::vector<std::string>& tags) {
  auto req = client_.recallRequest();
  req.setQuery(query);
  req.setK(k);
  auto ts = req.initTiers(static_cast<unsigned>(tiers.size()));
  for (size_t i = 0; i < tiers.size(); ++i) ts.set(static_cast<unsigned>(i), to_rpc(tiers[i]));
  set(req.initTags(static_cast<unsigned>(tags.size())), tags);
  auto r = call("recall", req, wait_);
  std::vector<Hit> hits;
  for (auto h : r.getHits()) hits.push_back({h.getScore(), from_rpc(h.getEntry())});
  return hits;
}

Entry Memory::consolidate(Tier tier, const std::string& key, std::optional<Tier> to) {
  auto req = client_.consolidateRequest();
  req.setTier(to_rpc(tier));
  req.setKey(key);
  req.setHasTo(to.has_value());
  if (to) req.setTo(to_rpc(*to));
  auto r = call("consolidate", req, wait_);
  return from_rpc(r.getEntry());
}

}  // namespace smol::agent
