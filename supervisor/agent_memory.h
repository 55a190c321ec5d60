// The Memory capability (ipc/agent.capnp) one agent receives at hello: the
// swarm's memory (memory_service.h) as far as the agent's role is granted
// it by [agents.permissions] memory (permissions_spec.h).
//
// The capability is made for one agent of one swarm and names neither in
// its calls: the agent cannot reach another swarm's memory, nor another
// agent's short-term tier, because there is no argument to say so. A tier
// it may not read (or write) is refused with an error naming the tier and
// the grant, counted in permission_denied_total{swarm,role,op} (op
// memory_read or memory_write) and reported through on_denied, for the
// swarm's event stream. A recall over no tiers means every readable one.
//
// Writes answer once durable (group commit); store errors (quota, not
// found, bad arguments) come back as the call's error with the store's
// message.
//
// Thread: the loop thread; the MemoryService and Metrics outlive it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <kj/memory.h>

#include "ipc/agent.capnp.h"
#include "metrics/metrics.h"
#include "supervisor/memory_service.h"
#include "supervisor/permissions_spec.h"

namespace smol::supervisor {

struct MemoryGrant {
  std::string swarm;
  std::string agent;  // its id, the owner of its short-term entries
  std::string role;
  spec::MemoryAccess short_term = spec::MemoryAccess::none;
  spec::MemoryAccess working = spec::MemoryAccess::none;
  spec::MemoryAccess long_term = spec::MemoryAccess::none;
  // A short-term put without a ttl of its own lives this long (the swarm's
  // [memory] short_term_ttl); 0: the store's default.
  std::chrono::milliseconds short_term_ttl{0};
};

// Called for each refused operation with the op ("memory_read",
// "memory_write") and a sentence saying what was refused.
using DeniedHook = std::function<void(std::string_view op, std::string_view what)>;

kj::Own<rpc::Memory::Server> make_agent_memory(MemoryService& memory, metrics::Metrics& metrics,
                                               MemoryGrant grant, DeniedHook on_denied);

}  // namespace smol::supervisor
