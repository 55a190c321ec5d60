#include "agent_runtime/smolagent.h"

#include <fcntl.h>

#include <capnp/rpc-twoparty.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <stdexcept>

#include "agent_runtime/memory.h"
#include "agent_runtime/reply_wait.h"
#include "agent_runtime/task_runner.h"
#include "ipc/socket_message_stream.h"
#include "ipc/wire.h"
#include "ipc/rpc_error.h"
#include "ipc/agent.capnp.h"

namespace smol::agent {
namespace {

int daemon_fd() {
  const char* v = std::getenv("SMOLSWARMS_FD");
  if (v == nullptr) {
    throw std::runtime_error("SMOLSWARMS_FD is not set: this program is an agent and must be "
                             "started by swarmd (see 'swarmctl up')");
  }
  char* end = nullptr;
  long fd = std::strtol(v, &end, 10);
  if (*end != '\0' || fd < 0 || fd > 1024 || fcntl(static_cast<int>(fd), F_GETFD) < 0) {
    throw std::runtime_error(std::string("SMOLSWARMS_FD=") + v + " is not an open fd");
  }
  return static_cast<int>(fd);
}

}  // namespace

using VibeAnswer = std::function<Vibe()>;
using Handler = std::function<void(const Message&)>;

// How many messages (and bytes) send() lets wait locally, outside a
// handler, before it waits for the daemon; and the most one call carries.
constexpr size_t kMaxPendingMessages = 4096;
constexpr size_t kMaxPendingBytes = 4 << 20;
constexpr size_t kBatchMessages = 1024;
constexpr size_t kBatchBytes = 512 << 10;
// Longer than a round trip through swarmd on a busy 2-CPU VM (~75 us when
// polling), short enough that a miss costs little next to the blocking wait
// that follows it.
constexpr std::chrono::microseconds kDefaultReplyPolling{200};

Message::Kind from_rpc(rpc::Message::Kind k) {
  switch (k) {
    case rpc::Message::Kind::DM: return Message::Kind::dm;
    case rpc::Message::Kind::BROADCAST: return Message::Kind::broadcast;
    case rpc::Message::Kind::REQUEST: return Message::Kind::request;
    case rpc::Message::Kind::UNDELIVERABLE: return Message::Kind::undeliverable;
  }
  return Message::Kind::dm;
}

Access from_rpc(rpc::Access a) {
  switch (a) {
    case rpc::Access::NONE: return Access::none;
    case rpc::Access::READ: return Access::read;
    case rpc::Access::READ_WRITE: return Access::read_write;
  }
  return Access::none;
}

// What handlers share with the session: the handler, and whether one is
// running (send() must not wait then).
struct Inbox {
  Handler handler;
  bool in_handler = false;
  // Requests delivered as Agent.ask, waiting for reply() or reply_error().
  std::map<uint64_t, kj::Own<kj::PromiseFulfiller<kj::Array<kj::byte>>>> asks;

  // A handler's failure is the handler's: whatever it throws, the messages
  // after this one are still delivered.
  void dispatch(const Message& m) {
    if (!handler) return;
    in_handler = true;
    KJ_DEFER(in_handler = false);
    try {
      handler(m);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "smolagent: message handler failed on a message from %s: %s\n",
                   m.from.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr,
                   "smolagent: message handler failed on a message from %s: it threw something "
                   "that is not a std::exception\n",
                   m.from.c_str());
    }
  }
};

rpc::Health to_rpc(Health h) {
  switch (h) {
    case Health::ok: return rpc::Health::OK;
    case Health::degraded: return rpc::Health::DEGRADED;
    case Health::failing: return rpc::Health::FAILING;
  }
  return rpc::Health::FAILING;
}

// The agent's side of the protocol: what the daemon may call on us.
class AgentServer final : public rpc::Agent::Server {
 public:
  AgentServer(kj::Own<kj::PromiseFulfiller<std::chrono::milliseconds>> f,
              std::shared_ptr<VibeAnswer> vibe, std::shared_ptr<Inbox> inbox, TaskRunner& tasks)
      : fulfiller_(kj::mv(f)), vibe_(std::move(vibe)), inbox_(std::move(inbox)), tasks_(tasks) {}

