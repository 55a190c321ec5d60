#include "supervisor/task_rpc.h"

#include <utility>
#include <vector>

#include "supervisor/agent_grants.h"
#include "supervisor/task_board.h"

namespace smol::supervisor {
namespace {

class DelegationServer final : public rpc::Delegation::Server {
 public:
  DelegationServer(TaskBoard& board, std::string task_id, uint64_t id)
      : board_(board), task_id_(std::move(task_id)), id_(id) {}

 protected:
  kj::Promise<void> cancelRemaining(CancelRemainingContext ctx) override {
    ctx.getResults().setCancelled(board_.cancel_remaining(task_id_, id_));
    return kj::READY_NOW;
  }

 private:
  TaskBoard& board_;
  std::string task_id_;
  uint64_t id_;
};

class DelegatorServer final : public rpc::Delegator::Server {
 public:
  DelegatorServer(TaskBoard& board, std::string task_id, std::string agent, std::string parent,
                  uint32_t depth, uint64_t scope)
      : board_(board),
        task_id_(std::move(task_id)),
        agent_(std::move(agent)),
        parent_(std::move(parent)),
        depth_(depth),
        scope_(scope) {}

 protected:
  kj::Promise<void> delegate(DelegateContext ctx) override {
    auto p = ctx.getParams();
    std::vector<TaskBoard::Spec> specs;
    specs.reserve(p.getSubtasks().size());
    for (auto s : p.getSubtasks()) {
      specs.push_back({s.getKey(), ipc::payload_of(s.getInput()), s.getTo()});
    }
    auto o = p.getOptions();
    TaskBoard::Delegated d =
        board_.delegate(task_id_, agent_, parent_, depth_, scope_, std::move(specs),
                        {o.getRole(), o.getTimeoutMillis(), o.getMaxAttempts()}, p.getSink());
    auto r = ctx.getResults();
    if (d.delegation != 0) r.setDelegation(kj::heap<DelegationServer>(board_, task_id_, d.delegation));
    auto refused = r.initRefused(static_cast<unsigned>(d.refused.size()));
    for (unsigned i = 0; i < refused.size(); ++i) {
      refused[i].setIndex(d.refused[i].index);
      refused[i].setReason(d.refused[i].reason);
      refused[i].setMessage(d.refused[i].message);
    }
    return kj::READY_NOW;
  }

 private:
  TaskBoard& board_;
  std::string task_id_;
  std::string agent_;
  std::string parent_;
  uint32_t depth_;
  uint64_t scope_;
};

}  // namespace

kj::Own<rpc::Delegator::Server> make_delegator(TaskBoard& board, std::string task_id,
                                               std::string agent, std::string parent,
                                               uint32_t depth, uint64_t scope) {
  return kj::heap<DelegatorServer>(board, std::move(task_id), std::move(agent), std::move(parent),
                                   depth, scope);
}

}  // namespace smol::supervisor
