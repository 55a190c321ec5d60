// BufferedStream: a socket stream for Cap'n Proto RPC that reads ahead and
// coalesces writes, so that a burst of small messages costs one syscall
// each way instead of one or more per message.
//
// Reads: capnp 0.9 reads each message with two or more small reads (its
// segment table, then its segments), each a read(2) of its own on a plain
// KJ socket stream. Reading up to 64 KiB at a time and serving the small
// reads from that buffer turns a burst of messages into one read(2). Reads
// larger than the buffer, with nothing buffered, go straight to the socket,
// so big payloads are not copied twice.
//
// Writes: capnp writes each message as soon as it is built, one writev(2)
// per call or return. Here a small write is copied to a buffer and
// completes at once; the buffer goes to the socket when the event loop has
// nothing else to run (kj::evalLast), before it sleeps. Every reply that
// one group commit answers, or every call an agent issues in one turn,
// thus leaves in one writev(2) and wakes the peer once. No latency is
// added: the flush runs before the loop could wait for anything. A write
// of 64 KiB or more goes straight from the caller's memory, after what is
// buffered. Backpressure: past 64 KiB buffered, or while the socket is
// full, write() does not complete until the buffer has drained, so a peer
// that stops reading holds its writer back as a plain socket would. A
// failed socket write fails every later write with the same exception.
//
// Like any KJ stream it takes one write() at a time; shutdownWrite() sends
// what is buffered first, and so does destruction, as far as the socket
// takes it without waiting.
//
// Thread: the thread of the wrapped stream's event loop.
#pragma once

#include <kj/async-io.h>

#include <vector>

namespace smol::ipc {

class BufferedStream final : public kj::AsyncIoStream, private kj::TaskSet::ErrorHandler {
 public:
  explicit BufferedStream(kj::Own<kj::AsyncIoStream> inner);
  // Hands what is still buffered to the socket, as far as it takes it now:
  // a plain stream would have written it already.
  ~BufferedStream();

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;

 private:
  // Copies up to max bytes from the read buffer to out; returns how many.
  size_t take(kj::byte* out, size_t max);
  kj::Promise<size_t> read_more(kj::byte* out, size_t min_bytes, size_t max_bytes, size_t got);

  // A write too big to copy, sent once everything before it is.
  template <typename Write>
  kj::Promise<void> direct(Write write);
  // After a small write was buffered: completes now, or once drained if the
  // buffer is full.
  kj::Promise<void> queued();
  void schedule_flush();
  // Hands the write buffer to the socket, unless a write is already out.
  void flush();
  void write_done();
  void write_failed(kj::Exception&& e);
  // Resolves once nothing is buffered or being written.
  kj::Promise<void> drained();
  void taskFailed(kj::Exception&& e) override;

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Array<kj::byte> in_;
  size_t in_begin_ = 0, in_end_ = 0;  // the unread bytes are in_[in_begin_, in_end_)

  std::vector<kj::byte> out_;      // written by the caller, not yet handed to the socket
  std::vector<kj::byte> sending_;  // handed to the socket, which has not taken all of it
  bool writing_ = false;           // a socket write (of sending_, or a big write) is out
  bool flush_scheduled_ = false;
  bool shutdown_pending_ = false;
  kj::Maybe<kj::Exception> failure_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained_waiter_;
  kj::TaskSet tasks_;  // declared last: its flushes use the members above
};

}  // namespace smol::ipc
