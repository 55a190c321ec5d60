// SysError: the one error type for a failed system call.
//
// It carries the call that failed, the path or object it acted on, and errno,
// and renders them as "open(/etc/x): Permission denied". Callers branch on
// code() (or is_not_found()), never on the text. check_sys() and
// retry_eintr() are the single place where results are checked and EINTR is
// retried, so no call site hand-rolls either.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace smol {

class SysError : public std::runtime_error {
 public:
  SysError(int code, std::string_view call, std::string_view what_on = {});

  int code() const noexcept { return code_; }
  bool is_not_found() const noexcept { return code_ == ENOENT; }
  bool is_exists() const noexcept { return code_ == EEXIST; }

 private:
  int code_;
};

// Renders "call(what_on): strerror(code)" without throwing.
std::string describe_errno(int code, std::string_view call, std::string_view what_on = {});

// Throws SysError(errno, call, what_on) when result is -1; returns result.
template <typename T>
T check_sys(T result, std::string_view call, std::string_view what_on = {}) {
  if (result == static_cast<T>(-1)) throw SysError(errno, call, what_on);
  return result;
}

// Calls f() again while it fails with EINTR; returns its last result.
template <typename F>
auto retry_eintr(F&& f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace smol
