// run_daemon(): swarmd from start to clean exit.
//
// Builds every long-lived object in order — state directory, LMDB, metrics,
// the event loop, the swarm factory, the control socket — tells systemd it
// is ready (sd_notify; a no-op without systemd), and serves until SIGTERM or
// SIGINT. Then it stops accepting control connections, stops every swarm
// gracefully in parallel under one grace period, closes LMDB and returns 0.
// No agent process outlives it.
//
// Errors before the daemon is ready (a busy socket, an unwritable state dir)
// are logged with what to do and give exit status 1.
#pragma once

#include "supervisor/config.h"

namespace smol::supervisor {

int run_daemon(const config::Config& config);

}  // namespace smol::supervisor