 protected:
  kj::Promise<void> shutdown(ShutdownContext ctx) override {
    if (fulfiller_->isWaiting()) {
      fulfiller_->fulfill(std::chrono::milliseconds(ctx.getParams().getDeadlineMillis()));
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> vibe(VibeContext ctx) override {
    Vibe v = *vibe_ ? (*vibe_)() : Vibe{};
    auto r = ctx.getResults();
    r.setHealth(to_rpc(v.health));
    r.setNote(v.note);
    return kj::READY_NOW;
  }

  kj::Promise<void> ask(AskContext ctx) override {
    auto in = ctx.getParams().getMessage();
    Message m;
    m.kind = Message::Kind::request;
    m.from = in.getFrom();
    m.topic = in.getTopic();
    m.payload = ipc::payload_of(in.getPayload());
    m.request_id = in.getRequestId();
    auto paf = kj::newPromiseAndFulfiller<kj::Array<kj::byte>>();
    inbox_->asks[m.request_id] = kj::mv(paf.fulfiller);
    inbox_->dispatch(m);
    return paf.promise.then([ctx](kj::Array<kj::byte> answer) mutable {
      ctx.getResults(ipc::size_hint({answer.size()})).setPayload(answer);
    });
  }

  kj::Promise<void> deliver(DeliverContext ctx) override {
    Message m;
    for (auto in : ctx.getParams().getMessages()) {
      m.kind = from_rpc(in.getKind());
      m.from = in.getFrom();
      m.topic = in.getTopic();
      m.payload = ipc::payload_of(in.getPayload());
      m.request_id = in.getRequestId();
      m.reason = in.getReason();
      inbox_->dispatch(m);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> runTask(RunTaskContext ctx) override {
    auto p = ctx.getParams();
    return tasks_.run_task(p.getTask(), p.getDelegator())
        .then([ctx](kj::Array<kj::byte> result) mutable { ctx.getResults().setResult(result); });
  }

  kj::Promise<void> work(WorkContext ctx) override {
    tasks_.work(ctx.getParams().getSubtasks(), ctx.getParams().getDesk());
    return kj::READY_NOW;
  }

  kj::Promise<void> drop(DropContext ctx) override {
    tasks_.drop(ctx.getParams().getAttempts(), ctx.getParams().getTaskIds());
    return kj::READY_NOW;
  }

 private:
  kj::Own<kj::PromiseFulfiller<std::chrono::milliseconds>> fulfiller_;
  std::shared_ptr<VibeAnswer> vibe_;  // shared with the session, which may change it
  std::shared_ptr<Inbox> inbox_;
  TaskRunner& tasks_;  // the session's, which outlives the connection
};

struct Outgoing {
  std::string to, topic, payload;
};

struct AgentSession::Impl {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<ipc::SocketMessageStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  rpc::AgentHost::Client host{nullptr};
  kj::ForkedPromise<std::chrono::milliseconds> shutdown{nullptr};
  kj::Own<kj::PromiseFulfiller<std::chrono::milliseconds>> shutdown_fulfiller;
  kj::ForkedPromise<void> disconnected{nullptr};
  std::unique_ptr<TaskRunner> runner;
  std::shared_ptr<VibeAnswer> vibe = std::make_shared<VibeAnswer>();
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();

  // Granted at hello.
  rpc::Outbox::Client outbox{nullptr};
  rpc::Broadcaster::Client broadcaster{nullptr};
  std::unique_ptr<Memory> memory;
  bool may_dm = false, may_broadcast = false;
  ReplyWait reply_wait{kDefaultReplyPolling};

  // send()'s queue and the one batch in flight.
  std::deque<Outgoing> pending;
  size_t pending_bytes = 0;
  bool in_flight = false;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> batch_done;  // woken per batch
  struct Errors : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      std::fprintf(stderr, "smolagent: %s\n", ipc::remote_reason(e).c_str());
    }
  } errors;
  kj::TaskSet tasks{errors};

  void start_batch();
  void refused(std::vector<std::string> to, std::vector<std::string> topics,
               std::vector<std::string> payloads, capnp::List<rpc::Refusal>::Reader list);
  kj::Promise<void> next_batch_done();
};

kj::Promise<void> AgentSession::Impl::next_batch_done() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  batch_done.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

// Sends what is queued, up to one batch, and the next batch when the
// daemon has taken this one: while one call is in flight, sends pile up
// into the next, which is how they coalesce.
void AgentSession::Impl::start_batch() {
  size_t n = 0, size = 0;
  while (n < pending.size() && n < kBatchMessages &&
         (n == 0 || size + pending[n].payload.size() <= kBatchBytes)) {
    size += pending[n].payload.size() + pending[n].topic.size() + pending[n].to.size();
    ++n;
  }
  auto req = outbox.sendRequest();
  auto list = req.initMessages(static_cast<unsigned>(n));
  // Kept until the answer, to hand refused messages back to on_message.
  std::vector<std::string> to(n), topics(n), payloads(n);
  for (size_t i = 0; i < n; ++i) {
    Outgoing& o = pending.front();
    auto m = list[static_cast<unsigned>(i)];
    m.setTo(o.to);
    if (!o.topic.empty()) m.setTopic(o.topic);
    m.setPayload(ipc::data_of(o.payload));
    pending_bytes -= o.payload.size() + o.topic.size() + o.to.size();
    to[i] = std::move(o.to);
    topics[i] = std::move(o.topic);
    payloads[i] = std::move(o.payload);
    pending.pop_front();
  }
  in_flight = true;
  tasks.add(req.send().then(
      [this, to = std::move(to), topics = std::move(topics),
       payloads = std::move(payloads)](capnp::Response<rpc::Outbox::SendResults> r) mutable {
        in_flight = false;
        if (r.hasRefused()) refused(std::move(to), std::move(topics), std::move(payloads),
                                    r.getRefused());
        auto waiting = std::move(batch_done);
        batch_done.clear();
        for (auto& f : waiting) f->fulfill();
        if (!pending.empty()) start_batch();
      },
      [this](kj::Exception&& e) {
        // The daemon is gone (or refused the whole call): nothing queued
        // will go out; whoever waits hears why.
        in_flight = false;
        pending.clear();
        pending_bytes = 0;
        auto waiting = std::move(batch_done);
        batch_done.clear();
        for (auto& f : waiting) f->reject(kj::cp(e));
      }));
}

void AgentSession::Impl::refused(std::vector<std::string> to, std::vector<std::string> topics,
                                 std::vector<std::string> payloads,
                                 capnp::List<rpc::Refusal>::Reader list) {
  for (auto r : list) {
    if (r.getIndex() >= to.size()) continue;
    Message m;
    m.kind = Message::Kind::undeliverable;
    m.from = std::move(to[r.getIndex()]);
    m.topic = std::move(topics[r.getIndex()]);
    m.payload = std::move(payloads[r.getIndex()]);
    m.reason = r.getReason();
    inbox->dispatch(m);
  }
}

AgentSession::AgentSession() : impl_(std::make_unique<Impl>()) {
  // Framed as the daemon frames it: a batch of deliveries costs one read(2).
  impl_->stream = kj::heap<ipc::SocketMessageStream>(impl_->io.unixEventPort, UniqueFd(daemon_fd()));
  impl_->network =
      kj::heap<capnp::TwoPartyVatNetwork>(*impl_->stream, capnp::rpc::twoparty::Side::CLIENT);
  impl_->rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
      capnp::makeRpcClient(*impl_->network));
  capnp::MallocMessageBuilder daemon_id(8);
  daemon_id.initRoot<capnp::rpc::twoparty::VatId>().setSide(capnp::rpc::twoparty::Side::SERVER);
  impl_->host = impl_->rpc->bootstrap(daemon_id.getRoot<capnp::rpc::twoparty::VatId>())
                    .castAs<rpc::AgentHost>();
  auto paf = kj::newPromiseAndFulfiller<std::chrono::milliseconds>();
  impl_->shutdown = paf.promise.fork();
  impl_->shutdown_fulfiller = kj::mv(paf.fulfiller);
  impl_->disconnected = impl_->network->onDisconnect().fork();
  impl_->runner =
      std::make_unique<TaskRunner>(impl_->host, impl_->io.waitScope, impl_->disconnected);
}

AgentSession::~AgentSession() = default;

Identity AgentSession::hello(std::string role) {
  if (!impl_->shutdown_fulfiller) throw std::runtime_error("hello: this session already said hello");
  if (role.empty()) {
    const char* r = std::getenv("SMOLSWARMS_ROLE");
    role = r ? r : "";
  }
  auto req = impl_->host.helloRequest();
  req.setRole(role);
  req.setAgent(kj::heap<AgentServer>(kj::mv(impl_->shutdown_fulfiller), impl_->vibe,
                                     impl_->inbox, *impl_->runner));
  try {
    auto resp = req.send().wait(impl_->io.waitScope);
    auto id = resp.getIdentity();
    Identity out{id.getAgentId(), id.getSwarm(), id.getRole(), id.getIndex(), {}};
    for (auto p : id.getPeers()) out.peers.emplace_back(p.getRole(), p.getCount());
    auto g = resp.getGrants();
    Permissions& perms = out.permissions;
    for (auto r : g.getDmRoles()) perms.dm_roles.emplace_back(r);
    perms.broadcast = g.hasBroadcaster();
    perms.short_term = from_rpc(g.getShortTerm());
    perms.working = from_rpc(g.getWorking());
    perms.long_term = from_rpc(g.getLongTerm());
    perms.max_payload = g.getMaxPayload();
    impl_->may_dm = g.hasOutbox();
    impl_->may_broadcast = g.hasBroadcaster();
    if (g.hasOutbox()) impl_->outbox = g.getOutbox();
    if (g.hasBroadcaster()) impl_->broadcaster = g.getBroadcaster();
    if (g.hasMemory()) {
      impl_->memory = std::make_unique<Memory>(g.getMemory(), perms.short_term, perms.working,
                                               perms.long_term, impl_->io.waitScope);
    }
    return out;
  } catch (const kj::Exception& e) {
    throw std::runtime_error(std::string("hello refused: ") + e.getDescription().cStr());
  }
}

void AgentSession::on_message(std::function<void(const Message&)> handler) {
  impl_->inbox->handler = std::move(handler);
}

void AgentSession::send(const std::string& to, std::string topic, std::string payload) {
  if (!impl_->may_dm) {
    throw std::runtime_error("send: this agent's role may not send direct messages (its "
                             "[agents.permissions] dm grants no role)");
  }
  Impl& s = *impl_;
  if (!s.inbox->in_handler &&
      (s.pending.size() >= kMaxPendingMessages || s.pending_bytes >= kMaxPendingBytes)) {
    flush();
  }
  s.pending_bytes += payload.size() + topic.size() + to.size();
  s.pending.push_back({to, std::move(topic), std::move(payload)});
  if (!s.in_flight) s.start_batch();
}

void AgentSession::flush() {
  try {
    while (impl_->in_flight || !impl_->pending.empty()) {
      impl_->next_batch_done().wait(impl_->io.waitScope);
    }
  } catch (const kj::Exception& e) {
    throw std::runtime_error("send: " + ipc::remote_reason(e));
  }
}

BroadcastResult AgentSession::broadcast(std::string topic, std::string payload) {
  if (!impl_->may_broadcast) {
    throw std::runtime_error("broadcast: this agent's role may not broadcast ([agents.permissions] "
                             "broadcast = false)");
  }
  auto req = impl_->broadcaster.broadcastRequest();
  req.setTopic(topic);
  req.setPayload(ipc::data_of(payload));
  try {
    auto r = req.send().wait(impl_->io.waitScope);
    BroadcastResult out{r.getRecipients(), {}};
    for (auto id : r.getRefused()) out.refused.emplace_back(id);
    return out;
  } catch (const kj::Exception& e) {
    throw std::runtime_error("broadcast: " + ipc::remote_reason(e));
  }
}

std::string AgentSession::request(const std::string& to, std::string topic, std::string payload,
                                  std::chrono::milliseconds deadline) {
  if (!impl_->may_dm) {
    throw std::runtime_error("request: this agent's role may not message other agents (its "
                             "[agents.permissions] dm grants no role)");
  }
  if (impl_->inbox->in_handler) {
    throw std::logic_error("request: cannot wait for a reply inside a message handler; send() "
                           "from there, or request() from outside it");
  }
  // After the sends before it, which on_message's order promises.
  flush();
  auto req = impl_->outbox.requestRequest(ipc::size_hint({to.size(), topic.size(), payload.size()}));
  req.setTo(to);
  req.setTopic(topic);
  req.setPayload(ipc::data_of(payload));
  req.setDeadlineMillis(static_cast<uint32_t>(deadline.count()));
  try {
    auto r = impl_->reply_wait.wait(req.send(), impl_->io.waitScope);
    return ipc::payload_of(r.getPayload());
  } catch (const kj::Exception& e) {
    throw std::runtime_error("request to " + to + ": " + ipc::remote_reason(e));
  }
}

void AgentSession::set_reply_polling(std::chrono::microseconds budget) {
  impl_->reply_wait.set_budget(budget);
}

void AgentSession::reply(uint64_t request_id, std::string payload) {
  auto& asks = impl_->inbox->asks;
  if (auto it = asks.find(request_id); it != asks.end()) {
    it->second->fulfill(kj::heapArray(ipc::data_of(payload)));
    asks.erase(it);
    return;
  }
  auto req = impl_->host.replyRequest();
  req.setRequestId(request_id);
  req.setPayload(ipc::data_of(payload));
  impl_->tasks.add(req.send().ignoreResult());
}

void AgentSession::reply_error(uint64_t request_id, std::string error) {
  auto& asks = impl_->inbox->asks;
  if (auto it = asks.find(request_id); it != asks.end()) {
    it->second->reject(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                     kj::heapString(error)));
    asks.erase(it);
    return;
  }
  auto req = impl_->host.replyRequest();
  req.setRequestId(request_id);
  req.setError(error);
  impl_->tasks.add(req.send().ignoreResult());
}

