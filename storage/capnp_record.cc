#include "storage/capnp_record.h"

#include "storage/memory_codec.h"

namespace smol::storage {

LmdbError corrupt_record(const NamedDb& db, std::string_view key, std::string_view why) {
  return LmdbError(MDB_CORRUPTED, "decode", db.name + "/" + memory::printable(key),
                   "corrupt record: " + std::string(why));
}

}  // namespace smol::storage
