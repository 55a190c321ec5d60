#include "storage/task_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/sys_error.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr int64_t kNow = 1'700'000'000'000;  // Unix ms

// Every test runs on a real LMDB file in a fresh directory; close() and
// open() make a new LmdbEnv and TaskStore over the same file, as a daemon
// restart does.
class TaskStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void TearDown() override { close(); }

  void open() {
    env_.reset(new LmdbEnv(LmdbEnv::open(dir_.path() + "/swarmd.mdb", {})));
    store_ = std::make_unique<TaskStore>(*env_);
  }
  void close() {
    store_.reset();
    env_.reset();
  }

  // Runs body in one committed write transaction; returns what it returns.
  template <typename Body>
  auto write(Body body) {
    using R = std::invoke_result_t<Body, Txn&>;
    if constexpr (std::is_void_v<R>) {
      env_->write(body);
    } else {
      std::optional<R> out;
      env_->write([&](Txn& txn) { out = body(txn); });
      return std::move(*out);
    }
  }

  TaskRecord create(std::string swarm = "alpha", int64_t now = kNow) {
    return write([&](Txn& txn) { return store_->create_task(txn, swarm, "input", now, 0, 0); });
  }
  SubtaskRecord add(const std::string& id, const std::string& key, std::string input = "in",
                    std::string role = "") {
    return write([&](Txn& txn) { return store_->add_subtask(txn, id, key, role, input); });
  }
  uint32_t start(const std::string& id, const std::string& key, std::string worker = "w-0",
                 int64_t now = kNow) {
    return write([&](Txn& txn) { return store_->start_attempt(txn, id, key, worker, now); });
  }
  AttemptOutcome finish(const std::string& id, const std::string& key, uint32_t number, bool ok,
                        std::string text, bool retry = false, int64_t now = kNow + 10) {
    return write([&](Txn& txn) {
      return store_->finish_attempt(txn, id, key, number, ok, text, retry, now);
    });
  }
  TaskRecord task(const std::string& id) {
    std::optional<TaskRecord> t = store_->task(id);
    if (!t) throw std::logic_error("no task " + id);
    return *t;
  }
  SubtaskRecord subtask(const std::string& id, const std::string& key) {
    std::optional<SubtaskRecord> s = store_->subtask(id, key);
    if (!s) throw std::logic_error("no subtask " + key);
    return *s;
  }

  // The task's counters of ended subtasks.
  void expect_counts(const std::string& id, uint32_t done, uint32_t failed) {
    TaskRecord t = task(id);
    EXPECT_EQ(t.subtasks_done, done) << id;
    EXPECT_EQ(t.subtasks_failed, failed) << id;
  }

  test::ScratchDir dir_{"smol-task-store"};
  std::unique_ptr<LmdbEnv> env_;
  std::unique_ptr<TaskStore> store_;
};

std::vector<std::string> ids(const std::vector<TaskRecord>& tasks) {
  std::vector<std::string> out;
  for (const TaskRecord& t : tasks) out.push_back(t.id);
  return out;
}

std::vector<std::string> keys(const std::vector<SubtaskRecord>& subtasks) {
  std::vector<std::string> out;
  for (const SubtaskRecord& s : subtasks) out.push_back(s.key);
  return out;
}

// Runs fn and expects std::invalid_argument whose text starts "field:".
template <typename Fn>
void expect_invalid(Fn fn, const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "no std::invalid_argument for " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), StartsWith(field + ": ")) << e.what();
  }
}

