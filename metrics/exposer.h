// MetricsExposer: serves the registry as GET /metrics over HTTP.
//
// A thin owner of prometheus::Exposer (civetweb) that reports where it really
// listens and why it could not. main() builds it (or not, when metrics are
// off) after Metrics, around the same registry.
//
// Threads: construct and destroy it on the loop thread. civetweb answers
// scrapes on two threads of its own, which only read the registry. The
// destructor stops them and may block up to 2 s once anything was scraped:
// civetweb's accept loop only notices the stop when its fixed 2 s poll ends.
#pragma once

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace smol::metrics {

class MetricsExposer {
 public:
  // Listens on listen, "host:port" with host an IPv4 address or a name
  // resolving to one; port 0 lets the kernel pick a free port. Shares
  // ownership of registry so a scrape never finds it gone. Throws
  // std::runtime_error naming the address and the reason, e.g.
  // "cannot listen for metrics on 127.0.0.1:9464: bind: Address already in use".
  MetricsExposer(const std::string& listen, std::shared_ptr<prometheus::Registry> registry);

  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // Where scrapes go: the host as given and the port actually bound, e.g.
  // "127.0.0.1:40123".
  std::string address() const { return address_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace smol::metrics
