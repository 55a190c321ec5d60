// WorkerPool: a swarm's worker agents as the task scheduler sees them:
// which are up, how loaded each is, and the calls that hand them subtasks.
//
// Subtasks go to a worker in batches: assign() queues an attempt, and while
// the worker has an Agent.work call in flight, later attempts wait and go
// together in the next one (at most kBatch attempts or kBatchBytes of
// input, so a call stays well within the connection's message limit). So a worker that is busy
// taking work gets it in fewer, bigger calls, as the mailbox does for
// messages. Each worker has one WorkDesk, passed along with every work
// call, through which it reports progress and outcomes; a report names
// attempts, and one for an attempt not running on that worker is ignored
// (a worker cannot answer for another).
//
// Load is the number of attempts running on a worker; pick() chooses the
// least loaded worker that may take a subtask.
//
// Thread: the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <kj/async.h>

#include "ipc/agent.capnp.h"

namespace smol::supervisor {

// One attempt of a subtask, as the worker receives it.
struct Assignment {
  uint64_t attempt = 0;
  std::string task_id;
  std::string key;
  std::string input;
  uint32_t number = 0;
  uint32_t timeout_ms = 0;
  std::optional<rpc::Delegator::Client> delegator;  // none: it may not delegate further
};

// What a worker reported about one of its attempts.
struct AttemptUpdate {
  enum class Kind { progress, result, error };
  Kind kind = Kind::progress;
  float fraction = 0;
  std::string text;  // the note, the result or the error
};

class WorkerPool {
 public:
  struct Worker {
    std::string id;
    std::string role;
    rpc::Agent::Client client{nullptr};  // its last run's
    bool ready = false;
    bool gone = false;  // stopped for good: it takes nothing more
    std::set<uint64_t> running;          // its attempts
    std::vector<Assignment> queued;      // waiting for the call in flight
    bool calling = false;
    std::set<uint64_t> to_drop;          // drop notices not yet sent
    bool dropping = false;
    uint64_t run = 0;  // counts worker_ready(), so a reply from an old run is ignored
  };

  // updates: a worker's report about an attempt running on it. (A work
  // call that fails means the worker hung up: its attempts stay counted as
  // running there until its exit reaches worker_down().)
  WorkerPool(std::function<void(Worker&, uint64_t attempt, AttemptUpdate)> updates);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Lifecycle, from the swarm: only agents of worker roles are added.
  // known(): one of the swarm's workers, ready or not.
  void known(const std::string& id, const std::string& role);
  void worker_ready(const std::string& id, const std::string& role, rpc::Agent::Client client);
  // Not ready any more (for_good: nor will it be); returns the attempts
  // that were running on it.
  std::vector<uint64_t> worker_down(const std::string& id, bool for_good);

  // The least loaded ready worker for which may_take is true; null if none.
  Worker* pick(const std::function<bool(const Worker&)>& may_take);
  Worker* find(std::string_view id);
  const Worker* find(std::string_view id) const;
  // Ids of the workers with role ("" = any), ready or not, but not gone.
  std::vector<std::string> ids(std::string_view role) const;

  // Queues an attempt for w (running there from now on).
  void assign(Worker& w, Assignment a);
  // The attempt ended (or was taken back) on w: no longer counted there.
  void release(Worker& w, uint64_t attempt);
  // As release, and the worker is told to stop working on it.
  void drop(Worker& w, uint64_t attempt);
  // Tells the lead (or any agent) to stop running task ids (Agent.drop).
  void drop_tasks(rpc::Agent::Client agent, std::vector<std::string> task_ids);

 private:
  class Desk;
  class LogErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  void send_work(Worker& w);
  void send_drops(Worker& w);

  std::function<void(Worker&, uint64_t, AttemptUpdate)> updates_;
  std::map<std::string, Worker, std::less<>> workers_;
  LogErrors errors_;
  kj::TaskSet calls_{errors_};
};

}  // namespace smol::supervisor
