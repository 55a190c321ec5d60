#include "storage/memory_sorted_set.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "storage/memory_codec.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage::memory {
namespace {

class SortedSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.reset(new LmdbEnv(LmdbEnv::open(dir_.path() + "/swarmd.mdb", {})));
    db_ = env_->open_db("sets");
  }
  void TearDown() override { env_.reset(); }

  std::vector<std::string> read_all(std::string_view name, std::string_view from = "",
                                    ChunkFormat format = ChunkFormat::kItems) {
    Txn txn = env_->begin_read();
    SetReader r(txn, db_, name, format);
    r.seek(from);
    std::vector<std::string> out;
    while (auto item = r.next()) out.emplace_back(*item);
    return out;
  }

  test::ScratchDir dir_{"smol-mem-set"};
  std::unique_ptr<LmdbEnv> env_;
  NamedDb db_;
};

std::string item_for(uint32_t n) {
  // Varied lengths, so chunks split at varied places.
  return "item-" + std::to_string(n) + std::string(n % 37, 'x');
}

TEST_F(SortedSetTest, MatchesStdSetThroughRandomInsertsAndErasesAcrossTransactions) {
  std::set<std::string> model;
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    env_->write([&](Txn& txn) {
      SetWriter w(txn, db_);
      for (int i = 0; i < 300; ++i) {
        std::string item = item_for(rng() % 2000);
        if (rng() % 3 == 0) {
          EXPECT_EQ(w.erase("s", item), model.count(item) == 1);
          model.erase(item);
        } else {
          EXPECT_EQ(w.insert("s", item), model.count(item) == 0);
          model.insert(item);
        }
      }
      EXPECT_EQ(w.size("s"), model.size());
      w.write_back();
    });
    ASSERT_EQ(read_all("s"), std::vector<std::string>(model.begin(), model.end())) << "round " << round;
  }
  // Seeking lands on the first item >= from, inside or between chunks.
  for (uint32_t probe : {0u, 5u, 999u, 1500u, 1999u}) {
    std::string from = item_for(probe);
    std::vector<std::string> want(model.lower_bound(from), model.end());
    EXPECT_EQ(read_all("s", from), want);
  }
}

TEST_F(SortedSetTest, AppendsFillChunksAndErasingEverythingLeavesNoKeys) {
  env_->write([&](Txn& txn) {
    SetWriter w(txn, db_);
    for (uint32_t i = 0; i < 5000; ++i) {
      char buf[16];
      snprintf(buf, sizeof buf, "%08u", i);
      w.insert("a", buf);
    }
    w.write_back();
  });
  size_t keys = 0;
  {
    Txn txn = env_->begin_read();
    txn.for_each(db_, [&](std::string_view, std::string_view) { ++keys; });
  }
  // 5000 items of 9 encoded bytes is ~44 KiB: about 11 full chunks and a head.
  EXPECT_LE(keys, 14u);
  EXPECT_EQ(read_all("a").size(), 5000u);

  env_->write([&](Txn& txn) {
    SetWriter w(txn, db_);
    std::vector<std::string> items = w.range("a", "", 10000);
    for (const std::string& i : items) EXPECT_TRUE(w.erase("a", i));
    w.write_back();
  });
  keys = 0;
  Txn txn = env_->begin_read();
  txn.for_each(db_, [&](std::string_view, std::string_view) { ++keys; });
  EXPECT_EQ(keys, 0u);
}

TEST_F(SortedSetTest, RangeStartsAtFromAndStopsAtLimit) {
  env_->write([&](Txn& txn) {
    SetWriter w(txn, db_);
    for (const char* s : {"b", "d", "f", "h"}) w.insert("r", s);
    EXPECT_EQ(w.range("r", "c", 2), (std::vector<std::string>{"d", "f"}));
    EXPECT_EQ(w.range("r", "", 10), (std::vector<std::string>{"b", "d", "f", "h"}));
    EXPECT_TRUE(w.range("r", "i", 10).empty());
    EXPECT_TRUE(w.range("none", "", 10).empty());
    w.write_back();
  });
  EXPECT_EQ(read_all("r", "d"), (std::vector<std::string>{"d", "f", "h"}));
  EXPECT_TRUE(read_all("none").empty());
}

// A posting as the index writes it: be64 docid, tf, length.
std::string posting(uint64_t docid) {
  return posting_item(docid, static_cast<uint32_t>(1 + docid % 5), static_cast<uint32_t>(10 + docid % 300));
}

TEST_F(SortedSetTest, PostingsAppendedEraseAndInsertedAcrossTransactionsReadBackInOrder) {
  std::set<std::string> model;
  std::mt19937 rng(11);
  uint64_t next = 1;
  for (int round = 0; round < 30; ++round) {
    env_->write([&](Txn& txn) {
      SetWriter w(txn, db_, ChunkFormat::kPostings);
      // Sometimes a whole run at the end goes first, dropping the last
      // chunks, so the append below must find the new last one itself.
      if (round % 7 == 3) {
        while (model.size() > 10 && w.erase("p", *model.rbegin())) model.erase(std::prev(model.end()));
      }
      // New documents: appended at the end, as the index does.
      std::vector<std::string> added;
      for (int i = rng() % 500; i > 0; --i) added.push_back(posting(next++));
      w.append("p", added);
      model.insert(added.begin(), added.end());
      // Deletions anywhere.
      for (int i = 0; i < 40 && !model.empty(); ++i) {
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        EXPECT_TRUE(w.erase("p", *it));
        model.erase(it);
      }
      // An append that is not past the end falls back to inserts.
      if (round % 5 == 4 && next > 20) {
        std::string old = posting(next - 20);
        w.append("p", {old});
        model.insert(old);
      }
      w.write_back();
    });
    ASSERT_EQ(read_all("p", "", ChunkFormat::kPostings), std::vector<std::string>(model.begin(), model.end()))
        << "round " << round;
  }
  // next_chunk() hands out the stored form: varint gap, tf, length.
  std::optional<Txn> txn(env_->begin_read());
  SetReader r(*txn, db_, "p", ChunkFormat::kPostings);
  EXPECT_EQ(r.size(), model.size());
  ASSERT_TRUE(r.first());
  EXPECT_EQ(*r.first(), model.begin()->substr(0, 8));
  std::vector<std::string> decoded;
  size_t stored = 0;
  while (auto raw = r.next_chunk()) {
    stored += raw->size();
    ByteReader br(*raw, "sets", "p");
    uint64_t docid = 0;
    while (!br.done()) {
      docid += br.varint();
      uint32_t tf = static_cast<uint32_t>(br.varint());
      uint32_t length = static_cast<uint32_t>(br.varint());
      decoded.push_back(posting_item(docid, tf, length));
    }
  }
  EXPECT_EQ(decoded, std::vector<std::string>(model.begin(), model.end()));
  EXPECT_LT(stored, 5 * model.size());  // about 3 to 4 bytes a posting, not 12
  txn.reset();
  // seek() lands inside a chunk of delta-coded postings too.
  auto middle = std::next(model.begin(), static_cast<ptrdiff_t>(model.size() / 2));
  std::string from = middle->substr(0, 8);
  EXPECT_EQ(read_all("p", from, ChunkFormat::kPostings), std::vector<std::string>(middle, model.end()));
}
}  // namespace
}  // namespace smol::storage::memory
