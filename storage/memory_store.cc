#include "storage/memory_store.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "storage/memory_apply.h"
#include "storage/memory_text.h"

namespace smol::storage::memory {
namespace {

// --- argument checks: std::invalid_argument naming the field and the limit ---

[[noreturn]] void bad(const std::string& message) { throw std::invalid_argument(message); }

void check_size(std::string_view field, size_t size, size_t limit, std::string_view limit_name) {
  if (size > limit) {
    bad(std::string(field) + ": " + std::to_string(size) + " bytes, the limit is " +
        std::to_string(limit) + " (Limits::" + std::string(limit_name) + ")");
  }
}

// Swarm and agent names end up inside keys, separated by \0, and in
// "swarm/agent" addresses elsewhere in the daemon.
void check_name(std::string_view field, std::string_view name, bool required, const Limits& limits) {
  if (name.empty()) {
    if (required) bad(std::string(field) + ": empty");
    return;
  }
  check_size(field, name.size(), limits.max_name_bytes, "max_name_bytes");
  if (name.find('/') != std::string_view::npos) {
    bad(std::string(field) + ": '" + printable(name) + "' contains '/'");
  }
  if (name.find('\0') != std::string_view::npos) {
    bad(std::string(field) + ": '" + printable(name) + "' contains a NUL byte");
  }
}

// Checks a swarm, tier, agent triple; short_term needs its owner.
void check_place(std::string_view swarm, Tier tier, std::string_view agent, const Limits& limits) {
  check_name("swarm", swarm, true, limits);
  check_tier(tier);
  check_name("agent", agent, tier == Tier::short_term, limits);
}

// An entry's LMDB key is its swarm, tier, agent and key together, and LMDB
// refuses keys over its build's maximum (mdb_env_get_maxkeysize). Such a
// write reaching mdb_put would fail its whole batch, every swarm's writes in
// it, so it is refused here, on its own, before it is queued.
void check_key(std::string_view swarm, Tier tier, std::string_view agent, std::string_view key,
               const Limits& limits, size_t max_stored_key) {
  if (key.empty()) bad("key: empty");
  check_size("key", key.size(), limits.max_key_bytes, "max_key_bytes");
  size_t stored = entry_key(swarm, tier, agent, key).size();
  if (stored > max_stored_key) {
    bool owned = tier == Tier::short_term;
    bad("key: " + std::to_string(key.size()) + " bytes, which with swarm '" + printable(swarm) +
        "'" + (owned ? " and agent '" + printable(agent) + "'" : "") + " make " +
        std::to_string(stored) + " bytes of stored key, the limit is " +
        std::to_string(max_stored_key) + " (LMDB's key size)");
  }
}

void check_ref(const EntryRef& r, const Limits& limits, size_t max_stored_key) {
  check_place(r.swarm, r.tier, r.agent, limits);
  check_key(r.swarm, r.tier, r.agent, r.key, limits, max_stored_key);
}

// Sorts and dedupes tags after checking them.
void check_tags(std::vector<std::string>& tags, const Limits& limits) {
  if (tags.size() > limits.max_tags) {
    bad("tags: " + std::to_string(tags.size()) + " tags, the limit is " +
        std::to_string(limits.max_tags) + " (Limits::max_tags)");
  }
  for (const std::string& t : tags) {
    if (t.empty()) bad("tags: an empty tag");
    check_size("tag", t.size(), limits.max_tag_bytes, "max_tag_bytes");
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
}

Tier check_destination(Tier from, std::optional<Tier> to) {
  if (!to) {
    if (from == Tier::long_term) bad("tier: long_term is the top tier; nothing to consolidate into");
    return from == Tier::short_term ? Tier::working : Tier::long_term;
  }
  check_tier(*to);
  if (*to <= from) {
    bad("to: " + std::string(tier_name(*to)) + " is not above " + std::string(tier_name(from)));
  }
  return *to;
}

void check_limit(std::string_view field, size_t value, size_t limit, std::string_view limit_name) {
  if (value == 0) bad(std::string(field) + ": must be at least 1");
  if (value > limit) {
    bad(std::string(field) + ": " + std::to_string(value) + ", the limit is " + std::to_string(limit) +
        " (Limits::" + std::string(limit_name) + ")");
  }
}

bool has_tags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  // Both sorted: stored tags are sorted at put, wanted ones by check_tags.
  return std::includes(have.begin(), have.end(), want.begin(), want.end());
}

}  // namespace

int64_t SystemClock::now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

Store::Store(LmdbEnv& env, Options options)
    : env_(env), options_(std::move(options)), clock_(options_.clock) {
  if (options_.durability != Durability::fsync && options_.commit_sync == nullptr) {
    bad(std::string("durability: ") + (options_.durability == Durability::batch ? "batch" : "none") +
        " needs Options::commit_sync to turn commit syncing off");
  }
  if (options_.durability == Durability::batch && options_.batch_sync_ms <= 0) {
    bad("batch_sync_ms: must be at least 1");
  }
  if (options_.default_ttl_ms <= 0 || options_.default_ttl_ms > options_.limits.max_ttl_ms) {
    bad("default_ttl_ms: must be between 1 and Limits::max_ttl_ms");
  }
  if (clock_ == nullptr) {
    own_clock_ = std::make_unique<SystemClock>();
    clock_ = own_clock_.get();
  }
  dbs_ = Dbs{env_.open_db(kDbNames[0]), env_.open_db(kDbNames[1]), env_.open_db(kDbNames[2]),
             env_.open_db(kDbNames[3]), env_.open_db(kDbNames[4])};
  last_sync_ms_ = clock_->now_ms();
  max_stored_key_ = static_cast<size_t>(mdb_env_get_maxkeysize(env_.raw_env()));
  // Stores before listing walked mem_entries kept each (swarm, tier)'s keys
  // in a sorted set too, rewritten by every put. Found, they are deleted;
  // the write commits nothing (and syncs nothing) when there are none.
  env_.write([&](Txn& txn) { drop_sets(txn, dbs_.sets, kOldKeysetPrefix); });
}

Store::~Store() = default;

// --- writes ---

void Store::submit(Batch::Write write, WriteCallback done) {
  pending_.push_back({std::move(write), std::move(done)});
}

void Store::submit_put(PutRequest r, WriteCallback done) {
  const Limits& l = options_.limits;
  check_place(r.swarm, r.tier, r.agent, l);
  check_key(r.swarm, r.tier, r.agent, r.key, l, max_stored_key_);
  check_size("value", r.value.size(), l.max_value_bytes, "max_value_bytes");
  check_tags(r.tags, l);
  if (r.ttl_ms < 0) bad("ttl_ms: negative");
  if (r.ttl_ms > l.max_ttl_ms) {
    bad("ttl_ms: " + std::to_string(r.ttl_ms) + ", the limit is " + std::to_string(l.max_ttl_ms) +
        " (Limits::max_ttl_ms)");
  }
  if (r.ttl_ms > 0 && r.tier != Tier::short_term) bad("ttl_ms: only short_term entries expire");
  submit(std::move(r), std::move(done));
}

void Store::submit_delete(EntryRef r, WriteCallback done) {
  check_ref(r, options_.limits, max_stored_key_);
  submit(std::move(r), std::move(done));
}

void Store::submit_consolidate(ConsolidateRequest r, WriteCallback done) {
  check_ref(r.from, options_.limits, max_stored_key_);
  check_name("by", r.by, false, options_.limits);
  r.to = check_destination(r.from.tier, r.to);
  submit(std::move(r), std::move(done));
}

void Store::submit_consolidate_by_rule(RuleRequest r, WriteCallback done) {
  check_name("swarm", r.swarm, true, options_.limits);
  check_tier(r.from);
  check_name("by", r.by, false, options_.limits);
  r.to = check_destination(r.from, r.to);
  if (r.rule.min_recalls == 0 && r.rule.min_age_ms <= 0) {
    bad("rule: set min_recalls or min_age_ms");
  }
  if (r.max_moves == 0) bad("max_moves: must be at least 1");
  if (r.max_scan == 0) bad("max_scan: must be at least 1");
  submit(std::move(r), std::move(done));
}

bool Store::commit(const std::function<void(Txn&)>& body) {
  {
    // Only our own commits skip the sync; see lmdb_sync.h.
    UnsyncedCommits unsynced(options_.durability == Durability::fsync ? nullptr
                                                                      : options_.commit_sync);
    env_.write([&](Txn& txn) {
      ++counters_.write_bodies;
      body(txn);
    });
  }
  ++counters_.commits;
  if (options_.durability != Durability::batch) return false;
  unsynced_ = true;
  return sync_if_due();
}

Batch Store::take_batch(size_t expire_max) {
  Batch b;
  // Taken out first: callbacks may submit again, for the next batch.
  b.writes = std::exchange(pending_, {});
  b.bumps = std::exchange(bumps_, {});
  b.quotas = quotas_;
  b.now_ms = clock_->now_ms();
  b.expire_max = expire_max;
  // Failed until commit_batch() says otherwise: a batch that never reaches
  // its commit answers no write as done.
  b.results.assign(b.writes.size(), WriteResult{Status(ErrorCode::storage, "not committed")});
  return b;
}

bool Store::expiry_due(int64_t now_ms) const {
  Txn txn = env_.begin_read();
  std::optional<std::string_view> first = SetReader(txn, dbs_.sets, kExpirySet).next();
  return first && !(first->size() >= 8 && static_cast<int64_t>(get_be64(first->data())) > now_ms);
}

void Store::commit_batch(Batch& b) {
  auto started = std::chrono::steady_clock::now();
  // Most expiry rounds find nothing due; alone, they should not cost a
  // write (and a sync). An expiry index that cannot be read skips the round
  // and fails no write: found unreadable before the transaction, or while
  // the round reads it (then the writes commit again without it).
  bool expire = false;
  if (b.expire_max > 0) {
    try {
      expire = expiry_due(b.now_ms);
    } catch (const LmdbError& e) {
      b.expiry_failure = e.what();
    }
  }
  const size_t n = b.writes.size();
  try {
    if (!commit_part(b, {0, n, true, expire})) commit_part(b, {0, n, true, false});
  } catch (const LmdbError& e) {
    if (!e.is_corrupt()) {
      fail_all(b, e.what());
    } else {
      commit_alone(b);
    }
  } catch (const std::exception& e) {
    fail_all(b, e.what());
  }
  b.commit_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void Store::fail_all(Batch& b, const std::string& why) {
  // The transaction was aborted: nothing of the batch is stored. A failed
  // sync after a batch-mode commit lands here too, though the writes are
  // committed; they are answered as failed rather than as durable.
  for (WriteResult& r : b.results) r = WriteResult{Status(ErrorCode::storage, why)};
  b.expired = {};
  b.failure = why;
}

bool Store::commit_part(Batch& b, const Part& part) {
  if (part.first == part.last && (!part.bumps || b.bumps.empty()) && !part.expire) return true;
  bool expiry_broke = false;
  try {
    bool synced = commit([&](Txn& txn) {
      // This body may run twice (map growth): it starts from scratch.
      WriteBatch w(txn, dbs_, options_, b.quotas, b.now_ms);
      if (part.bumps) {
        for (const auto& [ek, bump] : b.bumps) w.add_recalls(ek, bump.docid, bump.count, bump.at_ms);
      }
      for (size_t i = part.first; i < part.last; ++i) {
        b.results[i] = std::visit(
            [&](const auto& r) -> WriteResult {
              using R = std::decay_t<decltype(r)>;
              if constexpr (std::is_same_v<R, PutRequest>) return w.put(r);
              if constexpr (std::is_same_v<R, EntryRef>) return w.del(r);
              if constexpr (std::is_same_v<R, ConsolidateRequest>) return w.consolidate(r);
              if constexpr (std::is_same_v<R, RuleRequest>) return w.consolidate_by_rule(r);
            },
            b.writes[i].write);
      }
      if (part.expire) {
        try {
          b.expired = w.expire(b.expire_max);
        } catch (const LmdbError& e) {
          if (e.code() != MDB_CORRUPTED) throw;
          b.expiry_failure = e.what();
          expiry_broke = true;
          throw;
        }
      }
      w.write_back();
    });
    // A batch committed in parts is synced only if every part was.
    b.synced = b.committed ? b.synced && synced : synced;
  } catch (...) {
    if (!expiry_broke) throw;
    b.expired = {};
    return false;
  }
  b.committed = true;
  return true;
}

void Store::commit_alone(Batch& b) {
  // One commit (and sync) per write: this is for a damaged database.
  for (size_t i = 0; i < b.writes.size(); ++i) {
    try {
      commit_part(b, {i, i + 1, false, false});
    } catch (const LmdbError& e) {
      b.results[i] =
          WriteResult{Status(e.is_corrupt() ? ErrorCode::corrupt : ErrorCode::storage, e.what())};
    } catch (const std::exception& e) {
      b.results[i] = WriteResult{Status(ErrorCode::storage, e.what())};
    }
  }
  try {
    commit_part(b, {0, 0, true, false});
  } catch (const std::exception& e) {
    // Recall counts are statistics (consolidation by rule reads them):
    // losing one batch of them loses no entry.
    b.failure = std::string("recall counts not stored: ") + e.what();
  }
}

FlushReport Store::finish_batch(Batch& b) {
  FlushReport report;
  report.committed = b.committed;
  report.synced = b.synced;
  report.commit_seconds = b.commit_seconds;
  report.writes = b.writes.size();
  report.expired = b.expired;
  counters_.expired += b.expired.removed;
  for (size_t i = 0; i < b.writes.size(); ++i) {
    if (b.results[i].status.ok()) {
      ++counters_.writes_ok;
    } else {
      ++counters_.writes_failed;
      ++report.failed;
    }
    if (b.writes[i].done) b.writes[i].done(b.results[i]);
  }
  return report;
}

FlushReport Store::flush() {
  if (!has_pending()) return {};
  Batch b = take_batch(0);
  commit_batch(b);
  return finish_batch(b);
}

int64_t Store::sync_due_in_ms() {
  if (options_.durability != Durability::batch || !unsynced_) return -1;
  return std::max<int64_t>(0, last_sync_ms_ + options_.batch_sync_ms - clock_->now_ms());
}

bool Store::sync_if_due() {
  if (sync_due_in_ms() != 0) return false;
  options_.commit_sync->sync();
  ++counters_.syncs;
  unsynced_ = false;
  last_sync_ms_ = clock_->now_ms();
  return true;
}

WriteResult Store::put(PutRequest r) {
  WriteResult out;
  submit_put(std::move(r), [&out](const WriteResult& w) { out = w; });
  flush();
  return out;
}

WriteResult Store::del(EntryRef r) {
  WriteResult out;
  submit_delete(std::move(r), [&out](const WriteResult& w) { out = w; });
  flush();
  return out;
}

WriteResult Store::consolidate(ConsolidateRequest r) {
  WriteResult out;
  submit_consolidate(std::move(r), [&out](const WriteResult& w) { out = w; });
  flush();
  return out;
}

WriteResult Store::consolidate_by_rule(RuleRequest r) {
  WriteResult out;
  submit_consolidate_by_rule(std::move(r), [&out](const WriteResult& w) { out = w; });
  flush();
  return out;
}

// --- reads ---

std::optional<Entry> Store::get(const EntryRef& r) const {
  check_ref(r, options_.limits, max_stored_key_);
  std::string ek = entry_key(r.swarm, r.tier, r.agent, r.key);
  Txn txn = env_.begin_read();
  std::optional<std::string_view> v = txn.get(dbs_.entries, ek);
  if (!v) return std::nullopt;
  Entry e = decode_entry(*v, true, dbs_.entries.name, ek).entry;
  if (e.expires_ms != 0 && e.expires_ms <= clock_->now_ms()) return std::nullopt;
  e.key = r.key;
  return e;
}

ListPage Store::list(const ListRequest& r) const {
  const Limits& l = options_.limits;
  check_place(r.swarm, r.tier, r.agent, l);
  check_size("prefix", r.prefix.size(), l.max_key_bytes, "max_key_bytes");
  check_size("start_after", r.start_after.size(), l.max_key_bytes, "max_key_bytes");
  check_limit("limit", r.limit, l.max_list_limit, "max_list_limit");

  const std::string part = partition(r.swarm, r.tier, r.agent);
  const std::string prefix = part + r.prefix;
  std::string from = prefix;
  if (!r.start_after.empty()) {
    std::string after = part + r.start_after;
    after.push_back('\0');  // the smallest key after start_after
    from = std::max(from, after);
  }
  const int64_t now = clock_->now_ms();

  ListPage page;
  Txn txn = env_.begin_read();
  txn.scan(dbs_.entries, from, [&](std::string_view ek, std::string_view value) {
    if (!ek.starts_with(prefix)) return false;
    std::string_view key = ek.substr(part.size());
    if (page.entries.size() == r.limit) {
      page.next_start_after = page.entries.back().key;
      return false;
    }
    try {
      Entry e = decode_entry(value, r.with_values, dbs_.entries.name, ek).entry;
      if (e.expires_ms != 0 && e.expires_ms <= now) return true;
      e.key = key;
      page.entries.push_back(std::move(e));
    } catch (const LmdbError& e) {
      if (!e.is_corrupt()) throw;  // an unreadable entry does not hide the others
    }
    return true;
  });
  return page;
}

std::vector<RecallHit> Store::recall(const RecallRequest& request) {
  const Limits& l = options_.limits;
  RecallRequest r = request;
  check_name("swarm", r.swarm, true, l);
  check_name("agent", r.agent, false, l);
  check_size("query", r.query.size(), l.max_query_bytes, "max_query_bytes");
  check_limit("k", r.k, l.max_recall_k, "max_recall_k");
  if (r.tiers.empty()) bad("tiers: empty");
  check_tags(r.tags, l);
  ++counters_.recalls;

  std::vector<std::string> partitions;
  for (Tier t : {Tier::short_term, Tier::working, Tier::long_term}) {
    if (!r.tiers.contains(t)) continue;
    if (t == Tier::short_term && r.agent.empty()) continue;  // nobody's private entries
    partitions.push_back(partition(r.swarm, t, r.agent));
  }
  std::vector<std::string> terms = query_terms(r.query, l.max_query_bytes);
  std::vector<RecallHit> hits;
  if (partitions.empty() || terms.empty()) return hits;

  const int64_t now = clock_->now_ms();
  Txn txn = env_.begin_read();
  Ranker ranker(txn, dbs_, std::move(partitions), std::move(terms), options_.bm25);
  std::vector<uint64_t> docids;
  // Most candidates pass the filters (tags, expiry); when too many fail,
  // rank again keeping more.
  for (size_t want = r.k;; want *= 4) {
    std::vector<Scored> best = ranker.top(want);
    hits.clear();
    docids.clear();
    for (const Scored& s : best) {
      std::string dk = docid_key(ranker.partitions()[s.partition], s.docid);
      std::optional<std::string_view> doc = txn.get(dbs_.docs, dk);
      if (!doc) continue;
      try {
        std::string_view ek = doc_entry_key(*doc, dbs_.docs.name, dk);
        std::optional<std::string_view> v = txn.get(dbs_.entries, ek);
        if (!v) continue;
        EntryRecord rec = decode_entry(*v, true, dbs_.entries.name, ek);
        if (rec.docid != s.docid) continue;
        if (rec.entry.expires_ms != 0 && rec.entry.expires_ms <= now) continue;
        if (!has_tags(rec.entry.tags, r.tags)) continue;
        rec.entry.key = parse_entry_key(ek, dbs_.entries.name).key;
        hits.push_back({s.score, std::move(rec.entry)});
        docids.push_back(s.docid);
      } catch (const LmdbError& e) {
        if (!e.is_corrupt()) throw;
      }
      if (hits.size() == r.k) break;
    }
    if (hits.size() == r.k || best.size() < want) break;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    const Entry& e = hits[i].entry;
    Batch::Bump& b = bumps_[entry_key(r.swarm, e.tier, e.owner, e.key)];
    if (b.docid != docids[i]) b = Batch::Bump{docids[i], 0, 0};
    ++b.count;
    b.at_ms = now;
  }
  return hits;
}

Usage Store::usage(std::string_view swarm) const {
  check_name("swarm", swarm, true, options_.limits);
  Txn txn = env_.begin_read();
  std::string key = usage_key(swarm);
  Usage u;
  if (std::optional<std::string_view> v = txn.get(dbs_.meta, key)) {
    std::vector<uint64_t> c = decode_counters(*v, 2 + kTierCount, dbs_.meta.name, key);
    u.bytes = c[0];
    u.entries = c[1];
    for (int t = 0; t < kTierCount; ++t) u.entries_by_tier[t] = c[2 + t];
  }
  return u;
}

// --- upkeep ---

ExpireReport Store::expire(size_t max_entries) {
  if (max_entries == 0) bad("max_entries: must be at least 1");
  Batch b = take_batch(max_entries);
  commit_batch(b);
  return finish_batch(b).expired;
}

void Store::set_quota(std::string_view swarm, Quota quota) {
  check_name("swarm", swarm, true, options_.limits);
  quotas_.insert_or_assign(std::string(swarm), quota);
}

Quota Store::quota(std::string_view swarm) const {
  auto it = quotas_.find(swarm);
  return it == quotas_.end() ? options_.default_quota : it->second;
}

}  // namespace smol::storage::memory
