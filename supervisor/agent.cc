#include "supervisor/agent.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <array>
#include <utility>

#include "base/log.h"
#include "base/sys_error.h"
#include "base/units.h"
#include "ipc/rpc_error.h"
#include "sandbox/spawn.h"
#include "supervisor/agent_grants.h"
#include "supervisor/async_spawn.h"
#include "supervisor/swarm_spec.h"

namespace smol::supervisor {

std::string_view state_name(AgentState s) {
  switch (s) {
    case AgentState::starting: return "starting";
    case AgentState::ready: return "ready";
    case AgentState::stopping: return "stopping";
    case AgentState::exited: return "exited";
  }
  return "exited";
}

// How long an agent that hung up on the daemon may take to exit.
constexpr std::chrono::milliseconds kHangUpGrace{2000};

int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The daemon's side of the agent protocol: the bootstrap capability the
// agent finds on fd 3. It reaches its Agent through a target the Agent
// clears as it goes: capnp runs a call that arrived before then even after
// the connection is gone (AgentHost's calls allow no cancellation; e.g. a
// `swarmctl run` command's Agent goes with swarmctl's connection), and such
// a call must find no agent rather than a freed one. A call that arrived
// before its agent's exit still counts (a report sent just before exiting).
class Agent::Host final : public rpc::AgentHost::Server {
 public:
  explicit Host(std::shared_ptr<Agent*> target) : target_(std::move(target)) {}

 protected:
  kj::Promise<void> hello(HelloContext ctx) override {
    Agent& agent = live("hello");
    auto params = ctx.getParams();
    std::string_view role(params.getRole().cStr(), params.getRole().size());
    if (role != agent.plan_.role) {
      throw ipc::rpc_error("hello: agent " + agent.id_ + " was started as role '" +
                           agent.plan_.role + "' but says it is '" + std::string(role) + "'");
    }
    if (agent.said_hello_) {
      throw ipc::rpc_error("hello: agent " + agent.id_ + " already said hello");
    }
    if (agent.state_ != AgentState::starting) {
      throw ipc::rpc_error("hello: agent " + agent.id_ + " is being stopped");
    }
    agent.said_hello(params.getAgent(), ctx.getResults());
    return kj::READY_NOW;
  }

  kj::Promise<void> reply(ReplyContext ctx) override {
    Agent& agent = live("reply");
    auto p = ctx.getParams();
    if (!agent.said_hello_) throw ipc::rpc_error("reply: say hello first");
    try {
      agent.listener_.agent_reply(agent, p.getRequestId(), ipc::payload_of(p.getPayload()),
                                  p.getError());
    } catch (const std::exception& e) {
      throw ipc::rpc_error(std::string("reply: ") + e.what());
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> reportUsage(ReportUsageContext ctx) override {
    Agent& agent = live("reportUsage");
    auto p = ctx.getParams();
    if (!agent.said_hello_) throw ipc::rpc_error("reportUsage: say hello first");
    try {
      agent.listener_.agent_usage(agent, std::string_view(p.getTaskId().cStr()),
                                  std::string_view(p.getModel().cStr()), p.getInputTokens(),
                                  p.getOutputTokens());
    } catch (const std::exception& e) {
      throw ipc::rpc_error(std::string("reportUsage: ") + e.what());
    }
    return kj::READY_NOW;
  }

 private:
  Agent& live(const char* call) {
    if (*target_ == nullptr) {
      throw KJ_EXCEPTION(DISCONNECTED, kj::str(call, ": the agent has been removed"));
    }
    return **target_;
  }

  std::shared_ptr<Agent*> target_;
};

Agent::Agent(Runtime& rt, Listener& listener, AgentPlan plan)
    : rt_(rt),
      listener_(listener),
      plan_(std::move(plan)),
      id_(spec::agent_id(plan_.role, plan_.index)),
      uid_(rt.sandboxes.uids()),
      log_(std::make_shared<AgentLog>(rt.config.log_ring_bytes)),
      host_target_(std::make_shared<Agent*>(this)) {
  if (!plan_.log_path.empty() && rt.config.log_file_bytes > 0) {
    log_file_ = std::make_unique<LogFile>(rt.loop, plan_.log_path, rt.config.log_file_bytes);
  }
}

Agent::~Agent() {
  *host_target_ = nullptr;
  stop_watching_violations();
  if (pidfd_) {
    // The process must not outlive its record: kill and reap it now. SIGKILL
    // cannot be caught, so this wait is short.
    kill_all();
    siginfo_t info;
    retry_eintr([&] { return waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED); });
  }
  release_cgroup();
  if (counted_) rt_.metrics.agent_state_changed(plan_.swarm, state_name(state_), std::nullopt);
  // Followers hold the log; tell them nothing more will come.
  if (!log_->ended()) log_->end("agent removed");
}

void Agent::set_state(AgentState s) {
  std::optional<std::string_view> from;
  if (counted_) from = state_name(state_);
  rt_.metrics.agent_state_changed(plan_.swarm, from, state_name(s));
  counted_ = true;
  state_ = s;
}

void Agent::start() {
  KJ_REQUIRE(state_ == AgentState::exited, "agent started twice", id_);
  std::array<int, 2> sv;
  check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), "socketpair",
            id_);
  UniqueFd daemon_end(sv[0]), agent_end(sv[1]);
  // The daemon's end only: the agent gets a blocking socket, as programs expect.
  check_sys(::fcntl(daemon_end.get(), F_SETFL, O_NONBLOCK), "fcntl(O_NONBLOCK)", id_);
  std::array<int, 2> p;
  check_sys(::pipe2(p.data(), O_CLOEXEC), "pipe2", id_);
  UniqueFd log_read(p[0]), log_write(p[1]);
  kj::Own<ipc::RpcConnection> rpc;
  kj::Own<JsonlBridge> jsonl;
  if (plan_.jsonl) {
    // Room for a max_payload payload written as a JSON string, escapes and all.
    size_t max_line = 2 * size_t{rt_.messaging.max_payload} + 64 * 1024;
    jsonl = kj::heap<JsonlBridge>(rt_.loop, std::move(daemon_end), kj::heap<Host>(host_target_),
                                  plan_.role, max_line,
                                  [this](std::string why) { protocol_error(why); });
  } else {
    rpc = kj::heap<ipc::RpcConnection>(rt_.loop, std::move(daemon_end), kj::heap<Host>(host_target_));
  }