TEST_F(TaskStoreTest, CreatesIncreasingIdsAndRoundTripsEveryField) {
  TaskRecord a = write([&](Txn& txn) {
    return store_->create_task(txn, "alpha", "summarise the repo", kNow, 30'000, 5'000);
  });
  TaskRecord b = create();
  EXPECT_EQ(a.id, "t-000000000001");
  EXPECT_EQ(b.id, "t-000000000002");
  EXPECT_THAT(a.id, MatchesRegex("t-[0-9a-f]{12}"));

  TaskRecord got = task(a.id);
  EXPECT_EQ(got.id, a.id);
  EXPECT_EQ(got.swarm, "alpha");
  EXPECT_EQ(got.state, TaskState::running);
  EXPECT_EQ(got.input, "summarise the repo");
  EXPECT_EQ(got.created_unix_ms, kNow);
  EXPECT_EQ(got.finished_unix_ms, 0);
  EXPECT_EQ(got.timeout_ms, 30'000);
  EXPECT_EQ(got.budget_tokens, 5'000u);
  EXPECT_EQ(got.subtasks_total, 0u);
  EXPECT_THAT(got.tokens, IsEmpty());
  EXPECT_FALSE(store_->task("t-0000000000ff"));
}

TEST_F(TaskStoreTest, ListsNewestFirstBySwarmAndForAllWithLimit) {
  std::string a1 = create("alpha", kNow).id;
  std::string b2 = create("beta", kNow + 1).id;
  std::string a3 = create("alpha", kNow + 2).id;
  std::string a4 = create("alpha", kNow + 2).id;      // same millisecond: the later id first
  std::string a5 = create("alpha", kNow - 5'000).id;  // the clock stepped back

  EXPECT_THAT(ids(store_->list_tasks("alpha", 10)), ElementsAre(a4, a3, a1, a5));
  EXPECT_THAT(ids(store_->list_tasks("alpha", 2)), ElementsAre(a4, a3));
  EXPECT_THAT(ids(store_->list_tasks("beta", 10)), ElementsAre(b2));
  EXPECT_THAT(ids(store_->list_tasks("", 10)), ElementsAre(a4, a3, b2, a1, a5));
  EXPECT_THAT(ids(store_->list_tasks("", 3)), ElementsAre(a4, a3, b2));
  EXPECT_THAT(store_->list_tasks("gamma", 10), IsEmpty());
  EXPECT_THAT(store_->list_tasks("alpha", 0), IsEmpty());
}

TEST_F(TaskStoreTest, ListingSpansManySetChunks) {
  // 600 items of 16 bytes fill a few 4 KiB chunks of the order sets.
  std::vector<std::string> created;
  write([&](Txn& txn) {
    for (int i = 0; i < 600; ++i) {
      created.push_back(store_->create_task(txn, "alpha", "", kNow + i, 0, 0).id);
    }
  });
  EXPECT_EQ(created.back(), "t-000000000258");
  std::vector<std::string> newest_first(created.rbegin(), created.rend());
  EXPECT_EQ(ids(store_->list_tasks("", 1000)), newest_first);
  std::vector<std::string> ten(newest_first.begin(), newest_first.begin() + 10);
  EXPECT_EQ(ids(store_->list_tasks("alpha", 10)), ten);
}

TEST_F(TaskStoreTest, IdsAreNeverReusedAfterAReopen) {
  create();
  create();
  close();
  open();
  EXPECT_EQ(create().id, "t-000000000003");
}

TEST_F(TaskStoreTest, AddingAKeyTwiceReturnsTheFirstAndCountsOnce) {
  std::string id = create().id;
  SubtaskRecord first = add(id, "chunk-1", "first input", "coder");
  EXPECT_EQ(first.state, SubtaskState::pending);
  SubtaskRecord again = add(id, "chunk-1", "second input", "reviewer");
  EXPECT_EQ(again.input, "first input");
  EXPECT_EQ(again.role, "coder");
  EXPECT_EQ(subtask(id, "chunk-1").input, "first input");
  EXPECT_EQ(task(id).subtasks_total, 1u);

  add(id, "chunk-2");
  EXPECT_EQ(task(id).subtasks_total, 2u);

  // A lead re-delegating after a restart gets the stored result.
  finish(id, "chunk-1", start(id, "chunk-1"), true, "42");
  SubtaskRecord done = add(id, "chunk-1", "third input");
  EXPECT_EQ(done.state, SubtaskState::succeeded);
  EXPECT_EQ(done.result, "42");
  EXPECT_EQ(task(id).subtasks_total, 2u);
}

TEST_F(TaskStoreTest, SubtasksListsOnlyItsTasksOwnInKeyOrder) {
  std::string a = create().id;
  std::string b = create().id;
  add(a, "b");
  add(a, "a");
  add(a, "c");
  add(b, "a");
  EXPECT_THAT(keys(store_->subtasks(a)), ElementsAre("a", "b", "c"));
  EXPECT_THAT(keys(store_->subtasks(b)), ElementsAre("a"));
  EXPECT_THAT(store_->subtasks("t-0000000000ff"), IsEmpty());
  EXPECT_FALSE(store_->subtask(a, "zz"));
  EXPECT_EQ(subtask(b, "a").task_id, b);
}

TEST_F(TaskStoreTest, AnAttemptStartsOnlyOnAPendingSubtask) {
  std::string id = create().id;
  add(id, "k");
  EXPECT_EQ(start(id, "k", "worker-1", kNow + 1), 1u);
  SubtaskRecord s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::running);
  ASSERT_EQ(s.attempts.size(), 1u);
  EXPECT_EQ(s.attempts[0].number, 1u);
  EXPECT_EQ(s.attempts[0].worker, "worker-1");
  EXPECT_EQ(s.attempts[0].started_unix_ms, kNow + 1);
  EXPECT_EQ(s.attempts[0].finished_unix_ms, 0);

  expect_invalid([&] { start(id, "k"); }, "key");  // running
  finish(id, "k", 1, true, "done");
  expect_invalid([&] { start(id, "k"); }, "key");  // succeeded
  EXPECT_EQ(subtask(id, "k").attempts.size(), 1u);
}

TEST_F(TaskStoreTest, ASuccessIsAcceptedOnceAndCountedOnce) {
  std::string id = create().id;
  add(id, "k");
  uint32_t n = start(id, "k");
  EXPECT_EQ(finish(id, "k", n, true, "42", false, kNow + 7), AttemptOutcome::accepted);
  SubtaskRecord s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::succeeded);
  EXPECT_EQ(s.result, "42");
  EXPECT_TRUE(s.attempts[0].ok);
  EXPECT_EQ(s.attempts[0].finished_unix_ms, kNow + 7);

  // A duplicate, a contradicting one and one for an attempt that never was.
  EXPECT_EQ(finish(id, "k", n, true, "43"), AttemptOutcome::stale);
  EXPECT_EQ(finish(id, "k", n, false, "crashed"), AttemptOutcome::stale);
  EXPECT_EQ(finish(id, "k", n + 1, true, "44"), AttemptOutcome::stale);
  s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::succeeded);
  EXPECT_EQ(s.result, "42");
  EXPECT_EQ(s.attempts[0].finished_unix_ms, kNow + 7);
  expect_counts(id, 1, 0);
}

