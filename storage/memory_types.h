// The value types of the swarm memory (storage/memory_store.h): tiers, what
// an entry carries, and the status a write is answered with.
//
// Plain values: copy them freely, use them from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smol::storage::memory {

// Where an entry lives. The order is the way consolidation moves: up.
//   short_term: private to the agent that put it (its owner), expires after
//               a time-to-live;
//   working:    shared by every agent of the swarm while it works;
//   long_term:  the swarm's lasting memory, kept until deleted.
enum class Tier : uint8_t { short_term = 0, working = 1, long_term = 2 };
inline constexpr int kTierCount = 3;

// "short_term", "working", "long_term".
std::string_view tier_name(Tier tier);

// Reads a tier_name() back. Throws std::invalid_argument naming the field
// and the accepted values: "tier: unknown 'ltm' (short_term, working, long_term)".
Tier parse_tier(std::string_view name);

// Throws std::invalid_argument ("tier: unknown value 7") for a Tier that is
// not one of the three, e.g. an integer cast from a message.
void check_tier(Tier tier);

// A set of tiers, for recall.
class TierSet {
 public:
  constexpr TierSet() = default;
  constexpr TierSet(std::initializer_list<Tier> tiers) {
    for (Tier t : tiers) add(t);
  }
  static constexpr TierSet all() { return {Tier::short_term, Tier::working, Tier::long_term}; }

  constexpr void add(Tier t) { bits_ |= bit(t); }
  constexpr bool contains(Tier t) const { return (bits_ & bit(t)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }

 private:
  static constexpr uint8_t bit(Tier t) { return static_cast<uint8_t>(1u << static_cast<uint8_t>(t)); }
  uint8_t bits_ = 0;
};

// One tier an entry passed: which, since when, and who put or moved it there
// ("" for the daemon or an operator).
struct TierStep {
  Tier tier = Tier::working;
  int64_t entered_ms = 0;  // Unix time, milliseconds
  std::string by;

  bool operator==(const TierStep&) const = default;
};

// Where an entry came from. Times are Unix milliseconds from the store's Clock.
struct Provenance {
  std::string writer;           // the agent of the last put ("" = daemon/operator)
  int64_t created_ms = 0;       // first put of the key (kept by re-puts and moves)
  int64_t updated_ms = 0;       // last put
  std::vector<TierStep> tiers;  // oldest first; back() is the entry's tier now
  uint64_t recall_count = 0;    // how many recall() answers included it
  int64_t last_recalled_ms = 0; // 0 = never
};

struct Entry {
  Tier tier = Tier::working;
  std::string owner;  // short_term: the agent it is private to; else ""
  std::string key;
  std::string value;  // empty in list() pages unless asked for
  uint64_t value_size = 0;
  std::vector<std::string> tags;  // sorted, no duplicates
  int64_t expires_ms = 0;         // short_term only; 0 = never
  Provenance provenance;
};

// What a write came to. Callers branch on code(), never on the message.
enum class ErrorCode {
  ok,
  not_found,       // no such entry (delete, consolidate)
  already_exists,  // consolidate: the destination tier has that key already
  quota_exceeded,  // the swarm's byte or entry quota would be passed
  corrupt,         // a stored record could not be decoded; the entry is left as it is
  storage,         // LMDB failed the whole batch (the message has the mdb_* call)
};

class Status {
 public:
  Status() = default;  // ok
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == ErrorCode::ok; }
  ErrorCode code() const { return code_; }
  bool is_not_found() const { return code_ == ErrorCode::not_found; }
  bool is_quota_exceeded() const { return code_ == ErrorCode::quota_exceeded; }
  // Human-readable, e.g. "swarm alpha: quota max_entries exceeded: 1000 entries
  // stored, 1 more would pass the limit 1000"; empty when ok.
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::ok;
  std::string message_;
};

}  // namespace smol::storage::memory
