#include "sandbox/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "base/sys_error.h"

// Debian 12's <linux/landlock.h> stops at ABI 2. The values below are the
// kernel's uapi values for ABI 3 to 6; each is defined only where the header
// lacks it, so a newer header wins.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)  // ABI 3
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)  // ABI 5
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)  // ABI 4
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)  // ABI 4
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)  // ABI 6
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)  // ABI 6
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

namespace smol::sandbox {
namespace {

// struct landlock_ruleset_attr as of ABI 6. Declared here because the
// system header's has only the first field; the kernel reads as many bytes
// as we say (ruleset_attr_size), so an older kernel never sees the rest.
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;  // ABI 4
  std::uint64_t scoped;              // ABI 6
};

constexpr std::uint64_t kFsV1 =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
    LANDLOCK_ACCESS_FS_MAKE_SYM;

// The only rights the kernel accepts in a rule on a non-directory.
constexpr std::uint64_t kFileOnly = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                    LANDLOCK_ACCESS_FS_IOCTL_DEV;

constexpr std::uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

// Write covers truncate: the kernel docs advise granting the two together,
// since creat(2) on an existing file needs truncate as well as write.
constexpr std::uint64_t kWrite = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                                 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                                 LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER;

struct RightName {
  std::uint64_t bit;
  const char* name;
};

constexpr RightName kFsNames[] = {
    {LANDLOCK_ACCESS_FS_EXECUTE, "execute"},       {LANDLOCK_ACCESS_FS_WRITE_FILE, "write_file"},
    {LANDLOCK_ACCESS_FS_READ_FILE, "read_file"},   {LANDLOCK_ACCESS_FS_READ_DIR, "read_dir"},
    {LANDLOCK_ACCESS_FS_REMOVE_DIR, "remove_dir"}, {LANDLOCK_ACCESS_FS_REMOVE_FILE, "remove_file"},
    {LANDLOCK_ACCESS_FS_MAKE_CHAR, "make_char"},   {LANDLOCK_ACCESS_FS_MAKE_DIR, "make_dir"},
    {LANDLOCK_ACCESS_FS_MAKE_REG, "make_reg"},     {LANDLOCK_ACCESS_FS_MAKE_SOCK, "make_sock"},
    {LANDLOCK_ACCESS_FS_MAKE_FIFO, "make_fifo"},   {LANDLOCK_ACCESS_FS_MAKE_BLOCK, "make_block"},
    {LANDLOCK_ACCESS_FS_MAKE_SYM, "make_sym"},     {LANDLOCK_ACCESS_FS_REFER, "refer"},
    {LANDLOCK_ACCESS_FS_TRUNCATE, "truncate"},     {LANDLOCK_ACCESS_FS_IOCTL_DEV, "ioctl_dev"},
};
constexpr RightName kNetNames[] = {
    {LANDLOCK_ACCESS_NET_BIND_TCP, "bind_tcp"},
    {LANDLOCK_ACCESS_NET_CONNECT_TCP, "connect_tcp"},
};
constexpr RightName kScopeNames[] = {
    {LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, "abstract_unix_socket"},
    {LANDLOCK_SCOPE_SIGNAL, "signal"},
};

// How many bytes of RulesetAttr the given ABI defines. Passing exactly
// these keeps an older kernel from ever seeing a field it does not know.
std::size_t ruleset_attr_size(int abi) {
  if (abi >= 6) return sizeof(RulesetAttr);
  if (abi >= 4) return offsetof(RulesetAttr, scoped);
  return offsetof(RulesetAttr, handled_access_net);
}

template <std::size_t N>
void append_names(std::string& out, const char* group, std::uint64_t bits,
                  const RightName (&names)[N]) {
  if (bits == 0) return;
  out += ' ';
  out += group;
  out += '{';
  bool first = true;
  for (const RightName& r : names) {
    if ((bits & r.bit) == 0) continue;
    if (!first) out += ',';
    out += r.name;
    first = false;
  }
  out += '}';
}

std::string unsupported_text(int kernel_abi) {
  return "the kernel does not support it (ABI " + std::to_string(kernel_abi) + ")";
}

// Creates the ruleset fd; the kernel makes it close-on-exec.
UniqueFd create_ruleset(const LandlockHandled& handled, int abi) {
  RulesetAttr attr{handled.fs, handled.net, handled.scoped};
  long fd = syscall(SYS_landlock_create_ruleset, &attr, ruleset_attr_size(abi), 0U);
  check_sys(fd, "landlock_create_ruleset");
  return UniqueFd(static_cast<int>(fd));
}

// Opens a rule's path without reading it (O_PATH needs no permission on the
// file itself), or returns an empty fd when an optional path is missing.
UniqueFd open_rule_path(const PathRule& rule) {
  int fd = retry_eintr([&] { return ::open(rule.path.c_str(), O_PATH | O_CLOEXEC); });
  if (fd < 0 && errno == ENOENT && rule.optional) return UniqueFd();
  return UniqueFd(check_sys(fd, "open", rule.path));
}

bool is_directory(int fd, const std::string& path) {
  struct stat st {};
  check_sys(::fstat(fd, &st), "fstat", path);
  return S_ISDIR(st.st_mode);
}

int add_path_beneath(int ruleset_fd, int path_fd, std::uint64_t allowed) {
  landlock_path_beneath_attr attr{};
  attr.allowed_access = allowed;
  attr.parent_fd = path_fd;
  return static_cast<int>(
      syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0U));
}

}  // namespace

