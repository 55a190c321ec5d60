// Agent::vibe(), apart from agent.cc because g++ 12 at -O2 takes the
// std::string inside KJ's ExceptionOr<VibeAnswer> for maybe-uninitialized (a
// known false positive with kj::Maybe), and the warning can only be silenced
// for the whole file that instantiates it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "supervisor/agent.h"

#include "base/units.h"

namespace smol::supervisor {

kj::Promise<VibeAnswer> Agent::vibe(std::chrono::milliseconds deadline) {
  auto silent = [](std::string why) {
    VibeAnswer a;
    a.note = std::move(why);
    return a;
  };
  if (paused_) return silent("paused");
  KJ_IF_MAYBE(c, client_) {
    auto asked = std::chrono::steady_clock::now();
    auto since = [asked] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - asked)
          .count();
    };
    auto answer = c->vibeRequest().send().then(
        [since](capnp::Response<rpc::Agent::VibeResults>&& r) {
          VibeAnswer a;
          a.answered = true;
          a.health = r.getHealth();
          a.note = std::string(r.getNote().cStr(), r.getNote().size());
          a.millis = since();
          return a;
        },
        [silent](kj::Exception&& e) { return silent(std::string("error: ") + e.getDescription().cStr()); })
        // Now, not when the whole check is joined: millis is taken on arrival.
        .eagerlyEvaluate(nullptr);
    auto timeout = rt_.loop.timer()
                       .afterDelay(deadline.count() * kj::MILLISECONDS)
                       .then([silent, deadline] {
                         return silent("no answer within " + format_duration(deadline));
                       });
    return answer.exclusiveJoin(kj::mv(timeout));
  }
  return silent(state_ == AgentState::exited ? "not running" : "has not said hello");
}

}  // namespace smol::supervisor
