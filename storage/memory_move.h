// move_memory(): carries the swarms' memory over from the daemon's state
// file into the memory's own file, once.
//
// swarmd kept the memory databases (memory_codec.h) in its one environment,
// swarmd.mdb, until they got one of their own, memory.mdb, so that their
// group commits can run on a thread of their own (supervisor/memory_service.h)
// without sharing LMDB's one write lock, or its map, with the rest of the
// state. A daemon that finds them in the old file moves them before the
// Store opens the new one: every record is copied in one transaction of
// `to`, with the number copied, then the databases are deleted from `from`
// in one of its own. A crash in between finds the same number in both at
// the next start, which then only deletes. If both files hold memory
// otherwise (an older swarmd ran on the state dir after a move), nothing
// is merged: two stores' indexes cannot be mixed record by record, so it
// throws, saying which files, and the daemon does not start.
#pragma once

#include <cstddef>

#include "storage/lmdb_env.h"

namespace smol::storage::memory {

// Returns the number of records moved (0: there was nothing to move).
// Throws std::runtime_error as above, LmdbError for LMDB failures.
size_t move_memory(LmdbEnv& from, LmdbEnv& to);

}  // namespace smol::storage::memory
