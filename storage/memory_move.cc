#include "storage/memory_move.h"

#include <optional>
#include <stdexcept>
#include <vector>

#include "storage/memory_codec.h"

namespace smol::storage::memory {
namespace {

// In the memory's env, written with the copy: how many records it took.
constexpr const char* kMarkerDb = "memory_moved";
constexpr const char* kMarkerKey = "records";

size_t records(const LmdbEnv& env, const std::vector<NamedDb>& dbs) {
  Txn txn = env.begin_read();
  size_t n = 0;
  for (const NamedDb& db : dbs) n += txn.entries(db);
  return n;
}

std::vector<NamedDb> memory_dbs(LmdbEnv& env) {
  std::vector<NamedDb> found;
  for (const char* name : kDbNames) {
    if (std::optional<NamedDb> db = env.find_db(name)) found.push_back(*db);
  }
  return found;
}

void drop_all(LmdbEnv& env, const std::vector<NamedDb>& dbs) {
  env.write([&](Txn& txn) {
    for (const NamedDb& db : dbs) txn.drop(db);
  });
}

// The number of records the copy in `to` took, if it was made by a move.
std::optional<size_t> copied_records(const LmdbEnv& to, const NamedDb& marker) {
  Txn txn = to.begin_read();
  std::optional<std::string_view> v = txn.get(marker, kMarkerKey);
  if (!v) return std::nullopt;
  return std::stoull(std::string(*v));
}

void copy(const LmdbEnv& from, const std::vector<NamedDb>& found, LmdbEnv& to,
          const NamedDb& marker, size_t source_records) {
  std::vector<NamedDb> targets;
  for (const NamedDb& db : found) targets.push_back(to.open_db(db.name));
  Txn source = from.begin_read();
  to.write([&](Txn& txn) {
    for (size_t i = 0; i < found.size(); ++i) {
      source.for_each(found[i], [&](std::string_view key, std::string_view value) {
        txn.put(targets[i], key, value);
      });
    }
    txn.put(marker, kMarkerKey, std::to_string(source_records));
  });
}

}  // namespace

size_t move_memory(LmdbEnv& from, LmdbEnv& to) {
  std::vector<NamedDb> found = memory_dbs(from);
  if (found.empty()) return 0;
  const size_t source_records = records(from, found);
  NamedDb marker = to.open_db(kMarkerDb);
  if (records(to, memory_dbs(to)) == 0) {
    copy(from, found, to, marker, source_records);
  } else if (copied_records(to, marker) != source_records) {
    // Both hold memory, and not as a move that died before its drop left
    // them: an older swarmd ran on this state dir since, say. Merging two
    // stores record by record would corrupt their indexes.
    throw std::runtime_error(
        "both " + from.path() + " and " + to.path() +
        " hold swarm memory, and the first changed after its memory was moved to the second "
        "(did an older swarmd run on this state dir?); swarmd does not merge them: move one of "
        "the two files aside and start again");
  }
  drop_all(from, found);
  return source_records;
}

}  // namespace smol::storage::memory
