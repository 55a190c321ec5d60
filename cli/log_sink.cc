#include "cli/log_sink.h"

#include "cli/failure.h"
#include "cli/output.h"

namespace smol::cli {

// What the FollowedLog and its sink share: the output and the one ending.
class FollowedLog::Shared final : public kj::Refcounted {
 public:
  Shared(bool json, kj::Own<kj::PromiseFulfiller<FollowEnd>> ended)
      : json_(json), ended_(kj::mv(ended)) {}

  // Prints one chunk; returns false (and ends following) if stdout failed.
  bool print(kj::ArrayPtr<const kj::byte> data) {
    std::string_view text(data.asChars().begin(), data.size());
    try {
      if (json_) {
        print_json({{"data", text}});
      } else {
        cli::print(text);
      }
      return true;
    } catch (const Failure& e) {
      finish({FollowEnd::How::output_failed, e.what()});
      return false;
    }
  }

  // The first ending wins; later ones change nothing.
  void finish(FollowEnd end) {
    if (ended_->isWaiting()) ended_->fulfill(kj::mv(end));
  }

 private:
  bool json_;
  kj::Own<kj::PromiseFulfiller<FollowEnd>> ended_;
};

class FollowedLog::Sink final : public rpc::LogSink::Server {
 public:
  explicit Sink(kj::Own<Shared> shared) : shared_(kj::mv(shared)) {}

  ~Sink() noexcept(false) {
    // The RPC system drops its reference when swarmd releases the sink (or
    // the connection is gone); without an end() first, say so rather than
    // wait forever.
    shared_->finish({FollowEnd::How::dropped, "swarmd stopped sending the log without saying why"});
  }

 protected:
  kj::Promise<void> write(WriteContext ctx) override {
    if (shared_->print(ctx.getParams().getData())) return kj::READY_NOW;
    // Fails the stream too, so swarmd stops sending.
    return KJ_EXCEPTION(DISCONNECTED, "swarmctl's output is closed");
  }

  kj::Promise<void> end(EndContext ctx) override {
    auto reason = ctx.getParams().getReason();
    shared_->finish({FollowEnd::How::ended, std::string(reason.cStr(), reason.size())});
    return kj::READY_NOW;
  }

 private:
  kj::Own<Shared> shared_;
};

FollowedLog::FollowedLog(bool json) : ended_(nullptr) {
  auto pair = kj::newPromiseAndFulfiller<FollowEnd>();
  shared_ = kj::refcounted<Shared>(json, kj::mv(pair.fulfiller));
  ended_ = pair.promise.fork();
}

FollowedLog::~FollowedLog() = default;

rpc::LogSink::Client FollowedLog::make_sink() { return kj::heap<Sink>(kj::addRef(*shared_)); }

void FollowedLog::print(capnp::Data::Reader data) {
  if (data.size() > 0) shared_->print(data);
}

kj::Promise<FollowEnd> FollowedLog::until_end(kj::Promise<void> answered) {
  // A failed write also fails the stream, and swarmd then fails the call
  // with our own error coming back to us; the local reason is the one to
  // show. A dropped sink waits for the call instead: on a hang-up the call's
  // own error says more.
  auto failed = ended_.addBranch().then([](FollowEnd end) -> kj::Promise<FollowEnd> {
    if (end.how == FollowEnd::How::output_failed) return kj::mv(end);
    return kj::NEVER_DONE;
  });
  return answered.then([ended = ended_.addBranch()]() mutable { return kj::mv(ended); })
      .exclusiveJoin(kj::mv(failed));
}

}  // namespace smol::cli
