// CommitSync: when LMDB commits are forced to disk, for stores that group
// their commits and sync on a schedule of their own (memory::Store with
// Durability::batch or ::none).
//
// LMDB syncs on every commit unless the environment has MDB_NOSYNC, an
// environment-wide flag that mdb_env_set_flags may turn on and off between
// transactions. A store that wants unsynced commits turns it off only around
// its own commit and back on at once, so every other table's commit stays
// durable on return as LmdbEnv promises.
//
// Threads: the thread that commits to the environment (for the memory's
// own env, its committer thread): the flag is not safe to flip while
// another thread commits there.
#pragma once

#include <lmdb.h>

#include <string>

namespace smol::storage {

class CommitSync {
 public:
  virtual ~CommitSync() = default;
  // true: commits sync (LMDB's default); false: commits reach the OS page
  // cache only. Throws LmdbError.
  virtual void set_commit_sync(bool on) = 0;
  // Forces everything committed so far to disk (fdatasync). Throws LmdbError.
  virtual void sync() = 0;
};

// CommitSync over an MDB_env, e.g. LmdbSync(env.raw_env(), env.path()) for
// the daemon's LmdbEnv, given to the memory store as Options::commit_sync.
// The env must outlive it.
class LmdbSync final : public CommitSync {
 public:
  // path is only used in errors.
  LmdbSync(MDB_env* env, std::string path) : env_(env), path_(std::move(path)) {}

  void set_commit_sync(bool on) override;  // mdb_env_set_flags(MDB_NOSYNC, !on)
  void sync() override;                    // mdb_env_sync(force = 1)

 private:
  MDB_env* env_;
  std::string path_;
};

// Turns commit syncing off for its scope and back on when it ends, also by
// an exception. With a null CommitSync it does nothing.
class UnsyncedCommits {
 public:
  explicit UnsyncedCommits(CommitSync* sync) : sync_(sync) {
    if (sync_ != nullptr) sync_->set_commit_sync(false);
  }
  UnsyncedCommits(const UnsyncedCommits&) = delete;
  UnsyncedCommits& operator=(const UnsyncedCommits&) = delete;
  // mdb_env_set_flags only fails for flags it does not know, so a failure
  // here is our bug; being noexcept, it ends the daemon rather than leaving
  // every later commit of every table undurable.
  ~UnsyncedCommits() {
    if (sync_ != nullptr) sync_->set_commit_sync(true);
  }

 private:
  CommitSync* sync_;
};

}  // namespace smol::storage
