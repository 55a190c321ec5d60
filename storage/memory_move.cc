#include "storage/memory_move.h"

#include <optional>
#include <vector>

#include "storage/memory_codec.h"

namespace smol::storage::memory {

size_t move_memory(LmdbEnv& from, LmdbEnv& to) {
  std::vector<NamedDb> found;
  for (const char* name : kDbNames) {
    if (std::optional<NamedDb> db = from.find_db(name)) found.push_back(*db);
  }
  if (found.empty()) return 0;
  std::vector<NamedDb> targets;
  for (const NamedDb& db : found) targets.push_back(to.open_db(db.name));
  size_t moved = 0;
  {
    Txn source = from.begin_read();
    to.write([&](Txn& txn) {
      moved = 0;  // the body runs again if the map grows
      for (size_t i = 0; i < found.size(); ++i) {
        source.for_each(found[i], [&](std::string_view key, std::string_view value) {
          txn.put(targets[i], key, value);
          ++moved;
        });
      }
    });
  }
  from.write([&](Txn& txn) {
    for (const NamedDb& db : found) txn.drop(db);
  });
  return moved;
}

}  // namespace smol::storage::memory
