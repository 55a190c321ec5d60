// The [agents.permissions] table of a swarm spec: what the agents of one
// role may do to the rest of their swarm. At hello the daemon turns it into
// the capabilities the agent receives (ipc/agent.capnp Grants); an agent
// holds nothing it was not granted.
//
//   [[agents]]
//   role = "planner"
//   ...
//   [agents.permissions]
//   broadcast = true            # may broadcast to the swarm
//   dm = ["worker"]             # roles it may message and send requests to;
//                               # ["*"]: every role, []: none
//   memory = { short_term = "rw", working = "rw", long_term = "r" }
//                               # per tier: "rw", "r" or "none"
//
// Left out, a key keeps the default below: a swarm cooperates out of the
// box (everyone may talk to everyone and share working memory), while its
// lasting memory is only read, so one confused agent cannot rewrite what
// the swarm has learned. Replying to a request needs no permission.
//
// A dm role that no [[agents]] group has is an error at its position, like
// every other spec error. Runs on the caller's thread.
#pragma once

#include <string>
#include <vector>

#include "supervisor/toml_check.h"

namespace smol::spec {

enum class MemoryAccess { none, read, read_write };

struct Permissions {
  bool broadcast = true;
  bool dm_any = true;                // dm = ["*"]
  std::vector<std::string> dm;       // when !dm_any: the roles, in file order
  MemoryAccess short_term = MemoryAccess::read_write;
  MemoryAccess working = MemoryAccess::read_write;
  MemoryAccess long_term = MemoryAccess::read;

  bool may_dm(std::string_view role) const;

  friend bool operator==(const Permissions&, const Permissions&) = default;
};

// The table under an [[agents]] group's "permissions" key (the defaults
// when there is none). dm roles are checked later, by check_dm_roles, once
// every group's role is known.
Permissions read_permissions(const toml_check::TableReader& group, toml_check::Problems& problems);

// Reports every dm role of the group (read from `group`) that is not among
// roles.
void check_dm_roles(const toml::table& group, const std::string& group_path,
                    const std::vector<std::string>& roles, toml_check::Problems& problems);

}  // namespace smol::spec
