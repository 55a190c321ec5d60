// Runtime: the daemon-wide services every swarm and agent uses.
//
// Built in main() and passed down by reference; it outlives every swarm.
// Deliberately small: a component that needs only one of these takes only
// that one.
#pragma once

#include "ipc/event_loop.h"
#include "metrics/metrics.h"
#include "supervisor/cgroups.h"
#include "supervisor/config.h"
#include "supervisor/memory_service.h"
#include "supervisor/messaging_limits.h"
#include "supervisor/sandboxes.h"
#include "supervisor/task_ledger.h"

namespace smol::supervisor {

struct Runtime {
  ipc::EventLoop& loop;
  metrics::Metrics& metrics;
  const config::Config& config;
  Sandboxes& sandboxes;
  Cgroups& cgroups;
  MemoryService& memory;
  const MessagingLimits& messaging;
  TaskLedger& tasks;
};

// Milliseconds since the Unix epoch, for timestamps shown to people.
int64_t unix_now_ms();

}  // namespace smol::supervisor
