// LmdbEnv: the daemon's one LMDB environment, its transactions and its errors.
//
// swarmd keeps everything it persists in a single file, "<state_dir>/swarmd.mdb"
// (MDB_NOSUBDIR: LMDB puts its lock beside it as "swarmd.mdb-lock"), created
// with mode 0600. main() opens the one LmdbEnv and passes it by reference to
// each table; there is no global handle.
//
// Threads: a Txn belongs to the thread that began it, and a thread holds at
// most one at a time (MDB_NOTLS is not set). Several threads may use one
// LmdbEnv: the memory store's env is written on its committer thread while
// the loop thread reads it (supervisor/memory_service.h). LMDB runs one write
// transaction at a time; map growth waits until no Txn is open on any thread
// and holds new ones back meanwhile. open_db() belongs at start-up, before
// a second thread uses the env.
//
// Errors: every failure is an LmdbError carrying the mdb_* call, the path or
// "db/key" it acted on, and the LMDB or errno code. A full map is not an error
// callers see: write() grows the map and runs the transaction again.
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace smol::storage {

class LmdbError : public std::runtime_error {
 public:
  // Renders "operation(what_on): mdb_strerror(code)"; a non-empty detail
  // replaces the mdb_strerror text (used for values LMDB stored fine but we
  // cannot decode).
  LmdbError(int code, std::string_view operation, std::string_view what_on,
            std::string_view detail = {});

  // An MDB_* code (MDB_NOTFOUND, MDB_MAP_FULL, MDB_CORRUPTED, ...) or an errno.
  int code() const noexcept { return code_; }
  // The key (MDB_NOTFOUND) or the environment's directory (ENOENT) is missing.
  bool is_not_found() const noexcept { return code_ == MDB_NOTFOUND || code_ == ENOENT; }
  bool is_map_full() const noexcept { return code_ == MDB_MAP_FULL; }
  bool is_corrupt() const noexcept { return code_ == MDB_CORRUPTED; }

 private:
  int code_;
};

// A named database inside the environment, as returned by LmdbEnv::open_db().
// The handle stays valid as long as the LmdbEnv; the name is kept for errors.
struct NamedDb {
  MDB_dbi dbi;
  std::string name;
};

class LmdbEnv;

// One LMDB transaction, read-only (LmdbEnv::begin_read) or read-write (the
// one LmdbEnv::write hands its body). Aborted on destruction unless committed,
// so an exception that unwinds past a Txn leaves the database as it was; only
// LmdbEnv::write commits, so a body cannot commit half its work. A read Txn
// just ends when destroyed. Must not outlive its LmdbEnv. Values returned by
// get() and passed to for_each() and scan() point into the map and are valid only until
// the Txn ends or, for a write Txn, until its next put() or del().
class Txn {
 public:
  Txn(Txn&& o) noexcept;
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  // Keys and values are raw bytes.
  std::optional<std::string_view> get(const NamedDb& db, std::string_view key) const;
  void put(const NamedDb& db, std::string_view key, std::string_view value);
  // Returns false when the key was not there.
  bool del(const NamedDb& db, std::string_view key);
  // Calls fn for every entry of db, in key order (bytewise).
  void for_each(const NamedDb& db,
                const std::function<void(std::string_view key, std::string_view value)>& fn) const;
  // Calls fn for each entry of db whose key is >= from, in key order, until
  // fn returns false or db ends: a seek, then a walk (a range of keys, or
  // those with a prefix). fn must not write to db.
  void scan(const NamedDb& db, std::string_view from,
            const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // How many entries db holds.
  size_t entries(const NamedDb& db) const;
  // Deletes db and everything in it (write Txn only); its handle is then
  // invalid.
  void drop(const NamedDb& db);

 private:
  friend class LmdbEnv;
  Txn(const LmdbEnv& env, MDB_txn* txn) noexcept : env_(&env), txn_(txn) {}
  // Makes the changes durable (fsync) before returning. Afterwards the Txn is
  // empty, also when it throws LmdbError.
  void commit();
  void end() noexcept;

  const LmdbEnv* env_;
  MDB_txn* txn_;
};

class LmdbEnv {
 public:
  struct Options {
    size_t map_size = size_t{1} << 30;  // grown by doubling when full
    // Growth stops here and MDB_MAP_FULL is thrown: a bound on a runaway writer.
    size_t max_map_size = size_t{64} << 30;
    unsigned max_dbs = 16;
    mode_t mode = 0600;
  };

  // Opens the environment at path (a file, created if missing; its directory
  // must exist). Throws LmdbError, e.g.
  // "mdb_env_open(/var/lib/smolswarms/swarmd.mdb): Permission denied".
  static LmdbEnv open(const std::string& path, Options options);

  // Neither copied nor moved: Txns and tables hold its address.
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;
  ~LmdbEnv();

  // Opens the named database, creating it if missing. Call once per table at
  // start-up; the handle lives as long as the LmdbEnv.
  NamedDb open_db(const std::string& name);

  // The named database if it exists (nothing is created).
  std::optional<NamedDb> find_db(const std::string& name);

  Txn begin_read() const;

  // Runs body in a write transaction and commits it: durable on return. If
  // the map fills up, the transaction is aborted, the map doubled and body run
  // again from scratch, so body must only touch the Txn. Growth needs no other
  // Txn open (LMDB's rule for mdb_env_set_mapsize): it waits for other
  // threads' to end; if this thread has one open, or the map would pass
  // max_map_size, the MDB_MAP_FULL LmdbError is thrown. Any exception from
  // body aborts the transaction and propagates.
  void write(const std::function<void(Txn&)>& body);

  const std::string& path() const noexcept { return path_; }
  size_t map_size() const noexcept { return map_size_.load(); }

  // The LMDB handle, for switching commit syncing around the memory store's
  // group commits (storage/lmdb_sync.h). Nothing else should need it.
  MDB_env* raw_env() const noexcept { return env_; }

 private:
  LmdbEnv(MDB_env* env, std::string path, Options options) noexcept;
  Txn begin(unsigned flags) const;
  void grow(const LmdbError& full);

  // A Txn of this thread has ended.
  void txn_ended() const noexcept;

  friend class Txn;  // reports its end
  MDB_env* env_;
  std::string path_;
  std::atomic<size_t> map_size_;  // grown by the writing thread, read by any
  size_t max_map_size_;
  // The threads of the open Txns, one entry each; growth waits for none.
  mutable std::mutex txns_mutex_;
  mutable std::condition_variable txns_changed_;
  mutable std::vector<std::thread::id> txn_threads_;  // guarded by txns_mutex_
  mutable bool growing_ = false;                      // guarded by txns_mutex_
};

}  // namespace smol::storage
