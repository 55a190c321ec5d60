// CgroupNode on cgroup v1: one directory per hierarchy. See sandbox/cgroup.h.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "base/sys_error.h"
#include "sandbox/cgroup_fs.h"

namespace smol::sandbox::cgroupfs {
namespace {

// memsw, the v1 memory+swap limit, must never be below the memory limit, at
// any moment, or the write fails with EINVAL.
void write_memory_limits(const V1Dirs& d, const std::string& memory, const std::string& memsw) {
  std::string mem_file = join(d.memory, "memory.limit_in_bytes");
  std::string memsw_file = join(d.memory, "memory.memsw.limit_in_bytes");
  if (!exists(memsw_file)) {
    write_file(mem_file, memory);
    return;
  }
  try {
    write_file(mem_file, memory);  // shrinking, or memsw already high enough
  } catch (const SysError& e) {
    if (e.code() != EINVAL) throw;
    write_file(memsw_file, memsw);  // growing: raise the ceiling first
    write_file(mem_file, memory);
    return;
  }
  write_file(memsw_file, memsw);
}

// The v1 file for io_weight: BFQ's since 5.0 (CFQ's before), if any.
std::string io_weight_file(const V1Dirs& d) {
  if (d.blkio.empty()) return {};
  for (const char* name : {"blkio.bfq.weight", "blkio.weight"}) {
    if (exists(join(d.blkio, name))) return join(d.blkio, name);
  }
  return {};
}

class V1Node final : public CgroupNode {
 public:
  explicit V1Node(V1Dirs dirs) : d_(std::move(dirs)) {
    name_ = d_.memory.substr(d_.memory.rfind('/') + 1);
    for (const auto* dir : {&d_.memory, &d_.pids, &d_.cpu, &d_.freezer, &d_.cpuacct, &d_.blkio}) {
      if (!dir->empty() && !contains(all_, *dir)) all_.push_back(*dir);
    }
  }

  const std::string& path() const override { return d_.memory; }
  const std::string& name() const override { return name_; }
  std::vector<std::string> directories() const override { return all_; }

  std::unique_ptr<CgroupNode> create_child(std::string_view name,
                                           const CgroupLimits& limits) override {
    check_child_name(name);
    check(limits);
    auto child = std::make_unique<V1Node>(child_dirs(name));
    std::vector<std::string> made;
    try {
      for (const auto& dir : child->all_) {
        make_dir(dir);
        made.push_back(dir);
      }
      child->write_limits(limits, /*reset_unset=*/false);
    } catch (...) {
      for (const auto& dir : made) ::rmdir(dir.c_str());  // report the first error
      throw;
    }
    return child;
  }

  std::vector<std::unique_ptr<CgroupNode>> children() const override {
    std::map<std::string, size_t> names;  // name -> in how many hierarchies
    for (const auto& dir : all_) {
      for (auto& n : subdirectories(dir)) ++names[std::move(n)];
    }
    std::vector<std::unique_ptr<CgroupNode>> out;
    for (const auto& [name, found] : names) {
      auto child = std::make_unique<V1Node>(child_dirs(name));
      // A child missing from some hierarchies was being made when its maker
      // died between two mkdirs (a daemon killed mid-spawn). Made whole, it
      // can be frozen, killed and removed like any other.
      if (found < child->all_.size()) {
        for (const auto& dir : child->all_) make_dir(dir, /*exist_ok=*/true);
      }
      out.push_back(std::move(child));
    }
    return out;
  }

  void set_limits(const CgroupLimits& limits) override {
    check(limits);
    write_limits(limits, /*reset_unset=*/true);
  }

  CgroupUsage usage() const override {
    CgroupUsage u;
    u.memory_bytes = read_number(join(d_.memory, "memory.usage_in_bytes"));
    if (!d_.cpuacct.empty()) u.cpu_usec = read_number(join(d_.cpuacct, "cpuacct.usage")) / 1000;
    u.pids = read_number(join(d_.pids, "pids.current"));
    return u;
  }

  CgroupCounters counters() const override {
    CgroupCounters c;
    for_each_in_subtree(d_.memory, [&](const std::string& dir) {
      c.oom_kills += read_keyed(join(dir, "memory.oom_control"), "oom_kill");
    });
    // v1's pids.events "max" counts forks refused in this cgroup, whichever
    // limit refused them.
    for_each_in_subtree(d_.pids, [&](const std::string& dir) {
      c.pids_limit_hits += read_keyed(join(dir, "pids.events"), "max");
    });
    std::uint64_t throttled_ns = 0;
    for_each_in_subtree(d_.cpu, [&](const std::string& dir) {
      throttled_ns += read_keyed(join(dir, "cpu.stat"), "throttled_time");
    });
    c.throttled_usec = throttled_ns / 1000;
    return c;
  }

  void freeze(bool frozen) override {
    write_file(join(d_.freezer, "freezer.state"), frozen ? "FROZEN" : "THAWED");
  }

