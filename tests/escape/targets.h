// What both escape runners point the probes at, and how they find them.
//
// probes_outside_test (unconfined, at stand-ins it makes) and
// probes_inside_test (through a real swarmd, at the daemon's own files,
// socket and agents) fill the table's {placeholders} with real things: temp
// dirs, listening sockets, a setuid-root copy of a probe, a cgroup. The
// helpers that both need live here; each owns what it makes, or says who
// removes it.
//
// Thread: plain functions and RAII values; any thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/escape/probe_table.h"

namespace smol::escape {

// Throws std::runtime_error with what and strerror(errno).
[[noreturn]] void fail(const std::string& what);

// The whole file, or "" if it cannot be read.
std::string read_file(const std::string& path);

// The table (probes.tsv), or no rows if it does not load (ProbeTable.Loads
// in probes_outside_test says why).
std::vector<ProbeRow> table_or_empty();

// Absolute path of a built probe program (probe-NAME) or of anything else in
// the probe dir.
std::string probe_path(const std::string& program);

// A row's program (a built probe, or a {placeholder}) and arguments, with
// the placeholders filled in from values.
std::vector<std::string> probe_argv(const ProbeRow& row,
                                    const std::map<std::string, std::string>& values);

// A probe's name as a gtest parameter name ('-' is not allowed there).
std::string gtest_name(const std::string& probe_name);

// How gtest (and so ctest's test list) shows a row: its name.
void PrintTo(const ProbeRow& row, std::ostream* os);

// A directory tree under parent, removed on destruction. Something a probe
// mounted on its "work" subdir (mount-tmpfs unmounts itself; this is for a
// probe that died between) is detached first, so the removal cannot reach
// into a mount.
class TempTree {
 public:
  explicit TempTree(const std::string& parent);
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  const std::string& path() const { return path_; }
  // Makes path()/name with exactly this mode (umask aside) and returns it.
  std::string mkdir(const std::string& name, mode_t mode = 0700) const;

 private:
  std::string path_;
};

// A listening AF_UNIX stream socket: at a path, or (abstract) at "\0name"
// in the caller's network namespace.
UniqueFd listen_unix(const std::string& name, bool abstract);

// A TCP listener on 127.0.0.1 at an ephemeral port, stored in *port.
UniqueFd listen_tcp_loopback(int* port);

// Whether a listener has a connection waiting (someone connected to it);
// accepts and closes it, so the next check starts clean.
bool took_a_connection(const UniqueFd& listener);

// The cgroup hierarchy targets are made in: the cgroup2 mount if the host
// has one, else the first cgroup v1 mount. Throws if there is none.
std::string cgroup_hierarchy();

// cgroup.procs of the cgroup pid is in, in cgroup_hierarchy().
std::string cgroup_procs_of(pid_t pid);

// A dir that honours setuid bits: /tmp unless mounted nosuid, else the
// build dir.
std::string suid_capable_parent();

// A root-owned, mode 4755 copy of probe-setuid-root in dir; returns its path.
std::string make_setuid_copy(const std::string& dir);

// write-usr and write-etc create DIR/.smol-escape-probe-PID (PID as the
// probe sees its own) and remove it at once. Removes it if it is still
// there (the probe died in between, or escaped and did not clean up) and
// says whether it was.
bool remove_probe_leftover(const std::string& dir, pid_t pid);

}  // namespace smol::escape
