// WorkerThread: jobs run off the loop, one at a time and in order, and
// their outcomes come back to the loop as promises.
#include "ipc/worker_thread.h"

#include <gtest/gtest.h>

#include <kj/async-io.h>
#include <kj/vector.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

namespace smol::ipc {
namespace {

TEST(WorkerThread, JobsRunOffTheLoopOneAtATimeInOrder) {
  auto io = kj::setupAsyncIo();
  WorkerThread worker("test-worker");
  std::vector<int> order;  // written by the jobs only, read once they are done
  std::atomic<int> running = 0, most = 0;
  std::thread::id loop_thread = std::this_thread::get_id(), job_thread;
  kj::Vector<kj::Promise<void>> done;
  for (int i = 0; i < 50; ++i) {
    done.add(worker.run([&, i] {
      most = std::max(most.load(), ++running);
      job_thread = std::this_thread::get_id();
      order.push_back(i);
      --running;
    }));
  }
  kj::joinPromises(done.releaseAsArray()).wait(io.waitScope);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  EXPECT_EQ(most, 1);
  EXPECT_NE(job_thread, loop_thread);
}

TEST(WorkerThread, AJobThatThrowsRejectsItsPromiseWithTheReason) {
  auto io = kj::setupAsyncIo();
  WorkerThread worker("test-worker");
  kj::Promise<void> failed = worker.run([] { throw std::runtime_error("disk on fire"); });
  try {
    failed.wait(io.waitScope);
    FAIL() << "the job's exception was lost";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("disk on fire"), std::string::npos);
  }
  // The worker goes on with the next job.
  bool ran = false;
  worker.run([&] { ran = true; }).wait(io.waitScope);
  EXPECT_TRUE(ran);
}

TEST(WorkerThread, DestroyingItWaitsForEveryJobGiven) {
  auto io = kj::setupAsyncIo();
  std::atomic<int> ran = 0;
  std::latch release(1);
  {
    WorkerThread worker("test-worker");
    // The first job holds the others back until the worker is being destroyed.
    (void)worker.run([&] {
      release.wait();
      ++ran;
    });
    for (int i = 0; i < 19; ++i) {
      (void)worker.run([&] { ++ran; });  // promises dropped at once: the jobs still run
    }
    EXPECT_EQ(ran, 0);
    release.count_down();
  }
  EXPECT_EQ(ran, 20);
}

}  // namespace
}  // namespace smol::ipc
