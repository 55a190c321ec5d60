#include "sandbox/root_skeleton.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cerrno>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::sandbox {
namespace {

// Entries of "/" that programs reach by these names; on a merged-/usr host
// most are symlinks into /usr.
constexpr const char* kTopLevelLibDirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

// Mount points of the fixed mounts; /home/agent takes the work directory.
constexpr const char* kMountDirs[] = {"/usr", "/etc", "/proc", "/dev", "/tmp", "/home", "/home/agent"};

// Links every program expects in /dev; they point into the agent's own /proc.
constexpr std::pair<const char*, const char*> kDevLinks[] = {
    {"/dev/fd", "/proc/self/fd"},      {"/dev/stdin", "/proc/self/fd/0"},
    {"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
    {"/dev/shm", "/tmp"},
};

// Modes are set explicitly: swarmd may run under a umask of 077 (its
// systemd unit's), and an agent must be able to walk through every
// directory of its root.
void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) {
    check_sys(::chmod(path.c_str(), 0755), "chmod", path);
    return;
  }
  if (errno != EEXIST) throw SysError(errno, "mkdir", path);
}

void make_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw SysError(errno, "open(O_CREAT)", path);
  check_sys(::fchmod(fd.get(), 0644), "fchmod", path);
}

void make_symlink(const std::string& target, const std::string& path) {
  if (::symlink(target.c_str(), path.c_str()) == 0 || errno == EEXIST) return;
  throw SysError(errno, "symlink", path);
}

}  // namespace

RootSkeleton RootSkeleton::prepare(std::string dir) {
  RootSkeleton skel(std::move(dir));
  make_dir(skel.dir_);
  check_sys(::chmod(skel.dir_.c_str(), 0755), "chmod", skel.dir_);
  for (const char* d : kMountDirs) make_dir(skel.dir_ + d);
  skel.read_only_dirs_ = {"/usr", "/etc"};
  for (const char* lib : kTopLevelLibDirs) {
    struct stat st {};
    if (::lstat(lib, &st) != 0) {
      if (errno == ENOENT) continue;
      throw SysError(errno, "lstat", lib);
    }
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = check_sys(::readlink(lib, target, sizeof target - 1), "readlink", lib);
      make_symlink(std::string(target, static_cast<size_t>(n)), skel.dir_ + lib);
    } else if (S_ISDIR(st.st_mode)) {
      make_dir(skel.dir_ + lib);
      skel.read_only_dirs_.emplace_back(lib);
    }
  }
  for (const auto& node : device_nodes()) make_file(skel.dir_ + node);
  for (const auto& [path, target] : kDevLinks) make_symlink(target, skel.dir_ + path);
  return skel;
}

const std::vector<std::string>& RootSkeleton::device_nodes() {
  static const std::vector<std::string> nodes = {"/dev/null",   "/dev/zero",    "/dev/full",
                                                 "/dev/random", "/dev/urandom", "/dev/tty"};
  return nodes;
}

bool RootSkeleton::covers(const std::string& host_path) const {
  for (const auto& d : read_only_dirs_) {
    if (host_path == d || (host_path.starts_with(d) && host_path[d.size()] == '/')) return true;
  }
  return false;
}

std::string RootSkeleton::mount_point(const std::string& host_path, bool is_directory) const {
  std::string path = dir_;
  for (size_t pos = 1; pos < host_path.size();) {
    size_t next = host_path.find('/', pos);
    if (next == std::string::npos) break;
    path.append(host_path, pos - 1, next - pos + 1);
    make_dir(path);
    pos = next + 1;
  }
  path = dir_ + host_path;
  if (is_directory) {
    make_dir(path);
  } else {
    make_file(path);
  }
  return path;
}

}  // namespace smol::sandbox
