#include "peer/store.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>

#include "call_guard.hpp"
#include "peer/error.hpp"

namespace peer {
namespace detail {

struct ListenerEntry {
  ListenerEntry(std::string n, ListenerFn f, bool o)
      : name(std::move(n)), fn(std::move(f)), once(o) {}

  std::string name;  // to find our list again on unsubscribe
  ListenerFn fn;     // never changed after construction (read without the lock)
  bool once;
  // Marked removed (under the mutex, or by the claim of a `once`) when the entry leaves its
  // list; checked right before each call so that a listener removed during an emission,
  // even from another thread, is not called afterwards; Subscription::reset() also waits
  // for a call in progress on another thread (call_guard.hpp).
  CallGuard guard;
};

using EntryPtr = std::shared_ptr<ListenerEntry>;

struct Computed {
  std::string key;
  std::vector<std::string> deps;  // empty: every other key
  std::shared_ptr<const std::function<json(const Store&)>> fn;

  bool depends_on(std::string_view changed) const {
    if (changed == key) return false;
    return deps.empty() || std::find(deps.begin(), deps.end(), changed) != deps.end();
  }
};

struct StoreState {
  mutable std::mutex mutex;
  json data = json::object();
  // shared_ptr so that get() can copy a formatter out and call it with no lock held.
  std::map<std::string, std::shared_ptr<const std::function<json(const json&)>>, std::less<>>
      formatters;
  std::vector<Computed> computed;  // in registration order
  // std::less<> lets emit() look a string_view up without building a std::string.
  std::map<std::string, std::vector<EntryPtr>, std::less<>> listeners;
  std::map<std::string, std::deque<std::vector<json>>, std::less<>> kept;
  std::shared_ptr<const Store::Dispatcher> dispatcher;  // copied per emission: no allocation
  std::atomic<bool> silenced{false};

  // Caller holds the mutex.
  void remove_locked(const EntryPtr& entry) {
    entry->guard.mark_removed();
    auto it = listeners.find(entry->name);
    if (it == listeners.end()) return;
    auto& list = it->second;
    list.erase(std::remove(list.begin(), list.end(), entry), list.end());
    if (list.empty()) listeners.erase(it);  // keeps lookups for unheard events short
  }

