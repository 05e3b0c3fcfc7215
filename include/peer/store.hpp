#pragma once
// peer::Store: an observable key/value store, the C++ counterpart of the JavaScript
// `datastore` (bredele/datastore) that the seed's Peer is built on. A Peer *is* a Store:
// its configuration (`servers`, `optional`, ...) and its state (`signaling`, `ice`, ...)
// are keys, so plugins observe the peer the way they observe any key.
//
// Data:   set/get/has/del/reset/format/compute/to_json, values are nlohmann::json.
// Events: named strings, as in the seed. The store itself emits
//           "change"          (key, value, previous)   then "change <key>"  (value, previous)
//           "deleted"         (key, previous)          then "deleted <key>" (previous)
//         with raw (unformatted) values; an absent previous value is null.
//
// Threads: every method may be called from any thread. Data and listener lists sit behind
// one mutex, and no user code (listener, formatter, compute function, dispatcher) ever runs
// with it held, so listeners may call back into the store (set, on, off, emit ...). Without a
// dispatcher a listener runs synchronously inside the call that emitted, as in the JS seed.
//
// The store is for configuration and state, never for the per-packet data path; still,
// emitting an event nobody listens to costs one lock and one map lookup, no allocation.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace peer {

using json = nlohmann::json;

namespace detail {

struct StoreState;     // data, listeners, kept events, dispatcher (src/api/store.cpp)
struct ListenerEntry;  // one registered listener

// Every listener is stored in this one shape; Store::on adapts what the user gave.
using ListenerFn = std::function<void(std::span<const json>)>;

// Argument i of an emission, or null when the emitter passed fewer.
const json& arg_or_null(std::span<const json> args, std::size_t i) noexcept;

// "Does this callable take std::span<const json>?" must be answered from its declared
// parameter type: nlohmann::json converts both ways between json and span, so
// std::is_invocable cannot tell `[](const json&)` from `[](std::span<const json>)`.
// Generic lambdas have no single operator() to inspect and are treated as json-taking.
template <class A>
inline constexpr bool kIsSpanArg = std::is_same_v<std::remove_cvref_t<A>, std::span<const json>>;

template <class T>
struct SpanSignature : std::false_type {};
template <class R, class A>
struct SpanSignature<R (*)(A)> : std::bool_constant<kIsSpanArg<A>> {};
template <class R, class A>
struct SpanSignature<R (*)(A) noexcept> : std::bool_constant<kIsSpanArg<A>> {};
template <class C, class R, class A>
struct SpanSignature<R (C::*)(A)> : std::bool_constant<kIsSpanArg<A>> {};
template <class C, class R, class A>
struct SpanSignature<R (C::*)(A) const> : std::bool_constant<kIsSpanArg<A>> {};
template <class C, class R, class A>
struct SpanSignature<R (C::*)(A) noexcept> : std::bool_constant<kIsSpanArg<A>> {};
template <class C, class R, class A>
struct SpanSignature<R (C::*)(A) const noexcept> : std::bool_constant<kIsSpanArg<A>> {};

template <class F, class = void>
struct TakesSpan : SpanSignature<F> {};  // function pointers
template <class F>
struct TakesSpan<F, std::void_t<decltype(&F::operator())>>
    : SpanSignature<decltype(&F::operator())> {};

}  // namespace detail

// A listener registration. RAII: destroying it (or reset()) removes the listener, so a
// plugin that forgets its subscriptions cannot leak callbacks into a long-lived peer.
// It only holds weak references: it may outlive the store (then it does nothing).
class Subscription {
 public:
  Subscription() = default;
  ~Subscription();
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // For the library's other event sources (a Channel's messages): a subscription whose
  // reset() (or destruction) calls `remove` once; detach() forgets it.
  static Subscription from(std::function<void()> remove);

  // Unsubscribe now (no-op if already gone). When it returns, the listener is not running
  // on any other thread and will not be called again, so what it uses may be destroyed. A
  // listener may reset its own subscription; do not reset one while holding a lock the
  // listener takes (the wait would deadlock).
  void reset();
  void detach();        // keep the listener for the store's lifetime; we no longer own it
  bool active() const;  // still subscribed (false after reset, after a `once` fired, or
                        // when the store is gone)

 private:
  friend class Store;
  Subscription(std::weak_ptr<detail::StoreState> state,
               std::weak_ptr<detail::ListenerEntry> entry) noexcept;

  std::weak_ptr<detail::StoreState> state_;
  std::weak_ptr<detail::ListenerEntry> entry_;
  std::function<void()> remove_;  // set only by from()
};

// A cheap handle: copies share one state. Moving a Store copies the handle, so a
// moved-from Store still works (there is no empty Store).
class Store {
 public:
  Store();                              // a new, empty store
  explicit Store(json initial_object);  // throws Error(invalid_argument) if not an object
  Store(const Store&) = default;        // declared so that "move" is a copy (see above)
  Store& operator=(const Store&) = default;
  ~Store() = default;

