// RpcConnection: one Cap'n Proto RPC session over one stream socket.
//
// The daemon side of both the control socket and every agent's socketpair:
// it serves `bootstrap` to the peer and can reach the peer's own bootstrap.
// Destroying it hangs up: calls in flight fail and the peer sees EOF.
//
// Messages from the peer are read with explicit limits (see peer_limits()),
// because the peer may be hostile: an oversized or too deeply nested message
// is a protocol error that ends this connection, never a daemon crash. Calls
// from the peer still in progress are bounded too (capnp's flow limit): past
// it the daemon stops reading the socket until some return.
//
// Thread: the loop thread that owns `loop`.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "base/unique_fd.h"
#include "ipc/event_loop.h"

namespace smol::ipc {

// Reader limits for messages from agents and control clients.
capnp::ReaderOptions peer_limits();

class SocketMessageStream;

class RpcConnection {
 public:
  // Takes a connected, non-blocking stream socket (for agents: the daemon's
  // end of the socketpair), framed by SocketMessageStream. Throws
  // kj::Exception if it cannot be wrapped.
  RpcConnection(EventLoop& loop, UniqueFd fd, capnp::Capability::Client bootstrap);
  // Takes an accepted stream (the control socket's listener hands these out).
  RpcConnection(kj::Own<kj::AsyncIoStream> stream, capnp::Capability::Client bootstrap);
  ~RpcConnection();
  RpcConnection(const RpcConnection&) = delete;
  RpcConnection& operator=(const RpcConnection&) = delete;

  // Resolves when the peer hangs up or the stream fails.
  kj::Promise<void> on_disconnect() { return network_->onDisconnect(); }
  // Why the connection ended, once it has, if the daemon's side knows:
  // what a read from a socket framed by SocketMessageStream failed on (a
  // message over the limits, a reset, a peer that stopped reading), or else
  // the reason the RPC system sent the peer in its Abort message (what was
  // wrong with a well-framed message, "Peer disconnected." at EOF).
  // on_disconnect() does not say, and before the peer's bootstrap is
  // reached no call on it can fail with the reason either.
  kj::Maybe<kj::Exception> end_reason() const;

 private:
  class AbortWatch;

  // One of stream and messages: capnp frames messages on the stream, or
  // messages is the framing.
  RpcConnection(kj::Own<kj::AsyncIoStream> stream, kj::Own<capnp::MessageStream> messages,
                capnp::Capability::Client bootstrap);

  kj::Own<kj::AsyncIoStream> stream_;
  kj::Own<AbortWatch> messages_;
  const SocketMessageStream* framed_ = nullptr;  // inside messages_, for agent sockets
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
};

}  // namespace smol::ipc
