// CgroupNode on the unified hierarchy (cgroup v2). See sandbox/cgroup.h.
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "base/sys_error.h"
#include "sandbox/cgroup_fs.h"

namespace smol::sandbox::cgroupfs {
namespace {

using Controllers = std::shared_ptr<const std::vector<std::string>>;

// An inotify fd that becomes readable when `file` is modified. cgroupfs
// raises IN_MODIFY on the *.events files whenever a value in them changes.
UniqueFd inotify_on(const std::string& file) {
  UniqueFd fd(check_sys(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1"));
  check_sys(::inotify_add_watch(fd.get(), file.c_str(), IN_MODIFY), "inotify_add_watch", file);
  return fd;
}

std::string base_name_of(const std::string& dir) { return dir.substr(dir.rfind('/') + 1); }

class V2Node final : public CgroupNode {
 public:
  V2Node(std::string dir, Controllers controllers)
      : dir_(std::move(dir)), name_(base_name_of(dir_)), controllers_(std::move(controllers)) {}

  const std::string& path() const override { return dir_; }
  const std::string& name() const override { return name_; }
  std::vector<std::string> directories() const override { return {dir_}; }

  std::unique_ptr<CgroupNode> create_child(std::string_view name,
                                           const CgroupLimits& limits) override {
    check_child_name(name);
    check(limits);
    enable_subtree_controllers();
    auto child = std::make_unique<V2Node>(join(dir_, name), controllers_);
    make_dir(child->dir_);
    try {
      child->write_limits(limits, /*reset_unset=*/false);
    } catch (...) {
      ::rmdir(child->dir_.c_str());  // the limit's error is the one to report
      throw;
    }
    return child;
  }

  std::vector<std::unique_ptr<CgroupNode>> children() const override {
    std::vector<std::unique_ptr<CgroupNode>> out;
    for (const auto& n : subdirectories(dir_)) {
      out.push_back(std::make_unique<V2Node>(join(dir_, n), controllers_));
    }
    return out;
  }

  void set_limits(const CgroupLimits& limits) override {
    check(limits);
    write_limits(limits, /*reset_unset=*/true);
  }

  CgroupUsage usage() const override {
    CgroupUsage u;
    u.memory_bytes = read_number(file("memory.current"));
    u.cpu_usec = read_keyed(file("cpu.stat"), "usage_usec");
    u.pids = read_number(file("pids.current"));
    return u;
  }

  CgroupCounters counters() const override {
    // pids.events.local (>= 6.13) counts the hits of this cgroup's own limit;
    // before it, pids.events counted forks refused in this cgroup, locally.
    const char* pids_events = exists(file("pids.events.local")) ? "pids.events.local" : "pids.events";
    CgroupCounters c;
    for_each_in_subtree(dir_, [&](const std::string& d) {
      c.oom_kills += read_keyed(join(d, "memory.events.local"), "oom_kill");
      c.pids_limit_hits += read_keyed(join(d, pids_events), "max");
      c.throttled_usec += read_keyed(join(d, "cpu.stat"), "throttled_usec");
    });
    return c;
  }

  void freeze(bool frozen) override { write_file(file("cgroup.freeze"), frozen ? "1" : "0"); }

  FreezeState freeze_state() const override {
    // cgroup.events "frozen" is also 1 under a frozen ancestor.
    if (keyed_value(read_file(file("cgroup.events")), "frozen").value_or(0) == 1) {
      return FreezeState::frozen;
    }
    return read_number(file("cgroup.freeze")) == 1 ? FreezeState::freezing : FreezeState::thawed;
  }

  bool populated() const override {
    return keyed_value(read_file(file("cgroup.events")), "populated").value_or(0) == 1;
  }

  UniqueFd watch() const override { return inotify_on(file("cgroup.events")); }

  std::vector<pid_t> processes() const override {
    std::vector<pid_t> pids;
    for_each_in_subtree(dir_, [&](const std::string& d) {
      auto some = read_pids(join(d, "cgroup.procs"));
      pids.insert(pids.end(), some.begin(), some.end());
    });
    return pids;
  }

  void kill_all() override {
    auto mine = processes();
    if (std::find(mine.begin(), mine.end(), ::getpid()) != mine.end()) {
      throw std::logic_error("kill_all: the calling process is in " + dir_);
    }
    if (exists(file("cgroup.kill"))) {
      write_file(file("cgroup.kill"), "1");
      return;
    }
    // Before 5.14. Unlike v1, SIGKILL reaches a process frozen by
    // cgroup.freeze; the freeze only stops the set from changing.
    freeze_kill_thaw(*this);
  }

  std::size_t remove() override {
    std::size_t n = 0;
    for (auto& c : children()) n += c->remove();
    remove_dir(dir_);
    return n + 1;
  }

  CgroupPlacement placement(bool) const override {
    std::string procs = file("cgroup.procs");
    std::vector<UniqueFd> fds;
    fds.emplace_back(check_sys(retry_eintr([&] {
                                 return ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
                               }),
                               "open", procs));
    UniqueFd dir(check_sys(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", dir_));
    return CgroupPlacement(std::move(fds), std::move(dir));
  }

  OomWatch oom_watch() const override {
    std::string events = file("memory.events");
    UniqueFd fd = inotify_on(events);
    return OomWatch(std::move(fd), events, read_keyed(events, "oom_kill"));
  }

 private:
  std::string file(std::string_view name) const { return join(dir_, name); }
  bool offers(std::string_view controller) const { return contains(*controllers_, controller); }

  // Everything that can be refused without touching the kernel, so a bad
  // limit leaves the others unchanged.
  void check(const CgroupLimits& l) const {
    if (l.cpu) {
      cpu_quota_usec(*l.cpu);
      if (!offers("cpu")) throw std::runtime_error("cpu: the host's cgroups have no cpu controller");
    }
    if (l.io_weight) {
      check_io_weight(*l.io_weight);
      if (!offers("io")) {
        throw std::runtime_error("io_weight: the host's cgroups have no io controller");
      }
    }
    if (l.memory_swap && !exists(file("memory.swap.max"))) {
      throw std::runtime_error("memory_swap: the host's cgroups have no swap accounting");
    }
  }

  void write_limits(const CgroupLimits& l, bool reset_unset) {
    auto put = [&](std::string_view name, const std::string& value) {
      write_file(file(name), value);
    };
    auto number_or_max = [](const std::optional<std::uint64_t>& v) {
      return v ? std::to_string(*v) : std::string("max");
    };
    if (l.memory || reset_unset) put("memory.max", number_or_max(l.memory));
    if (l.memory_swap || (reset_unset && exists(file("memory.swap.max")))) {
      put("memory.swap.max", number_or_max(l.memory_swap));
    }
    if (l.pids || reset_unset) put("pids.max", number_or_max(l.pids));
    std::string period = " " + std::to_string(kCpuPeriodUsec);
    if (l.cpu) {
      put("cpu.max", std::to_string(cpu_quota_usec(*l.cpu)) + period);
    } else if (reset_unset && offers("cpu")) {
      put("cpu.max", "max" + period);
    }
    if (l.io_weight) {
      put("io.weight", "default " + std::to_string(*l.io_weight));
    } else if (reset_unset && offers("io") && exists(file("io.weight"))) {
      put("io.weight", "default 100");
    }
  }

  void enable_subtree_controllers() {
    if (subtree_enabled_) return;
    enable_controllers(dir_, *controllers_);
    subtree_enabled_ = true;
  }

  std::string dir_;
  std::string name_;
  Controllers controllers_;
  // Spawning threads create agents below one pool at once.
  std::atomic<bool> subtree_enabled_{false};
};

}  // namespace

std::unique_ptr<CgroupNode> make_v2_node(std::string dir, Controllers controllers) {
  return std::make_unique<V2Node>(std::move(dir), std::move(controllers));
}

}  // namespace smol::sandbox::cgroupfs
