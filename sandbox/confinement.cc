#include "sandbox/confinement.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "base/sys_error.h"

#include "sandbox/namespaces.h"

namespace smol::sandbox {
namespace {

void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw SysError(errno, "mkdir", path);
}

// The work directory, owned by the agent's uid and private to it. Its
// parent is made traversable only. A directory left by an agent that had
// another uid (uids are handed out afresh when the daemon restarts) is
// given to this one, contents included.
void prepare_work_dir(const std::string& path, uid_t uid, gid_t gid) {
  make_dir(path.substr(0, path.rfind('/')), 0711);
  make_dir(path, 0700);
  struct stat st {};
  check_sys(::lstat(path.c_str(), &st), "lstat", path);
  if (!S_ISDIR(st.st_mode)) throw SysError(ENOTDIR, "work directory", path);
  if (st.st_uid == uid && st.st_gid == gid) return;
  static thread_local uid_t new_uid;
  static thread_local gid_t new_gid;
  new_uid = uid;
  new_gid = gid;
  auto give = [](const char* p, const struct stat*, int, FTW*) -> int {
    return ::lchown(p, new_uid, new_gid);
  };
  if (::nftw(path.c_str(), give, 16, FTW_PHYS | FTW_MOUNT) != 0) {
    throw SysError(errno, "lchown", path);
  }
}

MountInputs mount_inputs(const ConfineSpec& spec, const std::string& program) {
  if (!spec.skeleton) throw std::invalid_argument("confinement without a root skeleton");
  if (spec.uid == 0 || spec.gid == 0) {
    throw std::invalid_argument("an agent may not run as uid or gid 0");
  }
  if (spec.adopt_work_dir) prepare_work_dir(spec.work_dir, spec.uid, spec.gid);
  return {program, spec.read_only, spec.work_dir, spec.tmp_size};
}

// The same view as the mount plan, as Landlock rules on the host's inodes
// (the binds expose those very inodes). Reading is allowed everywhere in the
// view; executing only in the system dirs and the program; writing only in
// the work directory and the device nodes. /proc and /tmp are fresh mounts
// with no host inode: the child adds them (apply_until_seccomp).
std::vector<PathRule> landlock_rules(const ConfineSpec& spec, const std::string& program) {
  std::vector<PathRule> rules;
  rules.push_back({spec.skeleton->dir(), Access::read_only});
  for (const auto& dir : spec.skeleton->read_only_dirs()) {
    rules.push_back({dir, dir == "/etc" ? Access::read_only : Access::read_exec});
  }
  for (const auto& node : RootSkeleton::device_nodes()) {
    rules.push_back({node, Access::read_write, /*optional=*/true});
  }
  rules.push_back({spec.work_dir, Access::read_write});
  rules.push_back({program, Access::read_exec});
  for (const auto& path : spec.read_only) rules.push_back({path, Access::read_only});
  return rules;
}

}  // namespace

Confinement::Confinement(const ConfineSpec& spec, const std::string& program)
    : seccomp_(spec.seccomp),
      mounts_(*spec.skeleton, mount_inputs(spec, program)),
      rlimits_(spec.rlimits),
      landlock_(landlock_rules(spec, program), spec.landlock),
      handoff_(ListenerHandoff::create()),
      uid_(spec.uid),
      gid_(spec.gid),
      hostname_(spec.hostname.substr(0, 64)) {
  if (!seccomp_) throw std::invalid_argument("confinement without a seccomp program");
  if (landlock_) {
    proc_rights_ = landlock_.dir_rights(Access::read_only);
    tmp_rights_ = landlock_.dir_rights(Access::read_write);
  }
}

const char* Confinement::apply_until_seccomp(int landlock_fd) const noexcept {
  // The daemon's umask (077 under its systemd unit) would make the mount
  // points made below unreachable for the agent, and is not the agent's to
  // inherit; 022 is what programs expect.
  ::umask(022);
  if (const char* failed = set_hostname(hostname_.c_str(), hostname_.size())) return failed;
  if (const char* failed = bring_up_loopback()) return failed;
  if (const char* failed = mounts_.apply()) return failed;
  if (landlock_fd >= 0) {
    if (LandlockRuleset::allow_dir_in_child(landlock_fd, "/proc", proc_rights_) != 0) {
      return "landlock_add_rule(/proc)";
    }
    if (LandlockRuleset::allow_dir_in_child(landlock_fd, "/tmp", tmp_rights_) != 0) {
      return "landlock_add_rule(/tmp)";
    }
  }
  if (const char* failed = rlimits_.apply()) return failed;
  if (const char* failed = drop_privileges(uid_, gid_)) return failed;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "prctl(PR_SET_NO_NEW_PRIVS)";
  if (landlock_fd >= 0 && LandlockRuleset::restrict_self(landlock_fd) != 0) {
    return "landlock_restrict_self";
  }
  return nullptr;
}

const char* Confinement::apply_seccomp_and_exec(int handoff_fd, const char* path,
                                                char* const argv[],
                                                char* const envp[]) const noexcept {
  int listener = seccomp_->install();
  if (listener < 0) return "seccomp(SECCOMP_SET_MODE_FILTER)";
  if (send_fd(handoff_fd, listener) != 0) return "sendmsg(seccomp listener)";
  seccomp_->exec(path, argv, envp);
  return "execve";
}

}  // namespace smol::sandbox
