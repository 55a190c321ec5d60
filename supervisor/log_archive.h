// LogArchive: reads back the log files an earlier swarmd left on disk
// (log_files.h), for `swarmctl logs` and `events` of swarms this daemon has
// not run.
//
// Reads run on libuv's thread pool, one at a time for the whole daemon:
// each may take up to kMaxRead of memory and a pool thread for a while, and
// the agents' log writes (log_file.h) use the same few threads.
//
// Thread: the loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <kj/async.h>

#include "ipc/event_loop.h"

namespace smol::supervisor {

class LogArchive {
 public:
  // As much as the largest ring ([agents] log_ring) keeps of a running agent.
  static constexpr uint64_t kMaxRead = 16 * 1024 * 1024;

  explicit LogArchive(ipc::EventLoop& loop) : loop_(loop) {}
  LogArchive(const LogArchive&) = delete;
  LogArchive& operator=(const LogArchive&) = delete;

  // The last tail_bytes (0: all) of the log at path (read_log_tail), at most
  // kMaxRead; nullopt when there is no such log. Rejects with the SysError's
  // message if it cannot be read.
  kj::Promise<std::optional<std::string>> read(std::string path, uint64_t tail_bytes);

 private:
  ipc::EventLoop& loop_;
  kj::ForkedPromise<void> last_ = kj::Promise<void>(kj::READY_NOW).fork();  // the read before
};

}  // namespace smol::supervisor
