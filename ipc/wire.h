// Strings and Cap'n Proto fields, for the daemon and the agent SDK alike: what a
// Data or Text field holds, as a std::string, and a string as a Data value.
// Thread: any.
#pragma once

#include <capnp/blob.h>
#include <capnp/common.h>
#include <kj/array.h>

#include <string>

namespace smol::ipc {

// A payload (any bytes), as the daemon keeps it.
inline std::string payload_of(capnp::Data::Reader data) {
  return std::string(reinterpret_cast<const char*>(data.begin()), data.size());
}

inline std::string text_of(capnp::Text::Reader text) { return std::string(text.cStr(), text.size()); }

// s as the value of a Data field (a view: s must outlive its use).
inline kj::ArrayPtr<const capnp::byte> data_of(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

}  // namespace smol::ipc