  // Nothing above changed the agent; from here on it is starting.
  rpc_ = kj::mv(rpc);
  jsonl_ = kj::mv(jsonl);
  watch_connection();
  pending_log_read_ = std::move(log_read);
  spawned_at_ = std::chrono::steady_clock::now();
  started_unix_ms_ = unix_now_ms();
  intent_ = Intent::none;
  killed_for_.clear();
  said_hello_ = false;
  was_ready_ = false;
  last_exit_ = {};
  log_->reopen();
  auto exited = kj::newPromiseAndFulfiller<void>();
  exited_ = exited.promise.fork();
  exit_fulfiller_ = kj::mv(exited.fulfiller);
  set_state(AgentState::starting);

  KJ_REQUIRE(plan_.sandbox != nullptr, "agent without a sandbox policy", id_);
  oom_kills_ = 0;
  reported_ = {};
  paused_ = false;
  usage_.reset();
  sampled_cpu_usec_ = 0;
  sandbox::SpawnRequest req{plan_.exe, plan_.argv, plan_.env, agent_end.get(), log_write.get(),
                            rt_.sandboxes.confine(*plan_.sandbox, uid_.uid(), plan_.swarm, id_,
                                                  plan_.own_work_dir)};
  std::shared_ptr<RunCgroup> made;
  PrepareSpawn prepare = prepare_cgroup(made);
  std::vector<UniqueFd> keep_open;
  keep_open.push_back(std::move(agent_end));
  keep_open.push_back(std::move(log_write));
  spawning_ = spawn_async(rt_.loop, std::move(req), std::move(keep_open), std::move(prepare))
                  .then(
                      [this, made](sandbox::Child child) {
                        if (made) adopt_cgroup(*made);
                        on_spawned(std::move(child));
                      },
                      [this, made](kj::Exception&& e) {
                        if (made) adopt_cgroup(*made);
                        on_spawn_failed(e.getDescription().cStr());
                      })
                  .eagerlyEvaluate(nullptr);
  if (!plan_.needs_hello) return;
  timer_ = rt_.loop.timer()
               .afterDelay(plan_.ready_timeout.count() * kj::MILLISECONDS)
               .then([this] { on_start_timeout(); })
               .eagerlyEvaluate(nullptr);
}

