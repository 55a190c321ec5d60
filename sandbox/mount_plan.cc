#include "sandbox/mount_plan.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <stdexcept>

#include "base/sys_error.h"

namespace smol::sandbox {
namespace {

constexpr std::uint64_t kReadOnly = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr std::uint64_t kReadOnlyData = kReadOnly | MOUNT_ATTR_NOEXEC;

bool is_under(const std::string& path, std::string_view dir) {
  return path == dir || (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

// The path with every symlink resolved: "/bin/sh" on a merged-/usr host is
// "/usr/bin/dash", which the /usr bind already shows.
std::string resolved(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) throw SysError(errno, "realpath", path);
  return buf;
}

}  // namespace

MountPlan::MountPlan(const RootSkeleton& skeleton, const MountInputs& in)
    : root_(skeleton.dir()),
      proc_dir_(root_ + "/proc"),
      tmp_dir_(root_ + "/tmp"),
      home_(root_ + kAgentHome) {
  // Nothing done here may reach the host's mount table.
  add({.op = Op::mount, .source = nullptr, .target = "/", .fstype = nullptr,
       .flags = MS_REC | MS_PRIVATE, .name = "mount(/, MS_PRIVATE)"});
  // pivot_root needs the new root to be a mount point.
  add({.op = Op::mount, .source = root_.c_str(), .target = root_.c_str(), .fstype = nullptr,
       .flags = MS_BIND, .name = keep("mount(" + root_ + ", MS_BIND)")});
  for (const auto& dir : skeleton.read_only_dirs()) bind(dir, root_ + dir, kReadOnly);
  for (const auto& node : RootSkeleton::device_nodes()) {
    bind(node, root_ + node, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  }
  add({.op = Op::mount, .source = "proc", .target = proc_dir_.c_str(), .fstype = "proc",
       .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC, .name = "mount(proc, /proc)"});
  add({.op = Op::mount, .source = "tmpfs", .target = tmp_dir_.c_str(), .fstype = "tmpfs",
       .flags = MS_NOSUID | MS_NODEV,
       .data = keep("size=" + std::to_string(in.tmp_size) + ",mode=1777"),
       .name = "mount(tmpfs, /tmp)"});
  bind(in.work_dir, home_, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (std::string program = resolved(in.program); !skeleton.covers(program)) {
    bind_at_host_path(skeleton, program);
  }
  for (const auto& path : in.read_only) {
    if (!skeleton.covers(resolved(path))) bind_at_host_path(skeleton, path);
  }
  add({.op = Op::set_attr, .source = nullptr, .target = root_.c_str(), .fstype = nullptr,
       .attr = kReadOnly, .name = keep("mount_setattr(" + root_ + ", read-only)")});
}

const char* MountPlan::keep(std::string s) { return strings_.emplace_back(std::move(s)).c_str(); }

void MountPlan::bind(const std::string& source, const std::string& target, std::uint64_t attr) {
  const char* src = keep(source);
  const char* dst = keep(target);
  add({.op = Op::mount, .source = src, .target = dst, .fstype = nullptr,
       .flags = MS_BIND | MS_REC, .name = keep("mount(" + source + ", MS_BIND)")});
  add({.op = Op::set_attr, .source = nullptr, .target = dst, .fstype = nullptr, .attr = attr,
       .recursive = true, .name = keep("mount_setattr(" + source + ")")});
}

void MountPlan::bind_at_host_path(const RootSkeleton& skeleton, const std::string& host_path) {
  if (host_path.empty() || host_path[0] != '/') {
    throw std::invalid_argument("sandbox path '" + host_path + "' is not absolute");
  }
  for (std::string_view fresh : {std::string_view(kAgentHome), std::string_view("/proc"),
                                 std::string_view("/dev")}) {
    if (is_under(host_path, fresh)) {
      throw std::invalid_argument("sandbox path '" + host_path + "' lies under " +
                                  std::string(fresh) +
                                  ", which the agent's own mount hides; move it elsewhere");
    }
  }
  struct stat st {};
  check_sys(::stat(host_path.c_str(), &st), "stat", host_path);
  const bool is_dir = S_ISDIR(st.st_mode);
  const std::uint64_t attr = is_dir ? kReadOnlyData : kReadOnly;
  if (!is_under(host_path, "/tmp")) {
    bind(host_path, skeleton.mount_point(host_path, is_dir), attr);
    return;
  }
  // The skeleton's /tmp is hidden by the agent's tmpfs: make the mount
  // point inside that tmpfs, in the child.
  for (size_t slash = host_path.find('/', 5); slash != std::string::npos;
       slash = host_path.find('/', slash + 1)) {
    std::string dir = root_ + host_path.substr(0, slash);
    const char* d = keep(dir);
    add({.op = Op::make_dir, .source = nullptr, .target = d, .fstype = nullptr,
         .name = keep("mkdir(" + host_path.substr(0, slash) + ")")});
  }
  std::string target = root_ + host_path;
  add({.op = is_dir ? Op::make_dir : Op::make_file, .source = nullptr, .target = keep(target),
       .fstype = nullptr, .name = keep("mkdir(" + host_path + ")")});
  bind(host_path, target, attr);
}

const char* MountPlan::apply() const noexcept {
  for (const Step& s : steps_) {
    int rc = 0;
    switch (s.op) {
      case Op::make_dir:
        rc = ::mkdir(s.target, 0755);
        if (rc != 0 && errno == EEXIST) rc = 0;
        break;
      case Op::make_file:
        rc = ::mknod(s.target, S_IFREG | 0644, 0);
        if (rc != 0 && errno == EEXIST) rc = 0;
        break;
      case Op::mount:
        rc = ::mount(s.source, s.target, s.fstype, s.flags, s.data);
        break;
      case Op::set_attr: {
        struct mount_attr attr {};
        attr.attr_set = s.attr;
        rc = ::mount_setattr(AT_FDCWD, s.target, s.recursive ? AT_RECURSIVE : 0, &attr,
                             sizeof attr);
        break;
      }
    }
    if (rc != 0) return s.name;
  }
  // The skeleton becomes "/"; the host's root, stacked on top of it by
  // pivot_root(".", "."), is detached and gone from this namespace.
  if (::chdir(root_.c_str()) != 0) return "chdir(new root)";
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return "pivot_root";
  if (::umount2(".", MNT_DETACH) != 0) return "umount2(old root)";
  if (::chdir(kAgentHome) != 0) return "chdir(/home/agent)";
  return nullptr;
}

}  // namespace smol::sandbox