TEST_F(TaskStoreTest, AFailureWithRetryGoesBackToPendingAndTheOldAttemptIsStale) {
  std::string id = create().id;
  add(id, "k");
  start(id, "k", "w-1");
  EXPECT_EQ(finish(id, "k", 1, false, "timed out after 30s", true), AttemptOutcome::accepted);
  SubtaskRecord s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::pending);
  EXPECT_FALSE(s.attempts[0].ok);
  EXPECT_EQ(s.attempts[0].error, "timed out after 30s");
  EXPECT_EQ(s.attempts[0].finished_unix_ms, kNow + 10);
  expect_counts(id, 0, 0);

  // The timed-out worker answers late, before and after the retry starts.
  EXPECT_EQ(finish(id, "k", 1, true, "late"), AttemptOutcome::stale);
  EXPECT_EQ(start(id, "k", "w-2"), 2u);
  EXPECT_EQ(finish(id, "k", 1, true, "late"), AttemptOutcome::stale);
  EXPECT_EQ(subtask(id, "k").state, SubtaskState::running);

  EXPECT_EQ(finish(id, "k", 2, true, "done"), AttemptOutcome::accepted);
  s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::succeeded);
  EXPECT_EQ(s.result, "done");
  ASSERT_EQ(s.attempts.size(), 2u);
  EXPECT_EQ(s.attempts[1].worker, "w-2");
  EXPECT_TRUE(s.attempts[1].ok);
  expect_counts(id, 1, 0);
}

