#include "agent_runtime/smolagent.h"

#include <fcntl.h>

#include <capnp/rpc-twoparty.h>

#include <cstdlib>
#include <stdexcept>

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
              std::shared_ptr<VibeAnswer> vibe)
      : fulfiller_(kj::mv(f)), vibe_(std::move(vibe)) {}

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

 private:
  kj::Own<kj::PromiseFulfiller<std::chrono::milliseconds>> fulfiller_;
  std::shared_ptr<VibeAnswer> vibe_;  // shared with the session, which may change it
};

struct AgentSession::Impl {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyClient> client;
  rpc::AgentHost::Client host{nullptr};
  kj::Promise<std::chrono::milliseconds> shutdown{nullptr};
  kj::Own<kj::PromiseFulfiller<std::chrono::milliseconds>> shutdown_fulfiller;
  std::shared_ptr<VibeAnswer> vibe = std::make_shared<VibeAnswer>();
};

AgentSession::AgentSession() : impl_(std::make_unique<Impl>()) {
  impl_->stream = impl_->io.lowLevelProvider->wrapSocketFd(
      daemon_fd(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  impl_->client = kj::heap<capnp::TwoPartyClient>(*impl_->stream);
  impl_->host = impl_->client->bootstrap().castAs<rpc::AgentHost>();
  auto paf = kj::newPromiseAndFulfiller<std::chrono::milliseconds>();
  impl_->shutdown = kj::mv(paf.promise);
  impl_->shutdown_fulfiller = kj::mv(paf.fulfiller);
}

AgentSession::~AgentSession() = default;

Identity AgentSession::hello(std::string role) {
  if (role.empty()) {
    const char* r = std::getenv("SMOLSWARMS_ROLE");
    role = r ? r : "";
  }
  auto req = impl_->host.helloRequest();
  req.setRole(role);
  req.setAgent(kj::heap<AgentServer>(kj::mv(impl_->shutdown_fulfiller), impl_->vibe));
  try {
    auto resp = req.send().wait(impl_->io.waitScope);
    auto id = resp.getIdentity();
    Identity out{id.getAgentId(), id.getSwarm(), id.getRole(), id.getIndex(), {}};
    for (auto p : id.getPeers()) out.peers.emplace_back(p.getRole(), p.getCount());
    return out;
  } catch (const kj::Exception& e) {
    throw std::runtime_error(std::string("hello refused: ") + e.getDescription().cStr());
  }
}

void AgentSession::on_vibe_check(std::function<Vibe()> answer) { *impl_->vibe = std::move(answer); }

std::chrono::milliseconds AgentSession::run() {
  auto hung_up = impl_->client->onDisconnect().then([] { return std::chrono::milliseconds(0); });
  return impl_->shutdown.exclusiveJoin(kj::mv(hung_up)).wait(impl_->io.waitScope);
}

kj::AsyncIoContext& AgentSession::io() { return impl_->io; }
kj::WaitScope& AgentSession::wait_scope() { return impl_->io.waitScope; }

}  // namespace smol::agent
