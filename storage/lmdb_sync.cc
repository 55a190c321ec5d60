#include "storage/lmdb_sync.h"

#include "storage/lmdb_env.h"

namespace smol::storage {

void LmdbSync::set_commit_sync(bool on) {
  int rc = mdb_env_set_flags(env_, MDB_NOSYNC, on ? 0 : 1);
  if (rc != MDB_SUCCESS) throw LmdbError(rc, "mdb_env_set_flags", path_);
}

void LmdbSync::sync() {
  int rc = mdb_env_sync(env_, 1);
  if (rc != MDB_SUCCESS) throw LmdbError(rc, "mdb_env_sync", path_);
}

}  // namespace smol::storage
