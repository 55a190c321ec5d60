// memory::Store: the storage half of the swarms' memory. Three tiers of
// entries per swarm in the daemon's one LMDB environment, a BM25 index over
// their text kept in the same environment, and group-committed writes.
//
// Entries. An entry is a key and a value (bytes) with tags, in one tier of
// one swarm (memory_types.h):
//   short_term  keyed by (swarm, owner agent, key). Only its owner can get,
//               list, recall, delete or consolidate it by key. It expires a
//               time-to-live after its last put (PutRequest::ttl_ms, default
//               Options::default_ttl_ms = 10 min).
//   working     keyed by (swarm, key); any agent of the swarm.
//   long_term   keyed by (swarm, key); kept until deleted.
// A put of an existing key replaces its value and tags and keeps its
// provenance (creation time, tiers passed, recall count); the writer and
// update time become the new put's. Permissions (which agent may touch
// which tier) are the daemon's business, not the store's: the store only
// keeps short-term entries private to their owner.
//
// Writes are group-committed. submit_put / submit_delete /
// submit_consolidate / submit_consolidate_by_rule check their arguments at
// once (std::invalid_argument), then queue the write. flush() applies every
// queued write, in order, in ONE LMDB write transaction, commits it, and then
// calls each write's callback exactly once with that write's own result. A
// write that fails (over quota, not found, already exists, corrupt record)
// changes nothing and fails alone; the others in the batch commit. A
// corrupt record of an index (expiry, postings), which a write may
// meet only as the transaction writes its indexes back, makes the batch
// commit again write by write, so that it too fails only the writes that
// meet it. Only an LMDB failure of the transaction itself (disk full, I/O
// error) fails the whole batch, each callback then getting
// ErrorCode::storage. A full map is
// no failure: LmdbEnv::write grows it and runs the batch again from scratch
// (nothing of a run outlives it, so running it twice is safe). The daemon
// commits a batch (take_batch / commit_batch / finish_batch, the steps of
// flush()) whenever writes wait and the one before is done;
// put()/del()/consolidate() are submit + flush for callers that want one
// answer now (tests, the CLI).
//
// Durability (Options::durability), and what a crash can lose:
//   fsync (default)  Every flush is one LMDB commit that syncs before
//                    callbacks run (LMDB writes and fdatasyncs the data
//                    pages, then the meta page). An answered write survives
//                    any crash, power loss included. One sync serves the
//                    whole batch. (Syncing with mdb_env_sync after a commit
//                    made with MDB_NOSYNC would sync once instead of twice,
//                    but lets a power cut land a meta page on disk before
//                    the pages it points to; LMDB's own commit orders them.)
//   batch            Commits do not sync; the store syncs at most every
//                    Options::batch_sync_ms: after a flush when that long
//                    has passed since the last sync, else from
//                    sync_if_due(), which the daemon calls from a timer set
//                    by sync_due_in_ms(). Callbacks run after the commit, so
//                    a crash of the daemon loses nothing (the OS has the
//                    pages); a crash of the OS or a power cut loses the
//                    writes answered in the last batch_sync_ms (plus the
//                    time sync_if_due() was late), and, on a filesystem that
//                    reorders writes, LMDB says it can corrupt the file.
//   none             Commits never sync; the kernel writes the pages back
//                    when it likes (~30 s on Linux by default). A daemon
//                    crash loses nothing; an OS crash loses what the kernel
//                    had not written, with the same corruption caveat.
// batch and none need Options::commit_sync (storage/lmdb_sync.h), which
// turns MDB_NOSYNC on around the store's own commits only; other tables'
// commits keep syncing.
//
// Reads (get, list, recall, usage) run in a read transaction of their own
// and see what the last flush committed, not writes still queued. An expired
// short-term entry is invisible to reads even before expire() removes it.
//
// Recall ranks the entries of the tiers asked for (short_term: the asking
// agent's own) against a query with BM25 (memory_index.h) over an inverted
// index updated in the same transaction as the entry; the value's first
// Limits::max_indexed_bytes are its text (memory_text.h: words of letters
// and digits, ASCII case folded). Each recall counts one recall of every
// entry it returns; those counts are written by the next flush().
//
// Expiry is incremental: expire(n) removes at most n expired short-term
// entries, oldest expiry first, in one small write transaction, using an
// index ordered by expiry time; a batch can carry such a round too
// (take_batch's expire_max), which is how the daemon expires, every second.
// Nothing ever walks all entries in one transaction.
//
// Quotas: per swarm, bytes (key + value + tags of every entry, all tiers)
// and entries. A put that would pass either fails with
// ErrorCode::quota_exceeded naming the swarm, the quota and the amounts.
// Deletes, expiry and re-puts with smaller values free quota; expired
// entries count until expire() removes them. Consolidation moves an entry
// and changes neither.
//
// Consolidation moves an entry up: short_term -> working -> long_term (or
// straight to a higher tier named in the request), by key, or by rule
// (recalled at least N times, or in its tier for at least T). It keeps the
// entry's provenance and appends the tier it entered, when and by whom. An
// entry whose key the destination already has is not moved
// (ErrorCode::already_exists; a rule counts it in `conflicts`).
//
// Errors: bad arguments throw std::invalid_argument naming the field and
// the limit ("key: 600 bytes, the limit is 512 (Limits::max_key_bytes)"),
// among them a key that, with its swarm and agent names, is longer than
// LMDB takes a key (511 bytes in Debian's build).
// Outcomes of writes arrive as a Status in the callback. Reads throw
// LmdbError for LMDB failures; get() throws LmdbError(MDB_CORRUPTED) for an
// entry it cannot decode, while list() and recall() go past such entries.
//
// Threads: every method, and every callback, runs on one thread (the
// daemon's loop), except commit_batch(), which may run on another while the
// loop goes on submitting, reading and setting quotas (see Batch; the
// Clock must then be safe to call from both). Callbacks must not throw;
// they may submit new writes, which go to the next batch.
//
// Lifetime: the LmdbEnv (and Options::clock and ::commit_sync, if given)
// must outlive the Store. Destroying a Store with writes pending drops them
// unanswered: call flush() first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "storage/lmdb_env.h"
#include "storage/lmdb_sync.h"
#include "storage/memory_codec.h"
#include "storage/memory_index.h"
#include "storage/memory_types.h"

