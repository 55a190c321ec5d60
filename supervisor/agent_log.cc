#include "supervisor/agent_log.h"

#include <algorithm>


namespace smol::supervisor {

AgentLog::AgentLog(size_t ring_bytes) : cap_(ring_bytes) {}

void AgentLog::append(std::string_view data) {
  if (data.empty()) return;
  total_ += data.size();
  if (data.size() >= cap_) {
    // Only the newest cap_ bytes can be kept anyway.
    std::string_view keep = data.substr(data.size() - cap_);
    ring_.assign(keep.begin(), keep.end());
    head_ = 0;
    size_ = cap_;
  } else {
    for (char c : data) {
      if (ring_.size() < cap_) {
        ring_.push_back(c);
        ++size_;
      } else {
        ring_[head_] = c;
        head_ = (head_ + 1) % cap_;
      }
    }
  }
  wake();
}

AgentLog::Chunk AgentLog::read(uint64_t from, size_t max) const {
  Chunk c{std::max(from, oldest()), {}};
  if (c.offset >= total_) return c;
  size_t skip = static_cast<size_t>(c.offset - oldest());
  size_t n = std::min(max, size_ - skip);
  c.data.reserve(n);
  for (size_t i = 0; i < n; ++i) c.data.push_back(ring_[(head_ + skip + i) % ring_.size()]);
  return c;
}

std::vector<std::string> AgentLog::last_lines(size_t n) const {
  std::string all = read(0, size_).data;
  while (!all.empty() && all.back() == '\n') all.pop_back();
  std::vector<std::string> lines;
  size_t end = all.size();
  while (lines.size() < n && end > 0) {
    size_t nl = all.rfind('\n', end - 1);
    size_t start = nl == std::string::npos ? 0 : nl + 1;
    lines.push_back(all.substr(start, end - start));
    if (nl == std::string::npos) break;
    end = nl;
  }
  std::reverse(lines.begin(), lines.end());
  return lines;
}

kj::Promise<void> AgentLog::changed() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiters_.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void AgentLog::end(std::string reason) {
  ended_ = true;
  end_reason_ = std::move(reason);
  wake();
}

void AgentLog::wake() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) w->fulfill();
}

}  // namespace smol::supervisor
