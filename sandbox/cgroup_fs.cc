#include "sandbox/cgroup_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::sandbox::cgroupfs {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (std::size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct DirCloser {
  void operator()(DIR* d) const noexcept { closedir(d); }
};

bool is_pidfd_dead(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return retry_eintr([&] { return ::poll(&p, 1, 0); }) == 1;
}

}  // namespace

std::string join(const std::string& dir, std::string_view name) {
  std::string s = dir;
  if (s.empty() || s.back() != '/') s += '/';
  s += name;
  return s;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::optional<std::string> read_file_if_exists(const std::string& path) {
  UniqueFd fd(retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) {
    if (errno == ENOENT || errno == ENODEV) return std::nullopt;
    throw SysError(errno, "open", path);
  }
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n == -1) {
      if (errno == ENODEV) return std::nullopt;  // the cgroup went away under us
      throw SysError(errno, "read", path);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string read_file(const std::string& path) {
  auto text = read_file_if_exists(path);
  if (!text) throw SysError(ENOENT, "open", path);
  return std::move(*text);
}

void write_file(const std::string& path, std::string_view value) {
  UniqueFd fd(retry_eintr([&] { return ::open(path.c_str(), O_WRONLY | O_CLOEXEC); }));
  if (!fd) throw SysError(errno, "open", path);
  ssize_t n = retry_eintr([&] { return ::write(fd.get(), value.data(), value.size()); });
  if (n != static_cast<ssize_t>(value.size())) {
    std::string what = path;
    what += ", ";
    what += value;
    throw SysError(n == -1 ? errno : EIO, "write", what);
  }
}

std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key) {
  for (auto line : split(text, '\n')) {
    auto sp = line.find(' ');
    if (sp == std::string_view::npos || line.substr(0, sp) != key) continue;
    return to_u64(line.substr(sp + 1));
  }
  return std::nullopt;
}

std::uint64_t read_keyed(const std::string& path, std::string_view key) {
  auto text = read_file_if_exists(path);
  return text ? keyed_value(*text, key).value_or(0) : 0;
}

std::uint64_t read_number(const std::string& path) {
  std::string text = read_file(path);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  auto v = to_u64(text);
  if (!v) throw std::runtime_error(path + ": not a number: '" + text + "'");
  return *v;
}

std::vector<pid_t> read_pids(const std::string& procs_file) {
  std::vector<pid_t> pids;
  auto text = read_file_if_exists(procs_file);
  if (!text) return pids;
  for (auto line : split(*text, '\n')) {
    if (auto v = to_u64(line)) pids.push_back(static_cast<pid_t>(*v));
  }
  return pids;
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT || errno == ENODEV) return names;
    throw SysError(errno, "opendir", dir);
  }
  while (dirent* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    if (e->d_type == DT_DIR && n != "." && n != "..") names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void for_each_in_subtree(const std::string& dir,
                         const std::function<void(const std::string&)>& fn) {
  fn(dir);
  for (const auto& name : subdirectories(dir)) for_each_in_subtree(join(dir, name), fn);
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : split(text, '\n')) {
    for (auto w : split(line, ' ')) {
      if (!w.empty()) out.emplace_back(w);
    }
  }
  return out;
}

std::vector<std::string> read_words(const std::string& path) {
  return words(read_file_if_exists(path).value_or(""));
}

bool contains(const std::vector<std::string>& words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

void make_dir(const std::string& path, bool exist_ok) {
  if (::mkdir(path.c_str(), 0755) == 0) return;
  if (exist_ok && errno == EEXIST) return;
  throw SysError(errno, "mkdir", path);
}

bool remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw SysError(errno, "rmdir", path);
}

void check_child_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 200 && name.front() != '.';
  for (char c : name) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
    ok = ok && allowed;
  }
  if (!ok) throw std::invalid_argument("bad cgroup name '" + std::string(name) + "'");
}

std::uint64_t cpu_quota_usec(double cores) {
  if (!(cores >= 0.01 && cores <= 10000)) {
    throw std::invalid_argument("cpu: " + std::to_string(cores) +
                                " cores is outside 0.01..10000");
  }
  return static_cast<std::uint64_t>(cores * kCpuPeriodUsec + 0.5);
}

void check_io_weight(std::uint64_t weight) {
  if (weight < 1 || weight > 10000) {
    throw std::invalid_argument("io_weight: " + std::to_string(weight) + " is outside 1..10000");
  }
}

