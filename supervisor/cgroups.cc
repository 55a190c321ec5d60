#include "supervisor/cgroups.h"

#include <chrono>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>

#include "base/log.h"
#include "base/sys_error.h"

namespace smol::supervisor {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRunPool = "@run";
// A swarm's pool is "<swarm>.swarm": a swarm name alone could be one of the
// files every cgroup holds (v1's tasks, notify_on_release), and no
// controller's files end in .swarm.
constexpr std::string_view kPoolSuffix = ".swarm";
// A retired node is re-checked this often, this many times (5 s in all),
// before it is left for the next start to remove.
constexpr kj::Duration kSweepInterval = 20 * kj::MILLISECONDS;
constexpr int kSweepAttempts = 250;

bool sets_limits(const sandbox::CgroupLimits& l) {
  return l.memory || l.memory_swap || l.pids || l.cpu || l.io_weight;
}

// Removes node if nothing runs in it any more; false if it is still busy.
bool try_remove(sandbox::CgroupNode& node) {
  if (node.populated()) return false;
  try {
    node.remove();
    return true;
  } catch (const SysError& e) {
    if (e.code() == EBUSY) return false;  // a process moved in between
    throw;
  }
}

}  // namespace

Cgroups::Cgroups(ipc::EventLoop& loop, const config::Config& config) : loop_(loop) {
  try {
    tree_ = std::make_unique<sandbox::CgroupTree>(sandbox::detect_cgroup_host(),
                                                  sandbox::CgroupTreeOptions{config.cgroup_base});
  } catch (const std::exception& e) {
    reason_ = e.what();
    log::warning("resource limits unavailable: " + reason_ +
                 "; agents run without cgroups and swarms that set [limits] are refused");
    return;
  }
  lock_base(config.cgroup_base);
  try {
    if (std::size_t n = tree_->remove_stale(); n > 0) {
      log::notice("removed " + std::to_string(n) +
                  " cgroup(s) a previous swarmd left behind, after killing what ran in them");
    }
  } catch (const std::exception& e) {
    // Left in place: the next start tries again. The rest of the tree works.
    log::warning("cannot remove what a previous swarmd left in its cgroups: " +
                 std::string(e.what()));
  }
  log::info("resource limits: " + tree_->describe());
}

// The base is this daemon's alone while it runs: another swarmd given the
// same [cgroups] base would take the first one's agents for a crashed
// predecessor's and kill them, and remove the base as it stops. flock() on
// the base's directories says who is first: every one of them, since on v1
// two daemons in different memory cgroups share the other hierarchies'
// bases. The locks go with the process, so a crashed daemon holds none.
void Cgroups::lock_base(const std::string& name) {
  for (const std::string& dir : tree_->base().directories()) {
    UniqueFd lock(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lock) throw SysError(errno, "open", dir);
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) throw SysError(errno, "flock", dir);
      base_locks_.clear();
      tree_.reset();
      throw std::runtime_error("the cgroup base '" + name + "' (" + dir +
                               ") is in use by another swarmd; give each daemon its own "
                               "[cgroups] base in its configuration");
    }
    base_locks_.push_back(std::move(lock));
  }
}

Cgroups::~Cgroups() {
  try {
    remove_all();
  } catch (const std::exception& e) {
    log::warning("cannot remove swarmd's cgroups: " + std::string(e.what()));
  }
}

std::string Cgroups::describe() const {
  return tree_ ? tree_->describe() : "unavailable: " + reason_;
}

std::shared_ptr<sandbox::CgroupNode> Cgroups::make_pool(const std::string& swarm,
                                                        const sandbox::CgroupLimits& limits) {
  return make_node(swarm + std::string(kPoolSuffix), "swarm " + swarm, limits);
}

std::shared_ptr<sandbox::CgroupNode> Cgroups::make_node(const std::string& dir,
                                                        const std::string& owner,
                                                        const sandbox::CgroupLimits& limits) {
  if (!tree_) {
    if (!sets_limits(limits)) return nullptr;
    throw std::runtime_error(owner + " sets [limits], but swarmd has no usable cgroups (" +
                             reason_ + ")");
  }
  reclaim(tree_->base(), dir);
  try {
    return create_replacing(tree_->base(), dir, limits);
  } catch (const std::exception& e) {
    throw std::runtime_error(owner + ": cannot create its cgroup: " + e.what());
  }
}

void Cgroups::reclaim(const sandbox::CgroupNode& parent, const std::string& name) {
  // Once replaced, these paths name the new cgroups.
  const std::string path = parent.path() + "/" + name;
  std::erase_if(retiring_, [&](const Retiring& r) {
    const std::string& p = r.node->path();
    return p == path || (p.starts_with(path) && p[path.size()] == '/');
  });
}

std::unique_ptr<sandbox::CgroupNode> Cgroups::make_agent(sandbox::CgroupNode& pool,
                                                         const std::string& name,
                                                         const sandbox::CgroupLimits& limits) {
  try {
    return create_replacing(pool, name, limits);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot create its cgroup in " + pool.path() + ": " + e.what());
  }
}

std::unique_ptr<sandbox::CgroupNode> Cgroups::create_replacing(
    sandbox::CgroupNode& parent, const std::string& name, const sandbox::CgroupLimits& limits) {
  try {
    return parent.create_child(name, limits);
  } catch (const SysError& e) {
    if (!e.is_exists()) throw;
  }
  // An earlier one of this name is still there (its removal is pending):
  // whatever runs in it belongs to nobody any more.
  for (auto& old : parent.children()) {
    if (old->name() != name) continue;
    old->kill_all();
    sandbox::remove_when_empty(*old, 1s);
  }
  return parent.create_child(name, limits);
}

std::shared_ptr<sandbox::CgroupNode> Cgroups::run_pool() {
  if (!tree_) return nullptr;
  if (!run_pool_) run_pool_ = make_node(kRunPool, "swarmctl run", {});
  return run_pool_;
}

void Cgroups::retire(std::shared_ptr<sandbox::CgroupNode> node) {
  if (!node) return;
  try {
    if (try_remove(*node)) return;
    node->kill_all();
  } catch (const std::exception& e) {
    log::warning("cannot remove cgroup " + node->path() + ": " + e.what());
    return;
  }
  retiring_.push_back({std::move(node), 0});
  if (retiring_.size() == 1) sweeping_ = sweep_later().eagerlyEvaluate(nullptr);
}

kj::Promise<void> Cgroups::sweep_later() {
  return loop_.timer().afterDelay(kSweepInterval).then([this]() -> kj::Promise<void> {
    std::erase_if(retiring_, [](Retiring& r) {
      try {
        if (try_remove(*r.node)) return true;
      } catch (const std::exception& e) {
        log::warning("cannot remove cgroup " + r.node->path() + ": " + e.what());
        return true;
      }
      if (++r.attempts < kSweepAttempts) return false;
      log::warning("cgroup " + r.node->path() +
                   " still holds processes after they were killed; left for the next start");
      return true;
    });
    if (retiring_.empty()) return kj::READY_NOW;
    return sweep_later();
  });
}

void Cgroups::remove_all() {
  if (!tree_) return;
  retiring_.clear();
  run_pool_.reset();
  tree_->remove_stale(2s);
  tree_->base().remove();
  tree_.reset();
  reason_ = "removed at shutdown";
}

}  // namespace smol::supervisor
