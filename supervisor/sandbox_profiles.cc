#include "supervisor/sandbox_profiles.h"

#include <stdexcept>

#include "supervisor/toml_check.h"

namespace smol::spec {
namespace {

sandbox::SandboxPolicy parse_profile(const ProfileSource& source) {
  std::string file = "profiles/" + std::string(source.name) + ".toml";
  toml_check::Problems problems(file);
  sandbox::SandboxPolicy policy;
  policy.profile = source.name;
  if (std::optional<toml::table> doc = toml_check::parse_document(source.text, file, problems)) {
    apply_sandbox_table(read_profile_table(*doc, problems), policy);
  }
  if (!problems.empty()) {
    throw std::logic_error("the built-in sandbox profile " + toml_check::quote(source.name) +
                           " is broken:\n" + toml_check::join_lines(problems.lines()));
  }
  return policy;
}

// Every profile, parsed on first use: constant data, like the text it comes
// from, and a spec with a thousand groups asks for a profile a thousand times.
const std::vector<sandbox::SandboxPolicy>& parsed_profiles() {
  static const std::vector<sandbox::SandboxPolicy> profiles = [] {
    std::vector<sandbox::SandboxPolicy> out;
    for (const ProfileSource& source : builtin_profile_sources()) {
      out.push_back(parse_profile(source));
    }
    return out;
  }();
  return profiles;
}

}  // namespace

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> names;
  for (const ProfileSource& source : builtin_profile_sources()) names.emplace_back(source.name);
  return names;
}

sandbox::SandboxPolicy builtin_profile(std::string_view name) {
  for (const sandbox::SandboxPolicy& profile : parsed_profiles()) {
    if (profile.profile == name) return profile;
  }
  std::string known;
  std::vector<std::string> names = builtin_profile_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) known += i + 1 == names.size() ? " and " : ", ";
    known += toml_check::quote(names[i]);
  }
  throw std::invalid_argument("no sandbox profile named " + toml_check::quote(name) +
                              "; the profiles are " + known);
}

sandbox::SandboxPolicy resolve_sandbox(const SandboxTable& swarm, const SandboxTable& group) {
  sandbox::SandboxPolicy policy =
      builtin_profile(group.profile.value_or(swarm.profile.value_or(std::string(kDefaultProfile))));
  apply_sandbox_table(swarm, policy);
  apply_sandbox_table(group, policy);
  return policy;
}

}  // namespace smol::spec
