// ControlService: the Control interface (ipc/control.capnp) for one admitted
// control-socket client, and RefusedControl for one that is not admitted.
//
// Each method turns a request into SwarmFactory (or, for the mem* methods,
// MemoryService; for the task* methods, TaskControl) calls and back; failures
// reach the client as rpc_error messages meant to be printed as they are.
// Every call is counted in smolswarms_control_requests_total{method,result}.
//
// Thread: the loop thread.
#pragma once

#include <chrono>
#include <string>

#include "ipc/control.capnp.h"
#include "supervisor/control_tasks.h"
#include "supervisor/log_archive.h"
#include "supervisor/memory_service.h"
#include "supervisor/runtime.h"
#include "supervisor/swarm_factory.h"

namespace smol::supervisor {

// Facts about this daemon that `swarmctl status` shows.
struct DaemonInfo {
  std::string socket_path;
  std::string state_dir;
  std::string metrics_address;  // "off" when disabled
  std::chrono::steady_clock::time_point started;
};

class ControlService final : public rpc::Control::Server {
 public:
  ControlService(Runtime& rt, SwarmFactory& factory, MemoryService& memory, LogArchive& logs,
                 const DaemonInfo& info);

 protected:
  kj::Promise<void> spawnSwarm(SpawnSwarmContext ctx) override;
  kj::Promise<void> listSwarms(ListSwarmsContext ctx) override;
  kj::Promise<void> listAgents(ListAgentsContext ctx) override;
  kj::Promise<void> stopSwarm(StopSwarmContext ctx) override;
  kj::Promise<void> agentLogs(AgentLogsContext ctx) override;
  kj::Promise<void> status(StatusContext ctx) override;
  kj::Promise<void> pauseAgents(PauseAgentsContext ctx) override;
  kj::Promise<void> vibeCheck(VibeCheckContext ctx) override;
  kj::Promise<void> swarmEvents(SwarmEventsContext ctx) override;
  kj::Promise<void> runCommand(RunCommandContext ctx) override;
  kj::Promise<void> memPut(MemPutContext ctx) override;
  kj::Promise<void> memGet(MemGetContext ctx) override;
  kj::Promise<void> memList(MemListContext ctx) override;
  kj::Promise<void> memRecall(MemRecallContext ctx) override;
  kj::Promise<void> memDelete(MemDeleteContext ctx) override;
  kj::Promise<void> memConsolidate(MemConsolidateContext ctx) override;
  kj::Promise<void> sendMessage(SendMessageContext ctx) override;
  kj::Promise<void> broadcastMessage(BroadcastMessageContext ctx) override;
  kj::Promise<void> taskRun(TaskRunContext ctx) override;
  kj::Promise<void> taskList(TaskListContext ctx) override;
  kj::Promise<void> taskShow(TaskShowContext ctx) override;
  kj::Promise<void> taskCancel(TaskCancelContext ctx) override;
  kj::Promise<void> taskWatch(TaskWatchContext ctx) override;
  kj::Promise<void> taskResume(TaskResumeContext ctx) override;

 private:
  template <typename Body>
  kj::Promise<void> counted(const char* method, Body&& body);

  Runtime& rt_;
  SwarmFactory& factory_;
  MemoryService& memory_;
  LogArchive& logs_;  // for swarms this daemon has not run
  const DaemonInfo& info_;
  TaskControl tasks_;
};

// Answers every call with `reason` (and counts it as denied).
class RefusedControl final : public rpc::Control::Server {
 public:
  RefusedControl(metrics::Metrics& metrics, std::string reason);
  DispatchCallResult dispatchCall(uint64_t interface_id, uint16_t method_id,
                                  capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> ctx)
      override;

 private:
  metrics::Metrics& metrics_;
  std::string reason_;
};

}  // namespace smol::supervisor
