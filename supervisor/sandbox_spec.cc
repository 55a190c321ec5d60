#include "supervisor/sandbox_spec.h"

#include <linux/limits.h>

#include <algorithm>

namespace smol::spec {
namespace {

using namespace std::chrono_literals;
using toml_check::Problems;
using toml_check::TableReader;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr std::uint64_t kTiB = 1024 * kGiB;

// The longest limits a spec may set: a month is past any run a swarm is
// meant for, and still far from the overflow of a milliseconds count.
constexpr std::chrono::milliseconds kMaxDuration = 720h;

void add_once(std::vector<std::string>& to, std::span<const std::string> names) {
  for (const std::string& name : names) {
    if (std::find(to.begin(), to.end(), name) == to.end()) to.push_back(name);
  }
}

// Reads the array of strings under key into out, each string once, when
// problem_of (returning what is wrong with one, or nullopt) finds nothing.
template <typename ProblemOf>
void read_strings(const TableReader& table, std::string_view key, Problems& problems,
                  ProblemOf problem_of, std::vector<std::string>& out) {
  const toml::array* items = table.array(key);
  if (!items) return;
  std::string path = table.path_of(key);
  for (size_t i = 0; i < items->size(); ++i) {
    const toml::node& item = *items->get(i);
    std::string item_path = toml_check::index_path(path, i);
    const auto* s = item.as_string();
    if (!s) {
      problems.bad_value(item, item_path, "must be a string");
    } else if (std::optional<std::string> problem = problem_of(s->get())) {
      problems.bad_value(item, item_path, *problem);
    } else {
      add_once(out, std::span(&s->get(), 1));
    }
  }
}

// A syscall list that must not name any of `refused`, for the reason given.
void read_syscalls(const TableReader& table, std::string_view key,
                   std::span<const std::string_view> refused, std::string_view refused_rule,
                   Problems& problems, std::vector<std::string>& out) {
  auto problem_of = [&](const std::string& name) -> std::optional<std::string> {
    if (sandbox::unknown_syscall(std::span(&name, 1))) {
      return "is not a system call libseccomp knows";
    }
    if (std::find(refused.begin(), refused.end(), name) != refused.end()) {
      return std::string(refused_rule);
    }
    return std::nullopt;
  };
  read_strings(table, key, problems, problem_of, out);
}

// What is wrong with a read_only path, or nullopt. One spelling per path,
// so that comparing paths as text (which paths the sandbox must keep to
// itself, which two groups share) is comparing the paths.
std::optional<std::string> read_only_problem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.find('\0') != std::string_view::npos) return "must not contain NUL bytes";
  if (path.size() >= PATH_MAX) return "must be shorter than " + std::to_string(PATH_MAX) + " bytes";
  if (path == "/") return "must not be \"/\": the agent would see the whole host";
  for (std::string_view rest = path.starts_with('/') ? path.substr(1) : path;;) {
    size_t slash = rest.find('/');
    std::string_view component = rest.substr(0, slash);
    if (component.empty() || component == "." || component == "..") {
      return "must be normalized: no \"//\", \".\" or \"..\" and no trailing '/'";
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  for (std::string_view own : {"/proc", "/sys", "/dev"}) {
    if (path.starts_with(own) && (path.size() == own.size() || path[own.size()] == '/')) {
      return "must not be under /proc, /sys or /dev: the sandbox makes those afresh for each "
             "agent";
    }
  }
  return std::nullopt;
}

void read_rlimits(const TableReader& reader, Problems& problems, sandbox::Rlimits& out) {
  const toml::table* table = reader.table("rlimits");
  if (!table) return;
  TableReader limits(*table, reader.path_of("rlimits"),
                     {"nofile", "nproc", "fsize", "as", "stack", "cpu"}, problems);
  // Below 16 open files even the dynamic loader and libc start-up fail;
  // 2^20 is the kernel's default ceiling (fs.nr_open).
  if (auto n = limits.integer("nofile", 16, 1 << 20)) out.nofile = static_cast<std::uint64_t>(*n);
  if (auto n = limits.integer("nproc", 1, 1'000'000)) out.nproc = static_cast<std::uint64_t>(*n);
  out.fsize = limits.bytes("fsize", kMiB, 16 * kTiB);
  // An address space below 64MiB fails in the loader or libc, not in the
  // agent, and 128TiB is all that x86-64 user space can address.
  out.as = limits.bytes("as", 64 * kMiB, 128 * kTiB);
  out.stack = limits.bytes("stack", 128 * kKiB, kGiB);
  if (auto cpu = limits.duration("cpu", 1s, kMaxDuration)) {
    // RLIMIT_CPU counts whole seconds; rounding would move the limit.
    if (cpu->count() % 1000 != 0) {
      limits.bad("cpu", "must be a whole number of seconds, like \"90s\" or \"10m\"");
    } else {
      out.cpu = static_cast<std::uint64_t>(std::chrono::floor<std::chrono::seconds>(*cpu).count());
    }
  }
}

SandboxTable read_table(const toml::table& table, std::string path,
                        std::span<const std::string> profile_names, Problems& problems) {
  TableReader reader(table, std::move(path),
                     {"profile", "action", "landlock", "allow", "deny", "read_only", "tmp_size",
                      "max_runtime", "rlimits"},
                     problems);
  SandboxTable t;
  if (profile_names.empty()) {
    if (reader.find("profile")) reader.bad("profile", "a profile cannot start from another");
  } else if (auto i = reader.one_of("profile", profile_names)) {
    t.profile = profile_names[*i];
  }
  using sandbox::ViolationAction;
  if (auto i = reader.one_of("action", {violation_action_name(ViolationAction::kill),
                                        violation_action_name(ViolationAction::eperm)})) {
    t.action = *i == 0 ? ViolationAction::kill : ViolationAction::eperm;
  }
  if (auto i = reader.one_of("landlock", {"required", "best-effort"})) {
    t.landlock = *i == 0 ? sandbox::LandlockMode::required : sandbox::LandlockMode::best_effort;
  }
  read_syscalls(reader, "allow", sandbox::always_denied_syscalls(),
                "is denied to every agent, whatever a policy allows", problems, t.allow);
  read_syscalls(reader, "deny", sandbox::spawn_path_syscalls(),
                "cannot be denied: the daemon needs it to start every agent", problems, t.deny);
  read_strings(reader, "read_only", problems, read_only_problem, t.read_only);
  t.tmp_size = reader.bytes("tmp_size", kMiB, 16 * kGiB);
  t.max_runtime = reader.duration("max_runtime", 0ms, kMaxDuration);
  read_rlimits(reader, problems, t.rlimits);
  return t;
}

void replace_if_set(const std::optional<std::uint64_t>& value, std::optional<std::uint64_t>& out) {
  if (value) out = value;
}

}  // namespace

SandboxTable read_sandbox_table(const TableReader& parent,
                                std::span<const std::string> profile_names, Problems& problems) {
  const toml::table* table = parent.table("sandbox");
  if (!table) return {};
  return read_table(*table, parent.path_of("sandbox"), profile_names, problems);
}

SandboxTable read_profile_table(const toml::table& root, Problems& problems) {
  return read_table(root, "", {}, problems);
}

void apply_sandbox_table(const SandboxTable& table, sandbox::SandboxPolicy& policy) {
  if (table.action) policy.seccomp.action = *table.action;
  if (table.landlock) policy.landlock = *table.landlock;
  add_once(policy.seccomp.allow, table.allow);
  add_once(policy.seccomp.deny, table.deny);
  add_once(policy.read_only, table.read_only);
  if (table.tmp_size) policy.tmp_size = *table.tmp_size;
  if (table.max_runtime) policy.max_runtime = *table.max_runtime;
  replace_if_set(table.rlimits.nofile, policy.rlimits.nofile);
  replace_if_set(table.rlimits.nproc, policy.rlimits.nproc);
  replace_if_set(table.rlimits.fsize, policy.rlimits.fsize);
  replace_if_set(table.rlimits.as, policy.rlimits.as);
  replace_if_set(table.rlimits.stack, policy.rlimits.stack);
  replace_if_set(table.rlimits.cpu, policy.rlimits.cpu);
}

}  // namespace smol::spec
