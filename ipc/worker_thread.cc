#include "ipc/worker_thread.h"

#include <pthread.h>

#include <exception>
#include <utility>

#include "ipc/rpc_error.h"

namespace smol::ipc {

WorkerThread::WorkerThread(std::string name)
    : thread_([this, name = std::move(name)] { main(name); }) {}

WorkerThread::~WorkerThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

kj::Promise<void> WorkerThread::run(std::function<void()> job) {
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back({std::move(job), kj::mv(paf.fulfiller)});
  }
  wake_.notify_one();
  return kj::mv(paf.promise);
}

void WorkerThread::main(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every job given has run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job.fn();
      job.done->fulfill();
    } catch (const kj::Exception& e) {
      job.done->reject(kj::cp(e));
    } catch (const std::exception& e) {
      job.done->reject(rpc_error(e.what()));
    } catch (...) {
      job.done->reject(rpc_error("a job failed with an exception of unknown type"));
    }
  }
}

}  // namespace smol::ipc