int landlock_abi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

LandlockHandled landlock_handled(int abi) {
  LandlockHandled h;
  if (abi >= 1) h.fs |= kFsV1;
  if (abi >= 2) h.fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) h.fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 4) h.net |= LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
  if (abi >= 5) h.fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  if (abi >= 6) h.scoped |= LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
  return h;
}

std::uint64_t landlock_fs_rights(Access access, int abi, bool is_directory) {
  std::uint64_t bits = kRead;
  if (access == Access::read_exec) bits |= LANDLOCK_ACCESS_FS_EXECUTE;
  if (access == Access::read_write) bits |= kWrite;
  // A right the ruleset does not handle may not appear in a rule (EINVAL).
  bits &= landlock_handled(abi).fs;
  return is_directory ? bits : bits & kFileOnly;
}

LandlockUnavailable::LandlockUnavailable(int kernel_abi)
    : std::runtime_error("landlock required but " + unsupported_text(kernel_abi)),
      kernel_abi_(kernel_abi) {}

LandlockRuleset::LandlockRuleset(const std::vector<PathRule>& rules, LandlockMode mode,
                                 int kernel_abi)
    : kernel_abi_(kernel_abi), abi_(std::min(kernel_abi, kLandlockNewestAbi)) {
  if (abi_ <= 0) {
    if (mode == LandlockMode::required) throw LandlockUnavailable(kernel_abi);
    abi_ = 0;
    absent_reason_ = "landlock skipped (best-effort): " + unsupported_text(kernel_abi);
    return;
  }
  handled_ = landlock_handled(abi_);
  fd_ = create_ruleset(handled_, abi_);
  for (const PathRule& rule : rules) add_rule(rule);
}

void LandlockRuleset::add_rule(const PathRule& rule) {
  UniqueFd path_fd = open_rule_path(rule);
  if (!path_fd) {
    skipped_.push_back(rule.path);
    return;
  }
  bool dir = is_directory(path_fd.get(), rule.path);
  std::uint64_t allowed = landlock_fs_rights(rule.access, abi_, dir);
  check_sys(add_path_beneath(fd_.get(), path_fd.get(), allowed), "landlock_add_rule", rule.path);
  ++rule_count_;
}

std::uint64_t LandlockRuleset::dir_rights(Access access) const noexcept {
  return landlock_fs_rights(access, abi_, true);
}

std::string LandlockRuleset::describe() const {
  if (!fd_) return absent_reason_;
  std::string out = "landlock ABI " + std::to_string(abi_);
  if (kernel_abi_ != abi_) out += " (kernel ABI " + std::to_string(kernel_abi_) + ")";
  out += ':';
  append_names(out, "fs", handled_.fs, kFsNames);
  append_names(out, "net", handled_.net, kNetNames);
  append_names(out, "scoped", handled_.scoped, kScopeNames);
  out += "; " + std::to_string(rule_count_) + (rule_count_ == 1 ? " path" : " paths");
  if (!skipped_.empty()) out += ", " + std::to_string(skipped_.size()) + " missing optional";
  return out;
}

int LandlockRuleset::restrict_self(int ruleset_fd) noexcept {
  return syscall(SYS_landlock_restrict_self, ruleset_fd, 0U) == 0 ? 0 : -1;
}

int LandlockRuleset::allow_dir_in_child(int ruleset_fd, const char* dir,
                                        std::uint64_t allowed_access) noexcept {
  int dir_fd = ::open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
  if (dir_fd < 0) return -1;
  int rc = add_path_beneath(ruleset_fd, dir_fd, allowed_access);
  int saved = errno;
  ::close(dir_fd);
  errno = saved;
  return rc;
}

}  // namespace smol::sandbox
