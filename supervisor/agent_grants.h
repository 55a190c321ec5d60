// The capabilities an agent receives at hello (ipc/agent.capnp Grants),
// made from its role's [agents.permissions] (permissions_spec.h): an Outbox
// when its dm grant names any role, a Broadcaster when it may broadcast, a
// Memory (agent_memory.h) when it may read any tier. What is not granted
// stays null, so the agent cannot even ask for it.
//
// The Outbox and Broadcaster are the agent's Messaging::Sender behind
// Cap'n Proto. A payload over the daemon's max_payload is a protocol error:
// the call fails and on_protocol_error is called (the swarm stops the agent
// with reason protocol_error). A recipient the grant does not reach is
// refused with an error and counted (permission_denied_total op dm or
// request), and told to the swarm's event stream through on_denied.
//
// Thread: the loop thread; everything referenced outlives the agent's
// connection (the swarm declares its Messaging before its agents).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "ipc/agent.capnp.h"
#include "supervisor/agent_memory.h"
#include "supervisor/messaging.h"
#include "supervisor/permissions_spec.h"
#include "ipc/wire.h"

namespace smol::supervisor {

struct GrantRequest {
  std::string swarm;
  std::string agent;
  std::string role;
  const spec::Permissions* permissions;  // the group's, outlives the agent
  std::vector<std::string> roles;        // the swarm's, for dm = ["*"]
  std::chrono::milliseconds short_term_ttl;  // the swarm's [memory] default
  std::function<void(std::string why)> on_protocol_error;
  DeniedHook on_denied;
};

void fill_grants(Messaging& messaging, MemoryService& memory, metrics::Metrics& metrics,
                 const GrantRequest& request, rpc::Grants::Builder grants);


// A broadcast's outcome into the results of an agent's or the operator's
// broadcast call (which both name recipients and refused).
template <typename Results>
void fill_broadcast(Results r, const Messaging::BroadcastResult& result) {
  r.setRecipients(result.recipients);
  auto refused = r.initRefused(static_cast<unsigned>(result.refused.size()));
  for (size_t i = 0; i < result.refused.size(); ++i) {
    refused.set(static_cast<unsigned>(i), result.refused[i]);
  }
}

}  // namespace smol::supervisor
