// rpc_error(): the exception an RPC method throws to fail a call with a
// message meant for a person.
//
// The description travels to the caller verbatim (swarmctl prints it as is),
// so it must say what went wrong and what to do, and nothing else.
#pragma once

#include <kj/exception.h>

#include <string>
#include <string_view>

namespace smol::ipc {

inline kj::Exception rpc_error(std::string_view message) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::heapString(message.data(), message.size()));
}

// The description of a failed call as a person should read it: without
// KJ's "remote exception: " prefix, which only says the peer failed it.
inline std::string remote_reason(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  constexpr std::string_view kRemote = "remote exception: ";
  if (d.starts_with(kRemote)) d.erase(0, kRemote.size());
  return d;
}

}  // namespace smol::ipc
