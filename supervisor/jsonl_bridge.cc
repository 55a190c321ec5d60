#include "supervisor/jsonl_bridge.h"

#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include <kj/debug.h>

#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"
#include "supervisor/jsonl_tasks.h"

namespace smol::supervisor {

using jsonl::BadLine;
using jsonl::bytes;
using jsonl::json;
using jsonl::line_of;
using jsonl::number;
using jsonl::number32;
using jsonl::strings;
using jsonl::text;

namespace {

constexpr size_t kMaxOpsInFlight = 256;
constexpr size_t kMaxUnwritten = 1 << 20;

rpc::MemoryTier tier_of(const std::string& name) {
  if (name == "short_term" || name == "short-term") return rpc::MemoryTier::SHORT_TERM;
  if (name == "working") return rpc::MemoryTier::WORKING;
  if (name == "long_term" || name == "long-term") return rpc::MemoryTier::LONG_TERM;
  throw BadLine("tier '" + name + "' is not one of short_term, working, long_term");
}

const char* tier_name(rpc::MemoryTier t) {
  switch (t) {
    case rpc::MemoryTier::SHORT_TERM: return "short_term";
    case rpc::MemoryTier::WORKING: return "working";
    case rpc::MemoryTier::LONG_TERM: return "long_term";
  }
  return "working";
}

const char* access_name(rpc::Access a) {
  switch (a) {
    case rpc::Access::NONE: return "none";
    case rpc::Access::READ: return "r";
    case rpc::Access::READ_WRITE: return "rw";
  }
  return "none";
}

const char* kind_name(rpc::Message::Kind k) {
  switch (k) {
    case rpc::Message::Kind::DM: return "dm";
    case rpc::Message::Kind::BROADCAST: return "broadcast";
    case rpc::Message::Kind::REQUEST: return "request";
    case rpc::Message::Kind::UNDELIVERABLE: return "undeliverable";
  }
  return "dm";
}

json entry_json(rpc::MemoryEntry::Reader e) {
  json steps = json::array();
  for (auto s : e.getTiersPassed()) {
    steps.push_back({{"tier", tier_name(s.getTier())},
                     {"by", ipc::text_of(s.getBy())},
                     {"at_unix_ms", s.getEnteredUnixMillis()}});
  }
  json tags = json::array();
  for (auto t : e.getTags()) tags.push_back(ipc::text_of(t));
  return {{"key", ipc::text_of(e.getKey())},
          {"tier", tier_name(e.getTier())},
          {"owner", ipc::text_of(e.getOwner())},
          {"value", ipc::payload_of(e.getValue())},
          {"tags", std::move(tags)},
          {"writer", ipc::text_of(e.getWriter())},
          {"created_unix_ms", e.getCreatedUnixMillis()},
          {"updated_unix_ms", e.getUpdatedUnixMillis()},
          {"expires_unix_ms", e.getExpiresUnixMillis()},
          {"recall_count", e.getRecallCount()},
          {"tiers_passed", std::move(steps)}};
}

}  // namespace

struct JsonlBridge::State final : jsonl::Lines, std::enable_shared_from_this<JsonlBridge::State> {
  class AgentServer;

  State(kj::Own<kj::AsyncIoStream> s, rpc::AgentHost::Client h, std::string r, size_t max,
        std::function<void(std::string)> on_error)
      : stream(kj::mv(s)),
        host(kj::mv(h)),
        role(std::move(r)),
        max_line(max),
        protocol_error(std::move(on_error)),
        writes(kj::Promise<void>(kj::READY_NOW).fork()),
        task_ops(std::make_shared<jsonl::JsonlTasks>(*this, host)) {}

  kj::Own<kj::AsyncIoStream> stream;
  // Wraps every promise of a write, and of the task ops, that leaves this
  // State. capnp 0.9 keeps running a call it cannot cancel (deliver,
  // work, a ResultSink's results, ...) after its caller has let go of it,
  // so one can outlive the agent's process, and this State; cancelled first
  // thing in ~State, those promises fail as DISCONNECTED instead of
  // reaching into a State, or a stream, that is gone.
  kj::Canceler outside;
  rpc::AgentHost::Client host;
  std::string role;
  size_t max_line;
  std::function<void(std::string)> protocol_error;