namespace smol::storage::memory {

// Wall-clock time in Unix milliseconds. Entries keep their times across
// daemon restarts, so this is CLOCK_REALTIME, not a monotonic clock; tests
// pass a clock they move by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() override;
};

enum class Durability { fsync, batch, none };

// Bounds on what callers may pass; exceeding one is std::invalid_argument.
struct Limits {
  size_t max_name_bytes = 128;        // swarm and agent names
  size_t max_key_bytes = 512;
  size_t max_value_bytes = 1 << 20;   // 1 MiB
  size_t max_tags = 16;
  size_t max_tag_bytes = 64;
  size_t max_indexed_bytes = 64 << 10;  // of each value, indexed for recall
  size_t max_query_bytes = 4096;
  size_t max_recall_k = 1000;
  size_t max_list_limit = 1000;
  int64_t max_ttl_ms = int64_t{30} * 24 * 3600 * 1000;  // 30 days
};

struct Quota {
  uint64_t max_bytes = uint64_t{256} << 20;
  uint64_t max_entries = 250'000;
};

// What a swarm uses now, as the quota counts it.
struct Usage {
  uint64_t bytes = 0;
  uint64_t entries = 0;
  std::array<uint64_t, kTierCount> entries_by_tier{};  // indexed by Tier
};

struct Options {
  Durability durability = Durability::fsync;
  int64_t batch_sync_ms = 50;            // Durability::batch only
  CommitSync* commit_sync = nullptr;     // needed by batch and none
  Clock* clock = nullptr;                // null: SystemClock
  int64_t default_ttl_ms = 10 * 60 * 1000;
  Quota default_quota;                   // per swarm, unless set_quota()
  Limits limits;
  Bm25 bm25;
};

// --- requests ---

// Names one entry. agent: short_term: the owner (required); working and
// long_term: the agent asking ("" = daemon or operator), only for provenance.
struct EntryRef {
  std::string swarm;
  Tier tier = Tier::working;
  std::string agent;
  std::string key;
};

struct PutRequest {
  std::string swarm;
  Tier tier = Tier::working;
  std::string agent;  // the writer; short_term: also the owner (required)
  std::string key;
  std::string value;
  std::vector<std::string> tags;  // each non-empty; kept sorted and unique
  int64_t ttl_ms = 0;             // short_term only; 0 = Options::default_ttl_ms
};

struct ConsolidateRequest {
  EntryRef from;
  std::optional<Tier> to;  // default: the next tier up
  std::string by;          // who moves it, for provenance ("" = daemon)
};

// An entry matches when any rule that is set holds: recalled at least
// min_recalls times, or in its current tier for at least min_age_ms.
struct Rule {
  uint64_t min_recalls = 0;  // 0 = not set
  int64_t min_age_ms = 0;    // 0 = not set
};