std::size_t kill_until_none_left(const std::function<std::vector<pid_t>()>& list) {
  // The pidfd of every process signalled, kept so a listed pid whose process
  // is gone is recognised as a new process that reused the number.
  std::map<pid_t, UniqueFd> killed;
  std::size_t signalled = 0;
  const pid_t self = ::getpid();
  for (bool fresh = true; fresh;) {
    fresh = false;
    for (pid_t pid : list()) {
      if (pid == self) continue;
      auto it = killed.find(pid);
      if (it != killed.end() && !is_pidfd_dead(it->second.get())) continue;
      // A pid read from cgroup.procs names a process in the cgroup; opening
      // it races only with that process exiting by itself and the number
      // being reused within microseconds.
      UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (!pidfd) {
        if (errno == ESRCH) continue;
        throw SysError(errno, "pidfd_open", std::to_string(pid));
      }
      if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) == -1 &&
          errno != ESRCH) {
        throw SysError(errno, "pidfd_send_signal", std::to_string(pid));
      }
      killed[pid] = std::move(pidfd);
      ++signalled;
      fresh = true;
    }
  }
  return signalled;
}

void enable_controllers(const std::string& dir, const std::vector<std::string>& wanted) {
  auto available = read_words(join(dir, "cgroup.controllers"));
  auto enabled = read_words(join(dir, "cgroup.subtree_control"));
  std::string add;
  for (const auto& c : wanted) {
    if (contains(available, c) && !contains(enabled, c)) add += (add.empty() ? "+" : " +") + c;
  }
  if (!add.empty()) write_file(join(dir, "cgroup.subtree_control"), add);
}

// Thaws the node and every descendant frozen on its own account (a paused
// agent below the node being killed): thawing an ancestor leaves those
// frozen, and a process frozen by the v1 freezer dies only once thawed.
void thaw_subtree(CgroupNode& node) {
  for (auto& child : node.children()) thaw_subtree(*child);
  node.freeze(false);
}

void freeze_kill_thaw(CgroupNode& node) {
  node.freeze(true);
  try {
    kill_until_none_left([&] { return node.processes(); });
  } catch (...) {
    try {
      thaw_subtree(node);
    } catch (const SysError&) {
      // The kill's error is the one to report; the node stays frozen.
    }
    throw;
  }
  thaw_subtree(node);
}

// ---- Detection ----

std::vector<MountEntry> parse_cgroup_mounts(std::string_view mountinfo) {
  std::vector<MountEntry> mounts;
  for (auto line : split(mountinfo, '\n')) {
    // id parent maj:min root mount_point options [optional...] - fstype source super
    auto fields = split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 6 || dash == fields.end() || fields.end() - dash < 4) continue;
    std::string_view fstype = dash[1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    MountEntry m;
    m.root = unescape_octal(fields[3]);
    m.mount_point = unescape_octal(fields[4]);
    m.fstype = fstype;
    for (auto o : split(dash[3], ',')) m.super_options.emplace_back(o);
    mounts.push_back(std::move(m));
  }
  return mounts;
}

std::vector<ProcCgroupLine> parse_proc_cgroup(std::string_view text) {
  std::vector<ProcCgroupLine> lines;
  for (auto line : split(text, '\n')) {
    auto c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    ProcCgroupLine l;
    l.id = static_cast<int>(to_u64(line.substr(0, c1)).value_or(0));
    auto ctl = line.substr(c1 + 1, c2 - c1 - 1);
    if (!ctl.empty()) {
      for (auto c : split(ctl, ',')) l.controllers.emplace_back(c);
    }
    l.path = line.substr(c2 + 1);
    lines.push_back(std::move(l));
  }
  return lines;
}

HostProbe real_probe() {
  HostProbe p;
  p.read = [](const std::string& path) -> std::optional<std::string> {
    try {
      return read_file_if_exists(path);
    } catch (const SysError&) {
      return std::nullopt;
    }
  };
  p.delegated = [](const std::string& dir) {
    for (const char* name : {"trusted.delegate", "user.delegate"}) {
      char v[8] = {};
      ssize_t n = ::getxattr(dir.c_str(), name, v, sizeof v);
      if (n > 0 && v[0] == '1') return true;
    }
    return false;
  };
  return p;
}

}  // namespace smol::sandbox::cgroupfs
