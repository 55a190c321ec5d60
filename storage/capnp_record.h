// Cap'n Proto records as LMDB values: how every table (swarm_table.h,
// task_store.h) writes one and reads it back, and what a value that cannot
// be read becomes.
//
// A value is one message in flat-array form. Reading copies it into words
// first (LMDB only promises byte alignment) and bounds the reader's
// traversal by the value's own size, so a damaged value can neither crash
// the daemon nor make it walk far: it is an LmdbError with is_corrupt()
// naming "db/key".
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <string>
#include <string_view>

#include "storage/lmdb_env.h"

namespace smol::storage {

// key is shown with its unprintable bytes escaped.
LmdbError corrupt_record(const NamedDb& db, std::string_view key, std::string_view why);

// std::string keeps a NUL after its bytes, as capnp::Text::Reader wants.
inline capnp::Text::Reader as_text(const std::string& s) { return {s.c_str(), s.size()}; }
inline std::string as_string(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

inline void put_record(Txn& txn, const NamedDb& db, std::string_view key,
                       capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  kj::ArrayPtr<const kj::byte> b = words.asBytes();
  txn.put(db, key, {reinterpret_cast<const char*>(b.begin()), b.size()});
}

// Reads value as a Root message and returns what `read` makes of it; read
// may throw corrupt_record() itself for a field it cannot accept.
template <typename Root, typename Read>
auto read_record(const NamedDb& db, std::string_view key, std::string_view value, Read read) {
  if (value.empty() || value.size() % sizeof(capnp::word) != 0) {
    throw corrupt_record(db, key,
                         std::to_string(value.size()) + " bytes is not a whole number of words");
  }
  auto words = kj::heapArray<capnp::word>(value.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), value.data(), value.size());
  capnp::ReaderOptions options;
  // Each field is read once, so twice the value's size is ample.
  options.traversalLimitInWords = 2 * words.size() + 16;
  try {
    capnp::FlatArrayMessageReader message(words, options);
    return read(message.getRoot<Root>());
  } catch (const kj::Exception& e) {
    throw corrupt_record(db, key, e.getDescription().cStr());
  }
}

}  // namespace smol::storage
