// TaskControl: the task methods of the Control interface (taskRun,
// taskList, taskShow, taskCancel, taskWatch, taskResume;
// ipc/control.capnp), between the operator and the swarms' TaskBoards.
//
// A task lives in the store (TaskLedger) and, while its swarm runs, on
// that swarm's board. So a task whose swarm is not running can still be
// listed, shown and cancelled (in the store; it resumes when the swarm is
// up again otherwise), and what a listing shows of a running task (how
// many subtasks run, each one's progress) comes from its board.
//
// Every method throws std::exception with a message for the operator;
// ControlService turns it into the call's error.
//
// Thread: the loop thread.
#pragma once

#include <kj/async.h>

#include "ipc/control.capnp.h"
#include "supervisor/runtime.h"
#include "supervisor/swarm_factory.h"

namespace smol::supervisor {

class TaskControl {
 public:
  TaskControl(Runtime& rt, SwarmFactory& factory) : rt_(rt), factory_(factory) {}

  void run(capnp::CallContext<rpc::Control::TaskRunParams, rpc::Control::TaskRunResults> ctx);
  void list(capnp::CallContext<rpc::Control::TaskListParams, rpc::Control::TaskListResults> ctx);
  void show(capnp::CallContext<rpc::Control::TaskShowParams, rpc::Control::TaskShowResults> ctx);
  void cancel(capnp::CallContext<rpc::Control::TaskCancelParams, rpc::Control::TaskCancelResults> ctx);
  kj::Promise<void> watch(capnp::CallContext<rpc::Control::TaskWatchParams, rpc::Control::TaskWatchResults> ctx);
  void resume(capnp::CallContext<rpc::Control::TaskResumeParams, rpc::Control::TaskResumeResults> ctx);

 private:
  storage::TaskRecord must_task(std::string_view id);
  // The board the task runs on now; null if its swarm is not running.
  TaskBoard* board_of(const storage::TaskRecord& t);
  void fill(rpc::TaskInfo::Builder b, const storage::TaskRecord& t);

  Runtime& rt_;
  SwarmFactory& factory_;
};

}  // namespace smol::supervisor
