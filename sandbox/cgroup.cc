#include "sandbox/cgroup.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "base/sys_error.h"
#include "sandbox/cgroup_fs.h"

namespace smol::sandbox {

using namespace cgroupfs;

namespace {

constexpr const char* kV2Wanted[] = {"memory", "pids", "cpu", "io"};
constexpr const char* kV1Wanted[] = {"memory", "pids", "cpu", "freezer", "cpuacct", "blkio"};
constexpr std::size_t kV1Required = 4;  // memory, pids, cpu, freezer

std::string join_list(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

std::string parent_of(const std::string& dir) { return dir.substr(0, dir.rfind('/')); }

// The directory of cgroup `path` (as /proc/self/cgroup names it) under mount
// m, or nullopt when the mount does not show it.
std::optional<std::string> dir_below(const MountEntry& m, const std::string& path) {
  if (m.root == "/") return path == "/" ? m.mount_point : m.mount_point + path;
  if (path == m.root) return m.mount_point;
  if (path.starts_with(m.root + "/")) return m.mount_point + path.substr(m.root.size());
  return std::nullopt;
}

// "/sys/fs/cgroup/{memory,pids,cpu}/smolswarms" when the directories differ
// only in their hierarchy, else the list of them.
std::string describe_dirs(const std::vector<CgroupHierarchy>& hs, const std::string& base_name) {
  std::vector<std::string> dirs, leaves;
  std::string parent = parent_of(hs.front().mount_point);
  std::string suffix = join(hs.front().own, base_name).substr(hs.front().mount_point.size());
  bool uniform = hs.size() > 1;
  for (const auto& h : hs) {
    dirs.push_back(join(h.own, base_name));
    leaves.push_back(h.mount_point.substr(h.mount_point.rfind('/') + 1));
    uniform = uniform && parent_of(h.mount_point) == parent &&
              dirs.back().substr(h.mount_point.size()) == suffix;
  }
  if (!uniform) return join_list(dirs, ", ");
  return parent + "/{" + join_list(leaves, ",") + "}" + suffix;
}

}  // namespace

// ---- CgroupPlacement, OomWatch ----

int CgroupPlacement::join_self() const noexcept {
  for (const auto& fd : procs_) {
    ssize_t n;
    do {
      n = ::write(fd.get(), "0", 1);
    } while (n == -1 && errno == EINTR);
    if (n != 1) return -1;
  }
  return 0;
}

std::uint64_t OomWatch::drain() {
  char buf[4096];  // enough for an eventfd's 8 bytes or a batch of inotify events
  while (true) {
    ssize_t n = retry_eintr([&] { return ::read(fd_.get(), buf, sizeof buf); });
    if (n > 0) continue;
    if (n == -1 && errno != EAGAIN) throw SysError(errno, "read", "oom watch of " + count_file_);
    break;
  }
  auto text = read_file_if_exists(count_file_);
  if (!text) return 0;
  std::uint64_t now = keyed_value(*text, "oom_kill").value_or(seen_);
  std::uint64_t fresh = now > seen_ ? now - seen_ : 0;
  seen_ = std::max(now, seen_);
  return fresh;
}

// ---- Detection ----

CgroupHost cgroupfs::choose_cgroup_host(std::string_view mountinfo, std::string_view proc_cgroup,
                                        const HostProbe& probe) {
  auto mounts = parse_cgroup_mounts(mountinfo);
  auto lines = parse_proc_cgroup(proc_cgroup);

  std::string why_v2 = "no cgroup2 mount";
  auto v2line = std::find_if(lines.begin(), lines.end(),
                             [](const ProcCgroupLine& l) { return l.id == 0 && l.controllers.empty(); });
  for (const auto& m : mounts) {
    if (m.fstype != "cgroup2") continue;
    auto own = v2line == lines.end() ? std::nullopt : dir_below(m, v2line->path);
    if (!own) {
      why_v2 = "cgroup2 at " + m.mount_point + " does not show this process's cgroup";
      continue;
    }
    // The leaf "daemon" is where CgroupTree moved this process earlier.
    std::string delegated;
    if (probe.delegated(*own)) {
      delegated = *own;
    } else if (*own != m.mount_point && own->ends_with("/daemon") &&
               probe.delegated(parent_of(*own))) {
      delegated = parent_of(*own);
    }
    std::string ctl_dir = delegated.empty() ? m.mount_point : delegated;
    auto offered = words(probe.read(join(ctl_dir, "cgroup.controllers")).value_or(""));
    if (contains(offered, "memory") && contains(offered, "pids")) {
      CgroupHierarchy h{m.mount_point, {}, *own};
      for (const char* c : kV2Wanted) {
        if (contains(offered, c)) h.controllers.push_back(c);
      }
      return CgroupHost{CgroupVersion::v2, {std::move(h)}, delegated};
    }
    why_v2 = "cgroup2 at " + ctl_dir + " has no memory and pids controllers";
  }

  CgroupHost host{CgroupVersion::v1, {}, {}};
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < std::size(kV1Wanted); ++i) {
    std::string c = kV1Wanted[i];
    bool required = i < kV1Required;
    auto m = std::find_if(mounts.begin(), mounts.end(), [&](const MountEntry& e) {
      return e.fstype == "cgroup" && contains(e.super_options, c);
    });
    auto line = std::find_if(lines.begin(), lines.end(),
                             [&](const ProcCgroupLine& l) { return contains(l.controllers, c); });
    auto own = (m == mounts.end() || line == lines.end()) ? std::nullopt : dir_below(*m, line->path);
    if (!own) {
      if (required) missing.push_back(c);
      continue;
    }
    auto h = std::find_if(host.hierarchies.begin(), host.hierarchies.end(),
                          [&](const CgroupHierarchy& x) { return x.mount_point == m->mount_point; });
    if (h == host.hierarchies.end()) {
      host.hierarchies.push_back(CgroupHierarchy{m->mount_point, {}, *own});
      h = host.hierarchies.end() - 1;
    }
    h->controllers.push_back(c);
  }
  if (missing.empty()) return host;
  throw std::runtime_error("no usable cgroups: " + why_v2 + "; cgroup v1 has no " +
                           join_list(missing, ", ") + " hierarchy");
}

CgroupHost detect_cgroup_host() {
  return choose_cgroup_host(read_file("/proc/self/mountinfo"), read_file("/proc/self/cgroup"),
                            real_probe());
}

// ---- CgroupTree ----

CgroupTree::CgroupTree(const CgroupHost& host, const CgroupTreeOptions& options)
    : version_(host.version) {
  check_child_name(options.base_name);
  if (host.hierarchies.empty()) throw std::invalid_argument("CgroupTree: a host with no hierarchy");
  const std::string& name = options.base_name;
  std::vector<std::string> controllers;
  for (const auto& h : host.hierarchies) {
    controllers.insert(controllers.end(), h.controllers.begin(), h.controllers.end());
  }

  if (version_ == CgroupVersion::v2) {
    const CgroupHierarchy& h = host.hierarchies.front();
    std::string parent = host.delegated.empty() ? h.mount_point : host.delegated;
    std::string note;
    if (!host.delegated.empty()) {
      // v2 allows processes only in leaves once controllers are enabled:
      // the daemon leaves the delegated cgroup for a leaf of its own.
      std::string leaf = join(parent, "daemon");
      make_dir(leaf, /*exist_ok=*/true);
      if (h.own != leaf) write_file(join(leaf, "cgroup.procs"), "0");
      note = "; delegated by systemd, daemon in " + leaf;
    }
    enable_controllers(parent, controllers);
    std::string dir = join(parent, name);
    make_dir(dir, /*exist_ok=*/true);
    base_ = make_v2_node(dir, std::make_shared<const std::vector<std::string>>(controllers));
    description_ = "cgroup v2 at " + dir + " (" + join_list(controllers, ", ") + note + ")";
    return;
  }

  V1Dirs dirs;
  for (const auto& h : host.hierarchies) {
    std::string dir = join(h.own, name);
    make_dir(dir, /*exist_ok=*/true);
    for (const auto& c : h.controllers) {
      std::string* slot = c == "memory"    ? &dirs.memory
                          : c == "pids"    ? &dirs.pids
                          : c == "cpu"     ? &dirs.cpu
                          : c == "freezer" ? &dirs.freezer
                          : c == "cpuacct" ? &dirs.cpuacct
                                           : &dirs.blkio;
      *slot = dir;
    }
  }
  base_ = make_v1_node(std::move(dirs));
  description_ = "cgroup v1: " + join_list(controllers, ", ") + " under " +
                 describe_dirs(host.hierarchies, name);
}

std::size_t CgroupTree::remove_stale(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  auto stale = base_->children();
  for (auto& node : stale) node->kill_all();
  std::size_t removed = 0;
  for (auto& node : stale) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    removed += remove_when_empty(*node, std::max(left, std::chrono::milliseconds(0)));
  }
  return removed;
}

