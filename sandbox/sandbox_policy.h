// SandboxPolicy: everything that decides how tightly one agent is confined.
//
// A swarm spec's [sandbox] table (and an agent group's override) turns into
// one of these; a shipped profile ("default", "strict") supplies the values
// the spec leaves out. The daemon compiles the seccomp part once per distinct
// policy and applies the whole policy to every agent spawned with it.
//
// What is not a policy knob, because no agent may opt out of it: the fresh
// PID, mount, network, IPC, UTS and cgroup namespaces, the read-only root
// with no host path but /usr, /etc and the agent's program, the unprivileged
// uid, the dropped capabilities, no_new_privs, and core dumps off.
//
// Thread: plain data; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/landlock.h"
#include "sandbox/seccomp_policy.h"

namespace smol::sandbox {

// Resource limits set with setrlimit before the agent starts; soft and hard
// alike, so the agent can lower them but never raise them back. Unset keeps
// the daemon's own limit. RLIMIT_CORE is always 0.
struct Rlimits {
  std::optional<std::uint64_t> nofile;  // open files
  std::optional<std::uint64_t> nproc;   // processes of the agent's uid (one uid per agent)
  std::optional<std::uint64_t> fsize;   // bytes, largest file it may write
  std::optional<std::uint64_t> as;      // bytes of address space
  std::optional<std::uint64_t> stack;   // bytes
  std::optional<std::uint64_t> cpu;     // seconds of CPU time

  bool operator==(const Rlimits&) const = default;
};

struct SandboxPolicy {
  std::string profile = "default";  // the profile it started from, for ps and logs
  SeccompPolicy seccomp;
  LandlockMode landlock = LandlockMode::best_effort;
  // Extra host paths visible read-only at the same path (e.g. a model
  // directory). Absolute, no "..". Never the state dir or the control socket.
  std::vector<std::string> read_only;
  std::uint64_t tmp_size = 64ull << 20;  // bytes of the private tmpfs at /tmp
  Rlimits rlimits;
  // Wall-clock limit from spawn; the agent is killed and its exit classified
  // `timeout`. Zero: none.
  std::chrono::milliseconds max_runtime{0};

  bool operator==(const SandboxPolicy&) const = default;
};

}  // namespace smol::sandbox
