#include "cli/input.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "cli/failure.h"

namespace smol::cli {

std::string read_input(const std::string& path) {
  const bool from_stdin = path == "-";
  const std::string what = from_stdin ? std::string("stdin") : path;
  auto fail = [&](int code) { return Failure("cannot read " + what + ": " + strerrordesc_np(code)); };
  UniqueFd owned;
  if (!from_stdin) {
    owned = UniqueFd(retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
    if (!owned) throw fail(errno);
  }
  const int fd = from_stdin ? STDIN_FILENO : owned.get();
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n < 0) throw fail(errno);
    if (n == 0) return data;
    if (data.size() + static_cast<size_t>(n) > kMaxInputBytes) {
      throw Failure(what + " holds more than " + std::to_string(kMaxInputBytes >> 20) +
                    " MiB, more than one call to swarmd may carry");
    }
    data.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace smol::cli
