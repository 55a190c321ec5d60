#include "ipc/rpc_connection.h"

#include "ipc/socket_message_stream.h"

namespace smol::ipc {

// 16 MiB of calls in flight from one peer: a few maximal messages, or
// thousands of small ones.
constexpr size_t kFlowLimitWords = 2 * 1024 * 1024;

capnp::ReaderOptions peer_limits() {
  capnp::ReaderOptions o;
  // 16 MiB per message and 32 levels of nesting: far above anything the
  // protocol needs, far below what could hurt the daemon.
  o.traversalLimitInWords = 2 * 1024 * 1024;
  o.nestingLimit = 32;
  return o;
}

RpcConnection::RpcConnection(EventLoop& loop, UniqueFd fd, capnp::Capability::Client bootstrap)
    : RpcConnection(kj::Own<kj::AsyncIoStream>(),
                    kj::Own<capnp::MessageStream>(
                        kj::heap<SocketMessageStream>(loop.io().unixEventPort, std::move(fd))),
                    kj::mv(bootstrap)) {
  framed_ = static_cast<const SocketMessageStream*>(messages_.get());
}

kj::Maybe<kj::Exception> RpcConnection::read_failure() const {
  if (framed_ == nullptr) return nullptr;
  KJ_IF_MAYBE (e, framed_->read_failure()) { return kj::cp(*e); }
  return nullptr;
}

RpcConnection::RpcConnection(kj::Own<kj::AsyncIoStream> stream,
                             capnp::Capability::Client bootstrap)
    : RpcConnection(kj::mv(stream), kj::Own<capnp::MessageStream>(), kj::mv(bootstrap)) {}

RpcConnection::RpcConnection(kj::Own<kj::AsyncIoStream> stream,
                             kj::Own<capnp::MessageStream> messages,
                             capnp::Capability::Client bootstrap)
    : stream_(kj::mv(stream)),
      messages_(messages ? kj::mv(messages)
                         : kj::heap<capnp::AsyncIoMessageStream>(*stream_)),
      network_(kj::heap<capnp::TwoPartyVatNetwork>(*messages_, capnp::rpc::twoparty::Side::SERVER,
                                                   peer_limits())),
      rpc_(kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
          capnp::makeRpcServer(*network_, kj::mv(bootstrap)))) {
  // A peer that pipelines calls the daemon cannot answer yet (sends held
  // back by a full queue, say) would otherwise have them all read and kept:
  // past this many words of calls in flight, its socket is not read.
  rpc_->setFlowLimit(kFlowLimitWords);
}

}  // namespace smol::ipc
