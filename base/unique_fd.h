// UniqueFd: sole owner of one file descriptor.
//
// Closes it on destruction; release() hands it off explicitly. Copies are
// deleted so an fd has exactly one owner at any time. Create fds with
// O_CLOEXEC/SOCK_CLOEXEC so a spawn never leaks them by accident.
#pragma once

#include <unistd.h>

#include <utility>

namespace smol {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership; the caller must close the returned fd.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the held fd (if any) and takes ownership of fd.
  void reset(int fd = -1) noexcept {
    // close() errors other than EBADF are not actionable: the fd is gone
    // either way, and retrying on EINTR could close a reused number.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace smol
