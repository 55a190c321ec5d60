#include "supervisor/messaging_limits.h"

namespace smol::supervisor {
namespace {

std::string over(const char* part, size_t bytes, size_t limit) {
  return std::string(part) + " of " + std::to_string(bytes) + " bytes; at most " +
         std::to_string(limit) + " are allowed";
}

}  // namespace

std::string oversized_part(const MessagingLimits& limits, size_t payload, size_t topic,
                           size_t to) {
  if (payload > limits.max_payload) {
    return over("a message payload", payload, limits.max_payload) + " ([messaging] max_payload)";
  }
  if (topic > kMaxTopicBytes) return over("a topic", topic, kMaxTopicBytes);
  if (to > kMaxAddressBytes) return over("a recipient address", to, kMaxAddressBytes);
  return {};
}

}  // namespace smol::supervisor