TEST_F(TaskStoreTest, AFailureWithoutRetryEndsTheSubtaskFailed) {
  std::string id = create().id;
  add(id, "k");
  start(id, "k");
  EXPECT_EQ(finish(id, "k", 1, false, "worker-2 exited"), AttemptOutcome::accepted);
  EXPECT_EQ(finish(id, "k", 1, false, "worker-2 exited"), AttemptOutcome::stale);
  SubtaskRecord s = subtask(id, "k");
  EXPECT_EQ(s.state, SubtaskState::failed);
  EXPECT_EQ(s.error, "worker-2 exited");
  EXPECT_EQ(s.attempts[0].error, "worker-2 exited");
  expect_counts(id, 1, 1);
  expect_invalid([&] { start(id, "k"); }, "key");
}

TEST_F(TaskStoreTest, CancelSubtasksCancelsPendingAndRunningAndCountsThemDone) {
  std::string id = create().id;
  for (const char* key : {"pending", "running", "succeeded", "failed"}) add(id, key);
  start(id, "running");
  finish(id, "succeeded", start(id, "succeeded"), true, "ok");
  finish(id, "failed", start(id, "failed"), false, "boom");

  EXPECT_EQ(write([&](Txn& txn) { return store_->cancel_subtasks(txn, id, kNow + 50); }), 2u);
  EXPECT_EQ(subtask(id, "pending").state, SubtaskState::cancelled);
  SubtaskRecord running = subtask(id, "running");
  EXPECT_EQ(running.state, SubtaskState::cancelled);
  EXPECT_EQ(running.attempts[0].finished_unix_ms, kNow + 50);
  EXPECT_EQ(subtask(id, "succeeded").result, "ok");
  EXPECT_EQ(subtask(id, "failed").state, SubtaskState::failed);
  expect_counts(id, 4, 1);
  EXPECT_EQ(task(id).subtasks_cancelled, 2u);

  // Nothing is left to cancel, and the cancelled worker's answer is stale.
  EXPECT_EQ(write([&](Txn& txn) { return store_->cancel_subtasks(txn, id, kNow + 60); }), 0u);
  EXPECT_EQ(finish(id, "running", 1, true, "too late"), AttemptOutcome::stale);
  EXPECT_EQ(task(id).subtasks_done, 4u);
}

TEST_F(TaskStoreTest, ATaskFinishesOnlyFromRunning) {
  std::string a = create().id;
  std::string b = create().id;
  auto finish_task = [&](const std::string& id, TaskState state, std::string text, int64_t now) {
    return write([&](Txn& txn) { return store_->finish_task(txn, id, state, text, now); });
  };
  EXPECT_TRUE(finish_task(a, TaskState::succeeded, "the summary", kNow + 100));
  EXPECT_FALSE(finish_task(a, TaskState::failed, "too late", kNow + 200));
  TaskRecord t = task(a);
  EXPECT_EQ(t.state, TaskState::succeeded);
  EXPECT_EQ(t.result, "the summary");
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.finished_unix_ms, kNow + 100);

  EXPECT_TRUE(finish_task(b, TaskState::cancelled, "by the operator", kNow + 300));
  t = task(b);
  EXPECT_EQ(t.state, TaskState::cancelled);
  EXPECT_EQ(t.error, "by the operator");
  EXPECT_EQ(t.result, "");
}

TEST_F(TaskStoreTest, CancelSubtaskCancelsOneOpenSubtaskWithItsReason) {
  std::string id = create().id;
  add(id, "a");
  add(id, "b");
  start(id, "b");
  auto cancel = [&](const std::string& key) {
    return write([&](Txn& txn) {
      return store_->cancel_subtask(txn, id, key, "cancelled by planner-0", kNow + 5);
    });
  };
  EXPECT_TRUE(cancel("b"));
  SubtaskRecord b = subtask(id, "b");
  EXPECT_EQ(b.state, SubtaskState::cancelled);
  EXPECT_EQ(b.error, "cancelled by planner-0");
  EXPECT_EQ(b.attempts[0].finished_unix_ms, kNow + 5);
  EXPECT_EQ(subtask(id, "a").state, SubtaskState::pending);
  expect_counts(id, 1, 0);
  EXPECT_FALSE(cancel("b"));  // ended already: counted once
  expect_counts(id, 1, 0);
}

