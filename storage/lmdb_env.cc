#include "storage/lmdb_env.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <utility>

namespace smol::storage {
namespace {

std::string describe(int code, std::string_view operation, std::string_view what_on,
                     std::string_view detail) {
  std::string s(operation);
  s += '(';
  s += what_on;
  s += "): ";
  s += detail.empty() ? std::string_view(mdb_strerror(code)) : detail;
  return s;
}

void check(int rc, std::string_view operation, std::string_view what_on) {
  if (rc != MDB_SUCCESS) throw LmdbError(rc, operation, what_on);
}

// Names an entry "db/key" in errors; built only when there is an error.
void check(int rc, std::string_view operation, const NamedDb& db, std::string_view key) {
  if (rc != MDB_SUCCESS) throw LmdbError(rc, operation, db.name + "/" + std::string(key));
}

MDB_val to_val(std::string_view s) {
  // LMDB never writes through a key or data pointer passed in.
  return {s.size(), const_cast<char*>(s.data())};
}

std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace

LmdbError::LmdbError(int code, std::string_view operation, std::string_view what_on,
                     std::string_view detail)
    : std::runtime_error(describe(code, operation, what_on, detail)), code_(code) {}

Txn::Txn(Txn&& o) noexcept : env_(o.env_), txn_(std::exchange(o.txn_, nullptr)) {}

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    end();
    env_ = o.env_;
    txn_ = std::exchange(o.txn_, nullptr);
  }
  return *this;
}

Txn::~Txn() { end(); }

void Txn::end() noexcept {
  if (txn_ == nullptr) return;
  mdb_txn_abort(std::exchange(txn_, nullptr));
  env_->txn_ended();
}

void Txn::commit() {
  // mdb_txn_commit frees the transaction whether or not it succeeds.
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  env_->txn_ended();
  check(rc, "mdb_txn_commit", env_->path());
}

