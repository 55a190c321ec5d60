// The byte layouts of the swarm memory in LMDB: keys, and the values of
// entries and index records.
//
// Why a compact hand layout and not Cap'n Proto (as storage/records.capnp
// does for swarms): LMDB only guarantees byte alignment for values, and
// capnp reads whole words, so every read of an entry would copy it first
// (swarm_table does). Entries are read on every get and every recall hit and
// carry values up to a MiB; posting items are read by the hundred thousand
// per query. A varint layout is read in place, and its records are small.
// Every value starts with a version byte (kRecordVersion); a reader meets an
// unknown version as a corrupt record, so a new field means a new version
// (an entry's value stays last, to be read in place).
//
// Layout of the databases (all in the memory's own LmdbEnv, memory.mdb):
//   mem_entries  partition(swarm, tier, agent) + key     -> entry record
//   mem_docs     partition + be64(docid)                -> doc record
//   mem_sets     a sorted set (memory_sorted_set.h), the expiry index, "E":
//                be64(expires_ms) + entry key
//   mem_postings sorted sets in ChunkFormat::kPostings: the postings of each
//                (partition, term)
//   mem_meta     "S" + partition -> doc count, total length, next docid;
//                "U" + swarm -> bytes and entries used (all, per tier)
// A partition is the unit of the index, of docids and of BM25 statistics:
// swarm \0 't' \0 for working ('w') and long_term ('l'), and
// swarm \0 's' agent \0 for one agent's short_term, so one agent's private
// entries never shape the scores another agent sees. Swarm and agent names
// hold no \0 (the store checks), so these keys cannot collide.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/lmdb_env.h"
#include "storage/memory_types.h"

namespace smol::storage::memory {

// The store's five databases, opened once by the Store.
struct Dbs {
  NamedDb entries, docs, sets, postings, meta;
};

// Their names, in the order of Dbs.
inline constexpr const char* kDbNames[] = {"mem_entries", "mem_docs", "mem_sets", "mem_postings",
                                           "mem_meta"};

inline constexpr uint8_t kRecordVersion = 1;

// Writers. A str is varint(size) + bytes.
void put_varint(std::string& out, uint64_t v);
void put_be64(std::string& out, uint64_t v);
void put_str(std::string& out, std::string_view s);
uint64_t get_be64(const char* p);

// Reads what the put_* helpers wrote. Running off the end (or a varint
// longer than 10 bytes) throws LmdbError(MDB_CORRUPTED) naming db/key, with
// the key's non-printable bytes as \xNN.
class ByteReader {
 public:
  // db and key are only used in errors and must outlive the reader.
  ByteReader(std::string_view data, std::string_view db, std::string_view key)
      : p_(data.data()), end_(data.data() + data.size()), db_(db), key_(key) {}

  uint8_t byte();
  uint64_t varint();
  uint64_t be64();
  std::string_view str();
  std::string_view bytes(size_t n);
  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  [[noreturn]] void fail(std::string_view why) const;

 private:
  const char* p_;
  const char* end_;
  std::string_view db_, key_;
};

// "alpha/x\x00y": a key fit for an error message.
std::string printable(std::string_view bytes);

// --- keys ---
char tier_char(Tier tier);
// The index partition of an entry; `agent` only counts for short_term.
std::string partition(std::string_view swarm, Tier tier, std::string_view agent);
// partition(...) + key.
std::string entry_key(std::string_view swarm, Tier tier, std::string_view agent, std::string_view key);
// An entry key taken apart again; views into it. Throws
// LmdbError(MDB_CORRUPTED) naming db/key if it is not one.
struct EntryKeyParts {
  std::string_view swarm;
  Tier tier = Tier::working;
  std::string_view agent;
  std::string_view key;
};
EntryKeyParts parse_entry_key(std::string_view entry_key, std::string_view db);
// What every entry key of a (swarm, tier) starts with, and nothing else's:
// the partition for working and long_term; for short_term, the partition
// without its agent, so that what follows is agent \0 key. Listing and
// consolidation by rule walk mem_entries from here, in key order.
std::string tier_prefix(std::string_view swarm, Tier tier);
// The name prefix of the sorted sets that stores before mem_entries was
// walked kept each (swarm, tier)'s keys in (mem_sets); the Store deletes
// them when it finds them.
inline constexpr std::string_view kOldKeysetPrefix = "K";
std::string postings_name(std::string_view partition, std::string_view term);
inline constexpr std::string_view kExpirySet = "E";
std::string expiry_item(int64_t expires_ms, std::string_view entry_key);
// Docids count up from 1 in each partition and are never reused there, so
// a partition's postings are dense in [1, next docid): recall scores them
// into an array (memory_index.h).
std::string docid_key(std::string_view partition, uint64_t docid);
std::string stats_key(std::string_view partition);
std::string usage_key(std::string_view swarm);

// --- entry records ---
// An entry as stored: the public Entry without its value, plus its docid.
// The value is last in the record, so it can be read in place.
struct EntryRecord {
  uint64_t docid = 0;  // in the entry's partition
  Entry entry;         // entry.value is left empty by decode_entry unless asked
};

std::string encode_entry(const Entry& entry, uint64_t docid);
// Throws LmdbError(MDB_CORRUPTED) naming db/key.
EntryRecord decode_entry(std::string_view value, bool with_value, std::string_view db,
                         std::string_view key);

// --- index records ---
// One term of a document and how often it occurs there.
struct TermCount {
  std::string term;
  uint32_t tf = 0;
};
// The words of a document: what the index needs to add it, or remove it
// again without re-reading its text.
struct DocTerms {
  std::vector<TermCount> terms;  // each term once
  uint32_t length = 0;           // tokens in the document
};

// mem_docs value: version, str partition, str entry key, length, terms.
struct DocRecord {
  std::string partition;
  std::string entry_key;
  DocTerms terms;
};
std::string encode_doc(std::string_view partition, std::string_view entry_key, const DocTerms& terms);
DocRecord decode_doc(std::string_view value, std::string_view db, std::string_view key);
// Only the entry key of a doc record, without copying the terms (recall).
std::string_view doc_entry_key(std::string_view value, std::string_view db, std::string_view key);

// A posting: be64(docid) varint(tf) varint(doc length). Sorted bytewise
// they are in docid order.
std::string posting_item(uint64_t docid, uint32_t tf, uint32_t length);

// A small record of counters (a partition's doc count and total length; a
// swarm's bytes and entries per tier). Missing trailing counters read as 0.
std::string encode_counters(const std::vector<uint64_t>& values);
std::vector<uint64_t> decode_counters(std::string_view value, size_t n, std::string_view db,
                                      std::string_view key);

}  // namespace smol::storage::memory
