// SwarmTable: the persistent list of swarms, one record per swarm name.
//
// It lets swarmd answer "which swarms exist and how did each end" across
// restarts. Records live in the "swarms" database of the daemon's LmdbEnv,
// keyed by name, each value one Cap'n Proto SwarmRecord (storage/records.capnp)
// in flat-array form.
//
// Threads: like LmdbEnv, loop thread only. Lifetime: the LmdbEnv passed in
// must outlive the table.
//
// Errors: LMDB failures throw LmdbError. A value that cannot be decoded is an
// LmdbError with is_corrupt() and the key in its text, e.g.
// "decode(swarms/alpha): corrupt record: Message ends prematurely ...":
// get() throws it; list() and mark_active_as_stopped() go past such a record
// (one bad record must not hide the others or stop the daemon from starting)
// and leave it in place for the operator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/lmdb_env.h"

namespace smol::storage {

enum class SwarmStatus { active, stopped, failed };

struct SwarmRecord {
  std::string name, spec_toml, source_name, base_dir;
  SwarmStatus status = SwarmStatus::active;
  int64_t created_unix_ms = 0, stopped_unix_ms = 0;
  std::string last_error;
};

class SwarmTable {
 public:
  // Opens the "swarms" database, creating it on first use.
  explicit SwarmTable(LmdbEnv& env);

  // Inserts the record or replaces the one with the same name; durable on return.
  void put(const SwarmRecord& record);

  std::optional<SwarmRecord> get(std::string_view name) const;

  // Every readable record, sorted by name (bytewise). A record that cannot
  // be decoded is left out and, if `unreadable` is given, described there.
  std::vector<SwarmRecord> list(std::vector<LmdbError>* unreadable = nullptr) const;

  // Returns false when there was no such swarm.
  bool remove(std::string_view name);

  // At daemon start: every record still `active` belongs to a daemon that
  // died; its agents died with it (PDEATHSIG). Marks them stopped at now_ms in
  // one transaction and returns how many. Unreadable records are left alone.
  size_t mark_active_as_stopped(int64_t now_ms);

 private:
  LmdbEnv& env_;
  NamedDb db_;
};

}  // namespace smol::storage