std::optional<std::string_view> Txn::get(const NamedDb& db, std::string_view key) const {
  // Keys often come from users (a swarm named ""): one LMDB could never
  // store is simply not there, not an MDB_BAD_VALSIZE for them to decode.
  if (key.empty() || key.size() > static_cast<size_t>(mdb_env_get_maxkeysize(mdb_txn_env(txn_)))) {
    return std::nullopt;
  }
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = mdb_get(txn_, db.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get", db, key);
  return to_view(v);
}

void Txn::put(const NamedDb& db, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  check(mdb_put(txn_, db.dbi, &k, &v, 0), "mdb_put", db, key);
}

bool Txn::del(const NamedDb& db, std::string_view key) {
  MDB_val k = to_val(key);
  int rc = mdb_del(txn_, db.dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_del", db, key);
  return true;
}

void Txn::for_each(
    const NamedDb& db,
    const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  scan(db, {}, [&](std::string_view k, std::string_view v) {
    fn(k, v);
    return true;
  });
}

void Txn::scan(const NamedDb& db, std::string_view from,
               const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  MDB_cursor* raw = nullptr;
  check(mdb_cursor_open(txn_, db.dbi, &raw), "mdb_cursor_open", db.name);
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw, &mdb_cursor_close);
  // LMDB seeks to no empty key, nor to one longer than it stores: those
  // start at the first key, or at the longest prefix LMDB takes, and the
  // keys before `from` are skipped.
  const size_t max_key = static_cast<size_t>(mdb_env_get_maxkeysize(mdb_txn_env(txn_)));
  MDB_val k = to_val(from.substr(0, max_key));
  MDB_val v;
  int rc = mdb_cursor_get(raw, &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(raw, &k, &v, MDB_NEXT)) {
    std::string_view key = to_view(k);
    if (from.size() > max_key && key < from) continue;
    if (!fn(key, to_view(v))) return;
  }
  if (rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get", db.name);
}

size_t Txn::entries(const NamedDb& db) const {
  MDB_stat st;
  check(mdb_stat(txn_, db.dbi, &st), "mdb_stat", db.name);
  return st.ms_entries;
}

void Txn::drop(const NamedDb& db) { check(mdb_drop(txn_, db.dbi, 1), "mdb_drop", db.name); }

LmdbEnv LmdbEnv::open(const std::string& path, Options options) {
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "mdb_env_create", path);
  // LMDB wants mdb_env_close() even after a failed mdb_env_open().
  std::unique_ptr<MDB_env, decltype(&mdb_env_close)> env(raw, &mdb_env_close);
  check(mdb_env_set_mapsize(raw, options.map_size), "mdb_env_set_mapsize", path);
  check(mdb_env_set_maxdbs(raw, options.max_dbs), "mdb_env_set_maxdbs", path);
  // LMDB (>= 0.9.18) opens both of its files with FD_CLOEXEC, so no agent
  // inherits them.
  check(mdb_env_open(raw, path.c_str(), MDB_NOSUBDIR, options.mode), "mdb_env_open", path);
  return LmdbEnv(env.release(), path, options);
}

LmdbEnv::LmdbEnv(MDB_env* env, std::string path, Options options) noexcept
    : env_(env), path_(std::move(path)), max_map_size_(options.max_map_size) {
  // A file that grew in an earlier run keeps its larger map: LMDB adopts it.
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  map_size_ = info.me_mapsize;
}

LmdbEnv::~LmdbEnv() {
  assert(txn_threads_.empty() && "a Txn outlived its LmdbEnv");
  mdb_env_close(env_);
}

std::optional<NamedDb> LmdbEnv::find_db(const std::string& name) {
  MDB_dbi dbi = 0;
  bool found = true;
  write([&](Txn& txn) {
    int rc = mdb_dbi_open(txn.txn_, name.c_str(), 0, &dbi);
    if (rc == MDB_NOTFOUND) {
      found = false;
      return;
    }
    check(rc, "mdb_dbi_open", name);
  });
  if (!found) return std::nullopt;
  return NamedDb{dbi, name};
}

NamedDb LmdbEnv::open_db(const std::string& name) {
  MDB_dbi dbi = 0;
  // The handle must come from a committed transaction to outlive it.
  write([&](Txn& txn) {
    check(mdb_dbi_open(txn.txn_, name.c_str(), MDB_CREATE, &dbi), "mdb_dbi_open", name);
  });
  return {dbi, name};
}

Txn LmdbEnv::begin_read() const { return begin(MDB_RDONLY); }

Txn LmdbEnv::begin(unsigned flags) const {
  {
    std::unique_lock<std::mutex> lock(txns_mutex_);
    txns_changed_.wait(lock, [this] { return !growing_; });
    txn_threads_.push_back(std::this_thread::get_id());
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, flags, &txn);
  if (rc != MDB_SUCCESS) txn_ended();
  check(rc, "mdb_txn_begin", path_);
  return Txn(*this, txn);
}

void LmdbEnv::txn_ended() const noexcept {
  {
    std::lock_guard<std::mutex> lock(txns_mutex_);
    auto it = std::find(txn_threads_.begin(), txn_threads_.end(), std::this_thread::get_id());
    if (it != txn_threads_.end()) txn_threads_.erase(it);
  }
  txns_changed_.notify_all();
}

void LmdbEnv::write(const std::function<void(Txn&)>& body) {
  for (;;) {
    try {
      Txn txn = begin(0);
      body(txn);
      txn.commit();
      return;
    } catch (const LmdbError& e) {
      if (!e.is_map_full()) throw;
      grow(e);  // the full Txn has been aborted by now
    }
  }
}

void LmdbEnv::grow(const LmdbError& full) {
  // LMDB does not check this itself: resizing under an open transaction
  // corrupts its view of the map. This thread's own would never end while
  // it waits; other threads' end soon, and no new one starts meanwhile.
  std::unique_lock<std::mutex> lock(txns_mutex_);
  bool mine = std::find(txn_threads_.begin(), txn_threads_.end(), std::this_thread::get_id()) !=
              txn_threads_.end();
  if (mine || map_size_ >= max_map_size_) throw full;
  growing_ = true;
  txns_changed_.wait(lock, [this] { return txn_threads_.empty(); });
  size_t next = std::min(map_size_ * 2, max_map_size_);
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc == MDB_SUCCESS) map_size_ = next;
  growing_ = false;
  lock.unlock();
  txns_changed_.notify_all();
  check(rc, "mdb_env_set_mapsize", path_);
}

}  // namespace smol::storage