void Agent::on_spawned(sandbox::Child child) {
  pid_ = child.pid;
  pidfd_ = std::move(child.pidfd);
  rt_.metrics.observe_sandbox_setup(std::chrono::duration<double>(child.setup_time).count());
  listener_.agent_event(*this, "started: pid " + std::to_string(pid_));
  log::debug("agent " + id_ + " of swarm " + plan_.swarm + ": pid " + std::to_string(pid_) +
             ", uid " + std::to_string(uid_.uid()) + ", " + child.landlock);
  if (!child.landlocked) {
    // Said once: every best-effort agent after this one runs the same way.
    static bool warned = false;
    if (!std::exchange(warned, true)) {
      log::warning("agents with landlock = \"best-effort\" run without Landlock: " +
                   child.landlock);
    }
  }
  if (plan_.sandbox->max_runtime.count() > 0) {
    runtime_limit_ = rt_.loop.timer()
                         .afterDelay(plan_.sandbox->max_runtime.count() * kj::MILLISECONDS)
                         .then([this] {
                           intent_ = Intent::runtime_exceeded;
                           kill_all();
                         })
                         .eagerlyEvaluate(nullptr);
  }
  try {
    watch_exit();
    watch_violations(std::move(child.seccomp_listener));
    watch_log(std::move(pending_log_read_));
  } catch (const std::exception& e) {
    log::error("agent " + id_ + ": cannot watch the new process: " + e.what() + "; killing it");
    intent_ = Intent::stop_requested;
  }
  // Stopped or timed out while it was being spawned: it never gets to run.
  if (intent_ != Intent::none) {
    kill_all();
    return;
  }
  if (!plan_.needs_hello) said_hello_ = true;
  if (said_hello_) become_ready();
}

void Agent::on_spawn_failed(std::string why) {
  rpc_ = nullptr;
  pending_log_read_.reset();
  release_cgroup();
  finish_exit({ExitReason::spawn_failed, 0, 0, "cannot start " + plan_.exe + ": " + why,
               unix_now_ms(), {}});
}

void Agent::watch_exit() {
  exit_watch_ = ipc::UvHandle<uv_poll_t>(rt_.loop);
  exit_watch_->data = this;
  if (int rc = uv_poll_init(rt_.loop.uv(), exit_watch_.get(), pidfd_.get()); rc != 0) {
    throw SysError(-rc, "uv_poll_init", "pidfd of " + id_);
  }
  exit_watch_.mark_initialized();
  uv_poll_start(exit_watch_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<Agent*>(h->data);
    try {
      self->on_exit();
    } catch (const std::exception& e) {
      log::error("agent " + self->id_ + ": handling exit failed: " + e.what());
    } catch (const kj::Exception& e) {
      log::error("agent " + self->id_ + ": handling exit failed: " + e.getDescription().cStr());
    }
  });
  rt_.loop.wake();
}

void Agent::watch_log(UniqueFd read_end) {
  log_pipe_ = ipc::UvHandle<uv_pipe_t>(rt_.loop);
  log_pipe_->data = this;
  uv_pipe_init(rt_.loop.uv(), log_pipe_.get(), 0);
  log_pipe_.mark_initialized();
  if (int rc = uv_pipe_open(log_pipe_.get(), read_end.get()); rc != 0) {
    throw SysError(-rc, "uv_pipe_open", "log pipe of " + id_);
  }
  read_end.release();  // the uv handle closes it now
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(log_pipe_.get()),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        // One loop thread, and every read is consumed before the next: one
        // buffer serves all agents.
        static char shared[64 * 1024];
        *buf = uv_buf_init(shared, sizeof shared);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<Agent*>(s->data);
        if (n > 0) {
          try {
            self->record_output(std::string_view(buf->base, static_cast<size_t>(n)));
          } catch (const std::exception& e) {
            log::error("agent " + self->id_ + ": output dropped: " + e.what());
          }
        } else if (n < 0) {
          uv_read_stop(s);  // EOF or error: whoever wrote has gone
        }
      });
  rt_.loop.wake();
}

void Agent::drain_log() {
  if (!log_pipe_) return;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(log_pipe_.get()), &fd) != 0) return;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n <= 0) break;  // EOF, or EAGAIN: a descendant still holds the pipe
    record_output(std::string_view(buf, static_cast<size_t>(n)));
  }
}

void Agent::record_output(std::string_view data) {
  log_->append(data);
  if (log_file_) log_file_->append(data);
}

