// FollowedLog: the LogSink that `swarmctl logs -f` hands to swarmd, and the
// promise that says when following is over.
//
// What swarmd pushes goes straight to stdout, as raw bytes or, with --json,
// as one JSON document per line ({"data": ...}). Stdout is written
// synchronously from write(): a slow reader (a pager, a pipe) holds the call
// open, and Cap'n Proto's stream flow control then slows swarmd down instead
// of letting messages pile up in memory.
#pragma once

#include <kj/async.h>

#include <string>

#include "ipc/control.capnp.h"

namespace smol::cli {

// How following ended.
struct FollowEnd {
  enum class How {
    ended,          // swarmd called end()
    output_failed,  // stdout is gone
    dropped,        // swarmd released the sink (or hung up) without end()
  };
  How how;
  std::string reason;  // swarmd's reason from end(), or what went wrong
};

class FollowedLog {
 public:
  explicit FollowedLog(bool json);
  ~FollowedLog();
  FollowedLog(const FollowedLog&) = delete;
  FollowedLog& operator=(const FollowedLog&) = delete;

  // The capability to pass to agentLogs.
  rpc::LogSink::Client make_sink();

  // Prints data that came another way (the call's answer) like a write();
  // if stdout fails, following ends as failed.
  void print(capnp::Data::Reader data);

  // Resolves once `answered` (the agentLogs call, with its data printed) has
  // resolved and following has ended, in whichever order they come; or at
  // once if stdout fails, whatever the call does then.
  kj::Promise<FollowEnd> until_end(kj::Promise<void> answered);

 private:
  class Shared;
  class Sink;
  kj::Own<Shared> shared_;
  kj::ForkedPromise<FollowEnd> ended_;
};

}  // namespace smol::cli
