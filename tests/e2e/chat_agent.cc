// smol-chat-agent: a test agent for messaging. It says hello, prints every
// message it receives ("got KIND from FROM [TOPIC]: PAYLOAD"), answers
// requests with "re: PAYLOAD", then runs a script of actions given as
// arguments, prints "script done" and serves the daemon until shut down.
//
//   smol-chat-agent [--slow MS] [--quiet] [--no-reply] [--expect N] ACTION...
//
// Options:
//   --slow MS     takes MS milliseconds over each message (holds up the
//                 daemon's delivery to it, so its queue fills)
//   --quiet       prints no line per message
//   --no-reply    leaves requests unanswered
//   --throw-on TOPIC  its handler throws an int (no std::exception) for
//                 messages with this topic
//   --expect N    once N messages numbered 0.. have come from one sender,
//                 prints "in order: N from SENDER" (or "out of order: ...")
//   --crash-after MS  aborts MS milliseconds after hello, whatever it is doing
//   --garbage-first   writes bytes that are no Cap'n Proto message instead of
//                 saying hello, then keeps running without a word
//   --bad-rpc-first   the same with a well-formed RPC message that breaks
//                 the protocol (a Finish for a question never asked)
// Actions:
//   dm TO TEXT                   one direct message
//   flood TO N                   N direct messages "0".."N-1" (topic seq),
//                                then waits until all are queued: "flooded N"
//   broadcast TOPIC TEXT         "broadcast: R recipients, refused [ids]"
//   request TO TEXT MS           "reply: ..." or "request failed: ..."
//   reply ID TEXT                answers request ID (which it was not sent)
//   sends-then-request TO N      N direct messages, queued, then one request
//   requests TO N                N requests one after another, then "N replies
//                                in CPU_US us of CPU" (this process's, over them)
//   big TO BYTES                 one direct message of BYTES bytes
//   longtopic TO BYTES           one direct message with a topic of BYTES bytes
//   deaf N                       asks for the daemon's bootstrap N times on
//                                its connection, then never reads again
//   garbage                      writes bytes that are no Cap'n Proto message
//                                on its connection to the daemon
//   await                        waits for a message with the topic "go"
//                                (so a test can start misbehaviour only once
//                                the swarm is up)
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>

#include <cerrno>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent_runtime/smolagent.h"

namespace {

using smol::agent::Message;

struct Options {
  long slow_ms = 0;
  bool quiet = false;
  bool reply = true;
  std::string throw_on;
  long expect = 0;
  long crash_after_ms = -1;
  enum class First { hello, garbage, bad_rpc } first = First::hello;
  std::vector<std::string> script;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto number = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a number");
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (a == "--slow") {
      o.slow_ms = number();
    } else if (a == "--throw-on") {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a topic");
      o.throw_on = argv[++i];
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--no-reply") {
      o.reply = false;
    } else if (a == "--expect") {
      o.expect = number();
    } else if (a == "--garbage-first") {
      o.first = Options::First::garbage;
    } else if (a == "--bad-rpc-first") {
      o.first = Options::First::bad_rpc;
    } else if (a == "--crash-after") {
      o.crash_after_ms = number();
    } else {
      o.script.assign(argv + i, argv + argc);
      break;
    }
  }
  return o;
}

const char* kind_name(Message::Kind k) {
  switch (k) {
    case Message::Kind::dm: return "dm";
    case Message::Kind::broadcast: return "broadcast";
    case Message::Kind::request: return "request";
    case Message::Kind::undeliverable: return "undeliverable";
  }
  return "?";
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// Asks the daemon for its bootstrap capability n times, straight on the
// connection (question ids of its own, far above the session's), and then
// never reads again: every answer waits for it in the daemon.
[[noreturn]] void deaf(unsigned long n) {
  int fd = std::atoi(std::getenv("SMOLSWARMS_FD"));
  std::string bytes;
  for (unsigned long i = 0; i < n; ++i) {
    capnp::MallocMessageBuilder m(16);
    m.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(static_cast<uint32_t>((1u << 30) + i));
    kj::Array<capnp::word> flat = capnp::messageToFlatArray(m);
    bytes.append(reinterpret_cast<const char*>(flat.begin()), flat.size() * sizeof(capnp::word));
  }
  for (size_t at = 0; at < bytes.size();) {
    ssize_t w = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (w > 0) {
      at += static_cast<size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      say("deaf: the connection broke after " + std::to_string(at) + " bytes");
      break;
    }
  }
  say("deaf: asked " + std::to_string(n) + " times, reading no more");
  for (;;) ::pause();
}

// Checks that the numbered messages of each sender come in order.
struct OrderCheck {
  long expect;
  std::map<std::string, long> next;
  std::map<std::string, bool> broken;

  void see(const Message& m) {
    if (expect == 0 || m.topic != "seq") return;
    long n = std::strtol(m.payload.c_str(), nullptr, 10);
    long& want = next[m.from];
    if (n != want) broken[m.from] = true;
    want = n + 1;
    if (want == expect) {
      say(std::string(broken[m.from] ? "out of order: " : "in order: ") + std::to_string(expect) +
          " from " + m.from);
    }
  }
};

// User and system CPU time this process has used.
long cpu_us() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) throw std::runtime_error("getrusage failed");
  auto us = [](const timeval& t) { return t.tv_sec * 1000000L + t.tv_usec; };
  return us(u.ru_utime) + us(u.ru_stime);
}

