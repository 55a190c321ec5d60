// smol-bench-agent: the agents of messaging_bench. One program, the mode
// chosen by its first argument. Every timed mode waits for a "go" message
// from the operator (swarmctl dm or broadcast, any topic, payload "go"),
// does its work, prints one line "RESULT key=value ..." on stdout (times are
// CLOCK_MONOTONIC nanoseconds: every agent runs on the same host, so the
// bench compares them across agents) and then exits, which is what the
// bench waits for (`swarmctl logs -f` returns at the exit): nothing polls
// the daemon while it is being measured. "echo" serves until shut down.
//
//   echo                answers every request at once with its payload
//   ping N BYTES        N sequential request()s of BYTES bytes to b-0 (after
//                       200 untimed): RESULT p50_ns p99_ns n total_ns
//   flood PER           sends PER dms to each other agent of its role
//                       (round-robin), counts the dms it receives until
//                       PER * (peers - 1): RESULT start_ns last_ns sent recv
//   cast K              K broadcasts of 64 bytes, then dm "end" to every
//                       listener: RESULT start_ns end_ns recipients refused
//   listen              counts broadcasts until "end":
//                       RESULT recv first_ns last_ns
//   bcastlat N          N broadcasts carrying their send time, each after
//                       the previous one was acknowledged (dm from bl-0)
//   blisten N           acknowledges each broadcast; after N (and 100
//                       untimed): RESULT p50_ns p99_ns n
//   put M [W]           M memory puts of 64 bytes to the working tier, W
//                       (default 1) in flight: RESULT start_ns end_ns puts failed
#include <time.h>

#include <algorithm>
#include <deque>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <kj/async.h>

#include "agent_runtime/memory.h"
#include "agent_runtime/smolagent.h"

