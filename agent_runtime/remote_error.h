// The SDK's view of a failed call: the daemon's message, as a person reads it.
// (Internal to libsmolagent.)
#pragma once

#include <kj/exception.h>

#include <string>
#include <string_view>

namespace smol::agent {

// The description of e without KJ's "remote exception: " prefix, which
// only says that the daemon, not this process, failed the call.
inline std::string remote_reason(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  constexpr std::string_view kRemote = "remote exception: ";
  if (d.starts_with(kRemote)) d.erase(0, kRemote.size());
  return d;
}

}  // namespace smol::agent
