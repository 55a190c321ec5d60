// SocketMessageStream: Cap'n Proto messages over one stream socket, framed
// here rather than by capnp's byte-stream reader and writer, so that a
// burst of messages costs one syscall each way and a message already read
// costs none.
//
// Reads: capnp 0.9 reads a message off a byte stream with two or three small
// reads (its segment table, then its segments), each a promise and an event
// turn of its own. Here the socket is read up to 64 KiB at a time, and every
// whole message in that buffer is handed out at once, with no syscall and
// no wait. The socket is read until it reports itself empty (EAGAIN), then
// the next read waits for epoll: a short read alone proves nothing (the
// kernel stops a read at a hang-up, at passed fds, at out-of-band data). A
// message bigger than the buffer is read straight into its own memory.
// Bytes taken from the socket are kept even if the read waiting for the
// rest of a message is given up.
//
// Limits, checked on the segment table before anything is allocated, since
// the peer may be hostile: fewer than 512 segments, and no more words in all
// than the reader options' traversal limit, as capnp's own reader checks. A
// message over either is an error from tryReadMessage(), which ends the RPC
// session. EOF between two messages is a clean end (null); EOF inside one
// is DISCONNECTED. No file descriptors travel with messages.
//
// Writes: a message is copied to a buffer and its write completes at once;
// the buffer goes to the socket when the event loop has nothing else to run
// (kj::evalLast), before it sleeps. Every reply that one group commit
// answers, or every call an agent makes in one turn, thus leaves in one
// send and wakes the peer once, and no latency is added: the flush runs
// before the loop could wait for anything. A write never waits: capnp
// chains each message after the write before it, and a chain of writes
// waiting on a peer that does not read grows by a promise per message
// (hundreds of thousands, whose destruction overflowed the stack). Instead
// the bytes not yet taken by the socket are bounded: past 32 MiB the peer
// has stopped reading, and the stream fails, every write and read after
// that with it (the read is what ends capnp's connection), with a message
// that says so. A peer that sends calls and never reads their answers thus
// costs the daemon at most that much. A failed send fails every later write
// with the same exception. end() sends what is buffered, then shuts the
// socket down for writing; destruction sends what is buffered as far as the
// socket takes it without waiting.
//
// Wakeups: epoll watches the socket for data only. Watched for room as well
// (as KJ's own streams are), every read by the peer would report room and
// wake this process for nothing; with a daemon answering a hundred agents
// at once, half of their wakeups were those. Only while a send waits for a
// full socket to drain is a duplicate of the fd watched for room.
//
// Thread: the thread of the event port it was made with.
#pragma once

#include <capnp/serialize-async.h>
#include <kj/async-unix.h>

#include <vector>

#include "base/unique_fd.h"

namespace smol::ipc {

class SocketMessageStream final : public capnp::MessageStream,
                                  private kj::TaskSet::ErrorHandler {
 public:
  // Takes a connected stream socket, and makes it non-blocking.
  SocketMessageStream(kj::UnixEventPort& port, UniqueFd fd);
  ~SocketMessageStream();
  SocketMessageStream(const SocketMessageStream&) = delete;
  SocketMessageStream& operator=(const SocketMessageStream&) = delete;

  // capnp's conveniences (a MessageBuilder, no fds) call these.
  using capnp::MessageStream::tryReadMessage;
  using capnp::MessageStream::writeMessage;

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch) override;
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override;
  kj::Promise<void> end() override;

  // Why reading failed (a message over the limits, EOF inside one, a
  // socket error, a peer that stopped reading), if it did: capnp ends the
  // connection on it without saying why to anyone but the peer.
  const kj::Maybe<kj::Exception>& read_failure() const noexcept { return read_failure_; }

 private:
  using Message = kj::Maybe<kj::Own<capnp::MessageReader>>;

  // Reading.
  kj::Promise<Message> read_message(capnp::ReaderOptions options);
  // Bytes of the first buffered message, header included; null until its
  // segment table is buffered. Throws if the table breaks the limits.
  kj::Maybe<size_t> framed_size(const capnp::ReaderOptions& options) const;
  kj::Own<capnp::MessageReader> take_message(size_t bytes, const capnp::ReaderOptions& options);
  // A message bigger than the buffer: moves what is buffered of it to its
  // own memory (big_), where the rest is read.
  void start_big(size_t bytes);
  kj::Promise<Message> read_big(capnp::ReaderOptions options);
  // One read(2) of up to max bytes into out, once the socket may hold some;
  // adds what came to count at once (so a read given up loses nothing) and
  // sets eof_ at EOF.
  kj::Promise<void> fill(kj::byte* out, size_t max, size_t& count);
  // A read found the socket empty: the next waits for epoll's report.
  void mark_drained();

  // Writing.
  // The peer stopped reading (backlog bytes would wait): fails the stream.
  void stall(size_t backlog);
  void schedule_flush();
  void flush();
  void write_done();
  void write_failed(kj::Exception&& e);
  kj::Promise<void> drained();
  // Sends sending_ from byte `sent` on, waiting for room whenever the
  // socket is full.
  kj::Promise<void> send_from(size_t sent);
  // Resolves once the full socket has room again.
  kj::Promise<void> writable();
  void taskFailed(kj::Exception&& e) override;

  UniqueFd fd_;
  UniqueFd room_fd_;  // fd_'s duplicate, watched for room while a send waits
  kj::UnixEventPort& port_;
  kj::UnixEventPort::FdObserver observer_;  // after fd_: unregisters before the close

  kj::Array<capnp::word> in_;
  size_t in_begin_ = 0, in_end_ = 0;  // the unread bytes of in_, as byte offsets
  kj::Array<capnp::word> big_;  // a big message being read, big_have_ bytes of it so far
  size_t big_have_ = 0;
  bool eof_ = false;
  bool may_be_readable_ = true;  // false from a read that found it empty to epoll's report
  kj::ForkedPromise<void> readable_ = nullptr;

  std::vector<kj::byte> out_;      // written by capnp, not yet handed to the socket
  std::vector<kj::byte> sending_;  // handed to the socket, which has not taken all of it
  bool writing_ = false;           // a send of sending_ is out
  bool flush_scheduled_ = false;
  kj::Maybe<kj::Exception> failure_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained_waiter_;
  kj::Maybe<kj::Exception> read_failure_;  // every later read fails with it too
  kj::Canceler reads_;                      // the read in progress, for stall()
  kj::TaskSet tasks_;  // declared last: its flushes use the members above
};

}  // namespace smol::ipc
