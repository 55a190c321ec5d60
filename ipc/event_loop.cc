#include "ipc/event_loop.h"

#include <poll.h>

#include <stdexcept>
#include <string>

#include "base/log.h"

namespace smol::ipc {

EventLoop::EventLoop() : io_(kj::setupAsyncIo()) {
  if (int rc = uv_loop_init(&uv_); rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  backend_ = kj::heap<kj::UnixEventPort::FdObserver>(
      io_.unixEventPort, uv_backend_fd(&uv_), kj::UnixEventPort::FdObserver::OBSERVE_READ);
  pump_task_ = pump().eagerlyEvaluate([](kj::Exception&& e) {
    log::error(std::string("event loop pump stopped: ") + e.getDescription().cStr());
  });
}

EventLoop::~EventLoop() noexcept {
  pump_task_ = nullptr;
  // Let every pending uv_close callback run so handle memory is freed, then
  // release libuv before its fd observer goes (observer first, fd second).
  uv_run(&uv_, UV_RUN_NOWAIT);
  backend_ = nullptr;
  if (uv_loop_close(&uv_) == UV_EBUSY) {
    uv_walk(&uv_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }, nullptr);
    uv_run(&uv_, UV_RUN_DEFAULT);
    uv_loop_close(&uv_);
  }
}

void EventLoop::wake() {
  KJ_IF_MAYBE(f, wake_) {
    if ((*f)->isWaiting()) (*f)->fulfill();
  }
}

bool EventLoop::backend_ready() const {
  pollfd p{uv_backend_fd(&uv_), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

kj::Promise<void> EventLoop::pump() {
  uv_update_time(&uv_);
  const int timeout_ms = uv_loop_alive(&uv_) ? uv_backend_timeout(&uv_) : -1;

  auto woken = kj::newPromiseAndFulfiller<void>();
  wake_ = kj::mv(woken.fulfiller);
  kj::Promise<void> next = backend_->whenBecomesReadable().exclusiveJoin(kj::mv(woken.promise));
  if (timeout_ms >= 0) {
    next = next.exclusiveJoin(timer().afterDelay(timeout_ms * kj::MILLISECONDS));
  }
  return next.then([this] { return run_libuv(); });
}

kj::Promise<void> EventLoop::run_libuv() {
  wake_ = nullptr;
  uv_run(&uv_, UV_RUN_NOWAIT);
  if (backend_ready()) {
    // More is pending, but its edge has already been consumed: waiting for
    // the observer now would sleep forever. Run again after one trip through
    // KJ's event port, which lets KJ serve its own sockets in between.
    return timer().afterDelay(0 * kj::NANOSECONDS).then([this] { return run_libuv(); });
  }
  return pump();
}

}  // namespace smol::ipc