  FreezeState freeze_state() const override {
    // FROZEN also under a frozen ancestor (freezer.parent_freezing).
    std::string s = read_file(join(d_.freezer, "freezer.state"));
    if (s.starts_with("FROZEN")) return FreezeState::frozen;
    if (s.starts_with("FREEZING")) return FreezeState::freezing;
    return FreezeState::thawed;
  }

  bool populated() const override { return !processes().empty(); }

  UniqueFd watch() const override { return UniqueFd(); }

  std::vector<pid_t> processes() const override {
    std::set<pid_t> pids;
    for (const auto& dir : all_) {
      for_each_in_subtree(dir, [&](const std::string& d) {
        for (pid_t p : read_pids(join(d, "cgroup.procs"))) pids.insert(p);
      });
    }
    return {pids.begin(), pids.end()};
  }

  // A v1-frozen process does not act on SIGKILL until thawed, and a process
  // not yet frozen dies at once; either way none forks after its kill.
  void kill_all() override { freeze_kill_thaw(*this); }

  std::size_t remove() override {
    std::size_t n = 0;
    for (auto& c : children()) n += c->remove();
    for (const auto& dir : all_) remove_dir(dir);
    return n + 1;
  }

  CgroupPlacement placement(bool cpu_and_io) const override {
    std::vector<UniqueFd> fds;
    for (const auto& dir : all_) {
      if (!cpu_and_io && dir != d_.cpuacct && (dir == d_.cpu || dir == d_.blkio)) continue;
      std::string procs = join(dir, "cgroup.procs");
      fds.emplace_back(check_sys(retry_eintr([&] {
                                   return ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
                                 }),
                                 "open", procs));
    }
    return CgroupPlacement(std::move(fds), UniqueFd());
  }

  OomWatch oom_watch() const override {
    // The kernel signals the eventfd on an OOM of this memcg or an ancestor
    // (and once more when the cgroup is removed). The registration keeps a
    // reference to the eventfd and ends when we close it.
    std::string control = join(d_.memory, "memory.oom_control");
    UniqueFd efd(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"));
    UniqueFd cfd(check_sys(::open(control.c_str(), O_RDONLY | O_CLOEXEC), "open", control));
    write_file(join(d_.memory, "cgroup.event_control"),
               std::to_string(efd.get()) + " " + std::to_string(cfd.get()));
    return OomWatch(std::move(efd), control, read_keyed(control, "oom_kill"));
  }

 private:
  V1Dirs child_dirs(std::string_view name) const {
    auto sub = [&](const std::string& dir) { return dir.empty() ? dir : join(dir, name); };
    return V1Dirs{sub(d_.memory), sub(d_.pids),    sub(d_.cpu),
                  sub(d_.freezer), sub(d_.cpuacct), sub(d_.blkio)};
  }

  void check(const CgroupLimits& l) const {
    if (l.cpu) cpu_quota_usec(*l.cpu);
    if (l.memory_swap) {
      if (!l.memory) throw std::invalid_argument("memory_swap: cgroup v1 needs memory set too");
      if (!exists(join(d_.memory, "memory.memsw.limit_in_bytes"))) {
        throw std::runtime_error("memory_swap: the host's cgroups have no swap accounting");
      }
    }
    if (l.io_weight) {
      check_io_weight(*l.io_weight);
      if (io_weight_file(d_).empty()) {
        throw std::runtime_error("io_weight: the host's cgroups have no io controller");
      }
    }
  }

  void write_limits(const CgroupLimits& l, bool reset_unset) {
    if (l.memory || reset_unset) {
      std::string memsw = "-1";
      if (l.memory && l.memory_swap) memsw = std::to_string(*l.memory + *l.memory_swap);
      write_memory_limits(d_, l.memory ? std::to_string(*l.memory) : "-1", memsw);
    }
    if (l.pids || reset_unset) {
      write_file(join(d_.pids, "pids.max"), l.pids ? std::to_string(*l.pids) : "max");
    }
    if (l.cpu) {
      write_file(join(d_.cpu, "cpu.cfs_period_us"), std::to_string(kCpuPeriodUsec));
      write_file(join(d_.cpu, "cpu.cfs_quota_us"), std::to_string(cpu_quota_usec(*l.cpu)));
    } else if (reset_unset) {
      write_file(join(d_.cpu, "cpu.cfs_quota_us"), "-1");
    }
    std::string io = io_weight_file(d_);
    if (l.io_weight) {
      write_file(io, std::to_string(*l.io_weight));
    } else if (reset_unset && !io.empty()) {
      write_file(io, io.ends_with("bfq.weight") ? "100" : "500");  // the kernel's defaults
    }
  }

  V1Dirs d_;
  std::vector<std::string> all_;  // the distinct directories, memory's first
  std::string name_;
};

}  // namespace

std::unique_ptr<CgroupNode> make_v1_node(V1Dirs dirs) {
  return std::make_unique<V1Node>(std::move(dirs));
}

}  // namespace smol::sandbox::cgroupfs
