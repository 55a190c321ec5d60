// Internals of the cgroup module (sandbox/cgroup.h): cgroupfs file access,
// the parsers of /proc/self/mountinfo and /proc/self/cgroup, host detection
// with its probes injectable for tests, and the two node implementations'
// factories. Not for code outside sandbox/cgroup*.cc and its tests.
//
// Every helper throws SysError naming the call and path (writes: and the
// value) and retries EINTR; none of them blocks beyond one small read or
// write of a cgroupfs file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/cgroup.h"

namespace smol::sandbox::cgroupfs {

// ---- Files ----

std::string join(const std::string& dir, std::string_view name);
bool exists(const std::string& path);

// The whole file (cgroupfs files are small). SysError("open"|"read", path).
std::string read_file(const std::string& path);
// As read_file, but nullopt when the file does not exist (ENOENT, or
// ENODEV from a cgroup being removed).
std::optional<std::string> read_file_if_exists(const std::string& path);

// One write(2) of value, as the kernel wants for cgroupfs. Throws
// SysError("write", "<path>, <value>").
void write_file(const std::string& path, std::string_view value);

// "key value" lines (memory.events, cpu.stat, cgroup.events, ...): the value
// of key, nullopt when absent or not a number.
std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key);
// keyed_value of the file; 0 when the file or the key is absent.
std::uint64_t read_keyed(const std::string& path, std::string_view key);
// A file holding one number; throws std::runtime_error naming the file if
// it holds something else.
std::uint64_t read_number(const std::string& path);

// The pids listed in a cgroup.procs file (none when it is gone).
std::vector<pid_t> read_pids(const std::string& procs_file);
// The names of the subdirectories of dir (none when it is gone).
std::vector<std::string> subdirectories(const std::string& dir);

// Calls fn(dir) and then fn on every cgroup below dir, parents first.
void for_each_in_subtree(const std::string& dir, const std::function<void(const std::string&)>& fn);
// The words of a space-separated text or file (cgroup.controllers); a file
// that is gone has none.
std::vector<std::string> words(std::string_view text);
std::vector<std::string> read_words(const std::string& path);
bool contains(const std::vector<std::string>& words, std::string_view word);

// mkdir 0755; with exist_ok an existing directory is fine.
void make_dir(const std::string& path, bool exist_ok = false);
// rmdir; false when it was already gone.
bool remove_dir(const std::string& path);

// ---- Rules shared by both versions ----

// Throws std::invalid_argument unless name is a valid child name (see
// CgroupNode::create_child).
void check_child_name(std::string_view name);

inline constexpr std::uint64_t kCpuPeriodUsec = 100000;
// The quota for `cores` per kCpuPeriodUsec; std::invalid_argument below
// 0.01 cores (the kernel's 1 ms minimum) or beyond 10000 cores.
std::uint64_t cpu_quota_usec(double cores);
// std::invalid_argument outside 1..10000.
void check_io_weight(std::uint64_t weight);

// Kills processes with SIGKILL through pidfds until list() returns none that
// was not killed yet (a pid whose killed process is gone counts as new: the
// number was reused). Never signals the calling process. Returns how many it
// signalled.
std::size_t kill_until_none_left(const std::function<std::vector<pid_t>()>& list);

// The kill of a cgroup without cgroup.kill: freeze the node, kill its
// processes until none is left that was not killed, thaw it and every
// descendant (also when the kill throws), so that processes a descendant's
// own freeze held can die too. See CgroupNode::kill_all.
void freeze_kill_thaw(CgroupNode& node);

// ---- Detection ----

struct MountEntry {
  std::string root;         // the mount's root inside its hierarchy (field 4)
  std::string mount_point;  // unescaped
  std::string fstype;       // "cgroup" or "cgroup2"
  std::vector<std::string> super_options;  // v1: includes the controllers
};
// The cgroup and cgroup2 mounts of a /proc/self/mountinfo text.
std::vector<MountEntry> parse_cgroup_mounts(std::string_view mountinfo);

struct ProcCgroupLine {
  int id = 0;                            // 0: the v2 hierarchy
  std::vector<std::string> controllers;  // empty for v2; "name=systemd" kept
  std::string path;                      // "/process_api/6aa77"
};
std::vector<ProcCgroupLine> parse_proc_cgroup(std::string_view text);

// How detection looks at the filesystem; tests pass fakes.
struct HostProbe {
  // File contents, or nullopt when unreadable (cgroup.controllers).
  std::function<std::optional<std::string>(const std::string& path)> read;
  // Whether systemd delegated this cgroup directory (trusted.delegate or
  // user.delegate xattr set to 1).
  std::function<bool(const std::string& dir)> delegated;
};
HostProbe real_probe();

// detect_cgroup_host() over given texts and probe.
CgroupHost choose_cgroup_host(std::string_view mountinfo, std::string_view proc_cgroup,
                              const HostProbe& probe);

// ---- The two implementations ----

// v2: adds those of `wanted` that dir's cgroup.controllers offers to its
// cgroup.subtree_control, so its children get them. From then on dir may hold
// no process (the root excepted): EBUSY otherwise.
void enable_controllers(const std::string& dir, const std::vector<std::string>& wanted);

// v2: the node at dir. controllers: those the base offers its subtree
// (memory, pids, cpu, io, as available); create_child enables them in dir.
std::unique_ptr<CgroupNode> make_v2_node(std::string dir,
                                         std::shared_ptr<const std::vector<std::string>> controllers);

// v1: the node's directory in each hierarchy; empty when the host has none.
struct V1Dirs {
  std::string memory, pids, cpu, freezer;
  std::string cpuacct;  // may equal cpu (co-mounted "cpu,cpuacct")
  std::string blkio;
};
std::unique_ptr<CgroupNode> make_v1_node(V1Dirs dirs);

}  // namespace smol::sandbox::cgroupfs