std::size_t remove_when_empty(CgroupNode& node, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  wait_until_empty(node, timeout);
  // cgroup.procs stops listing a process as soon as its last thread starts
  // exiting, but the cgroup stays populated (rmdir: EBUSY) until the exit
  // has got as far as leaving it, which for a big process (its memory torn
  // down first) takes a while: EBUSY is retried, briefly, until the deadline.
  for (;;) {
    try {
      return node.remove();
    } catch (const SysError& e) {
      if (e.code() != EBUSY || Clock::now() >= deadline) throw;
    }
    ::poll(nullptr, 0, 2);
  }
}

bool wait_until_empty(const CgroupNode& node, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto pids = node.processes();
    if (pids.empty()) return true;
    std::vector<UniqueFd> pidfds;
    std::vector<pollfd> waiting;
    for (pid_t pid : pids) {
      UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (!fd) {
        if (errno == ESRCH) continue;
        throw SysError(errno, "pidfd_open", std::to_string(pid));
      }
      waiting.push_back(pollfd{fd.get(), POLLIN, 0});
      pidfds.push_back(std::move(fd));
    }
    // A pidfd becomes readable when its process has exited.
    while (!waiting.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return node.processes().empty();
      int n = ::poll(waiting.data(), waiting.size(), static_cast<int>(left.count()) + 1);
      if (n == -1 && errno != EINTR) throw SysError(errno, "poll", "pidfds of " + node.path());
      std::erase_if(waiting, [](const pollfd& p) { return p.revents != 0; });
    }
  }
}

}  // namespace smol::sandbox
