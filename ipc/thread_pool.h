// on_thread_pool(): runs a function on libuv's thread pool and hands its
// result back to the loop as a promise.
//
// For work the loop must not wait for: reading a file that may be large or
// on a busy disk, removing a directory tree. The function runs on a pool
// thread and must touch nothing the loop uses; its result (or the message
// of the std::exception it throws, as a FAILED kj::Exception) settles the
// promise on the loop thread. A promise dropped meanwhile does not stop
// the function, which runs to its end; its result is then dropped.
//
// Thread: call on the loop's thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <kj/async.h>

#include "ipc/event_loop.h"

namespace smol::ipc {

kj::Promise<void> on_thread_pool(EventLoop& loop, std::function<void()> work);

template <typename T>
kj::Promise<T> on_thread_pool(EventLoop& loop, std::function<T()> work) {
  auto result = std::make_shared<std::optional<T>>();
  return on_thread_pool(loop, std::function<void()>([result, work = std::move(work)] {
                          result->emplace(work());
                        }))
      .then([result] { return std::move(**result); });
}

}  // namespace smol::ipc