  // After hello.
  bool said_hello = false;
  rpc::Outbox::Client outbox{nullptr};
  rpc::Broadcaster::Client broadcaster{nullptr};
  rpc::Memory::Client memory{nullptr};
  bool has_outbox = false, has_broadcaster = false, has_memory = false;

  std::map<uint64_t, kj::Own<kj::PromiseFulfiller<std::pair<rpc::Health, kj::String>>>> vibes;
  // Requests delivered as Agent.ask, waiting for the agent's reply line.
  std::map<uint64_t, kj::Own<kj::PromiseFulfiller<kj::Array<kj::byte>>>> asks;
  uint64_t next_vibe = 1;

  std::string buffer;   // read; buffer[consumed..] is not yet split into lines
  size_t consumed = 0;
  kj::ForkedPromise<void> writes;  // the last write queued
  // Reading pauses while this much is outstanding, so an agent that sends
  // faster than its ops complete, or than it reads its answers, is held back
  // instead of growing the daemon.
  size_t ops_in_flight = 0;
  size_t unwritten = 0;  // bytes queued for the agent's socket
  // And while hello is on its way: the lines after it need what it grants.
  bool hello_in_flight = false;
  kj::Own<kj::PromiseFulfiller<void>> resume;  // set while reading is paused
  bool busy() const {
    return hello_in_flight || ops_in_flight >= kMaxOpsInFlight || unwritten >= kMaxUnwritten;
  }
  void maybe_resume() {
    if (resume && resume->isWaiting() && !busy()) resume->fulfill();
  }
  struct Errors : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}  // answered as error lines already
  } errors;
  kj::TaskSet tasks{errors};

  // Runs, subtasks and delegations (jsonl_tasks.h); last, so it goes
  // first, while the rest is still there.
  std::shared_ptr<jsonl::JsonlTasks> task_ops;

  kj::Promise<void> read_loop();
  void handle(const std::string& line);
  kj::Promise<json> dispatch(const std::string& op, const json& in);
  kj::Promise<json> hello(const json& in);
  kj::Promise<json> memory_op(const std::string& op, const json& in);
  void answer_vibe(const json& in);
  bool answer_ask(const json& in);

  // jsonl::Lines
  kj::Promise<void> write(std::string data) override;
  void write_line(const json& j) override { tasks.add(write(line_of(j))); }
  void answer(std::optional<uint64_t> id, json result) override {
    json out{{"op", "ok"}};
    if (id) out["id"] = *id;
    for (auto& [k, v] : result.items()) out[k] = std::move(v);
    write_line(out);
  }

  ~State() {
    outside.cancel(KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone"));
    // Calls waiting on this agent's lines fail as disconnected, which is
    // what they are, not as answers.
    for (auto& [id, f] : asks) f->reject(KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone"));
    for (auto& [id, f] : vibes) f->reject(KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone"));
  }
};

// Queued after every earlier write, so lines never interleave. The chain
// is this State's (writes, tasks, and branches handed out through
// `outside`), so it goes before the stream does; its accounting runs only
// while the State is alive, not as the State's members are destroyed.
kj::Promise<void> JsonlBridge::State::write(std::string data) {
  unwritten += data.size();
  size_t size = data.size();
  auto next = writes.addBranch()
                  .then([this, data = std::move(data)]() mutable {
                    auto w = stream->write(data.data(), data.size());
                    return w.attach(std::move(data));
                  })
                  .attach(kj::defer([self = weak_from_this(), size] {
                    if (auto s = self.lock()) {
                      s->unwritten -= size;
                      s->maybe_resume();
                    }
                  }));
  auto forked = next.fork();
  writes = forked.addBranch().catch_([](kj::Exception&&) {}).fork();
  return outside.wrap(forked.addBranch());
}

// The Agent capability hello receives: the daemon's calls become lines.
class JsonlBridge::State::AgentServer final : public rpc::Agent::Server {
 public:
  explicit AgentServer(std::weak_ptr<State> state) : state_(std::move(state)) {}

 protected:
  kj::Promise<void> shutdown(ShutdownContext ctx) override {
    State& s = live();
    return s.write(line_of({{"op", "shutdown"}, {"deadline_ms", ctx.getParams().getDeadlineMillis()}}));
  }

  kj::Promise<void> vibe(VibeContext ctx) override {
    State& s = live();
    uint64_t id = s.next_vibe++;
    auto paf = kj::newPromiseAndFulfiller<std::pair<rpc::Health, kj::String>>();
    s.vibes.emplace(id, kj::mv(paf.fulfiller));
    s.write_line({{"op", "vibe"}, {"id", id}});
    ctx.allowCancellation();
    // A check that gives up on the agent takes its entry with it.
    auto forget = kj::defer([state = state_, id] {
      if (auto live = state.lock()) live->vibes.erase(id);
    });
    return paf.promise
        .then([ctx](std::pair<rpc::Health, kj::String> answer) mutable {
          ctx.getResults().setHealth(answer.first);
          ctx.getResults().setNote(answer.second);
        })
        .attach(kj::mv(forget));
  }

  kj::Promise<void> ask(AskContext ctx) override {
    State& s = live();
    auto m = ctx.getParams().getMessage();
    auto paf = kj::newPromiseAndFulfiller<kj::Array<kj::byte>>();
    s.asks[m.getRequestId()] = kj::mv(paf.fulfiller);
    json j{{"op", "message"},
           {"kind", "request"},
           {"from", ipc::text_of(m.getFrom())},
           {"topic", ipc::text_of(m.getTopic())},
           {"payload", ipc::payload_of(m.getPayload())},
           {"request_id", m.getRequestId()}};
    s.write_line(j);
    return paf.promise.then(
        [ctx](kj::Array<kj::byte> answer) mutable { ctx.getResults().setPayload(answer); });
  }

  kj::Promise<void> deliver(DeliverContext ctx) override {
    State& s = live();
    std::string lines;
    for (auto m : ctx.getParams().getMessages()) {
      json j{{"op", "message"},
             {"kind", kind_name(m.getKind())},
             {"from", ipc::text_of(m.getFrom())},
             {"topic", ipc::text_of(m.getTopic())},
             {"payload", ipc::payload_of(m.getPayload())}};
      if (m.getRequestId() != 0) j["request_id"] = m.getRequestId();
      if (m.hasReason()) j["reason"] = ipc::text_of(m.getReason());
      lines += line_of(j);
    }
    return s.write(std::move(lines));
  }

  kj::Promise<void> runTask(RunTaskContext ctx) override {
    State& s = live();
    auto p = ctx.getParams();
    ctx.allowCancellation();
    return s.outside.wrap(s.task_ops->run_task(p.getTask(), p.getDelegator()))
        .then([ctx](kj::Array<capnp::byte> result) mutable { ctx.getResults().setResult(result); });
  }

  kj::Promise<void> work(WorkContext ctx) override {
    auto p = ctx.getParams();
    State& s = live();
    return s.outside.wrap(s.task_ops->work(p.getSubtasks(), p.getDesk()));
  }

  kj::Promise<void> drop(DropContext ctx) override {
    auto p = ctx.getParams();
    State& s = live();
    return s.outside.wrap(s.task_ops->drop(p.getAttempts(), p.getTaskIds()));
  }

 private:
  State& live() {
    auto s = state_.lock();
    if (!s) throw KJ_EXCEPTION(DISCONNECTED, "the jsonl agent has gone");
    return *s;
  }

  std::weak_ptr<State> state_;
};

kj::Promise<void> JsonlBridge::State::read_loop() {
  if (busy()) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    resume = kj::mv(paf.fulfiller);
    return paf.promise.then([this] { return read_loop(); });
  }
  size_t newline = buffer.find('\n', consumed);
  if (newline != std::string::npos) {
    std::string line = buffer.substr(consumed, newline - consumed);
    consumed = newline + 1;
    handle(line);
    // Through the event loop: one agent's burst of lines must not hold it.
    return kj::evalLater([this] { return read_loop(); });
  }
  if (buffer.size() - consumed > max_line) {
    protocol_error("sent a line longer than " + std::to_string(max_line) +
                   " bytes (lines are at most twice [messaging] max_payload, plus 64 KiB)");
    return kj::NEVER_DONE;
  }
  buffer.erase(0, consumed);  // once per read, not per line
  consumed = 0;
  size_t old = buffer.size();
  buffer.resize(old + 65536);
  return stream->tryRead(buffer.data() + old, 1, 65536).then([this, old](size_t n) -> kj::Promise<void> {
    buffer.resize(old + n);
    if (n == 0) return kj::READY_NOW;  // the agent closed its end
    return read_loop();
  });
}

void JsonlBridge::State::handle(const std::string& line) {
  json in;
  std::string bad;
  try {
    in = json::parse(line);
    if (!in.is_object()) bad = "not a JSON object";
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number too big for a double.
    bad = e.what();
  }
  if (!bad.empty()) {
    write_line({{"op", "error"}, {"error", "bad line: " + bad}});
    return;
  }
  std::optional<uint64_t> id;
  try {
    id = jsonl::op_id(in);
    std::string op = text(in, "op");
    if (op == "vibe") {
      answer_vibe(in);
      return;
    }
    if (!said_hello && op != "hello") throw BadLine("say hello first");
    if (op == "reply" && answer_ask(in)) {
      answer(id, json::object());
      return;
    }
    bool is_hello = op == "hello";
    auto done = dispatch(op, in).attach(kj::defer([this, is_hello] {
      --ops_in_flight;
      if (is_hello) hello_in_flight = false;
      maybe_resume();
    }));
    ++ops_in_flight;
    hello_in_flight = hello_in_flight || is_hello;
    tasks.add(done.then(
        [this, id](json result) {
          if (!result.is_null()) answer(id, std::move(result));  // null: answered already
        },
        [this, id](kj::Exception&& e) {
          json out{{"op", "error"}, {"error", ipc::remote_reason(e)}};
          if (id) out["id"] = *id;
          write_line(out);
        }));
  } catch (const std::exception& e) {
    json out{{"op", "error"}, {"error", e.what()}};
    if (id) out["id"] = *id;
    write_line(out);
  }
}

// A reply to a request that came as an Agent.ask goes back as its return;
// false if no ask waits for it (then AgentHost.reply takes it).
bool JsonlBridge::State::answer_ask(const json& in) {
  auto it = asks.find(number(in, "request_id", true));
  if (it == asks.end()) return false;
  std::string error = text(in, "error", false);
  if (error.empty()) {
    std::string payload = bytes(in, "payload", false);
    it->second->fulfill(kj::heapArray(ipc::data_of(payload)));
  } else {
    it->second->reject(
        kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::heapString(error)));
  }
  asks.erase(it);
  return true;
}

