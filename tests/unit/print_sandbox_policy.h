// Lets gtest print a SandboxPolicy field by field when an expectation on it
// fails, instead of its bytes.
#pragma once

#include <ostream>

#include "sandbox/sandbox_policy.h"

namespace smol::sandbox {

inline void PrintTo(const SandboxPolicy& p, std::ostream* os) {
  auto list = [os](const std::vector<std::string>& names) {
    *os << "[";
    for (size_t i = 0; i < names.size(); ++i) *os << (i ? " " : "") << names[i];
    *os << "]";
  };
  auto limit = [os](const char* name, const std::optional<std::uint64_t>& v) {
    *os << " " << name << "=";
    v ? *os << *v : *os << "-";
  };
  *os << "{profile=" << p.profile << " action=" << violation_action_name(p.seccomp.action)
      << " landlock=" << (p.landlock == LandlockMode::required ? "required" : "best-effort")
      << " allow=";
  list(p.seccomp.allow);
  *os << " deny=";
  list(p.seccomp.deny);
  *os << " read_only=";
  list(p.read_only);
  *os << " tmp_size=" << p.tmp_size << " max_runtime=" << p.max_runtime.count() << "ms";
  limit("nofile", p.rlimits.nofile);
  limit("nproc", p.rlimits.nproc);
  limit("fsize", p.rlimits.fsize);
  limit("as", p.rlimits.as);
  limit("stack", p.rlimits.stack);
  limit("cpu", p.rlimits.cpu);
  *os << "}";
}

}  // namespace smol::sandbox
