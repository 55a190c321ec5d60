#include "metrics/exposer.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::metrics {
namespace {

struct HostPort {
  std::string host, port;
};

std::runtime_error cannot_listen(const std::string& listen, std::string_view reason) {
  return std::runtime_error("cannot listen for metrics on " + listen + ": " + std::string(reason));
}

HostPort split(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw cannot_listen(listen, "expected host:port");
  std::string_view port = std::string_view(listen).substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    throw cannot_listen(listen, "port must be a number from 0 to 65535");
  }
  return {listen.substr(0, colon), std::string(port)};
}

// civetweb tells why it cannot listen only to a log callback (reachable only
// by linking civetweb itself); the exception prometheus-cpp passes on says
// "Possible problem binding to port". Binding the address ourselves recovers
// the errno. Returns "" when that bind works, i.e. the cause lies elsewhere.
std::string bind_failure(const HostPort& at) {
  addrinfo hints{};
  hints.ai_family = AF_INET;  // civetweb resolves "host:port" to IPv4 only
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(at.host.c_str(), at.port.c_str(), &hints, &found); rc != 0) {
    return "getaddrinfo(" + at.host + "): " + gai_strerror(rc);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
  UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return describe_errno(errno, "socket");
  // civetweb sets it too, so a port left in TIME_WAIT is not reported as busy.
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0) {
    return describe_errno(errno, "bind");
  }
  return {};
}

}  // namespace

MetricsExposer::MetricsExposer(const std::string& listen,
                               std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  HostPort at = split(listen);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    std::string why = bind_failure(at);
    throw cannot_listen(listen, why.empty() ? e.what() : why);
  }
  exposer_->RegisterCollectable(registry_);
  address_ = at.host + ":" + std::to_string(exposer_->GetListeningPorts().at(0));
}

}  // namespace smol::metrics
