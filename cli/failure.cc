#include "cli/failure.h"

#include <iostream>

namespace smol::cli {
namespace {

// Cap'n Proto marks every exception that crossed the wire this way (rpc.c++,
// toException); the text after it is the daemon's message, which it writes
// to be shown as is. There is no other field that tells the two apart.
constexpr std::string_view kRemotePrefix = "remote exception: ";

}  // namespace

std::string describe_rpc_failure(const kj::Exception& e) {
  std::string_view text(e.getDescription().cStr(), e.getDescription().size());
  if (text.starts_with(kRemotePrefix)) return std::string(text.substr(kRemotePrefix.size()));
  if (e.getType() == kj::Exception::Type::DISCONNECTED) {
    return "swarmd closed the connection before the call finished (did it exit or restart? "
           "see 'journalctl -u swarmd')";
  }
  return "talking to swarmd failed: " + std::string(text);
}

void report_failure(std::string_view message) {
  std::cerr << "swarmctl: " << message;
  if (!message.ends_with('\n')) std::cerr << '\n';
  std::cerr.flush();
}

}  // namespace smol::cli