// Moves up to max_moves matching entries of one tier of a swarm (short_term:
// every agent's), looking at up to max_scan entries in key order after
// start_after, so one call stays one small transaction. Continue with
// start_after = the result's resume_after until that is empty.
struct RuleRequest {
  std::string swarm;
  Tier from = Tier::short_term;
  std::optional<Tier> to;  // default: the next tier up
  Rule rule;
  std::string by;
  size_t max_moves = 100;
  size_t max_scan = 10'000;
  std::string start_after;  // opaque; "" = from the start
};

struct WriteResult {
  Status status;
  // consolidate_by_rule only:
  size_t moved = 0;
  size_t conflicts = 0;       // matched, but the destination had the key
  std::string resume_after;   // "" = the scan reached the end of the tier
};
using WriteCallback = std::function<void(const WriteResult&)>;


struct ListRequest {
  std::string swarm;
  Tier tier = Tier::working;
  std::string agent;          // short_term: the owner (required)
  std::string prefix;         // keys starting with it
  std::string start_after;    // a key: the page starts after it ("" = first page)
  size_t limit = 100;
  bool with_values = false;   // else Entry::value is empty (value_size is set)
};

struct ListPage {
  std::vector<Entry> entries;       // in key order (bytewise)
  std::string next_start_after;     // "" = this is the last page
};

struct RecallRequest {
  std::string swarm;
  std::string agent;  // the asking agent: its short_term entries are searched ("" = none)
  std::string query;
  size_t k = 10;
  TierSet tiers = TierSet::all();
  std::vector<std::string> tags;  // an entry must carry all of them
};

struct RecallHit {
  double score = 0;
  Entry entry;  // value included
};

struct ExpireReport {
  size_t removed = 0;
  bool more = false;  // more expired entries are waiting
};

struct FlushReport {
  size_t writes = 0;           // answered by this flush
  size_t failed = 0;           // of which not ok
  bool committed = false;      // a transaction was committed
  bool synced = false;         // batch: this flush synced
  double commit_seconds = 0;   // the write transaction, commit (and sync) included
  ExpireReport expired;        // when the batch had an expiry round
};

// One group commit in three steps, so that the middle one, the LMDB write
// transaction with its sync, can run off the loop thread (MemoryService
// does it on a committer thread): Store::take_batch() on the loop thread
// takes the queued writes, the recall counts and a copy of the quotas;
// Store::commit_batch() commits them, on any thread; Store::finish_batch()
// on the loop thread answers the callbacks. Nothing in it is shared with the
// Store meanwhile.
struct Batch {
  using Write = std::variant<PutRequest, EntryRef, ConsolidateRequest, RuleRequest>;
  struct Pending {
    Write write;
    WriteCallback done;
  };
  struct Bump {
    uint64_t docid = 0;
    uint64_t count = 0;
    int64_t at_ms = 0;
  };

  std::vector<Pending> writes;
  std::map<std::string, Bump> bumps;  // recall counts, by entry key
  std::map<std::string, Quota, std::less<>> quotas;
  int64_t now_ms = 0;
  size_t expire_max = 0;  // also remove up to this many expired entries
  // Set by commit_batch():
  std::vector<WriteResult> results;
  ExpireReport expired;
  bool committed = false;
  bool synced = false;
  double commit_seconds = 0;
  std::string failure;  // the transaction's error, when it failed
  std::string expiry_failure;  // why the expiry round was skipped, if it was
};

// What the store has done since it was opened; for metrics and tests.
struct Counters {
  uint64_t commits = 0;       // write transactions committed
  uint64_t write_bodies = 0;  // runs of a write body (> commits when the map grew)
  uint64_t syncs = 0;         // explicit syncs (batch)
  uint64_t writes_ok = 0;
  uint64_t writes_failed = 0;
  uint64_t expired = 0;
  uint64_t recalls = 0;
};

class Store final {
 public:
  // Opens (creating if missing) the databases mem_entries, mem_docs,
  // mem_sets, mem_postings and mem_meta: the LmdbEnv needs 5 free in
  // LmdbEnv::Options::max_dbs.
  // Throws std::invalid_argument for bad options (batch or none without a
  // commit_sync), LmdbError for LMDB failures.
  Store(LmdbEnv& env, Options options);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // --- writes: queued, then committed together by flush() ---
  // `done` may be empty when nobody waits for the answer.
  void submit_put(PutRequest request, WriteCallback done);
  // Not found (absent or expired) is ErrorCode::not_found.
  void submit_delete(EntryRef entry, WriteCallback done);
  void submit_consolidate(ConsolidateRequest request, WriteCallback done);
  void submit_consolidate_by_rule(RuleRequest request, WriteCallback done);

