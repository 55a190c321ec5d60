// ReadBufferedStream: a stream that reads ahead, for Cap'n Proto RPC.
//
// capnp 0.9 reads each message with two or more small reads (its segment
// table, then its segments), each a read(2) of its own on a plain KJ socket
// stream. A peer that keeps several calls in flight (an agent's pipelined
// memory puts, a batch of messages) thus costs the daemon a few syscalls
// per message. Reading up to 64 KiB at a time and serving the small reads
// from that buffer turns a burst of messages into one read(2). Reads larger
// than the buffer, with nothing buffered, go straight to the socket, so big
// payloads are not copied twice. Writes pass through.
//
// Thread: the thread of the wrapped stream's event loop.
#pragma once

#include <kj/async-io.h>

namespace smol::ipc {

class ReadBufferedStream final : public kj::AsyncIoStream {
 public:
  explicit ReadBufferedStream(kj::Own<kj::AsyncIoStream> inner);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;

 private:
  // Copies up to max bytes from the buffer to out; returns how many.
  size_t take(kj::byte* out, size_t max);
  kj::Promise<size_t> read_more(kj::byte* out, size_t min_bytes, size_t max_bytes, size_t got);

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Array<kj::byte> buffer_;
  size_t begin_ = 0, end_ = 0;  // the unread bytes are buffer_[begin_, end_)
};

}  // namespace smol::ipc
