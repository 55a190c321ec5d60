#include "storage/swarm_table.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <cstring>
#include <utility>

#include "storage/capnp_record.h"
#include "storage/records.capnp.h"

namespace smol::storage {
namespace {

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

void put_swarm(Txn& txn, const NamedDb& db, const SwarmRecord& r) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<rec::SwarmRecord>();
  b.setName(as_text(r.name));
  b.setSpecToml(as_text(r.spec_toml));
  b.setSourceName(as_text(r.source_name));
  b.setBaseDir(as_text(r.base_dir));
  b.setStatus(to_rec(r.status));
  b.setCreatedUnixMillis(r.created_unix_ms);
  b.setStoppedUnixMillis(r.stopped_unix_ms);
  b.setLastError(as_text(r.last_error));
  put_record(txn, db, r.name, message);
}

SwarmRecord decode(const NamedDb& db, std::string_view key, std::string_view value) {
  return read_record<rec::SwarmRecord>(db, key, value, [&](rec::SwarmRecord::Reader r) {
    std::optional<SwarmStatus> status = from_rec(r.getStatus());
    if (!status) {
      throw corrupt_record(db, key,
                           "unknown status " + std::to_string(static_cast<int>(r.getStatus())));
    }
    return SwarmRecord{
        .name = as_string(r.getName()),
        .spec_toml = as_string(r.getSpecToml()),
        .source_name = as_string(r.getSourceName()),
        .base_dir = as_string(r.getBaseDir()),
        .status = *status,
        .created_unix_ms = r.getCreatedUnixMillis(),
        .stopped_unix_ms = r.getStoppedUnixMillis(),
        .last_error = as_string(r.getLastError()),
    };
  });
}

}  // namespace

SwarmTable::SwarmTable(LmdbEnv& env) : env_(env), db_(env.open_db("swarms")) {}

void SwarmTable::put(const SwarmRecord& record) {
  env_.write([&](Txn& txn) { put_swarm(txn, db_, record); });
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
      put_swarm(txn, db_, r);
    }
    marked = stale.size();
  });
  return marked;
}

}  // namespace smol::storage
