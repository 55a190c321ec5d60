#include "storage/swarm_table.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <cstring>
#include <utility>

#include "storage/records.capnp.h"

namespace smol::storage {
namespace {

LmdbError corrupt(const NamedDb& db, std::string_view key, std::string_view why) {
  return LmdbError(MDB_CORRUPTED, "decode", db.name + "/" + std::string(key),
                   "corrupt record: " + std::string(why));
}

rec::SwarmStatus to_rec(SwarmStatus s) {
  switch (s) {
    case SwarmStatus::active: return rec::SwarmStatus::ACTIVE;
    case SwarmStatus::stopped: return rec::SwarmStatus::STOPPED;
    case SwarmStatus::failed: return rec::SwarmStatus::FAILED;
  }
  KJ_UNREACHABLE;
}

std::optional<SwarmStatus> from_rec(rec::SwarmStatus s) {
  switch (s) {
    case rec::SwarmStatus::ACTIVE: return SwarmStatus::active;
    case rec::SwarmStatus::STOPPED: return SwarmStatus::stopped;
    case rec::SwarmStatus::FAILED: return SwarmStatus::failed;
  }
  return std::nullopt;  // a value this build does not know
}

capnp::Text::Reader text(const std::string& s) { return {s.data(), s.size()}; }

std::string str(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

kj::Array<capnp::word> encode(const SwarmRecord& r) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<rec::SwarmRecord>();
  b.setName(text(r.name));
  b.setSpecToml(text(r.spec_toml));
  b.setSourceName(text(r.source_name));
  b.setBaseDir(text(r.base_dir));
  b.setStatus(to_rec(r.status));
  b.setCreatedUnixMillis(r.created_unix_ms);
  b.setStoppedUnixMillis(r.stopped_unix_ms);
  b.setLastError(text(r.last_error));
  return capnp::messageToFlatArray(message);
}

std::string_view bytes(const kj::Array<capnp::word>& words) {
  kj::ArrayPtr<const kj::byte> b = words.asBytes();
  return {reinterpret_cast<const char*>(b.begin()), b.size()};
}

void put_record(Txn& txn, const NamedDb& db, const SwarmRecord& r) {
  txn.put(db, r.name, bytes(encode(r)));
}

SwarmRecord decode(const NamedDb& db, std::string_view key, std::string_view value) {
  if (value.size() % sizeof(capnp::word) != 0) {
    throw corrupt(db, key, std::to_string(value.size()) + " bytes is not a whole number of words");
  }
  // LMDB only guarantees byte alignment for values; capnp reads whole words.
  auto words = kj::heapArray<capnp::word>(value.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), value.data(), value.size());
  capnp::ReaderOptions options;
  // Each field is read once, so twice the value's size is ample; a bad
  // pointer cannot make the reader walk more than that.
  options.traversalLimitInWords = 2 * words.size() + 16;
  try {
    capnp::FlatArrayMessageReader message(words, options);
    auto r = message.getRoot<rec::SwarmRecord>();
    std::optional<SwarmStatus> status = from_rec(r.getStatus());
    if (!status) {
      throw corrupt(db, key, "unknown status " + std::to_string(static_cast<int>(r.getStatus())));
    }
    return SwarmRecord{
        .name = str(r.getName()),
        .spec_toml = str(r.getSpecToml()),
        .source_name = str(r.getSourceName()),
        .base_dir = str(r.getBaseDir()),
        .status = *status,
        .created_unix_ms = r.getCreatedUnixMillis(),
        .stopped_unix_ms = r.getStoppedUnixMillis(),
        .last_error = str(r.getLastError()),
    };
  } catch (const kj::Exception& e) {
    throw corrupt(db, key, e.getDescription().cStr());
  }
}

}  // namespace

SwarmTable::SwarmTable(LmdbEnv& env) : env_(env), db_(env.open_db("swarms")) {}

void SwarmTable::put(const SwarmRecord& record) {
  env_.write([&](Txn& txn) { put_record(txn, db_, record); });
}

std::optional<SwarmRecord> SwarmTable::get(std::string_view name) const {
  Txn txn = env_.begin_read();
  std::optional<std::string_view> value = txn.get(db_, name);
  if (!value) return std::nullopt;
  return decode(db_, name, *value);
}

std::vector<SwarmRecord> SwarmTable::list(std::vector<LmdbError>* unreadable) const {
  std::vector<SwarmRecord> out;
  Txn txn = env_.begin_read();
  txn.for_each(db_, [&](std::string_view key, std::string_view value) {
    try {
      out.push_back(decode(db_, key, value));
    } catch (const LmdbError& e) {
      if (!e.is_corrupt()) throw;
      if (unreadable != nullptr) unreadable->push_back(e);
    }
  });
  return out;
}

bool SwarmTable::remove(std::string_view name) {
  bool removed = false;
  env_.write([&](Txn& txn) { removed = txn.del(db_, name); });
  return removed;
}

size_t SwarmTable::mark_active_as_stopped(int64_t now_ms) {
  size_t marked = 0;
  env_.write([&](Txn& txn) {
    // Collected first: rewriting entries under an open cursor is not worth
    // reasoning about.
    std::vector<SwarmRecord> stale;
    txn.for_each(db_, [&](std::string_view key, std::string_view value) {
      try {
        SwarmRecord r = decode(db_, key, value);
        if (r.status == SwarmStatus::active) stale.push_back(std::move(r));
      } catch (const LmdbError& e) {
        if (!e.is_corrupt()) throw;
      }
    });
    for (SwarmRecord& r : stale) {
      r.status = SwarmStatus::stopped;
      r.stopped_unix_ms = now_ms;
      put_record(txn, db_, r);
    }
    marked = stale.size();
  });
  return marked;
}

}  // namespace smol::storage
