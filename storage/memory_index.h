// The memory store's inverted index and its BM25 ranking.
//
// Every entry is a document of its partition (memory_codec.h), with a docid
// counted up from 1 in that partition and never reused there. Per
// (partition, term) a sorted set in mem_postings holds the postings,
// be64(docid) varint(tf) varint(doc length) (stored delta-coded, see
// ChunkFormat::kPostings), so ranking needs no lookup per posting. Per
// partition, "S" + partition in mem_meta counts its documents, their total
// length (for avgdl) and the next docid. Per document, mem_docs holds its
// entry key and term counts, so a document is removed (or moved to another
// tier) without tokenizing its text again.
//
// IndexWriter edits all of this inside the write transaction that changes
// the entry, so entry and index commit together or not at all.
//
// Threads: the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/lmdb_env.h"
#include "storage/memory_codec.h"
#include "storage/memory_sorted_set.h"

namespace smol::storage::memory {

// BM25 as in Robertson and Zaragoza (2009), with Lucene's idf, which stays
// positive for terms in more than half of the documents:
//   idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//   score(d, q) = sum over distinct t in q of
//                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
// N, df and avgdl are taken over the union of the partitions searched.
struct Bm25 {
  double k1 = 1.2;
  double b = 0.75;
};

struct PartitionStats {
  uint64_t docs = 0;
  uint64_t total_length = 0;
  uint64_t next_docid = 1;
};

PartitionStats read_stats(const Txn& txn, const Dbs& dbs, std::string_view partition);

// Edits the index inside one LmdbEnv::write body; create one per run of the
// body, next to the body's SetWriter for dbs.postings (ChunkFormat::kPostings),
// and call write_back() before the SetWriter's. New postings are gathered per (partition, term) and appended
// to their sets once, at write_back().
class IndexWriter {
 public:
  IndexWriter(Txn& txn, const Dbs& dbs, SetWriter& postings) : txn_(txn), dbs_(dbs), sets_(postings) {}
  IndexWriter(const IndexWriter&) = delete;
  IndexWriter& operator=(const IndexWriter&) = delete;

  // Indexes a document of the partition and returns its new docid.
  uint64_t add(std::string_view partition, std::string_view entry_key, const DocTerms& terms);
  // Removes a document and returns what it held; nullopt when there is no
  // such document (nothing is changed then).
  std::optional<DocRecord> remove(std::string_view partition, uint64_t docid);
  // Appends the gathered postings and writes the partitions' statistics.
  void write_back();

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Partition {
    PartitionStats stats;
    // New postings by term, in docid order.
    std::unordered_map<std::string, std::vector<std::string>, Hash, std::equal_to<>> added;
  };
  Partition& partition(std::string_view name);

  Txn& txn_;
  const Dbs& dbs_;
  SetWriter& sets_;
  std::unordered_map<std::string, Partition, Hash, std::equal_to<>> partitions_;
};

// A scored document: which of the Ranker's partitions, which docid there.
struct Scored {
  size_t partition = 0;
  uint64_t docid = 0;
  double score = 0;
};

// Ranks the documents of some partitions against a query's terms. Each
// (partition, term) posting list is read once, term at a time, into an
// array of scores indexed by docid (docids are dense in a partition); a
// partition whose docids are too sparse for an array (heavy churn) uses a
// hash map instead.
class Ranker {
 public:
  // The Txn (a read one) must outlive the Ranker and not be written to.
  // Throws LmdbError(MDB_CORRUPTED) for postings it cannot read.
  Ranker(const Txn& txn, const Dbs& dbs, std::vector<std::string> partitions,
         std::vector<std::string> terms, Bm25 params);

  // The `limit` best documents, best first; equal scores in (docid,
  // partition) order. Scores every posting on the first call only.
  std::vector<Scored> top(size_t limit);

  const std::vector<std::string>& partitions() const { return partitions_; }
  // N and avgdl of the partitions searched.
  uint64_t documents() const { return n_; }
  double avgdl() const { return avgdl_; }

 private:
  struct Scores {
    uint64_t base = 0;            // docid of dense[0]
    std::vector<double> dense;    // 0 = no query term
    std::unordered_map<uint64_t, double> sparse;
  };
  void score_all();

  const Txn& txn_;
  const Dbs& dbs_;
  std::vector<std::string> partitions_, terms_;
  Bm25 params_;
  std::vector<PartitionStats> stats_;
  uint64_t n_ = 0;
  double avgdl_ = 0;
  std::vector<double> idf_;  // per term
  std::optional<std::vector<Scores>> scores_;  // per partition, after score_all()
};

}  // namespace smol::storage::memory