namespace {

using smol::agent::Message;

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t pct(std::vector<uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// A one-shot event the handlers can signal and the main flow can wait for.
struct Signal {
  kj::Own<kj::PromiseFulfiller<void>> fulfiller;
  kj::Promise<void> promise = kj::READY_NOW;
  bool fired = false;
  void arm() {
    auto paf = kj::newPromiseAndFulfiller<void>();
    fulfiller = kj::mv(paf.fulfiller);
    promise = kj::mv(paf.promise);
    fired = false;
  }
  void fire() {
    fired = true;
    if (fulfiller) fulfiller->fulfill();
  }
  void wait(kj::WaitScope& ws) {
    promise.wait(ws);
    promise = kj::READY_NOW;
  }
};

long arg(int argc, char** argv, int i) {
  if (i >= argc) {
    std::fprintf(stderr, "smol-bench-agent %s: missing argument %d\n", argv[1], i - 1);
    std::exit(2);
  }
  return std::strtol(argv[i], nullptr, 10);
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: smol-bench-agent MODE [ARGS]\n");
    return 2;
  }
  const std::string mode = argv[1];
  smol::agent::AgentSession session;
  Signal go, event;
  go.arm();
  event.arm();

  // Counters the handlers update.
  uint64_t recv = 0, expect = 0, first_ns = 0, last_ns = 0;
  std::vector<uint64_t> lat;
  long blisten_n = 0;
  std::string me;

  session.on_message([&](const Message& m) {
    if (m.from == "operator") {
      if (m.payload == "go" && !go.fired) go.fire();
      return;
    }
    if (mode == "echo") {
      if (m.kind == Message::Kind::request) session.reply(m.request_id, m.payload);
    } else if (mode == "flood") {
      if (m.kind != Message::Kind::dm) return;
      last_ns = now_ns();
      if (++recv == expect) event.fire();
    } else if (mode == "listen") {
      if (m.kind == Message::Kind::broadcast) {
        last_ns = now_ns();
        if (recv++ == 0) first_ns = last_ns;
      } else if (m.kind == Message::Kind::dm && m.topic == "end") {
        std::printf("RESULT recv=%" PRIu64 " first_ns=%" PRIu64 " last_ns=%" PRIu64 "\n", recv,
                    first_ns, last_ns);
        event.fire();
      }
    } else if (mode == "bcastlat") {
      if (m.kind == Message::Kind::dm && m.topic == "ack") event.fire();
    } else if (mode == "blisten") {
      if (m.kind != Message::Kind::broadcast || m.payload.size() < 8) return;
      uint64_t sent = 0;
      std::memcpy(&sent, m.payload.data(), 8);
      uint64_t t = now_ns();
      if (recv++ >= 100) lat.push_back(t - sent);
      session.send(m.from, "ack", "");
      if (static_cast<long>(lat.size()) == blisten_n) {
        std::printf("RESULT p50_ns=%" PRIu64 " p99_ns=%" PRIu64 " n=%zu\n", pct(lat, 0.50),
                    pct(lat, 0.99), lat.size());
        event.fire();
      }
    }
  });
  auto identity = session.hello();
  me = identity.agent_id;
  auto& ws = session.wait_scope();

  if (mode == "echo") {
    // nothing more: serve
  } else if (mode == "ping") {
    long n = arg(argc, argv, 2), bytes = arg(argc, argv, 3);
    std::string payload(static_cast<size_t>(bytes), 'p');
    go.wait(ws);
    for (int i = 0; i < 200; ++i) session.request("b-0", "ping", payload);
    std::vector<uint64_t> rtt;
    rtt.reserve(static_cast<size_t>(n));
    uint64_t start = now_ns();
    for (long i = 0; i < n; ++i) {
      uint64_t t = now_ns();
      session.request("b-0", "ping", payload);
      rtt.push_back(now_ns() - t);
    }
    uint64_t total = now_ns() - start;
    std::printf("RESULT p50_ns=%" PRIu64 " p99_ns=%" PRIu64 " n=%ld total_ns=%" PRIu64 "\n",
                pct(rtt, 0.50), pct(rtt, 0.99), n, total);
  } else if (mode == "flood") {
    long per = arg(argc, argv, 2);
    uint32_t peers = 0;
    for (auto& [role, count] : identity.peers) {
      if (role == identity.role) peers = count;
    }
    expect = static_cast<uint64_t>(per) * (peers - 1);
    std::string payload(64, 'f');
    go.wait(ws);
    uint64_t start = now_ns();
    uint64_t sent = 0;
    for (long k = 0; k < per; ++k) {
      for (uint32_t j = 1; j < peers; ++j) {
        session.send(identity.role + "-" + std::to_string((identity.index + j) % peers), "f",
                     payload);
        ++sent;
      }
    }
    session.flush();
    if (recv < expect) event.wait(ws);
    std::printf("RESULT start_ns=%" PRIu64 " last_ns=%" PRIu64 " sent=%" PRIu64
                " recv=%" PRIu64 "\n",
                start, last_ns, sent, recv);
  } else if (mode == "cast") {
    long k = arg(argc, argv, 2);
    std::string payload(64, 'c');
    go.wait(ws);
    uint64_t start = now_ns(), recipients = 0, refused = 0;
    for (long i = 0; i < k; ++i) {
      auto r = session.broadcast("b", payload);
      recipients += r.recipients;
      refused += r.refused.size();
    }
    uint64_t end = now_ns();
    for (auto& [role, count] : identity.peers) {
      if (role == identity.role) continue;
      for (uint32_t i = 0; i < count; ++i) session.send(role + "-" + std::to_string(i), "end", "");
    }
    session.flush();
    std::printf("RESULT start_ns=%" PRIu64 " end_ns=%" PRIu64 " recipients=%" PRIu64
                " refused=%" PRIu64 "\n",
                start, end, recipients, refused);
  } else if (mode == "listen") {
    event.wait(ws);  // the handler counts, and reports at "end"
  } else if (mode == "bcastlat") {
    long n = arg(argc, argv, 2);
    go.wait(ws);
    std::string payload(64, 'l');
    for (long i = 0; i < n + 100; ++i) {
      event.arm();
      uint64_t t = now_ns();
      std::memcpy(payload.data(), &t, 8);
      session.broadcast("lat", payload);
      if (!event.fired) event.wait(ws);
    }
    std::printf("RESULT casts=%ld\n", n + 100);
  } else if (mode == "blisten") {
    blisten_n = arg(argc, argv, 2);
    event.wait(ws);  // the handler acknowledges, and reports after the last
  } else if (mode == "put") {
    long m = arg(argc, argv, 2);
    auto* memory = session.memory();
    if (memory == nullptr) throw std::runtime_error("no memory granted");
    std::string value(64, 'v');
    go.wait(ws);
    // Up to `window` puts in flight at once, each its own RPC.
    long window = argc > 3 ? arg(argc, argv, 3) : 1;
    uint64_t start = now_ns(), failed = 0;
    std::deque<kj::Promise<void>> in_flight;
    auto settle = [&] {
      try {
        in_flight.front().wait(ws);
      } catch (const kj::Exception& e) {
        if (failed++ == 0) std::fprintf(stderr, "put failed: %s\n", e.getDescription().cStr());
      }
      in_flight.pop_front();
    };
    for (long i = 0; i < m; ++i) {
      if (static_cast<long>(in_flight.size()) >= window) settle();
      in_flight.push_back(memory->put_async(smol::agent::Tier::working, me + "/" + std::to_string(i), value));
    }
    while (!in_flight.empty()) settle();
    uint64_t end = now_ns();
    std::printf("RESULT start_ns=%" PRIu64 " end_ns=%" PRIu64 " puts=%ld failed=%" PRIu64 "\n",
                start, end, m, failed);
  } else {
    std::fprintf(stderr, "smol-bench-agent: unknown mode %s\n", mode.c_str());
    return 2;
  }
  session.flush();  // the last acknowledgements
  std::fflush(stdout);
  if (mode == "echo") session.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-bench-agent: %s\n", e.what());
    std::printf("RESULT error\n");
    std::fflush(stdout);
    return 1;
  }
}
