// spawn_async(): sandbox::spawn() off the loop thread.
//
// spawn() suspends its caller until the child has reached execve (CLONE_VFORK)
// — about 0.7 ms per agent here while the machine is busy starting others.
// On the loop thread that would serialise every start behind the previous
// one and stall RPC meanwhile, so the work runs on libuv's thread pool and
// the result comes back to the loop as a promise.
//
// The pool's threads live until the process exits, which PR_SET_PDEATHSIG
// needs (the death signal follows the spawning thread, not the process).
// If the promise is dropped before the child is up (its agent was
// destroyed), the child is killed and reaped here: nothing is leaked.
//
// The request's fds must stay open until the promise settles; pass their
// owners in `keep_open`, which are released once the child has its copies.
//
// `prepare`, if given, runs on the pool thread right before spawn() and may
// complete the request (the agent's cgroup is made there: cgroupfs writes
// wait for the kernel's cgroup_mutex, which must not stall the loop). What
// it makes it keeps in state it shares with the caller; if it throws, the
// spawn fails with its message.
#pragma once

#include <functional>
#include <vector>

#include <kj/async.h>

#include "base/unique_fd.h"
#include "ipc/event_loop.h"
#include "sandbox/spawn.h"

namespace smol::supervisor {

using PrepareSpawn = std::function<void(sandbox::SpawnRequest&)>;

kj::Promise<sandbox::Child> spawn_async(ipc::EventLoop& loop, sandbox::SpawnRequest request,
                                        std::vector<UniqueFd> keep_open,
                                        PrepareSpawn prepare = {});

}  // namespace smol::supervisor
