#include "supervisor/agent_log.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "base/sys_error.h"

namespace smol::supervisor {

AgentLog::AgentLog(size_t ring_bytes, std::string file_path, uint64_t file_max)
    : cap_(ring_bytes), file_path_(std::move(file_path)), file_max_(file_max) {}

std::string AgentLog::append(std::string_view data) {
  if (data.empty()) return {};
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
  std::string err = write_file(data);
  wake();
  return err;
}

std::string AgentLog::write_file(std::string_view data) {
  if (file_path_.empty() || file_max_ == 0 || file_failed_) return {};
  try {
    if (file_ && file_size_ + data.size() > file_max_) {
      std::string rotated = file_path_ + ".1";
      check_sys(::rename(file_path_.c_str(), rotated.c_str()), "rename", file_path_);
      file_.reset();
    }
    if (!file_) {
      file_.reset(check_sys(::open(file_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                   0640),
                            "open", file_path_));
      struct stat st {};
      check_sys(::fstat(file_.get(), &st), "fstat", file_path_);
      file_size_ = static_cast<uint64_t>(st.st_size);
    }
    while (!data.empty()) {
      ssize_t n = retry_eintr([&] { return ::write(file_.get(), data.data(), data.size()); });
      check_sys(n, "write", file_path_);
      data.remove_prefix(static_cast<size_t>(n));
      file_size_ += static_cast<uint64_t>(n);
    }
  } catch (const SysError& e) {
    file_failed_ = true;
    file_.reset();
    return e.what();
  }
  return {};
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
  file_.reset();
  wake();
}

void AgentLog::wake() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) w->fulfill();
}

}  // namespace smol::supervisor
