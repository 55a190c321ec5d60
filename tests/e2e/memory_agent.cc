// smol-memory-agent: a test agent that says hello, runs a script of memory
// operations given as its arguments, one operation per argument, and then
// serves the daemon until asked to shut down. Words of an operation are
// separated by spaces; "double quotes" keep spaces in one word.
//
//   put TIER KEY VALUE [TAG,TAG...]   put-big TIER KEY BYTES   rm TIER KEY
//   get TIER KEY         the value, or (none)
//   show TIER KEY        the entry's provenance (see describe())
//   ls TIER [PREFIX]     the keys, comma-separated
//   recall QUERY K [TIER,TIER...]     the hits as tier:key, best first
//   consolidate TIER KEY [TO]         the moved entry, as show prints it
//   can                  what the grant allows, per tier (r, rw or none)
//   send AGENT TOPIC     a direct message, to order agents without sleeps
//   wait                 waits for one message
//
// It prints one line per operation, "<operation>: <result>" or
// "<operation>: error: <message>", then "done". TIER is short_term,
// working or long_term.
#include <cstdio>
#include <deque>
#include <exception>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <kj/async.h>

#include "agent_runtime/memory.h"
#include "agent_runtime/smolagent.h"

namespace {

using smol::agent::Memory;
using smol::agent::Tier;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::vector<std::string> words(const std::string& op) {
  std::vector<std::string> out;
  std::string w;
  bool quoted = false, any = false;
  for (char c : op) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) out.push_back(w);
      w.clear();
      any = false;
    } else {
      w += c;
      any = true;
    }
  }
  if (any) out.push_back(w);
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

Tier tier(const std::string& name) {
  for (Tier t : {Tier::short_term, Tier::working, Tier::long_term}) {
    if (name == smol::agent::tier_name(t)) return t;
  }
  throw std::invalid_argument("unknown tier '" + name + "' (short_term, working, long_term)");
}

// "working writer=a-0 tags=x,y passed=short_term:a-0,working:a-0 recalls=0"
std::string describe(const smol::agent::Entry& e) {
  std::vector<std::string> passed;
  for (const auto& s : e.tiers_passed) passed.push_back(std::string(tier_name(s.tier)) + ":" + s.by);
  return std::string(tier_name(e.tier)) + " writer=" + e.writer + " tags=" + join(e.tags) +
         " passed=" + join(passed) + " recalls=" + std::to_string(e.recall_count);
}

const char* access(const Memory& m, Tier t) {
  if (m.can_write(t)) return "rw";
  return m.can_read(t) ? "r" : "none";
}

// Messages received, and the one wait() that is waiting for the next.
struct Inbox {
  std::deque<smol::agent::Message> got;
  kj::Own<kj::PromiseFulfiller<void>> arrived;
};

std::string wait_for_message(smol::agent::AgentSession& session, Inbox& inbox) {
  if (inbox.got.empty()) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    inbox.arrived = kj::mv(paf.fulfiller);
    paf.promise.wait(session.wait_scope());
  }
  smol::agent::Message m = std::move(inbox.got.front());
  inbox.got.pop_front();
  return "from " + m.from + " topic " + m.topic;
}

// One operation; returns what to print after "<operation>: ".
std::string run(const std::vector<std::string>& w, smol::agent::AgentSession& session,
                Inbox& inbox) {
  auto arg = [&](size_t i) -> const std::string& {
    if (i >= w.size()) throw std::invalid_argument(w[0] + ": too few words");
    return w[i];
  };
  const std::string& op = w[0];
  if (op == "send") {
    session.send(arg(1), arg(2), "");
    session.flush();
    return "ok";
  }
  if (op == "wait") return wait_for_message(session, inbox);
  Memory* m = session.memory();
  if (m == nullptr) throw std::runtime_error("no memory granted");
  if (op == "can") {
    return std::string("short_term=") + access(*m, Tier::short_term) +
           " working=" + access(*m, Tier::working) + " long_term=" + access(*m, Tier::long_term);
  }
  if (op == "put") {
    m->put(tier(arg(1)), arg(2), arg(3), w.size() > 4 ? split(w[4]) : std::vector<std::string>{});
    return "ok";
  }
  if (op == "put-big") {
    m->put(tier(arg(1)), arg(2), std::string(std::stoul(arg(3)), 'x'));
    return "ok";
  }
  if (op == "get") {
    auto e = m->get(tier(arg(1)), arg(2));
    return e ? e->value : "(none)";
  }
  if (op == "show") {
    auto e = m->get(tier(arg(1)), arg(2));
    return e ? describe(*e) : "(none)";
  }
  if (op == "rm") {
    m->remove(tier(arg(1)), arg(2));
    return "ok";
  }
  if (op == "ls") {
    std::vector<std::string> keys;
    for (const auto& e : m->list(tier(arg(1)), w.size() > 2 ? w[2] : "").entries) {
      keys.push_back(e.key);
    }
    return join(keys);
  }
  if (op == "recall") {
    std::vector<Tier> tiers;
    if (w.size() > 3) {
      for (const auto& t : split(w[3])) tiers.push_back(tier(t));
    }
    std::vector<std::string> hits;
    for (const auto& h : m->recall(arg(1), static_cast<uint32_t>(std::stoul(arg(2))), tiers)) {
      hits.push_back(std::string(tier_name(h.entry.tier)) + ":" + h.entry.key);
    }
    return join(hits);
  }
  if (op == "consolidate") {
    std::optional<Tier> to;
    if (w.size() > 3) to = tier(w[3]);
    return describe(m->consolidate(tier(arg(1)), arg(2), to));
  }
  throw std::invalid_argument("unknown operation '" + op + "'");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    smol::agent::AgentSession session;
    Inbox inbox;
    session.on_message([&inbox](const smol::agent::Message& m) {
      inbox.got.push_back(m);
      if (inbox.arrived && inbox.arrived->isWaiting()) inbox.arrived->fulfill();
    });
    session.hello();
    for (int i = 1; i < argc; ++i) {
      std::vector<std::string> w = words(argv[i]);
      if (w.empty()) continue;
      try {
        say(std::string(argv[i]) + ": " + run(w, session, inbox));
      } catch (const std::exception& e) {
        say(std::string(argv[i]) + ": error: " + e.what());
      }
    }
    say("done");
    session.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-memory-agent: %s\n", e.what());
    return 1;
  }
}