void Agent::said_hello(rpc::Agent::Client self, rpc::AgentHost::HelloResults::Builder results) {
  client_ = kj::mv(self);
  auto identity = results.initIdentity();
  said_hello_ = true;
  timer_ = nullptr;
  auto elapsed = std::chrono::steady_clock::now() - spawned_at_;
  rt_.metrics.observe_spawn(std::chrono::duration<double>(elapsed).count());
  identity.setAgentId(id_);
  identity.setSwarm(plan_.swarm);
  identity.setRole(plan_.role);
  identity.setIndex(plan_.index);
  listener_.describe_peers(identity);
  listener_.grant(*this, results.initGrants());
  // The hello can overtake the spawn's own report (it comes back from the
  // thread pool); the agent is ready once both are in, so that a ready
  // agent always has its pid.
  if (pidfd_) become_ready();
}

void Agent::become_ready() {
  was_ready_ = true;
  set_state(AgentState::ready);
  listener_.agent_ready(*this);
}

void Agent::on_exit() {
  siginfo_t info{};
  if (waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG) != 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    throw SysError(errno, "waitid", "pidfd of " + id_);
  }
  if (info.si_pid == 0) return;  // not exited after all
  WaitStatus ws{info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED, info.si_status,
                info.si_code == CLD_DUMPED};
  drain_log();
  exit_watch_.reset();
  stop_watching_violations();
  runtime_limit_ = nullptr;
  log_pipe_.reset();
  connection_watch_ = nullptr;
  hang_up_grace_ = nullptr;
  rpc_ = nullptr;
  jsonl_ = nullptr;
  client_ = nullptr;
  pidfd_.reset();
  pid_ = -1;
  on_oom();  // the kill may be counted before its notification came in
  std::string limit = oom_kills_ > 0 ? oom_limit() : std::string();
  release_cgroup();
  finish_exit(classify_exit(ws, intent_, unix_now_ms(), killed_for_, limit));
}

// What a spawning thread made for one run, handed over with the child. If
// nobody adopts it (the agent was destroyed while it spawned, and the child
// has been killed and reaped), the cgroup is removed with it.
struct Agent::RunCgroup {
  std::unique_ptr<sandbox::CgroupNode> node;
  std::optional<sandbox::OomWatch> oom;

  ~RunCgroup() {
    if (!node) return;
    try {
      node->remove();
    } catch (const std::exception& e) {
      log::warning("cannot remove the cgroup of an abandoned spawn: " + std::string(e.what()));
    }
  }
};

PrepareSpawn Agent::prepare_cgroup(std::shared_ptr<RunCgroup>& made) {
  if (plan_.cgroup_pool == nullptr) return {};
  rt_.cgroups.reclaim(*plan_.cgroup_pool, id_);
  made = std::make_shared<RunCgroup>();
  // Joining costs on v1 (cgroup.h): cpu and io only where a limit applies.
  bool cpu_or_io = plan_.limits.cpu || plan_.limits.io_weight || plan_.pool_cpu_or_io;
  return [made, pool = plan_.cgroup_pool, id = id_, limits = plan_.limits,
          cpu_or_io](sandbox::SpawnRequest& req) {
    made->node = Cgroups::make_agent(*pool, id, limits);
    // Watched from before the clone: an OOM during the child's setup counts.
    made->oom.emplace(made->node->oom_watch());
    req.cgroup = made->node->placement(cpu_or_io);
  };
}

void Agent::adopt_cgroup(RunCgroup& made) {
  if (!made.node) return;
  cgroup_ = std::move(made.node);
  oom_ = std::move(made.oom);
  sampled_at_ = std::chrono::steady_clock::now();
  try {
    watch_oom();
  } catch (const std::exception& e) {
    log::error("agent " + id_ + ": cannot watch its OOM events: " + e.what());
  }
}

void Agent::watch_oom() {
  if (!oom_) return;
  oom_watch_ = ipc::UvHandle<uv_poll_t>(rt_.loop);
  oom_watch_->data = this;
  if (int rc = uv_poll_init(rt_.loop.uv(), oom_watch_.get(), oom_->fd()); rc != 0) {
    throw SysError(-rc, "uv_poll_init", "OOM watch of " + id_);
  }
  oom_watch_.mark_initialized();
  uv_poll_start(oom_watch_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<Agent*>(h->data);
    try {
      self->on_oom();
    } catch (const std::exception& e) {
      log::error("agent " + self->id_ + ": reading its OOM events failed: " + e.what());
      self->oom_watch_.reset();
    }
  });
  rt_.loop.wake();
}