TEST_F(TaskStoreTest, APausedTaskIsUnfinishedResumesAndFinishes) {
  std::string a = create().id;
  std::string b = create("beta", kNow + 1).id;
  std::string c = create("alpha", kNow + 2).id;
  write([&](Txn& txn) { store_->finish_task(txn, c, TaskState::succeeded, "done", kNow + 3); });
  EXPECT_TRUE(write([&](Txn& txn) { return store_->set_paused(txn, b, true); }));
  write([&](Txn& txn) { store_->set_budget(txn, b, 5000); });
  EXPECT_EQ(task(b).state, TaskState::paused);
  EXPECT_EQ(task(b).budget_tokens, 5000u);

  // Oldest first, paused included, ended left out; and so after a restart.
  EXPECT_THAT(ids(store_->unfinished_tasks()), ElementsAre(a, b));
  close();
  open();
  EXPECT_THAT(ids(write([&](Txn& txn) { return store_->recover(txn, kNow + 4); })),
              ElementsAre(a, b));

  EXPECT_TRUE(write([&](Txn& txn) { return store_->set_paused(txn, b, false); }));
  EXPECT_EQ(task(b).state, TaskState::running);
  EXPECT_TRUE(write([&](Txn& txn) { return store_->set_paused(txn, b, true); }));
  EXPECT_TRUE(write([&](Txn& txn) {
    return store_->finish_task(txn, b, TaskState::failed, "budget exceeded", kNow + 5);
  }));
  EXPECT_FALSE(write([&](Txn& txn) { return store_->set_paused(txn, b, false); }));
  EXPECT_THAT(ids(store_->unfinished_tasks()), ElementsAre(a));
  expect_invalid([&] { write([&](Txn& txn) { store_->finish_task(txn, a, TaskState::paused, "", kNow); }); },
                 "state");
}

TEST_F(TaskStoreTest, ASubtaskKeepsTheKeyOfTheSubtaskThatDelegatedIt) {
  std::string id = create().id;
  write([&](Txn& txn) { store_->add_subtask(txn, id, "child", "worker", "in", "parent-key"); });
  EXPECT_EQ(subtask(id, "child").parent, "parent-key");
  EXPECT_EQ(add(id, "top").parent, "");
}

TEST_F(TaskStoreTest, TheInputIsKeptApartAndSurvivesUpdatesOfTheRecord) {
  std::string input(100000, 'q');
  std::string id = write([&](Txn& txn) {
    return store_->create_task(txn, "alpha", input, kNow, 0, 0).id;
  });
  add(id, "a");
  finish(id, "a", start(id, "a"), true, "ok");
  write([&](Txn& txn) { store_->add_tokens(txn, id, {"m", 1, 2}); });
  EXPECT_EQ(task(id).input, input);
  EXPECT_EQ(task(id).input_bytes, input.size());
  std::vector<TaskRecord> listed = store_->list_tasks("alpha", 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].input, "");  // listings leave inputs out
  EXPECT_EQ(listed[0].input_bytes, input.size());
  close();
  open();
  EXPECT_EQ(task(id).input, input);
}

TEST_F(TaskStoreTest, TokensAreSummedPerModel) {
  std::string id = create().id;
  write([&](Txn& txn) {
    store_->add_tokens(txn, id, {"small", 100, 10});
    store_->add_tokens(txn, id, {"large", 5, 1});
  });
  write([&](Txn& txn) { store_->add_tokens(txn, id, {"small", 20, 2}); });
  std::vector<TokenUse> tokens = task(id).tokens;
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].model, "small");
  EXPECT_EQ(tokens[0].input_tokens, 120u);
  EXPECT_EQ(tokens[0].output_tokens, 12u);
  EXPECT_EQ(tokens[1].model, "large");
  EXPECT_EQ(tokens[1].input_tokens, 5u);
  EXPECT_EQ(tokens[1].output_tokens, 1u);
}