void JsonlBridge::State::answer_vibe(const json& in) {
  auto it = vibes.find(number(in, "id", true));
  if (it == vibes.end()) throw BadLine("no vibe check with that id is waiting for an answer");
  std::string health = text(in, "health");
  rpc::Health h = health == "ok"         ? rpc::Health::OK
                  : health == "degraded" ? rpc::Health::DEGRADED
                  : health == "failing"  ? rpc::Health::FAILING
                                         : throw BadLine("health must be ok, degraded or failing");
  it->second->fulfill(std::make_pair(h, kj::heapString(text(in, "note", false))));
  vibes.erase(it);
}

kj::Promise<json> JsonlBridge::State::hello(const json& in) {
  if (said_hello) throw BadLine("already said hello");
  auto req = host.helloRequest();
  std::string said = text(in, "role", false);
  req.setRole(said.empty() ? role : said);
  req.setAgent(kj::heap<AgentServer>(weak_from_this()));
  return req.send().then([this](capnp::Response<rpc::AgentHost::HelloResults> r) {
    said_hello = true;
    auto id = r.getIdentity();
    auto g = r.getGrants();
    has_outbox = g.hasOutbox();
    has_broadcaster = g.hasBroadcaster();
    has_memory = g.hasMemory();
    if (has_outbox) outbox = g.getOutbox();
    if (has_broadcaster) broadcaster = g.getBroadcaster();
    if (has_memory) memory = g.getMemory();
    json peers = json::array();
    for (auto p : id.getPeers()) peers.push_back({{"role", ipc::text_of(p.getRole())}, {"count", p.getCount()}});
    json dm = json::array();
    for (auto role : g.getDmRoles()) dm.push_back(ipc::text_of(role));
    return json{{"agent_id", ipc::text_of(id.getAgentId())},
                {"swarm", ipc::text_of(id.getSwarm())},
                {"role", ipc::text_of(id.getRole())},
                {"index", id.getIndex()},
                {"peers", std::move(peers)},
                {"permissions",
                 {{"dm", std::move(dm)},
                  {"broadcast", has_broadcaster},
                  {"memory",
                   {{"short_term", access_name(g.getShortTerm())},
                    {"working", access_name(g.getWorking())},
                    {"long_term", access_name(g.getLongTerm())}}},
                  {"max_payload", g.getMaxPayload()}}}};
  });
}