void Agent::on_oom() {
  if (!oom_) return;
  uint64_t kills = oom_->drain();
  if (kills == 0) return;
  oom_kills_ += kills;
  rt_.metrics.oom_kills(plan_.swarm, kills);
  listener_.agent_event(*this, "OOM killer: " + std::to_string(kills) + " process(es) at " +
                                   oom_limit());
  log::warning("agent " + id_ + " of swarm " + plan_.swarm + ": the OOM killer killed " +
               std::to_string(kills) + " process(es) at " + oom_limit());
}

std::string Agent::oom_limit() const {
  if (plan_.limits.memory && (!plan_.pool_memory || *plan_.limits.memory <= *plan_.pool_memory)) {
    return "its memory limit of " + format_bytes(*plan_.limits.memory);
  }
  if (plan_.pool_memory) return "its swarm's memory limit of " + format_bytes(*plan_.pool_memory);
  return "the machine's memory limit";
}

// The run's last counters go to the metrics before its cgroup (which holds
// them) is removed.
void Agent::release_cgroup() {
  oom_watch_.reset();
  oom_.reset();
  if (!cgroup_) return;
  try {
    report_counters();
  } catch (const std::exception& e) {
    log::warning("agent " + id_ + ": cannot read its cgroup's counters: " + e.what());
  }
  usage_.reset();
  paused_ = false;
  rt_.metrics.agent_usage_gone(plan_.swarm, id_);
  rt_.cgroups.retire(std::move(cgroup_));
}

void Agent::report_counters() {
  sandbox::CgroupCounters now = cgroup_->counters();
  // OOM kills are reported from the watch as they happen.
  rt_.metrics.limit_events(plan_.swarm, now.pids_limit_hits - reported_.pids_limit_hits,
                           static_cast<double>(now.throttled_usec - reported_.throttled_usec) / 1e6);
  reported_ = now;
}

std::optional<AgentUsage> Agent::sample() {
  if (!cgroup_) return std::nullopt;
  sandbox::CgroupUsage u = cgroup_->usage();
  report_counters();
  auto now = std::chrono::steady_clock::now();
  double wall = std::chrono::duration<double>(now - sampled_at_).count();
  AgentUsage a;
  a.memory_bytes = u.memory_bytes;
  a.pids = u.pids;
  a.cpu_seconds = static_cast<double>(u.cpu_usec) / 1e6;
  uint64_t cpu_delta = u.cpu_usec >= sampled_cpu_usec_ ? u.cpu_usec - sampled_cpu_usec_ : 0;
  a.cpu_percent = wall > 0 ? 100.0 * (static_cast<double>(cpu_delta) / 1e6) / wall : 0;
  rt_.metrics.agent_usage(plan_.swarm, id_, a.memory_bytes, a.pids,
                          static_cast<double>(cpu_delta) / 1e6);
  sampled_cpu_usec_ = u.cpu_usec;
  sampled_at_ = now;
  usage_ = a;
  return usage_;
}

void Agent::pause(bool paused) {
  if (state_ == AgentState::exited || !pidfd_) {
    throw std::runtime_error("agent " + id_ + " is not running");
  }
  if (state_ == AgentState::stopping && paused) {
    throw std::runtime_error("agent " + id_ + " is being stopped");
  }
  if (!cgroup_) {
    throw std::runtime_error("agent " + id_ + " has no cgroup to freeze (" +
                             rt_.cgroups.unavailable_reason() + ")");
  }
  cgroup_->freeze(paused);
  if (paused_ != paused) {
    log::info("agent " + id_ + " of swarm " + plan_.swarm + (paused ? ": paused" : ": resumed"));
    listener_.agent_event(*this, paused ? "paused" : "resumed");
  }
  paused_ = paused;
}

// Every process of the agent, not only the one the daemon started: with a
// cgroup, nothing it forked, daemonised or not, can outlive it.
bool Agent::kill_all() {
  if (!pidfd_) return true;
  if (!cgroup_) return send_signal(SIGKILL);
  try {
    cgroup_->kill_all();
    return true;
  } catch (const std::exception& e) {
    log::error("agent " + id_ + ": killing its cgroup failed: " + e.what());
    return send_signal(SIGKILL);
  }
}

