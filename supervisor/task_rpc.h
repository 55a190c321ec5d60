// The capabilities a task hands out (ipc/task.capnp): a Delegator for the
// lead (and for a worker whose subtask may delegate further), and the
// Delegation handle each delegate() call returns. Both are thin: they read
// the wire, and the TaskBoard decides.
//
// A Delegator is bound to one task, one agent and one place in the tree
// (the subtask it works on, and its depth), so what it delegates is
// always attributed to the right agent: an agent cannot delegate as
// another or into another task. Its scope is the run of the work it came
// with (a lead's runTask call, a worker's attempt; TaskBoard::lead_scope):
// once that has ended, it delegates nothing more.
//
// Thread: the loop thread; the board outlives the agents' connections.
#pragma once

#include <cstdint>
#include <string>

#include <kj/memory.h>

#include "ipc/task.capnp.h"

namespace smol::supervisor {

class TaskBoard;

kj::Own<rpc::Delegator::Server> make_delegator(TaskBoard& board, std::string task_id,
                                               std::string agent, std::string parent,
                                               uint32_t depth, uint64_t scope);

}  // namespace smol::supervisor
