// Failure: the one way a swarmctl command fails.
//
// It carries the message for the person at the terminal (what failed and
// what to do about it, without the "swarmctl: " prefix, which main() adds)
// and the exit status: 1 for a failure, 2 for bad usage. Commands throw it;
// only main() prints it, so every message is printed exactly once.
#pragma once

#include <kj/exception.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace smol::cli {

class Failure : public std::runtime_error {
 public:
  static constexpr int kFailed = 1;
  static constexpr int kUsage = 2;

  explicit Failure(const std::string& message, int exit_status = kFailed)
      : std::runtime_error(message), exit_status_(exit_status) {}

  int exit_status() const noexcept { return exit_status_; }

 private:
  int exit_status_;
};

// Turns an exception from a call to swarmd into the message to print: the
// daemon's own words for errors it raised, or a plain sentence for a lost
// connection.
std::string describe_rpc_failure(const kj::Exception& e);

// Prints `message` on stderr, its first line prefixed "swarmctl: " and any
// further lines (a daemon's multi-line message) as they are.
void report_failure(std::string_view message);

}  // namespace smol::cli
