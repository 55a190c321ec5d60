// UidPool: hands out the host uids agents run as, one per agent.
//
// The range comes from the daemon's config ([sandbox] uid_base, uid_count);
// an agent keeps its uid across restarts and gives it back when its record
// is destroyed, so two live agents never share one. The lowest free uid is
// handed out first, which keeps uids stable across daemon restarts for the
// same swarms started in the same order (their work directories keep their
// owners).
//
// Thread: the loop thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>

namespace smol::supervisor {

class UidPool {
 public:
  UidPool(uint32_t base, uint32_t count);

  // The lowest free uid. Throws std::runtime_error when every uid of the
  // range is taken, naming the config keys to raise.
  uid_t acquire();
  void release(uid_t uid);

  size_t in_use() const noexcept { return taken_.size(); }

 private:
  uint32_t base_;
  uint32_t count_;
  uint32_t next_hint_ = 0;   // no free uid below base_ + next_hint_
  std::set<uint32_t> taken_;  // offsets from base_
};

// An acquired uid, given back on destruction. Movable.
class UidLease {
 public:
  UidLease() = default;
  UidLease(UidPool& pool) : pool_(&pool), uid_(pool.acquire()) {}
  UidLease(UidLease&& o) noexcept : pool_(o.pool_), uid_(o.uid_) { o.pool_ = nullptr; }
  UidLease& operator=(UidLease&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = o.pool_;
      uid_ = o.uid_;
      o.pool_ = nullptr;
    }
    return *this;
  }
  ~UidLease() { reset(); }

  uid_t uid() const noexcept { return uid_; }
  explicit operator bool() const noexcept { return pool_ != nullptr; }

 private:
  void reset() noexcept {
    if (pool_ != nullptr) pool_->release(uid_);
    pool_ = nullptr;
  }
  UidPool* pool_ = nullptr;
  uid_t uid_ = 0;
};

}  // namespace smol::supervisor