kj::Promise<json> JsonlBridge::State::dispatch(const std::string& op, const json& in) {
  if (op == "hello") return hello(in);
  if (op == "send" || op == "request") {
    if (!has_outbox) {
      throw BadLine(op + ": this agent's role may not message other agents (its "
                    "[agents.permissions] dm grants no role)");
    }
    if (op == "send") {
      auto req = outbox.sendRequest();
      auto m = req.initMessages(1)[0];
      m.setTo(text(in, "to"));
      m.setTopic(text(in, "topic", false));
      m.setPayload(ipc::data_of(bytes(in, "payload")));
      return req.send().then([](capnp::Response<rpc::Outbox::SendResults> r) -> json {
        if (r.getRefused().size() > 0) throw ipc::rpc_error(ipc::text_of(r.getRefused()[0].getReason()));
        return json::object();
      });
    }
    auto req = outbox.requestRequest();
    req.setTo(text(in, "to"));
    req.setTopic(text(in, "topic", false));
    req.setPayload(ipc::data_of(bytes(in, "payload")));
    req.setDeadlineMillis(number32(in, "deadline_ms"));
    return req.send().then([](capnp::Response<rpc::Outbox::RequestResults> r) {
      return json{{"payload", ipc::payload_of(r.getPayload())}};
    });
  }
  if (op == "broadcast") {
    if (!has_broadcaster) {
      throw BadLine("broadcast: this agent's role may not broadcast ([agents.permissions] "
                    "broadcast = false)");
    }
    auto req = broadcaster.broadcastRequest();
    req.setTopic(text(in, "topic"));
    req.setPayload(ipc::data_of(bytes(in, "payload")));
    return req.send().then([](capnp::Response<rpc::Broadcaster::BroadcastResults> r) {
      json refused = json::array();
      for (auto id : r.getRefused()) refused.push_back(ipc::text_of(id));
      return json{{"recipients", r.getRecipients()}, {"refused", std::move(refused)}};
    });
  }
  if (op == "reply") {
    auto req = host.replyRequest();
    req.setRequestId(number(in, "request_id", true));
    req.setPayload(ipc::data_of(bytes(in, "payload", false)));
    req.setError(text(in, "error", false));
    return req.send().then([](auto) { return json::object(); });
  }
  if (op.starts_with("mem.")) return memory_op(op, in);
  if (jsonl::JsonlTasks::is_op(op)) return task_ops->op(op, in);
  throw BadLine("unknown op '" + op +
                "'; expected hello, send, broadcast, request, reply, vibe, mem.put, mem.get, "
                "mem.delete, mem.list, mem.recall, mem.consolidate, task.done, task.fail, "
                "task.delegate, task.cancel_remaining, subtask.progress, subtask.done, "
                "subtask.fail or usage");
}

