#include "tests/escape/targets.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace smol::escape {

namespace fs = std::filesystem;

void fail(const std::string& what) { throw std::runtime_error(what + ": " + strerror(errno)); }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<ProbeRow> table_or_empty() {
  try {
    return load_probe_table(SMOL_PROBES_TSV);
  } catch (const std::exception&) {
    return {};
  }
}

std::string probe_path(const std::string& program) {
  return std::string(SMOL_PROBE_DIR) + "/" + program;
}

std::vector<std::string> probe_argv(const ProbeRow& row,
                                    const std::map<std::string, std::string>& values) {
  std::vector<std::string> argv{row.program.starts_with("{") ? substitute(row.program, values)
                                                             : probe_path(row.program)};
  for (const std::string& arg : row.args) argv.push_back(substitute(arg, values));
  return argv;
}

std::string gtest_name(const std::string& probe_name) {
  std::string name = probe_name;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void PrintTo(const ProbeRow& row, std::ostream* os) { *os << row.name; }

TempTree::TempTree(const std::string& parent) {
  std::string tmpl = parent + "/smol-escape.XXXXXX";
  if (!mkdtemp(tmpl.data())) fail("mkdtemp in " + parent);
  path_ = tmpl;
}

TempTree::~TempTree() {
  umount2((path_ + "/work").c_str(), MNT_DETACH);
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string TempTree::mkdir(const std::string& name, mode_t mode) const {
  std::string p = path_ + "/" + name;
  if (::mkdir(p.c_str(), mode) != 0 || chmod(p.c_str(), mode) != 0) fail("mkdir " + p);
  return p;
}

UniqueFd listen_unix(const std::string& name, bool abstract) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t offset = abstract ? 1 : 0;
  name.copy(addr.sun_path + offset, sizeof addr.sun_path - 1 - offset);
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size());
  if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd.get(), 4) != 0) {
    fail("listen on unix socket " + name);
  }
  return fd;
}

UniqueFd listen_tcp_loopback(int* port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd.get(), 4) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    fail("listen on 127.0.0.1");
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

bool took_a_connection(const UniqueFd& listener) {
  pollfd pfd{listener.get(), POLLIN, 0};
  if (poll(&pfd, 1, 0) != 1) return false;
  UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return true;
}

namespace {

struct Hierarchy {
  std::string dir;
  std::vector<std::string> options;  // the mount's, comma-separated: v1 controllers among them
  bool v2 = false;
};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

Hierarchy find_hierarchy() {
  std::ifstream mounts("/proc/self/mounts");
  Hierarchy v1, v2;
  for (std::string dev, dir, type, options, rest;
       mounts >> dev >> dir >> type >> options && std::getline(mounts, rest);) {
    if (type == "cgroup2" && v2.dir.empty()) v2 = {dir, {}, true};
    if (type == "cgroup" && v1.dir.empty()) v1 = {dir, split(options, ','), false};
  }
  if (!v2.dir.empty()) return v2;
  if (!v1.dir.empty()) return v1;
  throw std::runtime_error("no cgroup hierarchy mounted");
}

// Whether a v1 hierarchy was mounted with all of these controllers.
bool mounted_with(const Hierarchy& h, const std::string& controllers) {
  return std::ranges::all_of(split(controllers, ','), [&](const std::string& c) {
    return std::ranges::find(h.options, c) != h.options.end();
  });
}

}  // namespace

std::string cgroup_hierarchy() { return find_hierarchy().dir; }

std::string cgroup_procs_of(pid_t pid) {
  Hierarchy h = find_hierarchy();
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
  // ID:CONTROLLERS:PATH; cgroup2's line is 0::PATH, a v1 line names the
  // controllers its hierarchy was mounted with.
  for (std::string line; std::getline(lines, line);) {
    size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    bool ours =
        h.v2 ? line.starts_with("0::") : !controllers.empty() && mounted_with(h, controllers);
    if (ours) return h.dir + (path == "/" ? "" : path) + "/cgroup.procs";
  }
  throw std::runtime_error("pid " + std::to_string(pid) + " has no cgroup in " + h.dir);
}

std::string suid_capable_parent() {
  for (const char* dir : {"/tmp", SMOL_SCRATCH_DIR}) {
    struct statvfs sv {};
    if (statvfs(dir, &sv) == 0 && !(sv.f_flag & ST_NOSUID)) return dir;
  }
  throw std::runtime_error("neither /tmp nor " SMOL_SCRATCH_DIR " allows setuid binaries");
}

std::string make_setuid_copy(const std::string& dir) {
  std::string copy = dir + "/probe-setuid-root";
  fs::copy_file(probe_path("probe-setuid-root"), copy);
  if (chown(copy.c_str(), 0, 0) != 0 || chmod(copy.c_str(), 04755) != 0) fail("chmod 4755 " + copy);
  return copy;
}

bool remove_probe_leftover(const std::string& dir, pid_t pid) {
  return unlink((dir + "/.smol-escape-probe-" + std::to_string(pid)).c_str()) == 0;
}

}  // namespace smol::escape