void Agent::finish_exit(ExitInfo info) {
  last_exit_ = std::move(info);
  timer_ = nullptr;
  bool was_ready = was_ready_;
  set_state(AgentState::exited);
  rt_.metrics.agent_exited(plan_.swarm, reason_name(last_exit_.reason));
  if (log_file_) log_file_->close();  // a stopped agent holds no fd; a restart reopens it
  exit_fulfiller_->fulfill();
  listener_.agent_exited(*this, was_ready);
}

void Agent::on_start_timeout() {
  intent_ = Intent::start_timed_out;
  kill_all();
}

bool Agent::send_signal(int sig) {
  if (!pidfd_) return true;
  try {
    sandbox::signal_child(pidfd_.get(), sig);
    return true;
  } catch (const SysError& e) {
    log::error("agent " + id_ + ": " + e.what());
    return false;
  }
}

void Agent::terminate() {
  if (!pidfd_) return;
  try {
    sandbox::terminate_child(pidfd_.get(), pid_);
  } catch (const SysError& e) {
    log::error("agent " + id_ + ": " + e.what());
  }
}

void Agent::watch_violations(UniqueFd listener) {
  seccomp_.emplace(std::move(listener));
  violation_watch_ = ipc::UvHandle<uv_poll_t>(rt_.loop);
  violation_watch_->data = this;
  if (int rc = uv_poll_init(rt_.loop.uv(), violation_watch_.get(), seccomp_->fd()); rc != 0) {
    throw SysError(-rc, "uv_poll_init", "seccomp listener of " + id_);
  }
  violation_watch_.mark_initialized();
  uv_poll_start(violation_watch_.get(), UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<Agent*>(h->data);
    try {
      self->on_violations();
    } catch (const std::exception& e) {
      log::error("agent " + self->id_ + ": reading its seccomp listener failed: " + e.what() +
                 "; killing it");
      self->stop_watching_violations();
      self->kill_all();
    }
  });
  rt_.loop.wake();
}

// The kernel parked a thread of the agent on a forbidden syscall. Every
// pending notification is read: several threads may have tripped at once.
void Agent::on_violations() {
  const sandbox::ViolationAction action = plan_.sandbox->seccomp.action;
  const std::string_view action_name = sandbox::violation_action_name(action);
  while (auto v = seccomp_->receive()) {
    rt_.metrics.seccomp_violation(plan_.swarm, v->syscall, action_name);
    listener_.agent_event(*this, "seccomp violation: " + v->syscall +
                                     (action == sandbox::ViolationAction::eperm ? " (EPERM)"
                                                                               : " (killed)"));
    if (action == sandbox::ViolationAction::eperm) {
      log::notice("agent " + id_ + " of swarm " + plan_.swarm + ": seccomp violation: " +
                  v->syscall + " (failed with EPERM)");
      seccomp_->respond_errno(v->id, EPERM);
      continue;
    }
    log::warning("agent " + id_ + " of swarm " + plan_.swarm + ": seccomp violation: " +
                 v->syscall + "; killing it");
    if (killed_for_.empty()) killed_for_ = v->syscall;
    intent_ = Intent::seccomp_killed;
    // A thread parked on its syscall waits for an answer or its death:
    // without the kill (e.g. swarmd lacks CAP_KILL), it must get an answer.
    if (!kill_all()) seccomp_->respond_errno(v->id, EPERM);
  }
  // Nobody is left using the filter: stop watching, or the loop spins on
  // POLLHUP.
  if (seccomp_->all_targets_exited()) stop_watching_violations();
}

void Agent::stop_watching_violations() {
  violation_watch_.reset();
  seccomp_.reset();
}