  // --- data ---------------------------------------------------------------------------
  // Emits "change" then "change <key>". No event when the key holds an equal value
  // already; an absent key differs from every value, null included.
  void set(std::string_view key, json value);
  // Merge: set(k, v) for each member, in the object's iteration order.
  // Throws Error(invalid_argument) if `object` is not an object.
  void set(const json& object);
  // The value passed through the key's formatter, if any; null when absent (formatters are
  // not called for absent keys).
  json get(std::string_view key) const;
  bool has(std::string_view key) const;
  // Emits "deleted" then "deleted <key>"; nothing if absent.
  void del(std::string_view key);
  // Replace all data (throws Error(invalid_argument) if not an object). Emits "deleted"
  // events for keys that are gone (in old key order), then "change" events for new or
  // changed keys (in the new object's order). Computed keys are recomputed afterwards.
  void reset(json object = json::object());
  // get(key) returns fn(raw value); to_json() and events keep raw values, so what goes to
  // the wire or back into reset() is never formatted twice. An empty fn removes it.
  void format(std::string_view key, std::function<json(const json&)> fn);
  // A derived key: set(key, fn(store)) now, and again whenever one of `deps` is set,
  // changed or deleted (empty deps: whenever any other key changes). Recomputation is
  // part of the data call, not an event: it runs in the caller's thread before any event
  // of that call is emitted (so listeners see consistent data), and is not affected by
  // silence() or the dispatcher. The computed key's events follow those of its cause.
  // Computed keys may depend on computed keys (register them in dependency order); a
  // cycle stops after kMaxComputeDepth levels. If fn throws, the exception leaves the
  // data call after the changes already written have been emitted. fn gets the store as
  // a parameter so it need not capture a handle (that would keep the store alive
  // forever; the same holds for formatters and listeners). An empty fn throws.
  void compute(std::string_view key, std::vector<std::string> deps,
               std::function<json(const Store&)> fn);
  json to_json() const;  // an object with all raw values

  // Plugins: `store.use(plugin, args...)` is `plugin(store, args...)`, returning what it
  // returns (a channel plugin returns its Channel, for example).
  template <class Plugin, class... Args>
  decltype(auto) use(Plugin&& plugin, Args&&... args) {
    return std::invoke(std::forward<Plugin>(plugin), *this, std::forward<Args>(args)...);
  }

  // --- events -------------------------------------------------------------------------
  // A listener takes 0, 1, 2 or 3 `const json&` parameters, or one std::span<const json>
  // with all arguments. Extra arguments are dropped, missing ones are null.
  // A listener added during an emission is not called for that emission; one removed
  // during an emission is not called afterwards. If a listener throws (no dispatcher),
  // the exception leaves the emitting call and the remaining listeners are skipped.
  template <class Fn>
  [[nodiscard]] Subscription on(std::string name,  // NOLINT(performance-unnecessary-value-param)
                                Fn&& fn) {
    return subscribe(std::move(name), adapt(std::forward<Fn>(fn)), false);
  }
  // Called at most once: removed before it is called.
  template <class Fn>
  [[nodiscard]] Subscription once(std::string name,  // NOLINT(performance-unnecessary-value-param)
                                  Fn&& fn) {
    return subscribe(std::move(name), adapt(std::forward<Fn>(fn)), true);
  }
  void off(std::string_view name);  // remove every listener of that event
  void off();                       // remove every listener (kept events stay kept)
  void emit(std::string_view name, std::vector<json> args = {});
  // Calls the listeners right here, in the caller's thread, bypassing the dispatcher: for
  // hooks that must finish before the caller goes on (the Peer's "before offer", where a
  // plugin may still change what the offer will contain). silence() still applies.
  void emit_now(std::string_view name, std::vector<json> args = {});
  // For events that may fire before anyone listens (the seed's `offer`, `candidate`):
  // emit now if someone listens; else keep it (in order, several kept) and replay all kept
  // ones to the first listener that subscribes to `name`, right when it subscribes, then
  // drop them (a second listener does not get them). A `once` listener takes only the
  // first kept event; the rest stay kept for the next listener.
  void queue(std::string name, std::vector<json> args = {});
  std::size_t listener_count(std::string_view name) const;

  // For the owning Peer. Every emission (emit, queue, replays, the store's own change and
  // deleted events) is handed to the dispatcher as one call when one is set. The Peer
  // installs one that runs the call on its event-loop thread (immediately when already
  // there, else posted), so listeners always run on the loop, in emission order. The
  // listener list is taken at emission time; a call that runs after the store is gone
  // does nothing. Without a dispatcher, listeners run synchronously in the emitting call.
  using Dispatcher = std::function<void(std::function<void()>)>;
  void set_dispatcher(Dispatcher d);  // an empty d goes back to synchronous emission
  // After this no listener is ever called again, including calls already handed to the
  // dispatcher (used by Peer::close()). Data calls keep working; queued events are dropped.
  void silence();

  static constexpr int kMaxComputeDepth = 16;

 protected:
  // Lets a subclass (Peer) wrap an existing state and reach it; copies share it.
  explicit Store(std::shared_ptr<detail::StoreState> state) noexcept;
  std::shared_ptr<detail::StoreState> state_;

 private:
  Subscription subscribe(std::string name, detail::ListenerFn fn, bool once);

  template <class Fn>
  static detail::ListenerFn adapt(Fn&& fn) {
    using F = std::decay_t<Fn>;
    using detail::arg_or_null;
    if constexpr (detail::TakesSpan<F>::value) {
      return detail::ListenerFn(std::forward<Fn>(fn));
    } else if constexpr (std::is_invocable_v<F&, const json&, const json&, const json&>) {
      return [f = std::forward<Fn>(fn)](std::span<const json> a) mutable {
        f(arg_or_null(a, 0), arg_or_null(a, 1), arg_or_null(a, 2));
      };
    } else if constexpr (std::is_invocable_v<F&, const json&, const json&>) {
      return [f = std::forward<Fn>(fn)](std::span<const json> a) mutable {
        f(arg_or_null(a, 0), arg_or_null(a, 1));
      };
    } else if constexpr (std::is_invocable_v<F&, const json&>) {
      return [f = std::forward<Fn>(fn)](std::span<const json> a) mutable { f(arg_or_null(a, 0)); };
    } else {
      static_assert(std::is_invocable_v<F&>,
                    "a listener takes 0-3 `const json&` or one std::span<const json>");
      return [f = std::forward<Fn>(fn)](std::span<const json>) mutable { f(); };
    }
  }
};

}  // namespace peer
