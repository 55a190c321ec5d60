#include "supervisor/command_run.h"

#include <ftw.h>
#include <stdio.h>

#include <stdexcept>

#include "base/log.h"
#include "base/sys_error.h"
#include "ipc/thread_pool.h"
#include "supervisor/command_resolver.h"
#include "supervisor/sandbox_profiles.h"
#include "supervisor/swarm_spec.h"

namespace smol::supervisor {
namespace {

// The pseudo swarm runs belong to: a name no swarm spec can have.
constexpr const char* kRunSwarm = "(run)";

uint64_t next_run_number() {
  static uint64_t n = 0;
  return n++;
}

// Removes a finished run's work directory on libuv's thread pool: it holds
// whatever the command wrote, and removing that may take a while. Symlinks
// are removed, never followed (FTW_PHYS); nothing of the run is alive any
// more to race with.
void remove_tree_async(ipc::EventLoop& loop, std::string path) {
  ipc::on_thread_pool(loop, [path] {
    auto remove_one = [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); };
    if (::nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
      throw SysError(errno, "nftw", path);
    }
  }).detach([path](kj::Exception&& e) {
    log::warning("cannot remove the work directory " + path + " of a finished run: " +
                 e.getDescription().cStr());
  });
}

AgentPlan run_plan(Runtime& rt, RunRequest& req) {
  if (req.argv.empty()) throw std::invalid_argument("run: no command given");
  AgentPlan plan;
  plan.swarm = kRunSwarm;
  plan.role = "run";
  plan.index = static_cast<uint32_t>(next_run_number());
  plan.exe = resolve_command(req.argv.front(), req.base_dir, search_dirs(kDefaultAgentPath));
  plan.argv = std::move(req.argv);
  plan.env = {"PATH=" + std::string(kDefaultAgentPath), "HOME=/home/agent", "LANG=C.UTF-8"};
  plan.sandbox = std::make_shared<const sandbox::SandboxPolicy>(
      spec::builtin_profile(req.profile.empty() ? spec::kDefaultProfile : req.profile));
  plan.needs_hello = false;
  plan.own_work_dir = std::move(req.workdir);
  plan.cgroup_pool = rt.cgroups.run_pool();
  rt.sandboxes.program(plan.sandbox->seccomp);
  return plan;
}

}  // namespace

CommandRun::CommandRun(Runtime& rt, RunRequest request) : rt_(rt) {
  AgentPlan plan = run_plan(rt, request);
  if (plan.own_work_dir.empty()) {
    fresh_work_dir_ = rt.sandboxes.work_dir(plan.swarm, spec::agent_id(plan.role, plan.index));
  }
  agent_ = std::make_unique<Agent>(rt, *this, std::move(plan));
  agent_->start();
}

CommandRun::~CommandRun() {
  agent_.reset();  // kills and reaps it if it still runs
  if (!fresh_work_dir_.empty()) remove_tree_async(rt_.loop, fresh_work_dir_);
}

void CommandRun::agent_exited(Agent& a, bool) { a.log().end(a.last_exit().detail); }

}  // namespace smol::supervisor
