#include "peer/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "peer/error.hpp"

namespace peer {
namespace {

using Log = std::vector<std::string>;

// Records every store event as "name:arg,arg,..." so tests can assert exact sequences.
struct Recorder {
  Log log;
  std::vector<Subscription> subs;

  void watch(Store& store, const std::string& name) {
    subs.push_back(store.on(name, [this, name](std::span<const json> args) {
      std::string line = name + ":";
      for (std::size_t i = 0; i < args.size(); ++i) line += (i ? "," : "") + args[i].dump();
      log.push_back(line);
    }));
  }
  void watch_all(Store& store, const std::vector<std::string>& keys) {
    watch(store, "change");
    watch(store, "deleted");
    for (const auto& k : keys) {
      watch(store, "change " + k);
      watch(store, "deleted " + k);
    }
  }
};

// Runs nothing until told: lets tests see exactly what went through the dispatcher.
struct ManualDispatcher {
  std::vector<std::function<void()>> pending;
  Store::Dispatcher get() {
    return [this](std::function<void()> call) { pending.push_back(std::move(call)); };
  }
  void run_all() {
    auto calls = std::move(pending);
    pending.clear();
    for (auto& c : calls) c();
  }
};

void expect_invalid_argument(const std::function<void()>& fn) {
  try {
    fn();
    FAIL() << "expected peer::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
}

// --- data --------------------------------------------------------------------------------

TEST(Store, SetGetHas) {
  Store s;
  EXPECT_FALSE(s.has("a"));
  EXPECT_EQ(s.get("a"), json(nullptr));
  s.set("a", 1);
  s.set("b", {{"x", "y"}});
  EXPECT_TRUE(s.has("a"));
  EXPECT_EQ(s.get("a"), json(1));
  EXPECT_EQ(s.get("b"), json({{"x", "y"}}));
  EXPECT_EQ(s.to_json(), json({{"a", 1}, {"b", {{"x", "y"}}}}));
}

TEST(Store, ConstructFromObject) {
  Store s(json{{"servers", json::array({"stun:a"})}, {"n", 2}});
  EXPECT_EQ(s.get("n"), json(2));
  EXPECT_EQ(s.get("servers"), json::array({"stun:a"}));
  expect_invalid_argument([] { Store bad(json::array({1})); });
  expect_invalid_argument([] { Store bad(json("x")); });
}

TEST(Store, CopiesShareStateAndMoveKeepsHandle) {
  Store a;
  Store b = a;
  b.set("k", "v");
  EXPECT_EQ(a.get("k"), json("v"));
  Store c = std::move(a);  // NOLINT(performance-move-const-arg): the point of the test
  a.set("k2", 2);          // NOLINT(bugprone-use-after-move): a moved-from store still works
  EXPECT_EQ(c.get("k2"), json(2));
  EXPECT_EQ(Store().to_json(), json::object());  // Store() is a fresh state
}

TEST(Store, SetEmitsChangeThenChangeKey) {
  Store s;
  Recorder r;
  r.watch_all(s, {"a"});
  s.set("a", 1);
  s.set("a", 2);
  EXPECT_EQ(r.log,
            (Log{"change:\"a\",1,null", "change a:1,null", "change:\"a\",2,1", "change a:2,1"}));
}

TEST(Store, SetEqualValueEmitsNothing) {
  Store s;
  s.set("a", {{"x", 1}});
  Recorder r;
  r.watch_all(s, {"a"});
  s.set("a", {{"x", 1}});
  EXPECT_TRUE(r.log.empty());
}

TEST(Store, SetNullOnAbsentKeyStoresAndEmits) {
  Store s;
  Recorder r;
  r.watch_all(s, {"a"});
  s.set("a", nullptr);
  EXPECT_TRUE(s.has("a"));
  EXPECT_EQ(r.log, (Log{"change:\"a\",null,null", "change a:null,null"}));
  r.log.clear();
  s.set("a", nullptr);  // now present and equal
  EXPECT_TRUE(r.log.empty());
}

TEST(Store, MergeSetsEachKeyInOrder) {
  Store s;
  s.set("b", 2);
  Recorder r;
  r.watch_all(s, {"a", "b", "c"});
  s.set(json{{"a", 1}, {"b", 2}, {"c", 3}});  // b unchanged: no event for it
  EXPECT_EQ(r.log, (Log{"change:\"a\",1,null", "change a:1,null", "change:\"c\",3,null",
                        "change c:3,null"}));
  EXPECT_EQ(s.to_json(), json({{"a", 1}, {"b", 2}, {"c", 3}}));
}

TEST(Store, MergeNonObjectThrowsAndChangesNothing) {
  Store s;
  s.set("a", 1);
  Recorder r;
  r.watch_all(s, {"a"});
  expect_invalid_argument([&] { s.set(json::array({1, 2})); });
  expect_invalid_argument([&] { s.set(json("a")); });
  expect_invalid_argument([&] { s.set(json(nullptr)); });
  EXPECT_EQ(s.to_json(), json({{"a", 1}}));
  EXPECT_TRUE(r.log.empty());
}

TEST(Store, DelEmitsDeletedThenDeletedKey) {
  Store s;
  s.set("a", "x");
  Recorder r;
  r.watch_all(s, {"a"});
  s.del("a");
  EXPECT_FALSE(s.has("a"));
  EXPECT_EQ(s.get("a"), json(nullptr));
  EXPECT_EQ(r.log, (Log{"deleted:\"a\",\"x\"", "deleted a:\"x\""}));
  r.log.clear();
  s.del("a");  // absent: nothing
  s.del("never");
  EXPECT_TRUE(r.log.empty());
}

TEST(Store, ResetEmitsDeletedThenChanges) {
  Store s(json{{"a", 1}, {"b", 2}, {"c", 3}});
  Recorder r;
  r.watch_all(s, {"a", "b", "c", "d"});
  s.reset(json{{"b", 2}, {"c", 4}, {"d", 5}});
  EXPECT_EQ(s.to_json(), json({{"b", 2}, {"c", 4}, {"d", 5}}));
  EXPECT_EQ(r.log, (Log{"deleted:\"a\",1", "deleted a:1", "change:\"c\",4,3", "change c:4,3",
                        "change:\"d\",5,null", "change d:5,null"}));
}

TEST(Store, ResetDefaultClearsAndRejectsNonObject) {
  Store s(json{{"a", 1}, {"b", 2}});
  Recorder r;
  r.watch(s, "deleted");
  s.reset();
  EXPECT_EQ(s.to_json(), json::object());
  EXPECT_EQ(r.log, (Log{"deleted:\"a\",1", "deleted:\"b\",2"}));
  s.set("x", 1);
  expect_invalid_argument([&] { s.reset(json::array()); });
  EXPECT_EQ(s.to_json(), json({{"x", 1}}));
}

TEST(Store, FormatAppliesToGetOnly) {
  Store s;
  s.set("name", "bob");
  s.format("name", [](const json& v) { return json("<" + v.get<std::string>() + ">"); });
  Recorder r;
  r.watch(s, "change name");
  s.set("name", "alice");
  EXPECT_EQ(s.get("name"), json("<alice>"));
  EXPECT_EQ(s.to_json(), json({{"name", "alice"}}));         // raw
  EXPECT_EQ(r.log, (Log{"change name:\"alice\",\"bob\""}));  // raw in events too
  s.format("name", nullptr);                                 // removes the formatter
  EXPECT_EQ(s.get("name"), json("alice"));
}

TEST(Store, FormatNotCalledForAbsentKey) {
  Store s;
  int calls = 0;
  s.format("k", [&](const json& v) {
    ++calls;
    return json(v.get<int>() * 10);
  });
  EXPECT_EQ(s.get("k"), json(nullptr));
  EXPECT_EQ(calls, 0);
  s.set("k", 4);
  EXPECT_EQ(s.get("k"), json(40));
  EXPECT_EQ(calls, 1);
}

TEST(Store, FormatterMayReadTheStore) {
  Store s;
  s.set("unit", "ms");
  // Captures a reference, not a copy: a formatter holding a handle would keep its own store
  // alive (a cycle).
  s.format("t", [&s](const json& v) {
    return json(std::to_string(v.get<int>()) + s.get("unit").get<std::string>());
  });
  s.set("t", 5);
  EXPECT_EQ(s.get("t"), json("5ms"));  // no deadlock: formatter runs without the lock
}

TEST(Store, ComputeSetsNowAndOnDepChange) {
  Store s(json{{"first", "Ada"}, {"last", "Lovelace"}});
  int calls = 0;
  s.compute("full", {"first", "last"}, [&](const Store& st) {
    ++calls;
    return json(st.get("first").get<std::string>() + " " + st.get("last").get<std::string>());
  });
  EXPECT_EQ(s.get("full"), json("Ada Lovelace"));
  EXPECT_EQ(calls, 1);

  Recorder r;
  r.watch(s, "change");
  json seen;
  auto sub = s.on("change last", [&] { seen = s.get("full"); });
  s.set("last", "King");
  EXPECT_EQ(s.get("full"), json("Ada King"));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(seen, json("Ada King"));  // data is consistent when the cause's event fires
  EXPECT_EQ(r.log, (Log{"change:\"last\",\"King\",\"Lovelace\"",
                        "change:\"full\",\"Ada King\",\"Ada Lovelace\""}));
  s.set("other", 1);  // not a dep
  EXPECT_EQ(calls, 2);
}

TEST(Store, ComputeOnDepDeleted) {
  Store s(json{{"a", 2}});
  s.compute("has_a", {"a"}, [](const Store& st) { return json(st.has("a")); });
  EXPECT_EQ(s.get("has_a"), json(true));
  Recorder r;
  r.watch(s, "deleted");
  r.watch(s, "change");
  s.del("a");
  EXPECT_EQ(s.get("has_a"), json(false));
  EXPECT_EQ(r.log, (Log{"deleted:\"a\",2", "change:\"has_a\",false,true"}));
}

TEST(Store, ComputeEmptyDepsMeansAnyOtherKey) {
  Store s;
  int calls = 0;
  s.compute("size", {}, [&](const Store& st) {
    ++calls;
    auto data = st.to_json();
    return json(data.size() - (data.contains("size") ? 1 : 0));
  });
  EXPECT_EQ(s.get("size"), json(0));
  s.set("a", 1);
  s.set("b", 1);
  EXPECT_EQ(s.get("size"), json(2));
  s.del("a");
  EXPECT_EQ(s.get("size"), json(1));
  EXPECT_EQ(calls, 4);  // setting "size" itself does not recompute it
}

TEST(Store, ComputeChainAndReset) {
  Store s(json{{"x", 1}});
  s.compute("y", {"x"}, [](const Store& st) { return json(st.get("x").get<int>() * 2); });
  s.compute("z", {"y"}, [](const Store& st) { return json(st.get("y").get<int>() + 1); });
  EXPECT_EQ(s.get("z"), json(3));
  s.set("x", 5);
  EXPECT_EQ(s.get("y"), json(10));
  EXPECT_EQ(s.get("z"), json(11));
  s.reset(json{{"x", 7}});  // y and z are dropped by reset, then recomputed from x
  EXPECT_EQ(s.to_json(), json({{"x", 7}, {"y", 14}, {"z", 15}}));
}

TEST(Store, ComputeThrowStillPublishesWrittenChanges) {
  Store s;
  s.compute("n", {"x"}, [](const Store& st) {
    if (st.get("x") == json("bad")) throw std::runtime_error("bad x");
    return json(1);
  });
  Recorder r;
  r.watch(s, "change");
  EXPECT_THROW(s.set("x", "bad"), std::runtime_error);
  EXPECT_EQ(s.get("x"), json("bad"));
  EXPECT_EQ(r.log, (Log{"change:\"x\",\"bad\",null"}));
}

TEST(Store, ComputeCycleTerminates) {
  Store s(json{{"a", 0}, {"b", 0}});
  s.compute("a", {"b"}, [](const Store& st) { return json(st.get("b").get<int>() + 1); });
  s.compute("b", {"a"}, [](const Store& st) { return json(st.get("a").get<int>() + 1); });
  s.set("b", 100);  // would spin forever without the depth limit
  EXPECT_TRUE(s.get("a").is_number());
  EXPECT_LE(s.get("a").get<int>(), 100 + 2 * Store::kMaxComputeDepth + 2);
}

TEST(Store, UsePassesStoreAndArgsAndReturns) {
  Store s;
  auto plugin = [](Store& st, const std::string& key, int v) {
    st.set(key, v);
    return v * 2;
  };
  EXPECT_EQ(s.use(plugin, "k", 21), 42);
  EXPECT_EQ(s.get("k"), json(21));
  int x = 3;
  int& ref = s.use([](Store&, int& v) -> int& { return v; }, x);  // decltype(auto): a reference
  EXPECT_EQ(&ref, &x);
}

// --- events ------------------------------------------------------------------------------

TEST(Store, EmitWithNoListenerIsNoop) {
  Store s;
  s.emit("nobody");
  EXPECT_EQ(s.listener_count("nobody"), 0u);
}

TEST(Store, ListenerArities) {
  Store s;
  Log log;
  auto s0 = s.on("e", [&] { log.push_back("0"); });
  auto s1 = s.on("e", [&](const json& a) { log.push_back("1:" + a.dump()); });
  auto s2 =
      s.on("e", [&](const json& a, const json& b) { log.push_back("2:" + a.dump() + b.dump()); });
  auto s3 = s.on("e", [&](const json& a, const json& b, const json& c) {
    log.push_back("3:" + a.dump() + b.dump() + c.dump());
  });
  auto sp = s.on("e", [&](std::span<const json> args) {
    log.push_back("span:" + std::to_string(args.size()));
  });
  auto gen = s.on("e", [&](const auto& a) { log.push_back("auto:" + a.dump()); });
  EXPECT_EQ(s.listener_count("e"), 6u);
  s.emit("e", {"x", 2});
  EXPECT_EQ(log, (Log{"0", "1:\"x\"", "2:\"x\"2", "3:\"x\"2null", "span:2", "auto:\"x\""}));
  log.clear();
  s.emit("e", {1, 2, 3, 4});  // extra args dropped (span gets all)
  EXPECT_EQ(log, (Log{"0", "1:1", "2:12", "3:123", "span:4", "auto:1"}));
}

void free_listener(std::span<const json> args);
int free_calls = 0;
void free_listener(std::span<const json> args) {
  free_calls += static_cast<int>(args.size());
}

TEST(Store, FunctionPointerAndStdFunctionListeners) {
  Store s;
  free_calls = 0;
  auto a = s.on("e", &free_listener);
  int n = -1;
  std::function<void(std::span<const json>)> f = [&](std::span<const json> args) {
    n = static_cast<int>(args.size());
  };
  auto b = s.on("e", f);
  s.emit("e", {1, 2, 3});
  EXPECT_EQ(free_calls, 3);
  EXPECT_EQ(n, 3);
}

TEST(Store, OnceIsRemovedBeforeItIsCalled) {
  Store s;
  int calls = 0;
  std::size_t count_inside = 99;
  auto sub = s.once("e", [&](const json& v) {
    ++calls;
    count_inside = s.listener_count("e");
    s.emit("e", {v.get<int>() + 1});  // re-entrant emit must not reach it again
  });
  EXPECT_TRUE(sub.active());
  s.emit("e", {1});
  s.emit("e", {2});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(count_inside, 0u);
  EXPECT_FALSE(sub.active());
}

TEST(Store, OffByNameAndAll) {
  Store s;
  int a = 0, b = 0;
  auto sa1 = s.on("a", [&] { ++a; });
  auto sa2 = s.on("a", [&] { ++a; });
  auto sb = s.on("b", [&] { ++b; });
  s.off("a");
  EXPECT_EQ(s.listener_count("a"), 0u);
  EXPECT_FALSE(sa1.active());
  s.emit("a");
  s.emit("b");
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  s.off();
  s.emit("b");
  EXPECT_EQ(b, 1);
  EXPECT_EQ(s.listener_count("b"), 0u);
  EXPECT_FALSE(sb.active());
}

TEST(Store, SubscriptionRaiiAndMove) {
  Store s;
  int calls = 0;
  {
    auto sub = s.on("e", [&] { ++calls; });
    EXPECT_EQ(s.listener_count("e"), 1u);
    s.emit("e");
  }
  EXPECT_EQ(s.listener_count("e"), 0u);
  s.emit("e");
  EXPECT_EQ(calls, 1);

  Subscription outer;
  EXPECT_FALSE(outer.active());
  {
    auto sub = s.on("e", [&] { ++calls; });
    outer = std::move(sub);
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): moved-from is empty
    EXPECT_FALSE(sub.active());
  }
  EXPECT_TRUE(outer.active());
  s.emit("e");
  EXPECT_EQ(calls, 2);
  Subscription other = s.on("e", [&] { calls += 100; });
  outer = std::move(other);  // assigning drops the listener outer held
  EXPECT_EQ(s.listener_count("e"), 1u);
  s.emit("e");
  EXPECT_EQ(calls, 102);
  outer.reset();
  EXPECT_FALSE(outer.active());
  EXPECT_EQ(s.listener_count("e"), 0u);
  outer.reset();  // twice is fine
}

TEST(Store, DetachKeepsListener) {
  Store s;
  int calls = 0;
  {
    auto sub = s.on("e", [&] { ++calls; });
    sub.detach();
    EXPECT_FALSE(sub.active());
  }
  s.emit("e");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.listener_count("e"), 1u);
}

TEST(Store, SubscriptionOutlivesStore) {
  Subscription sub;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> weak = token;
  {
    Store s;
    sub = s.on("e", [token] {});
    token.reset();
    EXPECT_TRUE(sub.active());
  }
  EXPECT_FALSE(sub.active());
  EXPECT_TRUE(weak.expired());  // the listener died with the store
  sub.reset();                  // safe
}

TEST(Store, ReentrantSetFromListener) {
  Store s;
  Recorder r;
  r.watch(s, "change");
  auto sub = s.on("change a", [&](const json& v) { s.set("b", v.get<int>() * 10); });
  s.set("a", 1);
  EXPECT_EQ(s.get("b"), json(10));
  // Synchronous nesting as in the JS seed: b's change happens inside a's emission.
  EXPECT_EQ(r.log, (Log{"change:\"a\",1,null", "change:\"b\",10,null"}));
}

TEST(Store, ReentrantOnOffDuringEmission) {
  Store s;
  Log log;
  Subscription late, second;
  auto first = s.on("e", [&] {
    log.push_back("first");
    second.reset();  // removed during the emission: not called afterwards
    late = s.on("e", [&] { log.push_back("late"); });  // added: not called this time
  });
  second = s.on("e", [&] { log.push_back("second"); });
  s.emit("e");
  EXPECT_EQ(log, (Log{"first"}));
  log.clear();
  first.reset();
  s.emit("e");
  EXPECT_EQ(log, (Log{"late"}));
}

TEST(Store, ListenerExceptionPropagates) {
  Store s;
  auto sub = s.on("e", [] { throw std::runtime_error("boom"); });
  EXPECT_THROW(s.emit("e"), std::runtime_error);
}

TEST(Store, QueueKeepsUntilFirstListenerThenReplaysOnce) {
  Store s;
  s.queue("offer", {"sdp1"});
  s.queue("offer", {"sdp2", 7});
  Log first, second;
  auto a = s.on("offer", [&](const json& v) { first.push_back(v.dump()); });
  EXPECT_EQ(first, (Log{"\"sdp1\"", "\"sdp2\""}));
  auto b = s.on("offer", [&](const json& v) { second.push_back(v.dump()); });
  EXPECT_TRUE(second.empty());
  s.queue("offer", {"sdp3"});  // someone listens: plain emit to all
  EXPECT_EQ(first, (Log{"\"sdp1\"", "\"sdp2\"", "\"sdp3\""}));
  EXPECT_EQ(second, (Log{"\"sdp3\""}));
}

TEST(Store, QueueKeptAfterListenerLeaves) {
  Store s;
  {
    auto a = s.on("c", [] {});
  }
  s.queue("c", {1});  // nobody listens any more: kept
  s.emit("c", {2});   // a plain emit is not kept
  Log log;
  auto b = s.on("c", [&](const json& v) { log.push_back(v.dump()); });
  EXPECT_EQ(log, (Log{"1"}));
}

TEST(Store, QueueReplaysToOnceOnlyTheFirst) {
  Store s;
  s.queue("q", {1});
  s.queue("q", {2});
  Log log;
  auto o = s.once("q", [&](const json& v) { log.push_back("once" + v.dump()); });
  EXPECT_FALSE(o.active());
  EXPECT_EQ(s.listener_count("q"), 0u);
  auto n = s.on("q", [&](const json& v) { log.push_back("on" + v.dump()); });
  EXPECT_EQ(log, (Log{"once1", "on2"}));
}

TEST(Store, DispatcherCarriesEveryEmission) {
  Store s;
  ManualDispatcher d;
  s.set_dispatcher(d.get());
  s.queue("q", {"kept"});
  Log log;
  auto c = s.on("change", [&](const json& k, const json& v) {
    log.push_back("change " + k.get<std::string>() + "=" + v.dump());
  });
  auto ck = s.on("change a", [&](const json& v) { log.push_back("change a=" + v.dump()); });
  auto e = s.on("e", [&](const json& v) { log.push_back("e" + v.dump()); });
  auto q = s.on("q", [&](const json& v) { log.push_back("q" + v.dump()); });  // replay dispatched
  s.set("a", 1);
  s.emit("e", {2});
  s.del("a");  // no deleted listeners: nothing dispatched
  s.emit("nobody");
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(d.pending.size(), 4u);       // replay, change, change a, e
  EXPECT_EQ(s.get("a"), json(nullptr));  // data is immediate
  d.run_all();
  EXPECT_EQ(log, (Log{"q\"kept\"", "change a=1", "change a=1", "e2"}));
}

TEST(Store, DispatcherListenerListTakenAtEmission) {
  Store s;
  ManualDispatcher d;
  s.set_dispatcher(d.get());
  Log log;
  auto a = s.on("e", [&] { log.push_back("a"); });
  s.emit("e");
  auto b = s.on("e", [&] { log.push_back("b"); });  // subscribed after the emission
  d.run_all();
  EXPECT_EQ(log, (Log{"a"}));
  log.clear();
  s.emit("e");
  a.reset();  // removed before the dispatched call runs: not called
  d.run_all();
  EXPECT_EQ(log, (Log{"b"}));
  s.set_dispatcher(nullptr);  // back to synchronous
  s.emit("e");
  EXPECT_EQ(log, (Log{"b", "b"}));
}

TEST(Store, DispatchedCallAfterStoreGoneDoesNothing) {
  ManualDispatcher d;
  int calls = 0;
  {
    Store s;
    s.set_dispatcher(d.get());
    auto sub = s.on("e", [&] { ++calls; });
    sub.detach();
    s.emit("e");
  }
  ASSERT_EQ(d.pending.size(), 1u);
  d.run_all();
  EXPECT_EQ(calls, 0);
}

TEST(Store, SilenceStopsAllListeners) {
  Store s;
  ManualDispatcher d;
  int calls = 0;
  auto sub = s.on("change", [&] { ++calls; });
  auto e = s.on("e", [&] { ++calls; });
  s.set_dispatcher(d.get());
  s.emit("e");  // pending in the dispatcher
  s.queue("q", {1});
  s.silence();
  d.run_all();  // already handed over, still not called
  s.set("a", 1);
  s.emit("e");
  s.set_dispatcher(nullptr);
  s.emit("e");
  auto q = s.on("q", [&] { ++calls; });  // the kept event was dropped
  s.queue("q", {2});
  d.run_all();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(s.get("a"), json(1));  // data keeps working
  s.del("a");
  EXPECT_FALSE(s.has("a"));
}

TEST(Store, ConcurrentSetFromFourThreads) {
  Store s;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> changes{0};
  std::atomic<int> specific{0};
  auto sub = s.on("change", [&](const json& key, const json& value) {
    changes.fetch_add(1);
    (void)s.get(key.get<std::string>());  // listeners may read while others write
    (void)value;
  });
  auto sub0 = s.on("change t0", [&] { specific.fetch_add(1); });
  std::atomic<bool> stop{false};
  std::thread churn([&] {  // subscribe/unsubscribe concurrently with the emissions
    while (!stop.load()) {
      auto tmp = s.on("change", [] {});
      (void)s.listener_count("change");
    }
  });
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&s, t] {
      const std::string key = "t" + std::to_string(t);
      for (int i = 1; i <= kPerThread; ++i) {
        s.set(key, i);
        s.set("shared", t * 100000 + i);  // always a new value: always an event
      }
    });
  }
  for (auto& t : threads) t.join();
  stop.store(true);
  churn.join();
  EXPECT_EQ(changes.load(), 2 * kThreads * kPerThread);
  EXPECT_EQ(specific.load(), kPerThread);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(s.get("t" + std::to_string(t)), json(kPerThread));
  EXPECT_EQ(s.listener_count("change"), 1u);
}

}  // namespace
}  // namespace peer
