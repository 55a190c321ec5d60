// The shipped sandbox profiles, and the policy a spec's [sandbox] tables
// resolve to.
//
// profiles/*.toml in the source tree are the one definition of the profiles
// (their keys: sandbox_spec.h). The build embeds them (profiles/CMakeLists.txt),
// so swarmd reads no profile from disk and runs from a build tree;
// `cmake --install` puts copies in share/smolswarms/profiles for operators
// to read. A profile's name is its file name without ".toml".
//
//   default  what ordinary programs need: a shell, coreutils, python3, programs
//            that fork and exec; AF_UNIX sockets; Landlock when the kernel has it
//   strict   computing and talking to the daemon only: no processes but
//            threads, no exec after start, no new sockets; Landlock required
//
// Thread: any; the profiles are parsed once, on first use, and never change.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/sandbox_policy.h"
#include "supervisor/sandbox_spec.h"

namespace smol::spec {

// The profile a spec runs with when no [sandbox] table names one.
inline constexpr std::string_view kDefaultProfile = "default";

// One embedded profile file.
struct ProfileSource {
  std::string_view name;  // "default"
  std::string_view text;  // the file's TOML, as it is in profiles/
};

// Every embedded profile, sorted by name. Defined in the file the build
// generates; the views point into static storage.
std::span<const ProfileSource> builtin_profile_sources();

// The profiles' names, sorted: what a spec's `profile` key may say.
std::vector<std::string> builtin_profile_names();

// The named profile as a policy (its `profile` field is the name).
// Throws std::invalid_argument for a name that is not a profile, listing
// the profiles: "no sandbox profile named \"lax\"; the profiles are
// \"default\" and \"strict\"". A shipped profile that does not parse is our
// bug: std::logic_error with every problem in it.
sandbox::SandboxPolicy builtin_profile(std::string_view name);

// The policy of one [[agents]] group: the profile the group's table names,
// else the one the swarm's names, else kDefaultProfile; then the swarm's
// table applied over it, then the group's (apply_sandbox_table()). So a
// group's key replaces the swarm's, its allow, deny and read_only lists add
// to the swarm's, and a syscall the swarm denies stays denied (deny wins).
// Both tables must have come from read_sandbox_table() with
// builtin_profile_names(), so their profile names exist.
sandbox::SandboxPolicy resolve_sandbox(const SandboxTable& swarm, const SandboxTable& group);

}  // namespace smol::spec
