// The KJ + libuv loop: libuv work started from either side completes, and
// neither library starves the other.
#include "ipc/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <kj/debug.h>

#include <array>
#include <vector>

#include "base/unique_fd.h"

namespace smol::ipc {
namespace {

// Gives up on a test that would otherwise hang.
template <typename T>
T run_with_deadline(EventLoop& loop, kj::Promise<T> p) {
  return loop.run(p.exclusiveJoin(loop.timer().afterDelay(10 * kj::SECONDS).then([]() -> T {
    KJ_FAIL_REQUIRE("timed out: the loop stopped turning");
  })));
}

TEST(EventLoop, LibuvTimerStartedFromKjSideFires) {
  EventLoop loop;
  auto paf = kj::newPromiseAndFulfiller<void>();
  UvHandle<uv_timer_t> timer(loop);
  uv_timer_init(loop.uv(), timer.get());
  timer.mark_initialized();
  timer->data = paf.fulfiller.get();
  uv_timer_start(timer.get(), [](uv_timer_t* t) {
    static_cast<kj::PromiseFulfiller<void>*>(t->data)->fulfill();
  }, 20, 0);
  loop.wake();
  run_with_deadline(loop, kj::mv(paf.promise));
}

// Each pipe's callback writes into the next pipe from inside uv_run, so new
// libuv events keep arriving while libuv is running. Their readiness edge is
// seen by KJ while the pump is not waiting for it; a pump that then waited
// for another edge would sleep forever (a bug this loop once had).
struct Chain {
  static constexpr int kLinks = 64;
  std::array<UniqueFd, kLinks> read_ends, write_ends;
  std::vector<UvHandle<uv_poll_t>> polls;
  int reached = 0;
  kj::Own<kj::PromiseFulfiller<void>> done;
};

TEST(EventLoop, EventsArrivingDuringALibuvRunAreAllServed) {
  EventLoop loop;
  Chain chain;
  auto paf = kj::newPromiseAndFulfiller<void>();
  chain.done = kj::mv(paf.fulfiller);
  for (int i = 0; i < Chain::kLinks; ++i) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    chain.read_ends[i].reset(fds[0]);
    chain.write_ends[i].reset(fds[1]);
    UvHandle<uv_poll_t> poll(loop);
    ASSERT_EQ(uv_poll_init(loop.uv(), poll.get(), fds[0]), 0);
    poll.mark_initialized();
    poll->data = &chain;
    uv_poll_start(poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* c = static_cast<Chain*>(h->data);
      uv_poll_stop(h);
      if (++c->reached == Chain::kLinks) return c->done->fulfill();
      char byte = 'x';
      (void)!::write(c->write_ends[c->reached].get(), &byte, 1);
    });
    chain.polls.push_back(std::move(poll));
  }
  loop.wake();
  char byte = 'x';
  ASSERT_EQ(::write(chain.write_ends[0].get(), &byte, 1), 1);
  run_with_deadline(loop, kj::mv(paf.promise));
  EXPECT_EQ(chain.reached, Chain::kLinks);
}

TEST(EventLoop, KjTimersRunWhileLibuvIsBusy) {
  EventLoop loop;
  // A libuv idle handle makes libuv always have work; KJ must still get turns.
  UvHandle<uv_idle_t> idle(loop);
  uv_idle_init(loop.uv(), idle.get());
  idle.mark_initialized();
  uv_idle_start(idle.get(), [](uv_idle_t*) {});
  loop.wake();
  run_with_deadline(loop, loop.timer().afterDelay(30 * kj::MILLISECONDS));
}

TEST(EventLoop, ClosingHandlesFromKjSideCompletes) {
  EventLoop loop;
  for (int i = 0; i < 100; ++i) {
    UvHandle<uv_timer_t> t(loop);
    uv_timer_init(loop.uv(), t.get());
    t.mark_initialized();
  }  // each close is queued; the loop must run their callbacks
  run_with_deadline(loop, loop.timer().afterDelay(1 * kj::MILLISECONDS));
  EXPECT_EQ(uv_loop_alive(loop.uv()), 0);
}

}  // namespace
}  // namespace smol::ipc
