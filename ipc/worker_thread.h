// WorkerThread: one thread that runs jobs for an event loop, in order, and
// hands each job's outcome back to that loop as a promise.
//
// For work that would stall the loop and must not run two at a time: the
// memory store's group commits, an LMDB write transaction and its fsync,
// run here while the loop goes on reading and answering calls. libuv's pool
// would do too, but its threads are shared with agent spawns and run jobs
// side by side; here a job never waits behind unrelated work, and jobs run
// one after another in the order they were given.
//
// A job that throws rejects its promise (with the description of a
// std::exception or kj::Exception). Destroying the WorkerThread waits for every
// job already given, then joins the thread; a job's promise may be dropped
// before it ran, and the job still runs.
//
// Thread: construct, run() and destroy on the loop's thread; the jobs run on
// the worker's.
#pragma once

#include <kj/async.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace smol::ipc {

class WorkerThread {
 public:
  // name: the thread's name, as ps and top show it (at most 15 bytes).
  explicit WorkerThread(std::string name);
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  ~WorkerThread();

  // Resolves on the calling thread's loop once job has run on the worker.
  kj::Promise<void> run(std::function<void()> job);

 private:
  struct Job {
    std::function<void()> fn;
    kj::Own<const kj::CrossThreadPromiseFulfiller<void>> done;
  };
  void main(const std::string& name);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace smol::ipc
