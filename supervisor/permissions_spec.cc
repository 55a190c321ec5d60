#include "supervisor/permissions_spec.h"

#include <algorithm>

namespace smol::spec {
namespace {

using toml_check::TableReader;

constexpr std::string_view kAccessRule = "must be \"rw\", \"r\" or \"none\"";

void read_access(const TableReader& memory, std::string_view tier, MemoryAccess& out) {
  constexpr MemoryAccess kAccess[] = {MemoryAccess::read_write, MemoryAccess::read,
                                      MemoryAccess::none};
  if (auto i = memory.one_of(tier, {"rw", "r", "none"})) out = kAccess[*i];
}

void read_dm(const TableReader& table, toml_check::Problems& problems, Permissions& p) {
  const toml::array* roles = table.array("dm");
  if (!roles) return;
  p.dm_any = false;
  std::string path = table.path_of("dm");
  for (size_t i = 0; i < roles->size(); ++i) {
    const toml::node& node = *roles->get(i);
    const auto* role = node.as_string();
    if (!role) {
      problems.bad_value(node, toml_check::index_path(path, i),
                         "must be a role name, or \"*\" for every role");
    } else if (role->get() == "*") {
      p.dm_any = true;
    } else {
      p.dm.push_back(role->get());
    }
  }
  if (p.dm_any) p.dm.clear();
}

}  // namespace

bool Permissions::may_dm(std::string_view role) const {
  return dm_any || std::find(dm.begin(), dm.end(), role) != dm.end();
}

Permissions read_permissions(const TableReader& group, toml_check::Problems& problems) {
  Permissions p;
  const toml::table* table = group.table("permissions");
  if (!table) return p;
  TableReader perms(*table, group.path_of("permissions"), {"broadcast", "dm", "memory"}, problems);
  if (auto b = perms.boolean("broadcast")) p.broadcast = *b;
  read_dm(perms, problems, p);
  if (const toml::table* mem = perms.table("memory")) {
    TableReader memory(*mem, perms.path_of("memory"), {"short_term", "working", "long_term"},
                       problems);
    read_access(memory, "short_term", p.short_term);
    read_access(memory, "working", p.working);
    read_access(memory, "long_term", p.long_term);
  }
  return p;
}

void check_dm_roles(const toml::table& group, const std::string& group_path,
                    const std::vector<std::string>& roles, toml_check::Problems& problems) {
  const toml::table* perms = group["permissions"].as_table();
  const toml::array* dm = perms ? (*perms)["dm"].as_array() : nullptr;
  if (!dm) return;
  std::string path = toml_check::key_path(toml_check::key_path(group_path, "permissions"), "dm");
  for (size_t i = 0; i < dm->size(); ++i) {
    const auto* role = dm->get(i)->as_string();
    if (!role || role->get() == "*") continue;
    if (std::find(roles.begin(), roles.end(), role->get()) == roles.end()) {
      problems.bad_value(*dm->get(i), toml_check::index_path(path, i),
                         "is not the role of any [[agents]] section of this swarm");
    }
  }
}

}  // namespace smol::spec