Memory* AgentSession::memory() { return impl_->memory.get(); }

void AgentSession::on_vibe_check(std::function<Vibe()> answer) { *impl_->vibe = std::move(answer); }

void AgentSession::on_task(std::function<std::string(TaskContext&)> handler) {
  impl_->runner->on_task(std::move(handler));
}

void AgentSession::on_subtask(std::function<std::string(SubtaskContext&)> handler) {
  impl_->runner->on_subtask(std::move(handler));
}

void AgentSession::report_usage(const std::string& model, uint64_t input_tokens,
                                uint64_t output_tokens) {
  impl_->runner->report_usage({}, model, input_tokens, output_tokens);
}

// Waits for the end, running the task jobs that come meanwhile at the top
// of the stack (task_runner.h says why).
std::chrono::milliseconds AgentSession::run() {
  for (;;) {
    std::optional<std::chrono::milliseconds> end;
    auto stop = impl_->shutdown.addBranch()
                    .exclusiveJoin(impl_->disconnected.addBranch().then(
                        [] { return std::chrono::milliseconds(0); }))
                    .then([&end](std::chrono::milliseconds ms) { end = ms; });
    stop.exclusiveJoin(impl_->runner->job_queued()).wait(impl_->io.waitScope);
    if (end) return *end;
    impl_->runner->run_jobs();
  }
}

kj::AsyncIoContext& AgentSession::io() { return impl_->io; }
kj::WaitScope& AgentSession::wait_scope() { return impl_->io.waitScope; }

}  // namespace smol::agent
