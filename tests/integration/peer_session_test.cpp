// The Peer's answers to the browsers' descriptions in tests/fixtures/sdp, over sockets (the
// JSEP units without them are tests/unit/jsep_test.cpp).
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include "../support/sdp_fixture.hpp"
#include "core/sdp/description.hpp"
#include "peer/peer.hpp"

namespace {

using peer::json;
using namespace std::chrono_literals;
namespace sdp = peer::sdp;

std::string fixture(const std::string& name) { return peer::test::sdp_fixture(name); }

struct Events {
  std::mutex m;
  std::condition_variable cv;
  std::vector<json> candidates, errors;
};

TEST(PeerSession, AnswersAChromeOfferAndTricklesWithItsDataMid) {
  peer::Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  Events ev;
  auto s1 = p.on("candidate", [&](const json& c) {
    std::lock_guard lock(ev.m);
    ev.candidates.push_back(c);
    ev.cv.notify_all();
  });
  auto s2 = p.on("error", [&](const json& e) {
    std::lock_guard lock(ev.m);
    ev.errors.push_back(e);
    ev.cv.notify_all();
  });
  p.remote({{"type", "offer"}, {"sdp", fixture("chrome_offer_av_data.sdp")}});
  json answer;
  p.answer([&](const json& a) { answer = a; });
  const auto parsed = sdp::parse(answer["sdp"].get<std::string>());
  ASSERT_EQ(parsed.media.size(), 3u);
  EXPECT_EQ(parsed.media[2].mid, "2");
  // Chrome trickles with the mid of the bundle's first section; that is accepted, and an
  // mDNS host candidate raises no error (our agent resolves it: on 127.0.0.1 it has no
  // multicast interface and drops it quietly).
  p.ice({{"candidate", "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"},
         {"sdpMid", "0"},
         {"sdpMLineIndex", 0}});
  p.ice({{"candidate",
          "candidate:2 1 udp 2122260223 0b1e0f4c-5b4b-4a58-9d8e-1b2c3d4e5f60.local 50001 typ host"},
         {"sdpMid", "0"},
         {"sdpMLineIndex", 0}});
  p.ice({{"candidate", "candidate:3 1 udp 2122260223 127.0.0.1 50002 typ host"}, {"sdpMid", "7"}});
  std::unique_lock lock(ev.m);
  ASSERT_TRUE(
      ev.cv.wait_for(lock, 5s, [&] { return !ev.candidates.empty() && !ev.errors.empty(); }));
  for (const auto& c : ev.candidates) {
    EXPECT_EQ(c["sdpMid"], "2") << c.dump();
    EXPECT_EQ(c["sdpMLineIndex"], 2) << c.dump();
  }
  ASSERT_EQ(ev.errors.size(), 1u) << json(ev.errors).dump();  // only the sdpMid "7" one
  EXPECT_NE(ev.errors[0]["message"].get<std::string>().find("\"7\""), std::string::npos);
}

TEST(PeerSession, AnOfferWithNothingToTakeIsAnErrorAndTheNextOfferStillWorks) {
  peer::Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  Events ev;
  auto s = p.on("error", [&](const json& e) {
    std::lock_guard lock(ev.m);
    ev.errors.push_back(e);
    ev.cv.notify_all();
  });
  sdp::Description nothing = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  nothing.media.pop_back();
  nothing.groups[0].mids.pop_back();
  for (auto& m : nothing.media) m.port = 0;  // every audio/video section rejected
  p.remote({{"type", "offer"}, {"sdp", sdp::write(nothing)}});
  {
    std::unique_lock lock(ev.m);
    ASSERT_TRUE(ev.cv.wait_for(lock, 5s, [&] { return !ev.errors.empty(); }));
    EXPECT_EQ(ev.errors[0]["code"], "bad_sdp");
  }
  EXPECT_EQ(p.get("signaling"), "stable");
  EXPECT_THROW(p.answer(), peer::Error);  // nothing to answer
  p.remote({{"type", "offer"}, {"sdp", fixture("chrome_offer_data.sdp")}});
  EXPECT_EQ(p.get("signaling"), "have-remote-offer");
  json answer;
  p.answer([&](const json& a) { answer = a; });
  EXPECT_EQ(answer["type"], "answer");
}

TEST(PeerSession, AMovedFromPeerIsStillAWorkingHandle) {
  peer::Peer a;
  a.set("addresses", json::array({"127.0.0.1"}));
  peer::Peer b = std::move(a);
  a.set("x", 1);  // NOLINT(bugprone-use-after-move): a handle stays usable, by design
  EXPECT_EQ(b.get("x"), 1);
  json offer;
  a.offer([&](const json& o) { offer = o; });
  EXPECT_EQ(b.get("signaling"), "have-local-offer");
}

TEST(PeerSession, CloseFromABeforeOfferHookStopsTheOffer) {
  peer::Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  auto hook = p.on("before offer", [&p] { p.close(); });
  try {
    p.offer();
    FAIL() << "offer() on a peer its hook closed must throw";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::closed);
  }
  EXPECT_EQ(p.get("connection"), "closed");
}

}  // namespace
