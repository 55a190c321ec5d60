#include "supervisor/async_spawn.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <memory>
#include <optional>

#include <kj/debug.h>

#include "base/log.h"

namespace smol::supervisor {
namespace {

struct SpawnJob {
  uv_work_t req{};
  sandbox::SpawnRequest request;
  std::vector<UniqueFd> keep_open;
  PrepareSpawn prepare;
  std::optional<sandbox::Child> child;
  std::exception_ptr error;
  kj::Own<kj::PromiseFulfiller<sandbox::Child>> fulfiller;
};

// Runs on a pool thread: only the job's own data is touched.
void run_job(uv_work_t* req) {
  auto* job = static_cast<SpawnJob*>(req->data);
  try {
    if (job->prepare) job->prepare(job->request);
    job->child = sandbox::spawn(job->request);
  } catch (...) {
    job->error = std::current_exception();
  }
}

// Back on the loop thread.
void finish_job(uv_work_t* req, int status) {
  std::unique_ptr<SpawnJob> job(static_cast<SpawnJob*>(req->data));
  job->keep_open.clear();
  if (!job->fulfiller->isWaiting()) {
    if (job->child) {
      // Nobody wants this child any more. (Raw call: nothing may throw here.)
      ::syscall(SYS_pidfd_send_signal, job->child->pidfd.get(), SIGKILL, nullptr, 0);
      siginfo_t info;
      waitid(P_PIDFD, static_cast<id_t>(job->child->pidfd.get()), &info, WEXITED);
    }
    return;
  }
  if (status == UV_ECANCELED) {
    job->fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "spawn cancelled"));
  } else if (job->error) {
    try {
      std::rethrow_exception(job->error);
    } catch (const std::exception& e) {
      job->fulfiller->reject(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                           kj::heapString(e.what())));
    }
  } else {
    job->fulfiller->fulfill(std::move(*job->child));
  }
}

}  // namespace

kj::Promise<sandbox::Child> spawn_async(ipc::EventLoop& loop, sandbox::SpawnRequest request,
                                        std::vector<UniqueFd> keep_open, PrepareSpawn prepare) {
  auto paf = kj::newPromiseAndFulfiller<sandbox::Child>();
  auto job = std::make_unique<SpawnJob>();
  job->req.data = job.get();
  job->request = std::move(request);
  job->keep_open = std::move(keep_open);
  job->prepare = std::move(prepare);
  job->fulfiller = kj::mv(paf.fulfiller);
  if (int rc = uv_queue_work(loop.uv(), &job->req, run_job, finish_job); rc != 0) {
    return KJ_EXCEPTION(FAILED, "uv_queue_work", uv_strerror(rc));
  }
  job.release();  // finish_job owns it now
  loop.wake();
  return kj::mv(paf.promise);
}

}  // namespace smol::supervisor
