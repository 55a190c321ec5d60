#include "ipc/rpc_connection.h"

#include <capnp/rpc.capnp.h>

#include "ipc/socket_message_stream.h"

namespace smol::ipc {

// The connection's message stream, passed through, noting the reason of the
// Abort message the RPC system writes as it ends the connection (it writes
// nothing after it). Looking at an outgoing message's root copies nothing,
// and allocates nothing for a message of one segment.
class RpcConnection::AbortWatch final : public capnp::MessageStream {
 public:
  explicit AbortWatch(kj::Own<capnp::MessageStream> inner) : inner_(kj::mv(inner)) {}

  const capnp::MessageStream& inner() const noexcept { return *inner_; }
  const kj::Maybe<kj::Exception>& abort_reason() const noexcept { return reason_; }

  using capnp::MessageStream::tryReadMessage;
  using capnp::MessageStream::writeMessage;

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch) override {
    return inner_->tryReadMessage(fd_space, options, scratch);
  }
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override {
    note(segments);
    return inner_->writeMessage(fds, segments);
  }
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override {
    for (auto segments : messages) note(segments);
    return inner_->writeMessages(messages);
  }
  kj::Maybe<int> getSendBufferSize() override { return inner_->getSendBufferSize(); }
  kj::Promise<void> end() override { return inner_->end(); }

 private:
  void note(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
    // Our own RPC system built the message: it is well formed.
    capnp::SegmentArrayMessageReader message(segments);
    auto root = message.getRoot<capnp::rpc::Message>();
    if (!root.isAbort() || reason_ != nullptr) return;
    auto abort = root.getAbort();
    auto type = abort.getType() == capnp::rpc::Exception::Type::DISCONNECTED
                    ? kj::Exception::Type::DISCONNECTED
                    : kj::Exception::Type::FAILED;
    reason_ = kj::Exception(type, __FILE__, __LINE__, kj::str(abort.getReason()));
  }

  kj::Own<capnp::MessageStream> inner_;
  kj::Maybe<kj::Exception> reason_;
};

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
                    kj::heap<SocketMessageStream>(loop.io().unixEventPort, std::move(fd)),
                    kj::mv(bootstrap)) {
  framed_ = &static_cast<const SocketMessageStream&>(messages_->inner());
}

RpcConnection::~RpcConnection() = default;

kj::Maybe<kj::Exception> RpcConnection::end_reason() const {
  // A failed read ends the connection before any Abort, whose write may
  // never happen (it waits for the writes before it, and a stalled
  // stream's writes fail).
  if (framed_ != nullptr) {
    KJ_IF_MAYBE (e, framed_->read_failure()) { return kj::cp(*e); }
  }
  KJ_IF_MAYBE (e, messages_->abort_reason()) { return kj::cp(*e); }
  return nullptr;
}

RpcConnection::RpcConnection(kj::Own<kj::AsyncIoStream> stream,
                             capnp::Capability::Client bootstrap)
    : RpcConnection(kj::mv(stream), kj::Own<capnp::MessageStream>(), kj::mv(bootstrap)) {}

RpcConnection::RpcConnection(kj::Own<kj::AsyncIoStream> stream,
                             kj::Own<capnp::MessageStream> messages,
                             capnp::Capability::Client bootstrap)
    : stream_(kj::mv(stream)),
      messages_(kj::heap<AbortWatch>(messages ? kj::mv(messages)
                                              : kj::heap<capnp::AsyncIoMessageStream>(*stream_))),
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
