// smol::agent::Memory: the swarm's memory as an agent uses it, through the
// Memory capability its role was granted at hello (ipc/agent.capnp).
//
// Three tiers (storage/memory_store.h has the whole story):
//   short_term  this agent's own scratch space, private to it; entries
//               expire a time-to-live after their last put (ttl, or the
//               swarm's [memory] short_term_ttl);
//   working     shared by every agent of the swarm;
//   long_term   the swarm's lasting memory, kept across daemon restarts.
// An entry is a key and a value (bytes) with tags. recall() finds entries
// by the words of their values (BM25), best first; consolidate() moves one
// up a tier, keeping where it came from (writer, times, tiers passed).
//
// What the role may do per tier is its grant ([agents.permissions] memory,
// also in Identity::permissions); can_read()/can_write() answer from it
// without asking the daemon. A call outside the grant is not checked here
// but refused by the daemon, which counts and reports it.
//
// Every method waits for the daemon's answer on the session's event loop
// (handlers keep running meanwhile), so none may be called from inside a
// handler. Writes return once durable. Each throws std::runtime_error with
// the daemon's reason when refused or failed: permission denied, quota
// exceeded, not found (remove, consolidate), or a bad argument (a key over
// 512 bytes, a value over 1 MiB, ...).
//
// Owned by the AgentSession (AgentSession::memory()); belongs to its thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <kj/async.h>

#include "agent_runtime/smolagent.h"
#include "ipc/agent.capnp.h"

namespace smol::agent {

enum class Tier { short_term, working, long_term };

// "short_term", "working", "long_term".
std::string_view tier_name(Tier tier);

struct TierStep {
  Tier tier = Tier::working;
  int64_t entered_unix_ms = 0;
  std::string by;  // the agent that put or moved it there ("" = daemon or operator)
};

struct Entry {
  std::string key;
  Tier tier = Tier::working;
  std::string owner;  // short_term: this agent; else ""
  std::string value;  // empty in list() pages
  uint64_t value_size = 0;
  std::vector<std::string> tags;  // sorted, no duplicates
  int64_t expires_unix_ms = 0;    // short_term only; 0 = never
  // Provenance: who wrote it last, when, and the tiers it passed (oldest first).
  std::string writer;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
  std::vector<TierStep> tiers_passed;
  uint64_t recall_count = 0;
  int64_t last_recalled_unix_ms = 0;  // 0 = never
};

struct Hit {
  double score = 0;
  Entry entry;  // value included
};

struct ListPage {
  std::vector<Entry> entries;    // in key order, without values
  std::string next_start_after;  // pass back as start_after; "" = last page
};

class Memory {
 public:
  // The capability and the accesses hello granted; wait is the session's.
  Memory(rpc::Memory::Client client, Access short_term, Access working, Access long_term,
         kj::WaitScope& wait);
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  bool can_read(Tier tier) const;
  bool can_write(Tier tier) const;

  // Stores value under key, replacing what was there (its provenance stays).
  // ttl: short_term only; 0 = the swarm's default.
  void put(Tier tier, const std::string& key, const std::string& value,
           const std::vector<std::string>& tags = {},
           std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  // put() without waiting: resolves once the write is durable; rejects with
  // the daemon's kj::Exception (ipc::remote_reason() reads it). Writes that are
  // in flight together share the daemon's group commits, so an agent with
  // many to make keeps several going (and waits on them with the session's
  // wait scope, or from its event loop).
  kj::Promise<void> put_async(Tier tier, const std::string& key, const std::string& value,
                              const std::vector<std::string>& tags = {},
                              std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  // nullopt when there is no such entry (or it expired).
  std::optional<Entry> get(Tier tier, const std::string& key);
  // Throws when there is no such entry.
  void remove(Tier tier, const std::string& key);
  // Keys starting with prefix, after start_after, at most limit (0: 100).
  ListPage list(Tier tier, const std::string& prefix = {}, const std::string& start_after = {},
                uint32_t limit = 0);
  // The k best entries for query (k 0: 10), over tiers (empty: every tier
  // this role may read), carrying every tag given.
  std::vector<Hit> recall(const std::string& query, uint32_t k = 0,
                          const std::vector<Tier>& tiers = {},
                          const std::vector<std::string>& tags = {});
  // Moves the entry up to `to` (nullopt: the next tier up) and returns it as
  // it is there. Needs write access to both tiers.
  Entry consolidate(Tier tier, const std::string& key, std::optional<Tier> to = std::nullopt);

 private:
  Access access(Tier tier) const;

  rpc::Memory::Client client_;
  Access short_term_, working_, long_term_;
  kj::WaitScope& wait_;
};

}  // namespace smol::agent
