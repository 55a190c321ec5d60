#include "ipc/thread_pool.h"

#include <exception>
#include <string>

#include <kj/debug.h>

namespace smol::ipc {
namespace {

struct Job {
  uv_work_t req{};
  std::function<void()> work;
  std::string error;  // what work threw, if it did
  kj::Own<kj::PromiseFulfiller<void>> done;
};

// On a pool thread: only the job's own members are touched.
void run(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  try {
    job->work();
  } catch (const std::exception& e) {
    job->error = e.what();
    if (job->error.empty()) job->error = "a job on the thread pool failed";
  } catch (...) {
    job->error = "a job on the thread pool failed with an exception of unknown type";
  }
}

// Back on the loop thread.
void finish(uv_work_t* req, int status) {
  std::unique_ptr<Job> job(static_cast<Job*>(req->data));
  if (!job->done->isWaiting()) return;
  if (status == UV_ECANCELED) {
    job->done->reject(KJ_EXCEPTION(DISCONNECTED, "a job on the thread pool was cancelled"));
  } else if (!job->error.empty()) {
    job->done->reject(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                    kj::heapString(job->error)));
  } else {
    job->done->fulfill();
  }
}

}  // namespace

kj::Promise<void> on_thread_pool(EventLoop& loop, std::function<void()> work) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto job = std::make_unique<Job>();
  job->req.data = job.get();
  job->work = std::move(work);
  job->done = kj::mv(paf.fulfiller);
  if (int rc = uv_queue_work(loop.uv(), &job->req, run, finish); rc != 0) {
    return KJ_EXCEPTION(FAILED, "uv_queue_work", uv_strerror(rc));
  }
  job.release();  // finish() owns it now
  loop.wake();
  return kj::mv(paf.promise);
}

}  // namespace smol::ipc
