// EventLoop: one thread running both Cap'n Proto (KJ) and libuv.
//
// Why KJ owns the thread: Cap'n Proto's RPC streams are written against KJ's
// own UnixEventPort, and replacing that port with one driven by libuv would
// mean re-implementing KJ's fd observers. The other way round costs nothing:
// libuv keeps all of its watchers in a single epoll fd (uv_backend_fd), which
// KJ can observe like any other fd. When it turns readable, or when libuv's
// next timer is due, a small pump runs uv_run(UV_RUN_NOWAIT) once. RPC
// latency is that of pure KJ, and an idle daemon sleeps in one epoll_wait.
//
// Traps this class handles, each one observed in a prototype:
//  - uv_backend_timeout() is 0 when libuv has no active handles; a dead loop
//    (uv_loop_alive false) sleeps until wake(), or the pump would spin.
//  - KJ's observer is edge-triggered, and an edge that fires while nobody
//    waits is lost: after each run the backend fd is polled again, and if
//    still ready libuv runs again after a zero-delay KJ timer (not
//    evalLater, which would starve KJ's own sockets) instead of waiting for
//    an edge that already came.
//  - libuv registers new watchers with epoll only inside uv_run, and computes
//    timeouts from its cached clock: code on the KJ side that starts or
//    closes a libuv handle calls wake().
//
// Thread: everything here belongs to the thread that constructed it.
#pragma once

#include <uv.h>

#include <kj/async-io.h>
#include <kj/async-unix.h>

#include <utility>

namespace smol::ipc {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop() noexcept;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* uv() noexcept { return &uv_; }
  kj::AsyncIoContext& io() noexcept { return io_; }
  kj::WaitScope& wait_scope() noexcept { return io_.waitScope; }
  kj::Timer& timer() noexcept { return io_.provider->getTimer(); }
  kj::LowLevelAsyncIoProvider& low_level() noexcept { return *io_.lowLevelProvider; }

  // Makes the pump run libuv once more and recompute its timeout. Call after
  // starting, stopping or closing a libuv handle from KJ-side code.
  void wake();

  // Drives both loops until `until` settles; rethrows its exception.
  template <typename T>
  T run(kj::Promise<T> until) {
    return until.wait(io_.waitScope);
  }

 private:
  kj::Promise<void> pump();
  kj::Promise<void> run_libuv();
  bool backend_ready() const;

  kj::AsyncIoContext io_;
  uv_loop_t uv_;
  kj::Own<kj::UnixEventPort::FdObserver> backend_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> wake_;
  kj::Promise<void> pump_task_{nullptr};
};

// UvHandle<T>: owns one libuv handle (uv_poll_t, uv_pipe_t, uv_signal_t...).
//
// libuv frees nothing itself and a handle's memory must outlive uv_close's
// callback, so the handle lives on the heap and the close callback deletes
// it. Destroying a UvHandle closes the handle (and wakes the pump, so the
// close completes promptly). handle->data is free for the owner's use.
template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  explicit UvHandle(EventLoop& loop) : loop_(&loop), h_(new T{}) {}
  UvHandle(UvHandle&& o) noexcept
      : loop_(o.loop_), h_(std::exchange(o.h_, nullptr)), inited_(std::exchange(o.inited_, false)) {}
  UvHandle& operator=(UvHandle&& o) noexcept {
    reset();
    loop_ = o.loop_;
    h_ = std::exchange(o.h_, nullptr);
    inited_ = std::exchange(o.inited_, false);
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { reset(); }

  T* get() const noexcept { return h_; }
  T* operator->() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }

  // Call once the uv_*_init() for this handle succeeded: from then on the
  // handle must be closed through libuv rather than simply freed.
  void mark_initialized() noexcept { inited_ = true; }

  void reset() noexcept {
    if (!h_) return;
    if (inited_) {
      uv_close(reinterpret_cast<uv_handle_t*>(h_),
               [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
      loop_->wake();
    } else {
      delete h_;
    }
    h_ = nullptr;
    inited_ = false;
  }

 private:
  EventLoop* loop_ = nullptr;
  T* h_ = nullptr;
  bool inited_ = false;
};

}  // namespace smol::ipc
