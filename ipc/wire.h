// Strings and Cap'n Proto fields, for the daemon and the agent SDK alike: what a
// Data or Text field holds, as a std::string, a string as a Data value, and
// the size hint of a message that carries strings.
// Thread: any.
#pragma once

#include <capnp/blob.h>
#include <capnp/common.h>
#include <kj/array.h>

#include <initializer_list>
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

// A size hint for a call's params or results that hold strings of these
// sizes (Text or Data) besides a few words of structure: capnp then builds
// the message in one segment that fits, not the default one of 8 KiB that
// calloc zeroes for every call and return. A short hint only costs a
// second segment.
inline capnp::MessageSize size_hint(std::initializer_list<size_t> byte_sizes) {
  uint64_t words = 16;
  for (size_t n : byte_sizes) words += n / sizeof(capnp::word) + 1;
  return {words, 0};
}

}  // namespace smol::ipc
