#include "supervisor/control_service.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include <capnp/schema.h>

#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"
#include "supervisor/command_run.h"
#include "supervisor/log_archive.h"
#include "supervisor/log_files.h"
#include "supervisor/memory_rpc.h"
#include "base/units.h"

namespace smol::supervisor {
namespace {

constexpr size_t kLogChunk = 16 * 1024;
// What a swarm this daemon has not run says of its agents and its events.
constexpr const char* kNotRun = "not run since swarmd started";
constexpr uint32_t kDefaultVibeDeadlineMs = 2000;

rpc::SwarmState to_rpc(SwarmState s) {
  switch (s) {
    case SwarmState::starting: return rpc::SwarmState::STARTING;
    case SwarmState::ready: return rpc::SwarmState::READY;
    case SwarmState::stopping: return rpc::SwarmState::STOPPING;
    case SwarmState::stopped: return rpc::SwarmState::STOPPED;
    case SwarmState::failed: return rpc::SwarmState::FAILED;
  }
  return rpc::SwarmState::STOPPED;
}

rpc::AgentState to_rpc(AgentState s) {
  switch (s) {
    case AgentState::starting: return rpc::AgentState::STARTING;
    case AgentState::ready: return rpc::AgentState::READY;
    case AgentState::stopping: return rpc::AgentState::STOPPING;
    case AgentState::exited: return rpc::AgentState::EXITED;
  }
  return rpc::AgentState::EXITED;
}

rpc::ExitReason to_rpc(ExitReason r) {
  switch (r) {
    case ExitReason::none: return rpc::ExitReason::NONE;
    case ExitReason::exited: return rpc::ExitReason::EXITED;
    case ExitReason::crashed: return rpc::ExitReason::CRASHED;
    case ExitReason::start_timeout: return rpc::ExitReason::START_TIMEOUT;
    case ExitReason::stopped: return rpc::ExitReason::STOPPED;
    case ExitReason::spawn_failed: return rpc::ExitReason::SPAWN_FAILED;
    case ExitReason::seccomp: return rpc::ExitReason::SECCOMP;
    case ExitReason::timeout: return rpc::ExitReason::TIMEOUT;
    case ExitReason::oom: return rpc::ExitReason::OOM;
    case ExitReason::protocol_error: return rpc::ExitReason::PROTOCOL_ERROR;
  }
  return rpc::ExitReason::NONE;
}

void fill(rpc::SwarmInfo::Builder b, const SwarmSummary& s) {
  b.setName(s.name);
  b.setState(to_rpc(s.state));
  b.setAgentsReady(s.agents_ready);
  b.setAgentsTotal(s.agents_total);
  b.setCreatedUnixMillis(s.created_unix_ms);
  b.setSourceName(s.source_name);
  b.setLastError(s.last_error);
}

void fill(rpc::ExitInfo::Builder e, const ExitInfo& x) {
  e.setReason(to_rpc(x.reason));
  e.setCode(x.code);
  e.setSignal(x.signal);
  e.setDetail(x.detail);
  e.setAtUnixMillis(x.at_unix_ms);
  e.setSyscall(x.syscall);
}

void fill(rpc::AgentInfo::Builder b, const Agent& a) {
  b.setId(a.id());
  b.setRole(a.plan().role);
  b.setPid(a.pid() > 0 ? a.pid() : 0);
  b.setState(a.paused() ? rpc::AgentState::PAUSED : to_rpc(a.state()));
  b.setStartedUnixMillis(a.started_unix_ms());
  b.setRestarts(a.restarts());
  fill(b.initLastExit(), a.last_exit());
  if (const auto& u = a.last_usage()) {
    b.setHasUsage(true);
    b.setMemoryBytes(u->memory_bytes);
    b.setCpuPercent(u->cpu_percent);
    b.setCpuSeconds(u->cpu_seconds);
    b.setPids(u->pids);
  }
  b.setMemoryLimit(a.plan().limits.memory.value_or(0));
}

// Every agent of the swarm in spec order, with its last sampled usage.
void fill_agents(capnp::List<rpc::AgentInfo>::Builder out, Swarm* s) {
  if (s == nullptr) return;
  std::vector<const Agent*> agents = s->agents();
  for (size_t i = 0; i < agents.size(); ++i) fill(out[static_cast<unsigned>(i)], *agents[i]);
}

unsigned agent_count(Swarm* s) { return s ? s->size() : 0; }

// The agents of a swarm this daemon has not run, as its spec names them:
// an earlier daemon ran them, and what became of them went with it.
void fill_not_run(capnp::List<rpc::AgentInfo>::Builder out,
                  const std::vector<std::pair<std::string, std::string>>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    auto b = out[static_cast<unsigned>(i)];
    b.setId(names[i].first);
    b.setRole(names[i].second);
    b.setState(rpc::AgentState::EXITED);
    auto e = b.initLastExit();
    e.setReason(rpc::ExitReason::STOPPED);
    e.setDetail(kNotRun);
  }
}


// As an rpc_error, which keeps its words in a continuation too.
SwarmSummary must_exist(SwarmFactory& f, const std::string& name) {
  try {
    return f.known(name);
  } catch (const std::runtime_error& e) {
    throw ipc::rpc_error(e.what());
  }
}

// The running swarm a call is about.
Swarm& running_swarm(SwarmFactory& factory, const std::string& name) {
  try {
    return factory.running(name);
  } catch (const std::runtime_error& e) {
    throw ipc::rpc_error(e.what());
  }
}

// The operator's messages meet the bounds agents' messages do.
void must_fit(const MessagingLimits& limits, size_t payload, size_t topic, size_t to = 0) {
  std::string part = oversized_part(limits, payload, topic, to);
  if (!part.empty()) throw ipc::rpc_error(part);
}

// Pushes the log to the sink from `offset` on, as fast as the sink's flow
// control allows, until the agent is gone; then says why.
kj::Promise<void> follow_log(std::shared_ptr<AgentLog> log, rpc::LogSink::Client sink,
                             uint64_t offset) {
  AgentLog::Chunk chunk = log->read(offset, kLogChunk);
  if (!chunk.data.empty()) {
    uint64_t next = chunk.offset + chunk.data.size();
    if (chunk.offset > offset) {
      chunk.data = "[... " + std::to_string(chunk.offset - offset) +
                   " bytes no longer kept ...]\n" + chunk.data;
    }
    auto req = sink.writeRequest();
    req.setData(ipc::data_of(chunk.data));
    return req.send().then([log, sink, next]() mutable {
      return follow_log(kj::mv(log), kj::mv(sink), next);
    });
  }
  if (log->ended()) {
    auto req = sink.endRequest();
    req.setReason(log->end_reason());
    return req.send().ignoreResult();
  }
  auto changed = log->changed();
  return changed.then([log, sink, offset]() mutable {
    return follow_log(kj::mv(log), kj::mv(sink), offset);
  });
}

// agentLogs and swarmEvents: the last tailBytes of a log (0: all kept), or,
// with follow, everything from there on pushed to the sink until it ends.
template <typename Context>
kj::Promise<void> serve_log(Context& ctx, std::shared_ptr<AgentLog> log) {
  auto p = ctx.getParams();
  uint64_t tail = p.getTailBytes();
  uint64_t from = tail == 0 || tail > log->total() ? 0 : log->total() - tail;
  if (!p.getFollow()) {
    std::string data = log->read(from, log->total()).data;
    ctx.getResults().setData(ipc::data_of(data));
    return kj::READY_NOW;
  }
  return follow_log(log, p.getSink(), from);
}

// agentLogs and swarmEvents of a swarm this daemon has not run: the log
// file an earlier daemon left, served as a log that has ended. If the swarm
// started while the file was read, live() has its log, which is served
// instead. missing: the error when there is neither.
template <typename Context>
kj::Promise<void> serve_log_file(Context ctx, LogArchive& archive, std::string path,
                                 std::function<std::shared_ptr<AgentLog>()> live,
                                 std::string missing) {
  return archive.read(std::move(path), ctx.getParams().getTailBytes())
      .then([ctx, live = std::move(live), missing](
                std::optional<std::string> data) mutable -> kj::Promise<void> {
        if (std::shared_ptr<AgentLog> log = live()) return serve_log(ctx, log);
        if (!data) throw ipc::rpc_error(missing);
        if (!ctx.getParams().getFollow()) {
          ctx.getResults().setData(ipc::data_of(*data));
          return kj::READY_NOW;
        }
        auto log = std::make_shared<AgentLog>(std::max<size_t>(data->size(), 1));
        log->append(*data);
        log->end(kNotRun);
        return follow_log(log, ctx.getParams().getSink(), 0);
      });
}

namespace mem = storage::memory;
using memory_rpc::fill;
using memory_rpc::from_rpc;

// The entry a memGet, memDelete or memConsolidate call names.
template <typename Params>
mem::EntryRef entry_ref(Params p) {
  return {ipc::text_of(p.getSwarm()), from_rpc(p.getTier()), ipc::text_of(p.getAgent()), ipc::text_of(p.getKey())};
}

}  // namespace

