// Connection: swarmctl's one RPC session with swarmd over the control socket.
//
// swarmctl makes one call (or one follow) per run, so the connection also
// owns the process's KJ event loop. Commands build one, make their request
// through control(), and wait for it with wait() or wait_interruptible(),
// which are the only places that block and that turn exceptions from the
// RPC layer into Failures with a message for the user.
//
// Thread: the thread that built it (swarmctl has only one).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <chrono>
#include <string>

#include "cli/failure.h"
#include "ipc/control.capnp.h"

namespace smol::cli {

class Connection {
 public:
  // Connects to the Unix socket at `socket_path`, waiting at most `timeout`
  // (also the limit for each later wait()). Throws Failure saying why not and
  // what to do: no socket, permission denied, connection refused, timeout.
  Connection(const std::string& socket_path, std::chrono::milliseconds timeout);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  rpc::Control::Client& control() noexcept { return control_; }

  // Runs the loop until `call` settles and returns its result. Throws Failure
  // when the timeout passes first (the call is then cancelled), when swarmd
  // answers with an error, or when it hangs up.
  template <typename T>
  T wait(kj::Promise<T> call);

  // Runs the loop, with no timeout, until `stream` settles and returns its
  // result, or until the user presses Ctrl-C (returns null). Throws Failure
  // like wait(), also when swarmd hangs up after the call has answered.
  template <typename T>
  kj::Maybe<T> wait_interruptible(kj::Promise<T> stream);

  // Lets `d` pass with the loop running; false if the user pressed Ctrl-C
  // first. Throws Failure like wait() when swarmd hangs up meanwhile.
  bool pause_for(std::chrono::milliseconds d);

 private:
  // Runs the loop until `p` settles (returns its result) or `other` resolves
  // first (returns null); any exception becomes a Failure.
  template <typename T>
  kj::Maybe<T> first_of(kj::Promise<T> p, kj::Promise<void> other);
  [[noreturn]] void fail_timed_out() const;
  // Resolves on Ctrl-C; fails when swarmd hangs up.
  kj::Promise<void> interrupted();

  std::chrono::milliseconds timeout_;
  kj::AsyncIoContext io_;
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyClient client_;  // reads and writes *stream_
  rpc::Control::Client control_;
};

template <typename T>
kj::Maybe<T> Connection::first_of(kj::Promise<T> p, kj::Promise<void> other) {
  try {
    return p.then([](T&& r) -> kj::Maybe<T> { return kj::mv(r); })
        .exclusiveJoin(other.then([]() -> kj::Maybe<T> { return nullptr; }))
        .wait(io_.waitScope);
  } catch (const kj::Exception& e) {
    throw Failure(describe_rpc_failure(e));
  }
}

template <typename T>
T Connection::wait(kj::Promise<T> call) {
  auto deadline = io_.provider->getTimer().afterDelay(timeout_.count() * kj::MILLISECONDS);
  kj::Maybe<T> result = first_of(kj::mv(call), kj::mv(deadline));
  KJ_IF_MAYBE(r, result) {
    return kj::mv(*r);
  }
  fail_timed_out();
}

template <typename T>
kj::Maybe<T> Connection::wait_interruptible(kj::Promise<T> stream) {
  return first_of(kj::mv(stream), interrupted());
}

}  // namespace smol::cli
