// move_memory(): a state file written by an earlier swarmd, with the memory
// in it, is carried over whole into memory.mdb, once.
#include "storage/memory_move.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "storage/memory_codec.h"
#include "storage/memory_store.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage::memory {
namespace {

class MemoryMoveTest : public ::testing::Test {
 protected:
  std::string path(const char* file) const { return dir_.path() + "/" + file; }

  // What an earlier swarmd left: memory and swarms in swarmd.mdb.
  void write_old_state() {
    LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
    Store store(old, {});
    ASSERT_TRUE(store.put({.swarm = "s", .tier = Tier::long_term, .key = "plan",
                           .value = "ship the release on friday"}).status.ok());
    ASSERT_TRUE(store.put({.swarm = "s", .tier = Tier::working, .key = "note",
                           .value = "friday is a holiday", .tags = {"calendar"}}).status.ok());
    NamedDb other = old.open_db("swarms_of_old");
    old.write([&](Txn& txn) { txn.put(other, "k", "stays"); });
  }

  test::ScratchDir dir_{"smol-memory-move"};
};

TEST_F(MemoryMoveTest, EntriesAndTheirIndexMoveAndLeaveTheOldFile) {
  write_old_state();
  {
    LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
    LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
    EXPECT_GT(move_memory(old, fresh), 0u);
    Store store(fresh, {});
    std::optional<Entry> plan = store.get({"s", Tier::long_term, "", "plan"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->value, "ship the release on friday");
    // The index came along: recall finds both, the tag filter works.
    auto hits = store.recall({.swarm = "s", .query = "friday", .k = 5});
    EXPECT_EQ(hits.size(), 2u);
    hits = store.recall({.swarm = "s", .query = "friday", .k = 5, .tags = {"calendar"}});
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].entry.key, "note");
    EXPECT_EQ(store.usage("s").entries, 2u);

    for (const char* name : kDbNames) EXPECT_FALSE(old.find_db(name)) << name;
    std::optional<NamedDb> other = old.find_db("swarms_of_old");
    ASSERT_TRUE(other) << "a table that is not the memory's was dropped";
    EXPECT_EQ(old.begin_read().get(*other, "k"), std::optional<std::string_view>("stays"));
  }
  // The next start finds nothing to move, and the moved entries stay.
  LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
  LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
  EXPECT_EQ(move_memory(old, fresh), 0u);
  EXPECT_TRUE(Store(fresh, {}).get({"s", Tier::long_term, "", "plan"}));
}

TEST_F(MemoryMoveTest, AMoveThatDiedBeforeItsDropOnlyDropsTheNextTime) {
  write_old_state();
  // The state file as it was before the move: put back after it, it is what
  // a move that died between its copy and its drop leaves behind.
  std::filesystem::copy_file(path("swarmd.mdb"), path("before-move.mdb"));
  size_t moved = 0;
  {
    LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
    LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
    moved = move_memory(old, fresh);
  }
  std::filesystem::rename(path("before-move.mdb"), path("swarmd.mdb"));
  LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
  LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
  EXPECT_EQ(move_memory(old, fresh), moved);
  for (const char* name : kDbNames) EXPECT_FALSE(old.find_db(name)) << name;
  Store store(fresh, {});
  EXPECT_EQ(store.usage("s").entries, 2u);
  EXPECT_EQ(store.recall({.swarm = "s", .query = "friday", .k = 5}).size(), 2u);
  ASSERT_TRUE(store.put({.swarm = "s", .tier = Tier::working, .key = "later",
                         .value = "friday again"}).status.ok());
  EXPECT_EQ(store.recall({.swarm = "s", .query = "friday", .k = 5}).size(), 3u);
}

// An older swarmd that ran on the state dir after the move wrote memory
// into swarmd.mdb again: the two are not merged, and both stay as they are.
TEST_F(MemoryMoveTest, MemoryInBothFilesIsRefusedNotMerged) {
  write_old_state();
  {
    LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
    LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
    move_memory(old, fresh);
    Store older(old, {});  // the older swarmd
    ASSERT_TRUE(older.put({.swarm = "s", .tier = Tier::working, .key = "meanwhile",
                           .value = "written by the old one"}).status.ok());
  }
  LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
  LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
  try {
    move_memory(old, fresh);
    FAIL() << "merged two memory stores";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path("swarmd.mdb")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("move one of the two files aside"), std::string::npos);
  }
  EXPECT_TRUE(Store(old, {}).get({"s", Tier::working, "", "meanwhile"}));
  EXPECT_TRUE(Store(fresh, {}).get({"s", Tier::long_term, "", "plan"}));
}

TEST_F(MemoryMoveTest, AFreshStateDirHasNothingToMove) {
  LmdbEnv old = LmdbEnv::open(path("swarmd.mdb"), {});
  LmdbEnv fresh = LmdbEnv::open(path("memory.mdb"), {});
  EXPECT_EQ(move_memory(old, fresh), 0u);
  for (const char* name : kDbNames) EXPECT_FALSE(fresh.find_db(name)) << name;
}

}  // namespace
}  // namespace smol::storage::memory