ControlService::ControlService(Runtime& rt, SwarmFactory& factory, MemoryService& memory,
                               LogArchive& logs, const DaemonInfo& info)
    : rt_(rt), factory_(factory), memory_(memory), logs_(logs), info_(info), tasks_(rt, factory) {}

template <typename Body>
kj::Promise<void> ControlService::counted(const char* method, Body&& body) {
  kj::Promise<void> p = nullptr;
  try {
    p = body();
  } catch (const kj::Exception& e) {
    p = kj::cp(e);
  } catch (const std::exception& e) {
    p = ipc::rpc_error(e.what());
  }
  return p.then([this, method] { rt_.metrics.control_request(method, "ok"); },
                [this, method](kj::Exception&& e) {
                  rt_.metrics.control_request(method, "error");
                  kj::throwFatalException(kj::mv(e));
                });
}

kj::Promise<void> ControlService::spawnSwarm(SpawnSwarmContext ctx) {
  return counted("spawnSwarm", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    SwarmFactory::Started started =
        factory_.spawn(ipc::text_of(p.getSpecToml()), ipc::text_of(p.getSourceName()), ipc::text_of(p.getBaseDir()));
    return started.ready.then([this, ctx, name = started.name](double ms) mutable {
      auto r = ctx.getResults();
      fill(r.initSwarm(), must_exist(factory_, name));
      r.setReadyMillis(ms);
    });
  });
}

