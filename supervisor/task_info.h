// Tasks as the operator sees them (ipc/task.capnp TaskInfo, SubtaskInfo),
// from what the store keeps and the live counters only the board knows.
// Thread: any.
#pragma once

#include <cstdint>

#include "ipc/task.capnp.h"
#include "storage/task_store.h"

namespace smol::supervisor {

// running: subtasks running now (the board's; 0 for a task not running).
void fill_task_info(rpc::TaskInfo::Builder b, const storage::TaskRecord& t, uint32_t running);
void fill_subtask_info(rpc::SubtaskInfo::Builder b, const storage::SubtaskRecord& s);

}  // namespace smol::supervisor
