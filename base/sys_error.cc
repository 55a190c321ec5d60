#include "base/sys_error.h"

#include <cstring>

namespace smol {

std::string describe_errno(int code, std::string_view call, std::string_view what_on) {
  std::string s(call);
  if (!what_on.empty()) {
    s += '(';
    s += what_on;
    s += ')';
  }
  s += ": ";
  s += strerrordesc_np(code) ? strerrordesc_np(code) : "unknown error";
  return s;
}

SysError::SysError(int code, std::string_view call, std::string_view what_on)
    : std::runtime_error(describe_errno(code, call, what_on)), code_(code) {}

}  // namespace smol