  void remove(const EntryPtr& entry) {
    std::lock_guard lock(mutex);
    remove_locked(entry);
  }
};

const json& arg_or_null(std::span<const json> args, std::size_t i) noexcept {
  static const json kNull;
  return i < args.size() ? args[i] : kNull;
}

}  // namespace detail

namespace {

using detail::EntryPtr;
using detail::StoreState;

// What an emission needs, taken under the lock at emission time.
struct Snapshot {
  std::vector<EntryPtr> entries;
  std::shared_ptr<const Store::Dispatcher> dispatcher;
};

// Caller holds the mutex. Allocates nothing when nobody listens.
Snapshot snapshot_locked(const StoreState& state, std::string_view name) {
  Snapshot snap;
  auto it = state.listeners.find(name);
  if (it == state.listeners.end()) return snap;
  snap.entries = it->second;
  snap.dispatcher = state.dispatcher;
  return snap;
}

Snapshot snapshot(const StoreState& state, std::string_view name) {
  if (state.silenced.load()) return {};
  std::lock_guard lock(state.mutex);
  return snapshot_locked(state, name);
}

// Calls the listeners with no lock held.
void run(StoreState& state, const std::vector<EntryPtr>& entries, std::span<const json> args) {
  for (const auto& entry : entries) {
    if (state.silenced.load()) return;
    if (entry->once ? !entry->guard.enter_once() : !entry->guard.enter()) continue;  // removed, or claimed
    detail::CallGuard::Leave leave(entry->guard);  // before anything that may throw
    if (entry->once) state.remove(entry);  // out of its list before it is called
    entry->fn(args);
  }
}

void deliver(const std::shared_ptr<StoreState>& state, Snapshot snap, std::vector<json> args) {
  if (snap.entries.empty()) return;
  if (!snap.dispatcher) {
    run(*state, snap.entries, args);
    return;
  }
  // Weak: a call still waiting in the loop must not keep a dropped store (and its
  // listeners' captures) alive, nor call into it.
  (*snap.dispatcher)([weak = std::weak_ptr<StoreState>(state), entries = std::move(snap.entries),
                      args = std::move(args)] {
    if (auto strong = weak.lock()) run(*strong, entries, args);
  });
}

// One data change, published after all data (including computed keys) is written, so a
// listener of any of these events sees consistent data.
struct Change {
  std::string key;
  json value;
  json previous;
  bool deleted = false;
};

std::string event_name(std::string_view prefix, std::string_view key) {
  std::string name;
  name.reserve(prefix.size() + 1 + key.size());
  name.append(prefix).append(" ").append(key);
  return name;
}

void publish(const std::shared_ptr<StoreState>& state, std::vector<Change>& changes) {
  for (auto& c : changes) {
    if (c.deleted) {
      if (auto snap = snapshot(*state, "deleted"); !snap.entries.empty())
        deliver(state, std::move(snap), {c.key, c.previous});
      if (auto snap = snapshot(*state, event_name("deleted", c.key)); !snap.entries.empty())
        deliver(state, std::move(snap), {std::move(c.previous)});
    } else {
      if (auto snap = snapshot(*state, "change"); !snap.entries.empty())
        deliver(state, std::move(snap), {c.key, c.value, c.previous});
      if (auto snap = snapshot(*state, event_name("change", c.key)); !snap.entries.empty())
        deliver(state, std::move(snap), {std::move(c.value), std::move(c.previous)});
    }
  }
}

using Dependents =
    std::vector<std::pair<std::string, std::shared_ptr<const std::function<json(const Store&)>>>>;

// Caller holds the mutex. The computed keys that depend on any of `changed`, once each, in
// registration order: a key computed from another computed key is usually registered after
// it, so it is recomputed after it (reset() may drop both at once).
Dependents dependents_locked(const StoreState& state, const std::vector<std::string>& changed) {
  Dependents out;
  for (const auto& c : state.computed) {
    if (std::any_of(changed.begin(), changed.end(), [&](const auto& k) { return c.depends_on(k); }))
      out.emplace_back(c.key, c.fn);
  }
  return out;
}

void apply_set(const Store& store, StoreState& state, std::string_view key, json value,
               std::vector<Change>& changes, int depth);

void recompute(const Store& store, StoreState& state, const Dependents& dependents,
               std::vector<Change>& changes, int depth) {
  if (depth >= Store::kMaxComputeDepth) return;  // a dependency cycle: stop, don't spin
  for (const auto& [key, fn] : dependents)
    apply_set(store, state, key, (*fn)(store), changes, depth + 1);
}

// Writes data, recomputes dependents, then publishes. If a compute function throws, the
// changes already written are still published before the exception leaves.
template <class Write>
void change_and_publish(const std::shared_ptr<StoreState>& state, Write&& write) {
  std::vector<Change> changes;
  try {
    write(changes);
  } catch (...) {
    publish(state, changes);
    throw;
  }
  publish(state, changes);
}

void apply_set(const Store& store, StoreState& state, std::string_view key, json value,
               std::vector<Change>& changes, int depth) {
  Dependents dependents;
  {
    std::lock_guard lock(state.mutex);
    auto it = state.data.find(key);
    json previous;
    if (it != state.data.end()) {
      if (*it == value) return;
      previous = std::exchange(*it, value);
    } else {
      state.data.emplace(std::string(key), value);
    }
    changes.push_back({std::string(key), std::move(value), std::move(previous)});
    dependents = dependents_locked(state, {changes.back().key});
  }
  recompute(store, state, dependents, changes, depth);
}

}  // namespace

// --- Subscription ------------------------------------------------------------------------

Subscription::Subscription(std::weak_ptr<detail::StoreState> state,
                           std::weak_ptr<detail::ListenerEntry> entry) noexcept
    : state_(std::move(state)), entry_(std::move(entry)) {}

Subscription::~Subscription() {
  reset();
}

Subscription Subscription::from(std::function<void()> remove) {
  Subscription s;
  s.remove_ = std::move(remove);
  return s;
}

Subscription::Subscription(Subscription&& other) noexcept
    : state_(std::move(other.state_)),
      entry_(std::move(other.entry_)),
      remove_(std::exchange(other.remove_, nullptr)) {
  other.state_.reset();
  other.entry_.reset();
}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    entry_ = std::move(other.entry_);
    remove_ = std::exchange(other.remove_, nullptr);
    other.state_.reset();
    other.entry_.reset();
  }
  return *this;
}