  // Writes waiting for the next batch.
  size_t pending() const { return pending_.size(); }
  // Writes or only recall counts are waiting. Recall counts are worth a
  // flush of their own now and then (say once a second), not at once: with
  // Durability::fsync every flush is a synced commit.
  bool has_pending() const { return !pending_.empty() || !bumps_.empty(); }

  // Commits everything queued in one transaction, then answers each
  // callback once, in submission order. Does nothing when nothing waits.
  // The same as take_batch(0), commit_batch() and finish_batch().
  FlushReport flush();

  // flush() in three steps (see Batch). Between take_batch() and
  // finish_batch(), other threads must leave the Store alone except for
  // submit_*, reads, and set_quota(); one batch commits at a time.
  Batch take_batch(size_t expire_max);
  // Never throws: a failure is every write's result, and batch.failure.
  // Until it has run, every write's result is a failure.
  void commit_batch(Batch& batch);
  FlushReport finish_batch(Batch& batch);

  // Durability::batch: milliseconds until sync_if_due() has a sync to do,
  // 0 if now, -1 if nothing is unsynced (and always -1 in other modes).
  int64_t sync_due_in_ms();
  // Durability::batch: syncs if the last sync is batch_sync_ms old and a
  // commit since is unsynced. Returns whether it synced. Throws LmdbError.
  bool sync_if_due();

  // submit + flush (which commits everything else pending too); returns
  // this write's result.
  WriteResult put(PutRequest request);
  WriteResult del(EntryRef entry);
  WriteResult consolidate(ConsolidateRequest request);
  WriteResult consolidate_by_rule(RuleRequest request);

  // --- reads: committed state ---
  // nullopt when absent, expired, or another agent's short-term entry.
  std::optional<Entry> get(const EntryRef& entry) const;
  // One page of a tier's keys starting with a prefix (short_term: the
  // agent's own), with their entries; pass next_start_after back as
  // start_after for the next page.
  ListPage list(const ListRequest& request) const;
  // The k best entries, best first (equal scores: the earlier put within
  // its tier first); fewer when fewer contain a query word. A query without
  // words finds nothing.
  std::vector<RecallHit> recall(const RecallRequest& request);
  // For quotas and metrics (smolswarms_memory_entries{swarm,tier}).
  Usage usage(std::string_view swarm) const;

  // --- upkeep ---
  // Removes at most max_entries expired short-term entries in one write
  // transaction (committed with the store's durability), with any writes
  // that are queued; takes no write at all when nothing has expired and
  // nothing is queued. A storage failure is in no report: the queued
  // writes' callbacks hear of it.
  ExpireReport expire(size_t max_entries);

  // The quota of one swarm, until the store is destroyed (the daemon sets it
  // from the swarm's spec each time it starts). Lowering it below the usage
  // only refuses further growth.
  void set_quota(std::string_view swarm, Quota quota);
  Quota quota(std::string_view swarm) const;

  const Counters& counters() const { return counters_; }

 private:
  void submit(Batch::Write write, WriteCallback done);
  // Whether an expired entry is waiting for removal.
  bool expiry_due(int64_t now_ms) const;
  // Commits body with the store's durability; true if it synced.
  bool commit(const std::function<void(Txn&)>& body);
  // What of a batch one transaction of commit_batch() carries.
  struct Part {
    size_t first = 0, last = 0;  // the writes [first, last)
    bool bumps = false;          // the recall counts
    bool expire = false;         // an expiry round
  };
  // Commits part of b in one transaction. False, with the transaction
  // aborted and b.expiry_failure saying why, if the expiry index turned out
  // corrupt as the round read it; throws for any other failure.
  bool commit_part(Batch& b, const Part& part);
  // Answers every write of b as failed with why.
  void fail_all(Batch& b, const std::string& why);
  // After the batch's transaction met a corrupt record: each write in a
  // transaction of its own, so that only those that meet it fail.
  void commit_alone(Batch& b);

  LmdbEnv& env_;
  Options options_;
  std::unique_ptr<Clock> own_clock_;
  Clock* clock_;
  size_t max_stored_key_ = 0;  // LMDB's key size; see check_key in the .cc
  Dbs dbs_;
  std::map<std::string, Quota, std::less<>> quotas_;
  std::vector<Batch::Pending> pending_;
  std::map<std::string, Batch::Bump> bumps_;  // by entry key
  Counters counters_;
  int64_t last_sync_ms_ = 0;
  bool unsynced_ = false;
};

}  // namespace smol::storage::memory