TEST_F(TaskStoreTest, ProgressIsKeptWhileRunningOnly) {
  std::string id = create().id;
  add(id, "k");
  auto progress = [&](float fraction, std::string note) {
    write([&](Txn& txn) { store_->set_progress(txn, id, "k", fraction, note); });
  };
  progress(0.5f, "ignored: not running yet");
  EXPECT_EQ(subtask(id, "k").progress_note, "");
  start(id, "k");
  progress(0.5f, "half");
  EXPECT_EQ(subtask(id, "k").progress, 0.5f);
  EXPECT_EQ(subtask(id, "k").progress_note, "half");
  progress(7.0f, "clamped");
  EXPECT_EQ(subtask(id, "k").progress, 1.0f);
  finish(id, "k", 1, true, "r");
  progress(0.1f, "late");
  EXPECT_EQ(subtask(id, "k").progress_note, "clamped");
}

TEST_F(TaskStoreTest, RecoverAfterARestartLosesRunningAttemptsAndKeepsResults) {
  std::string a = create().id;
  for (const char* key : {"done", "running", "pending", "failed"}) add(a, key);
  finish(a, "done", start(a, "done"), true, "result-1");
  start(a, "running", "w-1");
  finish(a, "failed", start(a, "failed"), false, "boom");
  // A finished task's subtasks are not the scheduler's any more: left alone.
  std::string b = create().id;
  add(b, "running");
  start(b, "running");
  write([&](Txn& txn) { store_->finish_task(txn, b, TaskState::failed, "gave up", kNow); });
  std::string c = create().id;

  close();
  open();
  std::vector<TaskRecord> resumed =
      write([&](Txn& txn) { return store_->recover(txn, kNow + 1'000); });
  EXPECT_THAT(ids(resumed), ElementsAre(a, c));

  close();
  open();  // what recover wrote is durable
  SubtaskRecord lost = subtask(a, "running");
  EXPECT_EQ(lost.state, SubtaskState::pending);
  ASSERT_EQ(lost.attempts.size(), 1u);
  EXPECT_EQ(lost.attempts[0].error, "swarmd restarted");
  EXPECT_EQ(lost.attempts[0].finished_unix_ms, kNow + 1'000);
  EXPECT_FALSE(lost.attempts[0].ok);
  EXPECT_EQ(subtask(a, "done").state, SubtaskState::succeeded);
  EXPECT_EQ(subtask(a, "done").result, "result-1");
  EXPECT_EQ(subtask(a, "failed").state, SubtaskState::failed);
  EXPECT_EQ(subtask(a, "pending").state, SubtaskState::pending);
  EXPECT_EQ(subtask(b, "running").state, SubtaskState::running);
  expect_counts(a, 2, 1);

  // The lost attempt's late answer is stale; the scheduler's retry runs.
  EXPECT_EQ(finish(a, "running", 1, true, "late"), AttemptOutcome::stale);
  EXPECT_EQ(start(a, "running", "w-2"), 2u);
  EXPECT_EQ(finish(a, "running", 2, true, "result-2"), AttemptOutcome::accepted);
  EXPECT_EQ(task(a).subtasks_done, 3u);
}

TEST_F(TaskStoreTest, BadArgumentsNameTheFieldAndWriteNothing) {
  std::string id = create().id;
  const std::string big(size_t{8} << 20, 'x');  // the largest input
  auto add_subtask = [&](std::string task_id, std::string key, std::string input) {
    add(task_id, key, input);
  };
  expect_invalid([&] { add_subtask(id, "", "in"); }, "key");
  expect_invalid([&] { add_subtask(id, std::string(257, 'k'), "in"); }, "key");
  expect_invalid([&] { add_subtask(id, "k", big + "x"); }, "input");
  expect_invalid([&] { add_subtask("t-0000000000ff", "k", "in"); }, "task_id");
  auto create_task = [&](std::string swarm, std::string input) {
    write([&](Txn& txn) { store_->create_task(txn, swarm, input, kNow, 0, 0); });
  };
  expect_invalid([&] { create_task("alpha", big + "x"); }, "input");
  expect_invalid([&] { create_task("", "in"); }, "swarm");
  EXPECT_EQ(task(id).subtasks_total, 0u);
  EXPECT_THAT(store_->list_tasks("", 10), ::testing::SizeIs(1));

  // At the limits is fine.
  add_subtask(id, std::string(256, 'k'), big);
  EXPECT_EQ(task(id).subtasks_total, 1u);

  const std::string unknown = "t-0000000000ff";
  expect_invalid([&] { start(id, "nope"); }, "key");
  expect_invalid([&] { start(unknown, "k"); }, "task_id");
  expect_invalid([&] { finish(id, "nope", 1, true, "r"); }, "key");
  expect_invalid([&] { write([&](Txn& txn) { store_->cancel_subtasks(txn, unknown, kNow); }); },
                 "task_id");
  auto finish_task = [&](std::string task_id, TaskState state) {
    write([&](Txn& txn) { store_->finish_task(txn, task_id, state, "", kNow); });
  };
  expect_invalid([&] { finish_task(unknown, TaskState::failed); }, "id");
  expect_invalid([&] { finish_task(id, TaskState::running); }, "state");
  expect_invalid([&] { write([&](Txn& txn) { store_->add_tokens(txn, unknown, {"m", 1, 1}); }); },
                 "id");
}

TEST_F(TaskStoreTest, ACorruptRecordThrowsOnReadAndIsSkippedByListings) {
  std::string a = create().id;
  std::string b = create().id;
  std::string c = create().id;
  add(a, "good");
  add(a, "bad");
  NamedDb tasks = env_->open_db("tasks");
  NamedDb subtasks = env_->open_db("subtasks");
  write([&](Txn& txn) {
    txn.put(tasks, b, "not a capnp message");
    txn.put(tasks, c, std::string(16, '\xff'));  // whole words, nonsense pointers
    txn.put(subtasks, a + std::string(1, '\0') + "bad", "garbage!");
  });

  for (const std::string& id : {b, c}) {
    try {
      store_->task(id);
      ADD_FAILURE() << "no error for " << id;
    } catch (const LmdbError& e) {
      EXPECT_TRUE(e.is_corrupt()) << e.what();
      EXPECT_THAT(e.what(), ::testing::HasSubstr("tasks/" + id)) << e.what();
    }
  }
  EXPECT_THAT(ids(store_->list_tasks("alpha", 10)), ElementsAre(a));
  EXPECT_THAT(ids(store_->list_tasks("", 10)), ElementsAre(a));

  try {
    store_->subtask(a, "bad");
    ADD_FAILURE() << "no error for the subtask";
  } catch (const LmdbError& e) {
    EXPECT_TRUE(e.is_corrupt()) << e.what();
  }
  EXPECT_THAT(keys(store_->subtasks(a)), ElementsAre("good"));

  // Neither stops the daemon's start nor a cancel; both are left in place.
  EXPECT_THAT(ids(write([&](Txn& txn) { return store_->recover(txn, kNow); })), ElementsAre(a));
  EXPECT_EQ(write([&](Txn& txn) { return store_->cancel_subtasks(txn, a, kNow); }), 1u);
  EXPECT_THROW(store_->task(b), LmdbError);
}

TEST(TaskStateNames, NameEveryState) {
  EXPECT_EQ(state_name(TaskState::running), "running");
  EXPECT_EQ(state_name(TaskState::cancelled), "cancelled");
  EXPECT_EQ(state_name(TaskState::paused), "paused");
  EXPECT_EQ(state_name(SubtaskState::pending), "pending");
  EXPECT_EQ(state_name(SubtaskState::succeeded), "succeeded");
}

}  // namespace
}  // namespace smol::storage