void Subscription::reset() {
  if (remove_) {
    auto remove = std::exchange(remove_, nullptr);
    remove();
    return;
  }
  auto entry = entry_.lock();
  auto state = state_.lock();
  entry_.reset();
  state_.reset();
  if (!entry) return;  // store gone (entries die with it), or already removed
  if (state) {
    state->remove(entry);  // marks it removed, under the store's lock
  } else {
    entry->guard.mark_removed();  // only a pending dispatched call still holds it
  }
  // With no lock held: a call already running on another thread finishes before we return.
  entry->guard.wait_idle();
}

void Subscription::detach() {
  remove_ = nullptr;
  entry_.reset();
  state_.reset();
}

bool Subscription::active() const {
  if (remove_) return true;
  auto entry = entry_.lock();
  return entry && !entry->guard.removed() && !state_.expired();
}

// --- Store: data -------------------------------------------------------------------------

Store::Store() : state_(std::make_shared<detail::StoreState>()) {}

Store::Store(json initial_object) : Store() {
  if (!initial_object.is_object())
    throw Error(Errc::invalid_argument, "peer::Store: initial value must be a JSON object");
  state_->data = std::move(initial_object);
}

Store::Store(std::shared_ptr<detail::StoreState> state) noexcept : state_(std::move(state)) {}

void Store::set(std::string_view key, json value) {
  change_and_publish(state_, [&](std::vector<Change>& changes) {
    apply_set(*this, *state_, key, std::move(value), changes, 0);
  });
}

void Store::set(const json& object) {
  if (!object.is_object())
    throw Error(Errc::invalid_argument,
                "Store::set: a merge needs a JSON object, got " + std::string(object.type_name()));
  for (auto it = object.begin(); it != object.end(); ++it) set(it.key(), it.value());
}

json Store::get(std::string_view key) const {
  json value;
  std::shared_ptr<const std::function<json(const json&)>> formatter;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->data.find(key);
    if (it == state_->data.end()) return nullptr;
    value = *it;
    if (auto f = state_->formatters.find(key); f != state_->formatters.end()) formatter = f->second;
  }
  return formatter ? (*formatter)(value) : value;  // user code: no lock held
}

bool Store::has(std::string_view key) const {
  std::lock_guard lock(state_->mutex);
  return state_->data.contains(key);
}

void Store::del(std::string_view key) {
  change_and_publish(state_, [&](std::vector<Change>& changes) {
    Dependents dependents;
    {
      std::lock_guard lock(state_->mutex);
      auto it = state_->data.find(key);
      if (it == state_->data.end()) return;
      changes.push_back({std::string(key), nullptr, std::move(*it), true});
      state_->data.erase(it);
      dependents = dependents_locked(*state_, {changes.back().key});
    }
    recompute(*this, *state_, dependents, changes, 0);
  });
}

void Store::reset(json object) {
  if (!object.is_object())
    throw Error(Errc::invalid_argument,
                "Store::reset: needs a JSON object, got " + std::string(object.type_name()));
  change_and_publish(state_, [&](std::vector<Change>& changes) {
    Dependents dependents;
    {
      std::lock_guard lock(state_->mutex);
      json old = std::exchange(state_->data, object);
      for (auto it = old.begin(); it != old.end(); ++it) {
        if (object.contains(it.key())) continue;
        changes.push_back({it.key(), nullptr, std::move(it.value()), true});
      }
      for (auto it = object.begin(); it != object.end(); ++it) {
        auto prev = old.find(it.key());
        if (prev != old.end() && *prev == it.value()) continue;
        changes.push_back({it.key(), std::move(it.value()),
                           prev != old.end() ? std::move(*prev) : json(), false});
      }
      std::vector<std::string> keys;
      keys.reserve(changes.size());
      for (const auto& c : changes) keys.push_back(c.key);
      dependents = dependents_locked(*state_, keys);
    }
    recompute(*this, *state_, dependents, changes, 0);
  });
}

