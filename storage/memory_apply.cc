#include "storage/memory_apply.h"

#include <algorithm>
#include <utility>

#include "storage/memory_text.h"

namespace smol::storage::memory {
namespace {

Tier next_tier(Tier t) { return t == Tier::short_term ? Tier::working : Tier::long_term; }

std::string describe_entry(std::string_view swarm, Tier tier, std::string_view agent,
                           std::string_view key) {
  std::string s = "swarm ";
  s += swarm;
  s += ": no ";
  s += tier_name(tier);
  s += " entry '";
  s += printable(key);
  s += '\'';
  if (tier == Tier::short_term) {
    s += " of agent ";
    s += agent;
  }
  return s;
}

uint64_t minus(uint64_t a, uint64_t b) { return a - std::min(a, b); }

}  // namespace

uint64_t quota_bytes(std::string_view key, uint64_t value_size, const std::vector<std::string>& tags) {
  uint64_t n = key.size() + value_size;
  for (const std::string& t : tags) n += t.size();
  return n;
}

WriteBatch::WriteBatch(Txn& txn, const Dbs& dbs, const Options& options,
                       const std::map<std::string, Quota, std::less<>>& quotas, int64_t now_ms)
    : txn_(txn), dbs_(dbs), options_(options), quotas_(quotas), now_(now_ms),
      sets_(txn, dbs.sets), postings_(txn, dbs.postings, ChunkFormat::kPostings),
      index_(txn, dbs, postings_) {}

std::optional<EntryRecord> WriteBatch::load(std::string_view ek, bool with_value,
                                            std::string* corrupt) {
  std::optional<std::string_view> v = txn_.get(dbs_.entries, ek);
  if (!v) return std::nullopt;
  try {
    EntryRecord rec = decode_entry(*v, with_value, dbs_.entries.name, ek);
    rec.entry.key = parse_entry_key(ek, dbs_.entries.name).key;
    return rec;
  } catch (const LmdbError& e) {
    if (!e.is_corrupt()) throw;
    *corrupt = e.what();
    return std::nullopt;
  }
}

WriteBatch::UsageRec& WriteBatch::usage(std::string_view swarm) {
  auto it = usage_.find(swarm);
  if (it != usage_.end()) return it->second;
  UsageRec rec;
  std::string key = usage_key(swarm);
  if (std::optional<std::string_view> v = txn_.get(dbs_.meta, key)) {
    std::vector<uint64_t> c = decode_counters(*v, 2 + kTierCount, dbs_.meta.name, key);
    rec.usage.bytes = c[0];
    rec.usage.entries = c[1];
    for (int t = 0; t < kTierCount; ++t) rec.usage.entries_by_tier[t] = c[2 + t];
  }
  return usage_.emplace(std::string(swarm), rec).first->second;
}

Quota WriteBatch::quota(std::string_view swarm) const {
  auto it = quotas_.find(swarm);
  return it == quotas_.end() ? options_.default_quota : it->second;
}

void WriteBatch::remove_entry(std::string_view ek, const EntryRecord& rec) {
  EntryKeyParts parts = parse_entry_key(ek, dbs_.entries.name);
  index_.remove(ek.substr(0, ek.size() - parts.key.size()), rec.docid);
  if (rec.entry.expires_ms != 0) sets_.erase(kExpirySet, expiry_item(rec.entry.expires_ms, ek));
  txn_.del(dbs_.entries, ek);
  UsageRec& u = usage(parts.swarm);
  u.usage.bytes = minus(u.usage.bytes, quota_bytes(parts.key, rec.entry.value_size, rec.entry.tags));
  u.usage.entries = minus(u.usage.entries, 1);
  uint64_t& in_tier = u.usage.entries_by_tier[static_cast<int>(parts.tier)];
  in_tier = minus(in_tier, 1);
  u.dirty = true;
}

void WriteBatch::insert_entry(std::string_view ek, const Entry& entry, const DocTerms& terms) {
  EntryKeyParts parts = parse_entry_key(ek, dbs_.entries.name);
  uint64_t docid = index_.add(ek.substr(0, ek.size() - parts.key.size()), ek, terms);
  if (entry.expires_ms != 0) sets_.insert(kExpirySet, expiry_item(entry.expires_ms, ek));
  txn_.put(dbs_.entries, ek, encode_entry(entry, docid));
  UsageRec& u = usage(parts.swarm);
  u.usage.bytes += quota_bytes(parts.key, entry.value.size(), entry.tags);
  ++u.usage.entries;
  ++u.usage.entries_by_tier[static_cast<int>(parts.tier)];
  u.dirty = true;
}

WriteResult WriteBatch::put(const PutRequest& r) {
  std::string ek = entry_key(r.swarm, r.tier, r.agent, r.key);
  std::string corrupt;
  std::optional<EntryRecord> old = load(ek, false, &corrupt);
  if (!corrupt.empty()) return {Status(ErrorCode::corrupt, corrupt)};

  // Check the quota before touching anything.
  const Quota q = quota(r.swarm);
  const Usage& u = usage(r.swarm).usage;
  uint64_t new_bytes = quota_bytes(r.key, r.value.size(), r.tags);
  uint64_t old_bytes = old ? quota_bytes(r.key, old->entry.value_size, old->entry.tags) : 0;
  if (!old && u.entries + 1 > q.max_entries) {
    return {Status(ErrorCode::quota_exceeded,
                   "swarm " + r.swarm + ": quota max_entries exceeded: " +
                       std::to_string(u.entries) + " entries stored, 1 more would pass the limit " +
                       std::to_string(q.max_entries))};
  }
  uint64_t after = minus(u.bytes, old_bytes) + new_bytes;
  if (new_bytes > old_bytes && after > q.max_bytes) {
    return {Status(ErrorCode::quota_exceeded,
                   "swarm " + r.swarm + ": quota max_bytes exceeded: " + std::to_string(u.bytes) +
                       " bytes stored, this put of " + std::to_string(new_bytes) +
                       " bytes would make it " + std::to_string(after) + ", over the limit " +
                       std::to_string(q.max_bytes))};
  }

  Entry e;
  e.tier = r.tier;
  e.owner = r.tier == Tier::short_term ? r.agent : "";
  e.key = r.key;
  e.value = r.value;
  e.value_size = r.value.size();
  e.tags = r.tags;
  if (r.tier == Tier::short_term) e.expires_ms = now_ + (r.ttl_ms > 0 ? r.ttl_ms : options_.default_ttl_ms);
  // A re-put keeps the history of the key; an expired entry has none left.
  if (old && !expired(old->entry)) {
    e.provenance = std::move(old->entry.provenance);
  } else {
    e.provenance.created_ms = now_;
    e.provenance.tiers = {TierStep{r.tier, now_, r.agent}};
  }
  e.provenance.writer = r.agent;
  e.provenance.updated_ms = now_;
  if (old) remove_entry(ek, *old);
  insert_entry(ek, e, count_terms(r.value, options_.limits.max_indexed_bytes));
  return {};
}

WriteResult WriteBatch::del(const EntryRef& r) {
  std::string ek = entry_key(r.swarm, r.tier, r.agent, r.key);
  std::string corrupt;
  std::optional<EntryRecord> old = load(ek, false, &corrupt);
  if (!corrupt.empty()) return {Status(ErrorCode::corrupt, corrupt)};
  if (!old || expired(old->entry)) {
    return {Status(ErrorCode::not_found, describe_entry(r.swarm, r.tier, r.agent, r.key))};
  }
  remove_entry(ek, *old);
  return {};
}

WriteResult WriteBatch::consolidate(const ConsolidateRequest& r) {
  const EntryRef& f = r.from;
  std::string ek = entry_key(f.swarm, f.tier, f.agent, f.key);
  std::string corrupt;
  std::optional<EntryRecord> rec = load(ek, true, &corrupt);
  if (!corrupt.empty()) return {Status(ErrorCode::corrupt, corrupt)};
  if (!rec || expired(rec->entry)) {
    return {Status(ErrorCode::not_found, describe_entry(f.swarm, f.tier, f.agent, f.key))};
  }
  return move(ek, std::move(*rec), r.to.value_or(next_tier(f.tier)), r.by);
}

WriteResult WriteBatch::move(std::string_view from_ek, EntryRecord rec, Tier to, std::string_view by) {
  EntryKeyParts parts = parse_entry_key(from_ek, dbs_.entries.name);
  std::string dst = entry_key(parts.swarm, to, "", parts.key);
  std::string corrupt;
  std::optional<EntryRecord> there = load(dst, false, &corrupt);
  if (!corrupt.empty()) return {Status(ErrorCode::corrupt, corrupt)};
  if (there) {
    return {Status(ErrorCode::already_exists, "swarm " + std::string(parts.swarm) + ": " +
                                                  std::string(tier_name(to)) + " already holds key '" +
                                                  printable(parts.key) + "'")};
  }
  // The document's terms come from its index record, so moving does not
  // tokenize the value again.
  std::optional<DocRecord> doc;
  {
    std::string key = docid_key(from_ek.substr(0, from_ek.size() - parts.key.size()), rec.docid);
    if (std::optional<std::string_view> v = txn_.get(dbs_.docs, key)) {
      doc = decode_doc(*v, dbs_.docs.name, key);
    }
  }
  remove_entry(from_ek, rec);
  Entry e = std::move(rec.entry);
  e.tier = to;
  e.owner.clear();
  e.expires_ms = 0;
  e.provenance.tiers.push_back(TierStep{to, now_, std::string(by)});
  insert_entry(dst, e, doc ? doc->terms : count_terms(e.value, options_.limits.max_indexed_bytes));
  return {};
}

WriteResult WriteBatch::consolidate_by_rule(const RuleRequest& r) {
  const Tier to = r.to.value_or(next_tier(r.from));
  // Items are entry keys without their tier_prefix: the key, or for
  // short_term agent \0 key. The smallest after start_after is
  // start_after + "\0".
  const std::string prefix = tier_prefix(r.swarm, r.from);
  std::string from = prefix + r.start_after;
  if (!r.start_after.empty()) from.push_back('\0');
  std::vector<std::string> items;
  txn_.scan(dbs_.entries, from, [&](std::string_view ek, std::string_view) {
    if (items.size() == r.max_scan || !ek.starts_with(prefix)) return false;
    items.emplace_back(ek.substr(prefix.size()));
    return true;
  });
  WriteResult result;
  size_t i = 0;
  for (; i < items.size() && result.moved < r.max_moves; ++i) {
    std::string_view item = items[i];
    std::string_view agent, key = item;
    if (r.from == Tier::short_term) {
      size_t sep = item.find('\0');
      agent = item.substr(0, sep);
      key = item.substr(sep + 1);
    }
    std::string ek = entry_key(r.swarm, r.from, agent, key);
    std::string corrupt;
    std::optional<EntryRecord> rec = load(ek, false, &corrupt);
    if (!rec || expired(rec->entry)) continue;  // unreadable ones are left for the operator
    const Provenance& p = rec->entry.provenance;
    int64_t entered = p.tiers.empty() ? p.created_ms : p.tiers.back().entered_ms;
    bool match = (r.rule.min_recalls > 0 && p.recall_count >= r.rule.min_recalls) ||
                 (r.rule.min_age_ms > 0 && now_ - entered >= r.rule.min_age_ms);
    if (!match) continue;
    rec = load(ek, true, &corrupt);
    if (!rec) continue;
    WriteResult moved = move(ek, std::move(*rec), to, r.by);
    if (moved.status.ok()) ++result.moved;
    if (moved.status.code() == ErrorCode::already_exists) ++result.conflicts;
  }
  if (i < items.size() || items.size() == r.max_scan) {
    if (i > 0) result.resume_after = items[i - 1];
  }
  return result;
}

void WriteBatch::add_recalls(std::string_view ek, uint64_t docid, uint64_t count, int64_t at_ms) {
  std::string corrupt;
  std::optional<EntryRecord> rec = load(ek, true, &corrupt);
  if (!rec || rec->docid != docid) return;  // deleted or replaced since
  Provenance& p = rec->entry.provenance;
  p.recall_count += count;
  p.last_recalled_ms = std::max(p.last_recalled_ms, at_ms);
  txn_.put(dbs_.entries, ek, encode_entry(rec->entry, docid));
}

ExpireReport WriteBatch::expire(size_t max) {
  ExpireReport report;
  std::vector<std::string> items = sets_.range(kExpirySet, "", max + 1);
  size_t done = 0;
  for (const std::string& item : items) {
    if (item.size() < 8) {
      sets_.erase(kExpirySet, item);
      continue;
    }
    auto expires = static_cast<int64_t>(get_be64(item.data()));
    if (expires > now_) break;
    if (done == max) {
      report.more = true;
      break;
    }
    ++done;
    std::string ek = item.substr(8);
    std::string corrupt;
    std::optional<EntryRecord> rec = load(ek, false, &corrupt);
    if (rec && rec->entry.expires_ms == expires) {
      remove_entry(ek, *rec);
      ++report.removed;
    } else {
      // No record behind it, or one that cannot be read (left for the
      // operator): drop the index item so it does not block the queue.
      sets_.erase(kExpirySet, item);
    }
  }
  return report;
}

void WriteBatch::write_back() {
  index_.write_back();
  postings_.write_back();
  sets_.write_back();
  for (auto& [swarm, rec] : usage_) {
    if (!rec.dirty) continue;
    const Usage& u = rec.usage;
    if (u.entries == 0 && u.bytes == 0) {
      txn_.del(dbs_.meta, usage_key(swarm));
      continue;
    }
    std::vector<uint64_t> c = {u.bytes, u.entries};
    c.insert(c.end(), u.entries_by_tier.begin(), u.entries_by_tier.end());
    txn_.put(dbs_.meta, usage_key(swarm), encode_counters(c));
  }
  usage_.clear();
}

}  // namespace smol::storage::memory