kj::Promise<void> Agent::stop(std::chrono::milliseconds grace) {
  if (state_ == AgentState::exited) return kj::READY_NOW;
  intent_ = Intent::stop_requested;
  if (paused_) {
    // A frozen agent could neither answer shutdown nor handle SIGTERM.
    try {
      pause(false);
    } catch (const std::exception& e) {
      log::warning("agent " + id_ + ": cannot resume it to stop it: " + e.what());
    }
  }
  if (state_ != AgentState::stopping) set_state(AgentState::stopping);
  auto after_grace = [this, grace] {
    return rt_.loop.timer().afterDelay(grace.count() * kj::MILLISECONDS);
  };
  kj::Promise<void> escalate = nullptr;
  KJ_IF_MAYBE(c, client_) {
    auto req = c->shutdownRequest();
    req.setDeadlineMillis(static_cast<uint32_t>(grace.count()));
    // The agent may hang up instead of answering: its exit is what counts.
    auto asked = req.send().ignoreResult().catch_([](kj::Exception&&) {});
    escalate = asked.then([]() -> kj::Promise<void> { return kj::NEVER_DONE; })
                   .exclusiveJoin(after_grace())
                   .then([this] { terminate(); });
  } else {
    terminate();
    escalate = kj::READY_NOW;
  }
  // kj::cp: then() keeps a reference to an lvalue callback, and after_grace
  // dies with this frame.
  timer_ = escalate.then(kj::cp(after_grace))
               .then([this] { kill_all(); })
               .eagerlyEvaluate(nullptr);
  // Done means done: whoever stopped the agent can read its whole log file.
  return when_exited().then([this]() -> kj::Promise<void> {
    return log_file_ ? log_file_->flushed() : kj::READY_NOW;
  });
}

void Agent::kill() {
  if (state_ == AgentState::exited) return;
  intent_ = Intent::stop_requested;
  kill_all();
}

void Agent::protocol_error(std::string why) {
  if (state_ != AgentState::starting && state_ != AgentState::ready) return;
  if (intent_ != Intent::none) return;
  log::warning("agent " + id_ + " of swarm " + plan_.swarm + ": protocol error: " + why +
               "; killing it");
  listener_.agent_event(*this, "protocol error: " + why);
  rt_.metrics.messages_refused(plan_.swarm, "protocol_error", 1);
  killed_for_ = std::move(why);
  intent_ = Intent::protocol_violated;
  kill_all();
}

kj::Maybe<rpc::Agent::Client&> Agent::client() noexcept {
  if (state_ != AgentState::ready) return nullptr;
  return client_;
}

// An agent's connection ends for good only when its process does. If it
// ends first, either the daemon refused what the agent sent (a malformed
// or oversized message: the RPC system aborted the connection) or the
// agent closed it; both break the protocol. A process that is exiting
// anyway closes it a moment before its exit is seen, hence the grace.
void Agent::watch_connection() {
  if (!plan_.needs_hello) return;
  if (jsonl_) {
    // The bridge reports what it cannot accept itself; here it only hangs up.
    connection_watch_ = jsonl_->on_disconnect()
                            .then([this] { on_hang_up(KJ_EXCEPTION(DISCONNECTED, "Peer disconnected.")); },
                                  [this](kj::Exception&& e) { on_hang_up(kj::mv(e)); })
                            .eagerlyEvaluate(nullptr);
    return;
  }
  connection_watch_ = rpc_->on_disconnect()
                          .then([this] {
                            kj::Maybe<kj::Exception> reason;
                            if (rpc_) reason = rpc_->end_reason();  // gone if the spawn failed
                            KJ_IF_MAYBE (e, reason) {
                              on_hang_up(kj::mv(*e));
                            } else {
                              on_hang_up(KJ_EXCEPTION(DISCONNECTED, "Peer disconnected."));
                            }
                          })
                          .eagerlyEvaluate(nullptr);
}

void Agent::on_hang_up(kj::Exception reason) {
  if (state_ != AgentState::starting && state_ != AgentState::ready) return;
  std::string why = reason.getDescription().cStr();
  // The connection ending from the agent's side (EOF; a reset or broken pipe
  // when it died with data unread) is a hang-up; anything else is the RPC
  // system refusing what the agent sent.
  bool hung_up = false;
  for (const char* end : {"Peer disconnected", "Connection reset by peer", "Broken pipe"}) {
    hung_up |= why.find(end) != std::string::npos;
  }
  if (!hung_up) {
    protocol_error("sent what swarmd cannot accept: " + why);
    return;
  }
  hang_up_grace_ = rt_.loop.timer()
                       .afterDelay(kHangUpGrace.count() * kj::MILLISECONDS)
                       .then([this] {
                         protocol_error("closed its connection to swarmd but kept running");
                       })
                       .eagerlyEvaluate(nullptr);
}

kj::Promise<void> Agent::when_exited() {
  if (state_ == AgentState::exited) return kj::READY_NOW;
  KJ_IF_MAYBE(e, exited_) { return e->addBranch(); }
  return kj::READY_NOW;
}

}  // namespace smol::supervisor
