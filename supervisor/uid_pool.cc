#include "supervisor/uid_pool.h"

#include <stdexcept>
#include <string>

namespace smol::supervisor {

UidPool::UidPool(uint32_t base, uint32_t count) : base_(base), count_(count) {
  if (base == 0) throw std::invalid_argument("agent uid range may not include uid 0");
}

uid_t UidPool::acquire() {
  uint32_t offset = next_hint_;
  for (auto it = taken_.lower_bound(offset); it != taken_.end() && *it == offset; ++it) ++offset;
  if (offset >= count_) {
    throw std::runtime_error("no free agent uid: all " + std::to_string(count_) + " uids from " +
                             std::to_string(base_) +
                             " are in use; raise [sandbox] uid_count in swarmd's config");
  }
  taken_.insert(offset);
  next_hint_ = offset + 1;
  return base_ + offset;
}

void UidPool::release(uid_t uid) {
  uint32_t offset = uid - base_;
  if (taken_.erase(offset) > 0 && offset < next_hint_) next_hint_ = offset;
}

}  // namespace smol::supervisor
