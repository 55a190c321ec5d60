#include "agent_runtime/reply_wait.h"

namespace smol::agent {

bool ReplyWait::worth_polling() const { return budget_.count() > 0 && average_ <= budget_; }

void ReplyWait::record(Clock::duration round_trip) { average_ += (round_trip - average_) / 8; }

}  // namespace smol::agent
