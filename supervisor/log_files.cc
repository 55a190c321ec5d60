#include "supervisor/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::supervisor {
namespace {

// The file, or an empty UniqueFd if it does not exist.
UniqueFd open_if_there(const std::string& path) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); });
  if (fd < 0 && errno == ENOENT) return UniqueFd();
  return UniqueFd(check_sys(fd, "open", path));
}

uint64_t size_of(const UniqueFd& fd, const std::string& path) {
  if (!fd) return 0;
  struct stat st {};
  check_sys(::fstat(fd.get(), &st), "fstat", path);
  return static_cast<uint64_t>(st.st_size);
}

// Appends bytes [from, from + n) of the file to out; a file that shrank
// meanwhile gives what it still has.
void read_range(const UniqueFd& fd, const std::string& path, uint64_t from, uint64_t n,
                std::string& out) {
  size_t start = out.size();
  out.resize(start + n);
  uint64_t got = 0;
  while (got < n) {
    ssize_t r = retry_eintr([&] {
      return ::pread(fd.get(), out.data() + start + got, n - got, static_cast<off_t>(from + got));
    });
    check_sys(r, "pread", path);
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  out.resize(start + got);
}

}  // namespace

std::string swarm_log_dir(const std::string& state_dir, std::string_view swarm) {
  return state_dir + "/logs/" + std::string(swarm);
}

std::string agent_log_path(const std::string& state_dir, std::string_view swarm,
                           std::string_view agent) {
  return swarm_log_dir(state_dir, swarm) + "/" + std::string(agent) + ".log";
}

std::string events_log_path(const std::string& state_dir, std::string_view swarm) {
  return swarm_log_dir(state_dir, swarm) + "/events.log";
}

std::optional<std::string> read_log_tail(const std::string& path, uint64_t tail_bytes,
                                         uint64_t max_bytes) {
  const std::string older_path = path + ".1";
  // The live file first: if a writer rotates it in between, the rotated part
  // is read twice rather than not at all.
  UniqueFd newer = open_if_there(path);
  UniqueFd older = open_if_there(older_path);
  if (!older && !newer) return std::nullopt;
  const uint64_t older_size = size_of(older, older_path);
  const uint64_t newer_size = size_of(newer, path);
  const uint64_t total = older_size + newer_size;
  const uint64_t want = std::min({tail_bytes == 0 ? total : tail_bytes, max_bytes, total});
  const uint64_t from = total - want;  // in the two files as one
  std::string out;
  out.reserve(want);
  if (from < older_size) read_range(older, older_path, from, older_size - from, out);
  const uint64_t newer_from = from > older_size ? from - older_size : 0;
  read_range(newer, path, newer_from, newer_size - newer_from, out);
  return out;
}

}  // namespace smol::supervisor
