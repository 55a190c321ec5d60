// The bounds on messages between agents, from the daemon's [messaging]
// config (config.h); see mailbox.h and messaging.h for how each is used.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace smol::supervisor {

struct MailboxLimits {
  size_t messages = 1024;          // queued for one agent
  size_t bytes = 4 << 20;          // queued for one agent
  size_t batch_messages = 1024;    // in one deliver call
  size_t batch_bytes = 1 << 20;    // in one deliver call

  friend bool operator==(const MailboxLimits&, const MailboxLimits&) = default;
};

struct MessagingLimits {
  MailboxLimits mailbox;
  uint32_t max_payload = 1 << 20;  // bytes of one message's payload
  std::chrono::milliseconds default_request_deadline{30000};

  friend bool operator==(const MessagingLimits&, const MessagingLimits&) = default;
};

// Fixed bounds: no use of a topic or an address comes near them.
inline constexpr size_t kMaxTopicBytes = 1024;
inline constexpr size_t kMaxAddressBytes = 256;

// What part of a message with these sizes is over its bound, as "a topic
// of N bytes; at most M are allowed", or empty if none is. Agents
// and the operator are held to the same bounds: a broadcast copies its
// payload into every mailbox.
std::string oversized_part(const MessagingLimits& limits, size_t payload, size_t topic,
                           size_t to = 0);

}  // namespace smol::supervisor
