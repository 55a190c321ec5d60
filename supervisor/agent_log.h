// AgentLog: what one agent wrote to stdout and stderr.
//
// The last ring_bytes of it, in memory: for `swarmctl logs` (and -f), and
// for quoting the last lines when an agent fails to start. (The copy on disk
// is LogFile's job.) Bytes are numbered from 0 since the log was created;
// readers ask from an offset and learn where the kept data starts, so a
// follower that fell behind knows how much it missed. Memory grows with
// what the agent actually wrote, up to ring_bytes.
//
// Thread: the daemon's loop thread only.
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


namespace smol::supervisor {

class AgentLog {
 public:
  explicit AgentLog(size_t ring_bytes);
  AgentLog(const AgentLog&) = delete;
  AgentLog& operator=(const AgentLog&) = delete;

  // Appends to the ring; wakes followers.
  void append(std::string_view data);

  uint64_t total() const noexcept { return total_; }
  uint64_t oldest() const noexcept { return total_ - size_; }

  struct Chunk {
    uint64_t offset;   // where data starts (>= the offset asked for)
    std::string data;
  };
  // Up to max bytes starting at `from`, or at oldest() if `from` is no longer kept.
  Chunk read(uint64_t from, size_t max) const;

  // The last n lines (without newlines) of what is kept.
  std::vector<std::string> last_lines(size_t n) const;

  // Resolves when total() grows or end() is called.
  kj::Promise<void> changed();

  // No more output will come (the agent is gone for good); wakes followers.
  void end(std::string reason);
  bool ended() const noexcept { return ended_; }
  const std::string& end_reason() const noexcept { return end_reason_; }

  // A restarted agent writes on into the same log.
  void reopen() { ended_ = false; }

 private:
  void wake();

  std::vector<char> ring_;  // grows up to cap_, then wraps
  size_t cap_;
  size_t head_ = 0;  // index of the oldest byte once the ring has wrapped
  size_t size_ = 0;
  uint64_t total_ = 0;

  bool ended_ = false;
  std::string end_reason_;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> waiters_;
};

}  // namespace smol::supervisor