kj::Promise<void> ControlService::listSwarms(ListSwarmsContext ctx) {
  return counted("listSwarms", [&]() -> kj::Promise<void> {
    std::vector<SwarmSummary> all = factory_.list();
    auto out = ctx.getResults().initSwarms(static_cast<unsigned>(all.size()));
    for (size_t i = 0; i < all.size(); ++i) fill(out[i], all[i]);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::listAgents(ListAgentsContext ctx) {
  return counted("listAgents", [&]() -> kj::Promise<void> {
    std::string name = ipc::text_of(ctx.getParams().getSwarm());
    must_exist(factory_, name);
    // Usage sampled just now, a chunk of agents a loop turn; the swarm is
    // looked up again after, as it may have stopped or been replaced.
    return factory_.sample({name}).then([this, ctx, name]() mutable {
      if (Swarm* s = factory_.find(name)) {
        fill_agents(ctx.getResults().initAgents(agent_count(s)), s);
      } else {
        auto names = factory_.agent_names(name);
        fill_not_run(ctx.getResults().initAgents(static_cast<unsigned>(names.size())), names);
      }
    });
  });
}

kj::Promise<void> ControlService::pauseAgents(PauseAgentsContext ctx) {
  return counted("pauseAgents", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string name = ipc::text_of(p.getSwarm());
    std::string agent_id = ipc::text_of(p.getAgent());
    must_exist(factory_, name);
    Swarm* s = factory_.find(name);
    if (s == nullptr || !s->running()) {
      throw ipc::rpc_error("swarm '" + name + "' is not running (see 'swarmctl ls')");
    }
    if (agent_id.empty()) {
      s->pause(p.getPaused());
    } else {
      Agent* a = s->find(agent_id);
      if (a == nullptr) {
        throw ipc::rpc_error("swarm '" + name + "' has no agent '" + agent_id +
                             "' (see 'swarmctl ps " + name + "')");
      }
      a->pause(p.getPaused());
    }
    fill_agents(ctx.getResults().initAgents(agent_count(s)), s);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::stopSwarm(StopSwarmContext ctx) {
  return counted("stopSwarm", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string name = ipc::text_of(p.getSwarm());
    must_exist(factory_, name);
    auto grace = p.getGraceMillis() == 0 ? rt_.config.stop_grace
                                         : std::chrono::milliseconds(p.getGraceMillis());
    return factory_.stop(name, grace).then([this, ctx, name]() mutable {
      fill(ctx.getResults().initSwarm(), must_exist(factory_, name));
    });
  });
}

kj::Promise<void> ControlService::vibeCheck(VibeCheckContext ctx) {
  ctx.allowCancellation();  // the client may go away (Ctrl-C) mid-call
  return counted("vibeCheck", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string name = ipc::text_of(p.getSwarm());
    Swarm* s = &running_swarm(factory_, name);
    auto deadline = std::chrono::milliseconds(p.getDeadlineMillis() == 0 ? kDefaultVibeDeadlineMs
                                                                          : p.getDeadlineMillis());
    return s->vibe_check(deadline).then([ctx](Swarm::VibeReport r) mutable {
      auto c = ctx.getResults().initCheck();
      auto out = c.initAgents(static_cast<unsigned>(r.agents.size()));
      for (size_t i = 0; i < r.agents.size(); ++i) {
        const auto& [id, a] = r.agents[i];
        auto v = out[static_cast<unsigned>(i)];
        v.setId(id);
        v.setAnswered(a.answered);
        v.setHealth(a.health);
        v.setNote(a.note);
        v.setMillis(a.millis);
      }
      c.setOk(r.ok);
      c.setDegraded(r.degraded);
      c.setFailing(r.failing);
      c.setSilent(r.silent);
      c.setTookMillis(r.took_millis);
    });
  });
}

kj::Promise<void> ControlService::agentLogs(AgentLogsContext ctx) {
  ctx.allowCancellation();  // the client may go away (Ctrl-C) mid-call
  return counted("agentLogs", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string swarm = ipc::text_of(p.getSwarm());
    std::string agent_id = ipc::text_of(p.getAgent());
    must_exist(factory_, swarm);
    auto live = [this, swarm, agent_id]() -> std::shared_ptr<AgentLog> {
      Swarm* s = factory_.find(swarm);
      Agent* a = s ? s->find(agent_id) : nullptr;
      return a ? a->shared_log() : nullptr;
    };
    if (std::shared_ptr<AgentLog> log = live()) return serve_log(ctx, log);
    // An agent this daemon has not run: its file, if the spec names it
    // (which also keeps the path inside the swarm's log directory).
    auto names = factory_.agent_names(swarm);
    bool named = std::any_of(names.begin(), names.end(),
                             [&](const auto& n) { return n.first == agent_id; });
    std::string see = " (see 'swarmctl ps " + swarm + "')";
    if (!named) throw ipc::rpc_error("swarm '" + swarm + "' has no agent '" + agent_id + "'" + see);
    return serve_log_file(ctx, logs_, agent_log_path(rt_.config.state_dir, swarm, agent_id), live,
                          "agent '" + agent_id + "' of swarm '" + swarm + "' has " + kNotRun +
                              " and left no log file");
  });
}

kj::Promise<void> ControlService::swarmEvents(SwarmEventsContext ctx) {
  ctx.allowCancellation();  // the client may go away (Ctrl-C) mid-call
  return counted("swarmEvents", [&]() -> kj::Promise<void> {
    std::string name = ipc::text_of(ctx.getParams().getSwarm());
    must_exist(factory_, name);
    auto live = [this, name]() -> std::shared_ptr<AgentLog> {
      Swarm* s = factory_.find(name);
      return s ? s->events() : nullptr;
    };
    if (std::shared_ptr<AgentLog> log = live()) return serve_log(ctx, log);
    return serve_log_file(ctx, logs_, events_log_path(rt_.config.state_dir, name), live,
                          "swarm '" + name + "' has " + kNotRun + " and left no event log");
  });
}

kj::Promise<void> ControlService::runCommand(RunCommandContext ctx) {
  // A client that goes away (Ctrl-C) takes its call with it: a run's command
  // is killed, a follower stops.
  ctx.allowCancellation();
  return counted("runCommand", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    RunRequest req;
    for (auto arg : p.getArgv()) req.argv.push_back(ipc::text_of(arg));
    req.profile = ipc::text_of(p.getProfile());
    req.workdir = ipc::text_of(p.getWorkdir());
    req.base_dir = ipc::text_of(p.getBaseDir());
    auto run = kj::heap<CommandRun>(rt_, std::move(req));
    Agent& agent = run->agent();
    // The output is delivered in full before the call returns: the log ends
    // only once the command has exited.
    return follow_log(agent.shared_log(), p.getSink(), 0)
        .then([ctx, &agent]() mutable { fill(ctx.getResults().initExit(), agent.last_exit()); })
        .attach(kj::mv(run));
  });
}

kj::Promise<void> ControlService::status(StatusContext ctx) {
  return counted("status", [&]() -> kj::Promise<void> {
    auto st = ctx.getResults().initStatus();
    st.setVersion(SMOL_VERSION);
    st.setPid(getpid());
    st.setUptimeMillis(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - info_.started)
                           .count());
    st.setSocketPath(info_.socket_path);
    st.setStateDir(info_.state_dir);
    st.setMetricsAddress(info_.metrics_address);
    st.setSwarmsTotal(static_cast<uint32_t>(factory_.list().size()));
    st.setSwarmsRunning(static_cast<uint32_t>(factory_.swarms_running()));
    st.setAgentsRunning(static_cast<uint32_t>(factory_.agents_running()));
    st.setCgroups(rt_.cgroups.describe());
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::memPut(MemPutContext ctx) {
  return counted("memPut", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    mem::EntryRef ref = entry_ref(p);
    must_exist(factory_, ref.swarm);
    mem::PutRequest req = memory_rpc::put_request(p, ref.swarm, ref.agent);
    req.ttl_ms = p.getTtlMillis();
    return memory_.put(std::move(req)).then([this, ctx, ref]() mutable {
      // Stored, but a TTL shorter than the commit took has expired it
      // already: the answer then carries no entry.
      if (auto e = memory_.store().get(ref)) memory_rpc::fill(ctx.getResults().initEntry(), *e);
    });
  });
}

kj::Promise<void> ControlService::memGet(MemGetContext ctx) {
  return counted("memGet", [&]() -> kj::Promise<void> {
    mem::EntryRef ref = entry_ref(ctx.getParams());
    must_exist(factory_, ref.swarm);
    auto e = memory_.get(ref);
    if (!e) throw ipc::rpc_error(memory_rpc::not_found(ref));
    fill(ctx.getResults().initEntry(), *e);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::memList(MemListContext ctx) {
  return counted("memList", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string swarm = ipc::text_of(p.getSwarm());
    must_exist(factory_, swarm);
    mem::ListPage page = memory_.list(memory_rpc::list_request(p, swarm, ipc::text_of(p.getAgent())));
    auto r = ctx.getResults();
    fill(r.initEntries(static_cast<unsigned>(page.entries.size())), page.entries);
    r.setNextStartAfter(page.next_start_after);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::memRecall(MemRecallContext ctx) {
  return counted("memRecall", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    std::string swarm = ipc::text_of(p.getSwarm());
    must_exist(factory_, swarm);
    std::vector<mem::RecallHit> hits =
        memory_.recall(memory_rpc::recall_request(p, swarm, ipc::text_of(p.getAgent())));
    fill(ctx.getResults().initHits(static_cast<unsigned>(hits.size())), hits);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::memDelete(MemDeleteContext ctx) {
  return counted("memDelete", [&]() -> kj::Promise<void> {
    mem::EntryRef ref = entry_ref(ctx.getParams());
    must_exist(factory_, ref.swarm);
    return memory_.del(std::move(ref));
  });
}

kj::Promise<void> ControlService::memConsolidate(MemConsolidateContext ctx) {
  return counted("memConsolidate", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    mem::ConsolidateRequest req;
    req.from = entry_ref(p);
    must_exist(factory_, req.from.swarm);
    if (p.getHasTo()) req.to = from_rpc(p.getTo());
    req.by = req.from.agent;
    mem::EntryRef ref = memory_rpc::destination(req);
    return memory_.consolidate(std::move(req)).then([this, ctx, ref]() mutable {
      memory_rpc::fill_current(ctx.getResults().initEntry(), memory_, ref);
    });
  });
}

kj::Promise<void> ControlService::sendMessage(SendMessageContext ctx) {
  ctx.allowCancellation();  // held back by a full queue, the client may give up
  return counted("sendMessage", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    Swarm& s = running_swarm(factory_, ipc::text_of(p.getSwarm()));
    must_fit(s.messaging().limits(), p.getPayload().size(), p.getTopic().size(),
             p.getTo().size());
    auto sender = kj::heap<Messaging::Sender>(s.messaging(), "operator", "", nullptr);
    std::vector<Messaging::Outgoing> one{
        {ipc::text_of(p.getTo()), ipc::text_of(p.getTopic()), ipc::payload_of(p.getPayload())}};
    auto queued = sender->send(std::move(one));
    return queued.attach(kj::mv(sender)).then([](std::vector<Messaging::Refusal> refused) {
      if (!refused.empty()) throw ipc::rpc_error(refused.front().reason);
    });
  });
}

kj::Promise<void> ControlService::broadcastMessage(BroadcastMessageContext ctx) {
  return counted("broadcastMessage", [&]() -> kj::Promise<void> {
    auto p = ctx.getParams();
    Swarm& s = running_swarm(factory_, ipc::text_of(p.getSwarm()));
    must_fit(s.messaging().limits(), p.getPayload().size(), p.getTopic().size());
    Messaging::Sender sender(s.messaging(), "operator", "", nullptr);
    fill_broadcast(ctx.getResults(),
                   sender.broadcast(ipc::text_of(p.getTopic()), ipc::payload_of(p.getPayload())));
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::taskRun(TaskRunContext ctx) {
  return counted("taskRun", [&]() -> kj::Promise<void> {
    tasks_.run(ctx);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::taskList(TaskListContext ctx) {
  return counted("taskList", [&]() -> kj::Promise<void> {
    tasks_.list(ctx);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::taskShow(TaskShowContext ctx) {
  return counted("taskShow", [&]() -> kj::Promise<void> {
    tasks_.show(ctx);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::taskCancel(TaskCancelContext ctx) {
  return counted("taskCancel", [&]() -> kj::Promise<void> {
    tasks_.cancel(ctx);
    return kj::READY_NOW;
  });
}

kj::Promise<void> ControlService::taskWatch(TaskWatchContext ctx) {
  ctx.allowCancellation();  // the operator may stop watching (Ctrl-C)
  return counted("taskWatch", [&]() -> kj::Promise<void> { return tasks_.watch(ctx); });
}

kj::Promise<void> ControlService::taskResume(TaskResumeContext ctx) {
  return counted("taskResume", [&]() -> kj::Promise<void> {
    tasks_.resume(ctx);
    return kj::READY_NOW;
  });
}

RefusedControl::RefusedControl(metrics::Metrics& metrics, std::string reason)
    : metrics_(metrics), reason_(std::move(reason)) {}

capnp::Capability::Server::DispatchCallResult RefusedControl::dispatchCall(
    uint64_t, uint16_t method_id, capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer>) {
  auto methods = capnp::Schema::from<rpc::Control>().getMethods();
  std::string method = method_id < methods.size()
                           ? std::string(methods[method_id].getProto().getName().cStr())
                           : "unknown";
  metrics_.control_request(method, "denied");
  return {kj::Promise<void>(ipc::rpc_error(reason_)), false};
}

}  // namespace smol::supervisor