// Fulfilled by the message handler when a "go" arrives.
kj::Own<kj::PromiseFulfiller<void>> go;

void run_script(smol::agent::AgentSession& s, const std::vector<std::string>& script) {
  auto arg = [&](size_t i) -> const std::string& {
    if (i >= script.size()) throw std::invalid_argument("script ends too early");
    return script[i];
  };
  for (size_t i = 0; i < script.size();) {
    const std::string& action = script[i];
    try {
      if (action == "dm") {
        s.send(arg(i + 1), "", arg(i + 2));
        s.flush();
        i += 3;
      } else if (action == "flood") {
        long n = std::strtol(arg(i + 2).c_str(), nullptr, 10);
        for (long k = 0; k < n; ++k) s.send(arg(i + 1), "seq", std::to_string(k));
        s.flush();
        say("flooded " + std::to_string(n));
        i += 3;
      } else if (action == "broadcast") {
        auto r = s.broadcast(arg(i + 1), arg(i + 2));
        std::string refused;
        for (const auto& id : r.refused) refused += " " + id;
        say("broadcast: " + std::to_string(r.recipients) + " recipients, refused [" + refused +
            " ]");
        i += 3;
      } else if (action == "request") {
        auto ms = std::chrono::milliseconds(std::strtol(arg(i + 3).c_str(), nullptr, 10));
        say("reply: " + s.request(arg(i + 1), "ask", arg(i + 2), ms));
        i += 4;
      } else if (action == "sends-then-request") {
        long n = std::strtol(arg(i + 2).c_str(), nullptr, 10);
        for (long k = 0; k < n; ++k) s.send(arg(i + 1), "seq", std::to_string(k));
        say("reply: " + s.request(arg(i + 1), "ask", "after " + std::to_string(n)));
        i += 3;
      } else if (action == "requests") {
        long n = std::strtol(arg(i + 2).c_str(), nullptr, 10);
        long cpu_before = cpu_us();
        for (long k = 0; k < n; ++k) s.request(arg(i + 1), "ask", std::to_string(k));
        say(std::to_string(n) + " replies in " + std::to_string(cpu_us() - cpu_before) +
            " us of CPU");
        i += 3;
      } else if (action == "reply") {
        s.reply(std::strtoull(arg(i + 1).c_str(), nullptr, 10), arg(i + 2));
        i += 3;
      } else if (action == "longtopic") {
        s.send(arg(i + 1), std::string(std::strtoul(arg(i + 2).c_str(), nullptr, 10), 't'), "x");
        s.flush();
        i += 3;
      } else if (action == "big") {
        s.send(arg(i + 1), "big", std::string(std::strtoul(arg(i + 2).c_str(), nullptr, 10), 'x'));
        s.flush();
        i += 3;
      } else if (action == "await") {
        auto paf = kj::newPromiseAndFulfiller<void>();
        go = kj::mv(paf.fulfiller);
        paf.promise.wait(s.wait_scope());
        i += 1;
      } else if (action == "deaf") {
        deaf(std::strtoul(arg(i + 1).c_str(), nullptr, 10));
        i += 2;
      } else if (action == "garbage") {
        std::string junk(4096, '\xff');
        int fd = std::atoi(std::getenv("SMOLSWARMS_FD"));
        if (::write(fd, junk.data(), junk.size()) < 0) say("garbage: write failed");
        say("garbage sent");
        i += 1;
      } else {
        throw std::invalid_argument("unknown action: " + action);
      }
    } catch (const std::runtime_error& e) {
      say(action + " failed: " + e.what());
      i += action == "request" ? 4 : 3;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = parse(argc, argv);
    smol::agent::AgentSession session;
    OrderCheck order{opt.expect, {}, {}};
    session.on_message([&](const Message& m) {
      if (!opt.quiet) {
        say(std::string("got ") + kind_name(m.kind) + " from " + m.from +
            (m.topic.empty() ? "" : " [" + m.topic + "]") + ": " + m.payload.substr(0, 100) +
            (m.reason.empty() ? "" : " (" + m.reason + ")"));
      }
      order.see(m);
      if (m.topic == "go" && go && go->isWaiting()) go->fulfill();
      if (opt.slow_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opt.slow_ms));
      if (!opt.throw_on.empty() && m.topic == opt.throw_on) throw 42;
      if (m.kind == Message::Kind::request && opt.reply) session.reply(m.request_id, "re: " + m.payload);
    });
    if (opt.first != Options::First::hello) {
      std::string junk(4096, '\xff');
      if (opt.first == Options::First::bad_rpc) {
        capnp::MallocMessageBuilder m(16);
        m.initRoot<capnp::rpc::Message>().initFinish().setQuestionId(12345);
        kj::Array<capnp::word> flat = capnp::messageToFlatArray(m);
        junk.assign(reinterpret_cast<const char*>(flat.begin()), flat.size() * sizeof(capnp::word));
      }
      int fd = std::atoi(std::getenv("SMOLSWARMS_FD"));
      if (::write(fd, junk.data(), junk.size()) < 0) say("garbage: write failed");
      say("garbage sent before hello");
      for (;;) ::pause();
    }
    auto me = session.hello();
    say(me.agent_id + " ready");
    if (opt.crash_after_ms >= 0) {
      // On a thread of its own: the main one may be stuck in a slow handler.
      std::thread([ms = opt.crash_after_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        std::abort();
      }).detach();
    }
    run_script(session, opt.script);
    say("script done");
    session.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-chat-agent: %s\n", e.what());
    return 1;
  }
}
