// `swarmctl task run --wait`: follows a started task to its end.
//
// It serves swarmd a TaskWatcher (taskWatch) and shows what swarmd pushes
// through a TaskView: a live ProgressBar when stdout is a terminal, else one
// line per event on stderr (progress only when the counters move), or one
// JSON object per event with --json. The result goes to stdout at the end.
#pragma once

#include "cli/commands.h"
#include "cli/connection.h"
#include "ipc/control.capnp.h"

namespace smol::cli {

// Returns 0 if the task succeeded, 130 on Ctrl-C (the task goes on);
// throws Failure if it failed, was cancelled or paused, or stdout broke.
int watch_task(const GlobalOptions& g, Connection& conn, rpc::TaskInfo::Reader started);

}  // namespace smol::cli