kj::Promise<json> JsonlBridge::State::memory_op(const std::string& op, const json& in) {
  if (!has_memory) throw BadLine(op + ": this agent's role is granted no memory tier");
  if (op == "mem.put") {
    auto req = memory.putRequest();
    req.setTier(tier_of(text(in, "tier")));
    req.setKey(text(in, "key"));
    req.setValue(ipc::data_of(bytes(in, "value")));
    auto tags = strings(in, "tags");
    auto out = req.initTags(static_cast<unsigned>(tags.size()));
    for (size_t i = 0; i < tags.size(); ++i) out.set(static_cast<unsigned>(i), tags[i]);
    req.setTtlMillis(number(in, "ttl_ms"));
    return req.send().then([](auto) { return json::object(); });
  }
  if (op == "mem.get") {
    auto req = memory.getRequest();
    req.setTier(tier_of(text(in, "tier")));
    req.setKey(text(in, "key"));
    return req.send().then([](capnp::Response<rpc::Memory::GetResults> r) {
      json out{{"found", r.getFound()}};
      if (r.getFound()) out["entry"] = entry_json(r.getEntry());
      return out;
    });
  }
  if (op == "mem.delete") {
    auto req = memory.deleteRequest();
    req.setTier(tier_of(text(in, "tier")));
    req.setKey(text(in, "key"));
    return req.send().then([](auto) { return json::object(); });
  }
  if (op == "mem.list") {
    auto req = memory.listRequest();
    req.setTier(tier_of(text(in, "tier")));
    req.setPrefix(text(in, "prefix", false));
    req.setStartAfter(text(in, "start_after", false));
    req.setLimit(number32(in, "limit"));
    return req.send().then([](capnp::Response<rpc::Memory::ListResults> r) {
      json entries = json::array();
      for (auto e : r.getEntries()) entries.push_back(entry_json(e));
      return json{{"entries", std::move(entries)},
                  {"next_start_after", ipc::text_of(r.getNextStartAfter())}};
    });
  }
  if (op == "mem.recall") {
    auto req = memory.recallRequest();
    req.setQuery(text(in, "query"));
    req.setK(number32(in, "k"));
    auto tiers = strings(in, "tiers");
    auto t = req.initTiers(static_cast<unsigned>(tiers.size()));
    for (size_t i = 0; i < tiers.size(); ++i) t.set(static_cast<unsigned>(i), tier_of(tiers[i]));
    auto tags = strings(in, "tags");
    auto g = req.initTags(static_cast<unsigned>(tags.size()));
    for (size_t i = 0; i < tags.size(); ++i) g.set(static_cast<unsigned>(i), tags[i]);
    return req.send().then([](capnp::Response<rpc::Memory::RecallResults> r) {
      json hits = json::array();
      for (auto h : r.getHits()) hits.push_back({{"score", h.getScore()}, {"entry", entry_json(h.getEntry())}});
      return json{{"hits", std::move(hits)}};
    });
  }
  if (op == "mem.consolidate") {
    auto req = memory.consolidateRequest();
    req.setTier(tier_of(text(in, "tier")));
    req.setKey(text(in, "key"));
    std::string to = text(in, "to", false);
    req.setHasTo(!to.empty());
    if (!to.empty()) req.setTo(tier_of(to));
    return req.send().then([](capnp::Response<rpc::Memory::ConsolidateResults> r) {
      return json{{"entry", entry_json(r.getEntry())}};
    });
  }
  throw BadLine("unknown op '" + op +
                "'; the memory ops are mem.put, mem.get, mem.delete, mem.list, mem.recall and "
                "mem.consolidate");
}

JsonlBridge::JsonlBridge(ipc::EventLoop& loop, UniqueFd fd, rpc::AgentHost::Client host,
                         std::string role, size_t max_line,
                         std::function<void(std::string why)> on_protocol_error)
    : state_(std::make_shared<State>(
          loop.low_level().wrapSocketFd(fd.release(),
                                        kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                            kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                            kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK),
          kj::mv(host), std::move(role), max_line, std::move(on_protocol_error))) {}

JsonlBridge::~JsonlBridge() = default;

kj::Promise<void> JsonlBridge::on_disconnect() { return state_->read_loop(); }

}  // namespace smol::supervisor