void Store::format(std::string_view key, std::function<json(const json&)> fn) {
  std::lock_guard lock(state_->mutex);
  if (!fn) {
    if (auto it = state_->formatters.find(key); it != state_->formatters.end())
      state_->formatters.erase(it);
    return;
  }
  state_->formatters.insert_or_assign(
      std::string(key), std::make_shared<const std::function<json(const json&)>>(std::move(fn)));
}

void Store::compute(std::string_view key, std::vector<std::string> deps,
                    std::function<json(const Store&)> fn) {
  if (!fn) throw Error(Errc::invalid_argument, "Store::compute: empty function");
  auto shared = std::make_shared<const std::function<json(const Store&)>>(std::move(fn));
  {
    std::lock_guard lock(state_->mutex);
    auto& list = state_->computed;
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.key == key; });
    if (it != list.end()) {
      it->deps = std::move(deps);
      it->fn = shared;
    } else {
      list.push_back({std::string(key), std::move(deps), shared});
    }
  }
  set(key, (*shared)(*this));
}

json Store::to_json() const {
  std::lock_guard lock(state_->mutex);
  return state_->data;
}

// --- Store: events -----------------------------------------------------------------------

Subscription Store::subscribe(std::string name, detail::ListenerFn fn, bool once) {
  auto entry = std::make_shared<detail::ListenerEntry>(std::move(name), std::move(fn), once);
  std::deque<std::vector<json>> replay;
  std::shared_ptr<const Dispatcher> dispatcher;
  {
    std::lock_guard lock(state_->mutex);
    if (auto k = state_->kept.find(entry->name); k != state_->kept.end()) {
      if (once) {
        replay.push_back(std::move(k->second.front()));
        k->second.pop_front();
        if (k->second.empty()) state_->kept.erase(k);
      } else {
        replay = std::move(k->second);
        state_->kept.erase(k);
      }
    }
    // A `once` served from the kept events is done; it never joins the list.
    if (!(once && !replay.empty())) state_->listeners[entry->name].push_back(entry);
    dispatcher = state_->dispatcher;
  }
  Subscription sub(state_, entry);
  for (auto& args : replay) deliver(state_, Snapshot{{entry}, dispatcher}, std::move(args));
  return sub;
}

void Store::off(std::string_view name) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->listeners.find(name);
  if (it == state_->listeners.end()) return;
  for (auto& entry : it->second) entry->guard.mark_removed();
  state_->listeners.erase(it);
}

void Store::off() {
  std::lock_guard lock(state_->mutex);
  for (auto& [name, list] : state_->listeners)
    for (auto& entry : list) entry->guard.mark_removed();
  state_->listeners.clear();
}

void Store::emit(std::string_view name, std::vector<json> args) {
  auto snap = snapshot(*state_, name);
  if (snap.entries.empty()) return;
  deliver(state_, std::move(snap), std::move(args));
}

void Store::emit_now(std::string_view name, std::vector<json> args) {
  auto snap = snapshot(*state_, name);
  if (snap.entries.empty()) return;
  run(*state_, snap.entries, args);
}

void Store::queue(std::string name, std::vector<json> args) {
  if (state_->silenced.load()) return;
  Snapshot snap;
  {
    std::lock_guard lock(state_->mutex);
    snap = snapshot_locked(*state_, name);
    if (snap.entries.empty()) {
      state_->kept[std::move(name)].push_back(std::move(args));
      return;
    }
  }
  deliver(state_, std::move(snap), std::move(args));
}

std::size_t Store::listener_count(std::string_view name) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->listeners.find(name);
  return it == state_->listeners.end() ? 0 : it->second.size();
}

void Store::set_dispatcher(Dispatcher d) {
  auto shared = d ? std::make_shared<const Dispatcher>(std::move(d)) : nullptr;
  std::lock_guard lock(state_->mutex);
  state_->dispatcher = std::move(shared);
}

void Store::silence() {
  std::lock_guard lock(state_->mutex);
  state_->silenced.store(true);
  state_->kept.clear();
}

}  // namespace peer
