// WriteBatch: the memory store's writes, applied inside one LMDB write
// transaction (the store's group commit, or one expire() call).
//
// Each write first reads and checks everything it needs (the old record,
// the destination, the quota) and only then changes anything, so a write
// that fails leaves the transaction as it found it and the batch goes on.
// Entry, expiry index, inverted index and usage change together.
//
// Create one per run of an LmdbEnv::write body (the body may run twice when
// the map grows; a WriteBatch holds nothing that outlives its run) and call
// write_back() at the end of the body.
//
// Threads: the thread of the transaction (the memory's committer thread, in
// swarmd).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/lmdb_env.h"
#include "storage/memory_codec.h"
#include "storage/memory_index.h"
#include "storage/memory_sorted_set.h"
#include "storage/memory_store.h"

namespace smol::storage::memory {

class WriteBatch {
 public:
  // quotas maps swarms to quotas that differ from default_quota. Arguments
  // were checked by the Store; limits and options only parametrise.
  WriteBatch(Txn& txn, const Dbs& dbs, const Options& options,
             const std::map<std::string, Quota, std::less<>>& quotas, int64_t now_ms);
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  WriteResult put(const PutRequest& r);
  WriteResult del(const EntryRef& r);
  WriteResult consolidate(const ConsolidateRequest& r);
  WriteResult consolidate_by_rule(const RuleRequest& r);
  // Adds count recalls to the entry, if it still is the document docid.
  void add_recalls(std::string_view entry_key, uint64_t docid, uint64_t count, int64_t at_ms);
  // Removes up to max expired short-term entries.
  ExpireReport expire(size_t max);

  void write_back();

 private:
  struct UsageRec {
    Usage usage;
    bool dirty = false;
  };
  // The record at entry_key, or nullopt; a record that cannot be decoded
  // sets *corrupt to the LmdbError's text.
  std::optional<EntryRecord> load(std::string_view ek, bool with_value, std::string* corrupt);
  UsageRec& usage(std::string_view swarm);
  Quota quota(std::string_view swarm) const;
  // Everything of an existing entry: index, expiry item, record, usage.
  void remove_entry(std::string_view ek, const EntryRecord& rec);
  // Indexes and stores a new entry (entry.value set); its key is not taken.
  void insert_entry(std::string_view ek, const Entry& entry, const DocTerms& terms);
  WriteResult move(std::string_view from_ek, EntryRecord rec, Tier to, std::string_view by);
  bool expired(const Entry& e) const { return e.expires_ms != 0 && e.expires_ms <= now_; }

  Txn& txn_;
  const Dbs& dbs_;
  const Options& options_;
  const std::map<std::string, Quota, std::less<>>& quotas_;
  int64_t now_;
  SetWriter sets_;
  SetWriter postings_;
  IndexWriter index_;
  std::map<std::string, UsageRec, std::less<>> usage_;
};

// Bytes an entry counts against its swarm's quota: key, value and tags.
uint64_t quota_bytes(std::string_view key, uint64_t value_size, const std::vector<std::string>& tags);

}  // namespace smol::storage::memory
