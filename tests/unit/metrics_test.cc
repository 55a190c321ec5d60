#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>

#include <memory>
#include <regex>
#include <string>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "metrics/exposer.h"
#include "metrics/metrics.h"

namespace smol::metrics {
namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// GET path from 127.0.0.1:port over plain HTTP/1.0; returns the whole
// response, headers included (the server closes after it).
std::string http_get(uint16_t port, const std::string& path) {
  UniqueFd fd(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in to = loopback(port);
  check_sys(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), "connect");
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  check_sys(::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL), "send");
  std::string response;
  char buf[4096];
  while (ssize_t n = check_sys(::recv(fd.get(), buf, sizeof buf, 0), "recv")) response.append(buf, n);
  return response;
}

class MetricsTest : public ::testing::Test {
 protected:
  std::string scrape() {
    std::string response = http_get(port_of(exposer_.address()), "/metrics");
    EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
    return response;
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  Metrics metrics_{registry_};
  MetricsExposer exposer_{"127.0.0.1:0", registry_};
};

bool has_line(const std::string& body, const std::string& line) {
  return body.find("\n" + line + "\n") != std::string::npos;
}

TEST_F(MetricsTest, PortZeroReportsTheBoundLoopbackPort) {
  EXPECT_TRUE(std::regex_match(exposer_.address(), std::regex(R"(127\.0\.0\.1:[1-9][0-9]*)")))
      << exposer_.address();
}

TEST_F(MetricsTest, ScrapeShowsEveryFamilyWithItsValues) {
  metrics_.set_swarms(2);
  metrics_.agent_state_changed("alpha", std::nullopt, "starting");
  metrics_.agent_state_changed("alpha", std::nullopt, "starting");
  metrics_.agent_state_changed("alpha", "starting", "ready");
  metrics_.observe_spawn(0.003);
  metrics_.agent_exited("alpha", "crashed");
  metrics_.agent_exited("alpha", "crashed");
  metrics_.agent_exited("alpha", "start_timeout");
  metrics_.control_request("spawnSwarm", "ok");
  metrics_.control_request("status", "denied");

  std::string body = scrape();
  EXPECT_TRUE(std::regex_search(body, std::regex("\nsmolswarms_build_info\\{version=\"[^\"]+\"\\} 1\n")))
      << body;
  EXPECT_TRUE(has_line(body, "smolswarms_swarms 2")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="starting",swarm="alpha"} 1)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="ready",swarm="alpha"} 1)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="stopping",swarm="alpha"} 0)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="exited",swarm="alpha"} 0)")) << body;
  EXPECT_TRUE(has_line(body, "smolswarms_agent_spawn_seconds_count 1")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agent_spawn_seconds_bucket{le="0.0025"} 0)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agent_spawn_seconds_bucket{le="0.005"} 1)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agent_exits_total{reason="crashed",swarm="alpha"} 2)"))
      << body;
  EXPECT_TRUE(
      has_line(body, R"(smolswarms_agent_exits_total{reason="start_timeout",swarm="alpha"} 1)"))
      << body;
  EXPECT_TRUE(
      has_line(body, R"(smolswarms_control_requests_total{method="spawnSwarm",result="ok"} 1)"))
      << body;
  EXPECT_TRUE(
      has_line(body, R"(smolswarms_control_requests_total{method="status",result="denied"} 1)"))
      << body;
  EXPECT_NE(body.find("# HELP smolswarms_agents "), std::string::npos) << body;
}

TEST_F(MetricsTest, AgentThatGoesAwayLeavesItsState) {
  metrics_.agent_state_changed("alpha", std::nullopt, "starting");
  metrics_.agent_state_changed("alpha", "starting", "exited");
  metrics_.agent_state_changed("alpha", "exited", std::nullopt);
  std::string body = scrape();
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="starting",swarm="alpha"} 0)")) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="exited",swarm="alpha"} 0)")) << body;
}

TEST_F(MetricsTest, ForgetSwarmRemovesOnlyThatSwarmsSeries) {
  metrics_.agent_state_changed("alpha", std::nullopt, "ready");
  metrics_.agent_exited("alpha", "stopped");
  metrics_.agent_state_changed("beta", std::nullopt, "ready");
  metrics_.forget_swarm("alpha");
  // The forgotten swarm's agents winding down must not bring it back.
  metrics_.agent_state_changed("alpha", "ready", std::nullopt);

  std::string body = scrape();
  EXPECT_EQ(body.find(R"(swarm="alpha")"), std::string::npos) << body;
  EXPECT_TRUE(has_line(body, R"(smolswarms_agents{state="ready",swarm="beta"} 1)")) << body;
}

// What MetricsExposer says when it cannot listen on address; "" if it can.
std::string listen_error(const std::string& address) {
  try {
    MetricsExposer exposer(address, std::make_shared<prometheus::Registry>());
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

TEST(MetricsExposerTest, BusyPortIsAClearError) {
  UniqueFd holder(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in at = loopback(0);
  check_sys(::bind(holder.get(), reinterpret_cast<sockaddr*>(&at), sizeof at), "bind");
  check_sys(::listen(holder.get(), 1), "listen");
  socklen_t len = sizeof at;
  check_sys(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&at), &len), "getsockname");
  std::string address = "127.0.0.1:" + std::to_string(ntohs(at.sin_port));

  EXPECT_EQ(listen_error(address),
            "cannot listen for metrics on " + address + ": bind: Address already in use");
}

TEST(MetricsExposerTest, MalformedAddressIsAClearError) {
  EXPECT_EQ(listen_error("127.0.0.1:99999"),
            "cannot listen for metrics on 127.0.0.1:99999: port must be a number from 0 to 65535");
  EXPECT_EQ(listen_error("9464"), "cannot listen for metrics on 9464: expected host:port");
}

}  // namespace
}  // namespace smol::metrics
