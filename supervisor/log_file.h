// LogFile: an agent's output appended to a size-capped file, without ever
// blocking the loop on the disk.
//
// Creating a file is a filesystem transaction (on ext4, inode allocation
// dominated a 1000-agent start when it ran on the loop), and a write can
// stall on a busy disk, so every step — open, fstat, write, rotate — is a
// libuv fs request run on the thread pool. Requests run one at a time per
// file, so output lands in order. When the file would pass max_bytes it is
// renamed to <path>.1 (replacing the previous one) and a new file started.
//
// If the disk falls behind, at most kMaxPending bytes wait in memory; older
// waiting output is dropped, and a marker line in the file says how much.
// A failing step is reported once through the log and the file is then
// left alone (the in-memory ring in AgentLog keeps working).
//
// Destroying a LogFile lets queued output finish and closes the file in the
// background; nothing touches the LogFile object after its destruction.
//
// Thread: the loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <kj/async.h>

#include "ipc/event_loop.h"

namespace smol::supervisor {

class LogFile {
 public:
  static constexpr size_t kMaxPending = 1024 * 1024;

  LogFile(ipc::EventLoop& loop, std::string path, uint64_t max_bytes);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void append(std::string_view data);

  // Writes what is queued, then closes the file; a later append reopens it.
  void close();

  // Resolves once everything appended so far is in the file (or has failed).
  kj::Promise<void> flushed();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace smol::supervisor
