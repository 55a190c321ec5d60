#include "storage/memory_types.h"

#include <stdexcept>
#include <string>

namespace smol::storage::memory {

std::string_view tier_name(Tier tier) {
  switch (tier) {
    case Tier::short_term: return "short_term";
    case Tier::working: return "working";
    case Tier::long_term: return "long_term";
  }
  return "unknown";
}

Tier parse_tier(std::string_view name) {
  for (Tier t : {Tier::short_term, Tier::working, Tier::long_term}) {
    if (name == tier_name(t)) return t;
  }
  throw std::invalid_argument("tier: unknown '" + std::string(name) +
                              "' (short_term, working, long_term)");
}

void check_tier(Tier tier) {
  if (static_cast<uint8_t>(tier) >= kTierCount) {
    throw std::invalid_argument("tier: unknown value " +
                                std::to_string(static_cast<unsigned>(tier)) +
                                " (short_term, working, long_term)");
  }
}

}  // namespace smol::storage::memory
