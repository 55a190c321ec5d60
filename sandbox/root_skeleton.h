// RootSkeleton: the directory that becomes every agent's "/".
//
// An agent's root is a read-only bind of this skeleton with the host's /usr
// and /etc, a few device nodes, its program, a fresh /proc, a tmpfs /tmp and
// its work directory mounted on top. The skeleton holds only what those
// mounts need to land on: empty directories and files as mount points, and
// the symlinks a merged-/usr system has at the top (bin -> usr/bin, ...). It
// is made once, by the daemon, under its state dir (which the agent never
// sees: after pivot_root the skeleton itself is all there is above).
//
// Why a directory on disk and not a tmpfs per agent: every mount point would
// otherwise be a mkdir in each child, and the skeleton is the same for all
// agents. Mount points for paths that differ per agent (a program outside
// /usr, extra read-only paths) are added on demand and stay; an empty mount
// point is harmless.
//
// Thread: prepare() on one thread at start; mount_point() and the getters
// on any thread, concurrently (mkdir and open tolerate the race).
#pragma once

#include <string>
#include <vector>

namespace smol::sandbox {

class RootSkeleton {
 public:
  // Creates (or refreshes) the skeleton at `dir` (mode 0755, root-owned),
  // mirroring the host's top-level layout: each of /bin, /sbin, /lib, /lib32,
  // /lib64, /libx32 that is a symlink on the host is the same symlink here;
  // one that is a real directory becomes a read-only bind. Throws SysError
  // naming the call and path that failed.
  static RootSkeleton prepare(std::string dir);

  const std::string& dir() const noexcept { return dir_; }

  // Host directories bound read-only at the same path in every agent: /usr,
  // /etc, and those of /bin, /lib... that are not symlinks.
  const std::vector<std::string>& read_only_dirs() const noexcept { return read_only_dirs_; }

  // The device nodes every agent gets, bound from the host's /dev.
  static const std::vector<std::string>& device_nodes();

  // Whether host_path is visible in every agent already (it lies under one
  // of read_only_dirs()).
  bool covers(const std::string& host_path) const;

  // Makes sure dir() + host_path exists as a mount point for a bind of
  // host_path (a directory, or an empty file for anything else) and returns
  // that skeleton path. host_path must be absolute and normalized. Throws
  // SysError.
  std::string mount_point(const std::string& host_path, bool is_directory) const;

 private:
  explicit RootSkeleton(std::string dir) : dir_(std::move(dir)) {}

  std::string dir_;
  std::vector<std::string> read_only_dirs_;
};

}  // namespace smol::sandbox
