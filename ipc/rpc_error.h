// rpc_error(): the exception an RPC method throws to fail a call with a
// message meant for a person.
//
// The description travels to the caller verbatim (swarmctl prints it as is),
// so it must say what went wrong and what to do, and nothing else.
#pragma once

#include <kj/exception.h>

#include <string_view>

namespace smol::ipc {

inline kj::Exception rpc_error(std::string_view message) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::heapString(message.data(), message.size()));
}

}  // namespace smol::ipc
