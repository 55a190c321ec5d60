// The [sandbox] table of a swarm spec, of an [[agents]] group, and of a
// shipped profile file (profiles/*.toml), which uses the same keys:
//
//   [sandbox]
//   profile = "strict"           # "default" or "strict"; not in a profile file
//   action = "errno"             # on a syscall not allowed: "kill" (the agent)
//                                # or "errno" (the call fails with EPERM)
//   landlock = "required"        # "required" or "best-effort"
//   allow = ["execve"]           # syscalls added to the allowlist
//   deny = ["unlink"]            # syscalls denied even if allowed (deny wins)
//   read_only = ["/opt/models"]  # host paths bound read-only at the same path;
//                                # relative ones are beside the spec file
//   tmp_size = "64MiB"           # the private /tmp: 1MiB..16GiB
//   max_runtime = "10m"          # wall clock from spawn; "0s" = none; at most 720h
//   [sandbox.rlimits]            # setrlimit, soft and hard alike
//   nofile = 1024                # 16..1048576
//   nproc = 512                  # 1..1000000 processes and threads of the agent's uid
//   fsize = "1GiB"               # largest file written: 1MiB..16TiB
//   as = "8GiB"                  # address space: 64MiB..128TiB
//   stack = "8MiB"               # 128KiB..1GiB
//   cpu = "1h"                   # CPU time, whole seconds: 1s..720h
//
// Sizes are strings like "64MiB" or integers (bytes); durations are strings
// (base/units.h). Syscall names are libseccomp's (seccomp_policy.h); `allow`
// may not name one that is denied to every agent (always_denied_syscalls()),
// `deny` may not name one every agent needs to start (spawn_path_syscalls()),
// since the filter would silently ignore either. read_only paths are
// normalized (no "//", "." or "..", no trailing '/'), not "/" itself and
// not under /proc, /sys or /dev, which the sandbox makes afresh for each
// agent. A relative one names a path beside the spec file (it cannot leave
// that directory: no ".."); the swarm factory makes it absolute at `up`.
//
// This module reads one table as written (every key optional) and lays it
// over a policy; which profile a spec's tables start from, and in which
// order they apply, is sandbox_profiles.h's resolve_sandbox(). Everything
// here runs on the caller's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sandbox/sandbox_policy.h"
#include "supervisor/toml_check.h"

namespace smol::spec {

// One table's keys as written: unset fields (and empty lists) leave the
// policy below unchanged.
struct SandboxTable {
  std::optional<std::string> profile;
  std::optional<sandbox::ViolationAction> action;
  std::optional<sandbox::LandlockMode> landlock;
  std::vector<std::string> allow;      // in file order, each name once
  std::vector<std::string> deny;       // in file order, each name once
  std::vector<std::string> read_only;  // in file order, each path once
  std::optional<std::uint64_t> tmp_size;
  std::optional<std::chrono::milliseconds> max_runtime;
  sandbox::Rlimits rlimits;  // each limit set replaces the one below

  bool operator==(const SandboxTable&) const = default;
};

// The table under parent's "sandbox" key, or an empty one when there is
// none. profile_names are the profiles its `profile` key may name. Every
// problem goes to problems, at the offending value ("hello.toml:9:21:
// sandbox.allow[1] = \"frob\": is not a system call libseccomp knows");
// the key in question is then left unset.
SandboxTable read_sandbox_table(const toml_check::TableReader& parent,
                                std::span<const std::string> profile_names,
                                toml_check::Problems& problems);

// A profile file's document, whose root holds the same keys but `profile`.
SandboxTable read_profile_table(const toml::table& root, toml_check::Problems& problems);

// Lays table over policy: each key it sets replaces the policy's value; its
// allow, deny and read_only entries are added to the policy's (a name
// already there is not added twice). `profile` is not applied: which policy
// to start from is the caller's choice.
void apply_sandbox_table(const SandboxTable& table, sandbox::SandboxPolicy& policy);

}  // namespace smol::spec
