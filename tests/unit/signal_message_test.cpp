// The signaling wire protocol: every message shape, every refusal and its error code.
#include <gtest/gtest.h>

#include <set>

#include "signal/message.hpp"

namespace peer::signaling {
namespace {

using nlohmann::json;

ProtocolError error_of(std::string_view text) {
  auto result = parse_client_message(text);
  EXPECT_TRUE(std::holds_alternative<ProtocolError>(result)) << text;
  return std::holds_alternative<ProtocolError>(result) ? std::get<ProtocolError>(result) : ProtocolError{};
}

Message message_of(std::string_view text) {
  auto result = parse_client_message(text);
  if (auto* e = std::get_if<ProtocolError>(&result)) ADD_FAILURE() << text << ": " << e->message;
  return std::holds_alternative<Message>(result) ? std::get<Message>(result) : Message{Leave{}};
}

TEST(SignalMessage, JoinWithAndWithoutToken) {
  auto join = std::get<Join>(message_of(R"({"type":"join","room":"r-1.a_b"})"));
  EXPECT_EQ(join.room, "r-1.a_b");
  EXPECT_EQ(join.token, "");
  join = std::get<Join>(message_of(R"({"type":"join","room":"r","token":"t"})"));
  EXPECT_EQ(join.token, "t");
}

TEST(SignalMessage, Leave) { EXPECT_TRUE(std::holds_alternative<Leave>(message_of(R"({"type":"leave"})"))); }

TEST(SignalMessage, RelayKeepsBodyAndDropsFrom) {
  auto relay = std::get<Relay>(message_of(R"({"type":"offer","sdp":"v=0","to":"n-1","from":"forged","x":[1]})"));
  EXPECT_EQ(relay.to, "n-1");
  EXPECT_FALSE(relay.body.contains("from"));
  EXPECT_EQ(relay.body["sdp"], "v=0");
  EXPECT_EQ(relay.body["x"], json::array({1}));
}

TEST(SignalMessage, BrowserCandidateShapes) {
  message_of(R"({"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"to":"a-1"})");
  message_of(R"({"type":"candidate","candidate":"","sdpMid":null,"sdpMLineIndex":null,"to":"a-1"})");
  message_of(R"({"type":"hello","text":"any application type","to":"a-1"})");
}

TEST(SignalMessage, BadJson) {
  for (auto text : {"", "{", "not json", "{\"type\":}", "\xff\xfe"}) {
    EXPECT_EQ(error_of(text).code, ErrorCode::bad_json) << text;
  }
}

TEST(SignalMessage, BadMessagesNameTheField) {
  struct Case {
    const char* text;
    const char* mentions;
  };
  for (const Case& c : {
           Case{"[]", "object"},
           Case{"{}", "\"type\""},
           Case{R"({"type":1})", "\"type\""},
           Case{R"({"type":""})", "\"type\""},
           Case{R"({"type":"join"})", "\"room\""},
           Case{R"({"type":"join","room":5})", "\"room\""},
           Case{R"({"type":"join","room":""})", "\"room\""},
           Case{R"({"type":"join","room":"a/b"})", "\"room\""},
           Case{R"({"type":"join","room":"r","token":1})", "\"token\""},
           Case{R"({"type":"offer","sdp":"x"})", "\"to\""},
           Case{R"({"type":"offer","to":"a-1"})", "\"sdp\""},
           Case{R"({"type":"answer","sdp":1,"to":"a-1"})", "\"sdp\""},
           Case{R"({"type":"offer","sdp":"x","to":"a b"})", "\"to\""},
           Case{R"({"type":"candidate","to":"a-1"})", "\"candidate\""},
           Case{R"({"type":"candidate","candidate":"c","sdpMid":0,"to":"a-1"})", "\"sdpMid\""},
           Case{R"({"type":"candidate","candidate":"c","sdpMLineIndex":-1,"to":"a-1"})", "\"sdpMLineIndex\""},
           Case{R"({"type":"candidate","candidate":"c","sdpMLineIndex":70000,"to":"a-1"})", "\"sdpMLineIndex\""},
           Case{R"({"type":"joined","to":"a-1"})", "server"},
           Case{R"({"type":"error","to":"a-1"})", "server"},
       }) {
    auto e = error_of(c.text);
    EXPECT_EQ(e.code, ErrorCode::bad_message) << c.text;
    EXPECT_NE(e.message.find(c.mentions), std::string::npos) << c.text << " -> " << e.message;
  }
}

TEST(SignalMessage, Ids) {
  EXPECT_TRUE(valid_room("a.b-c_D9"));
  EXPECT_FALSE(valid_room(std::string(65, 'a')));
  EXPECT_TRUE(valid_room(std::string(64, 'a')));
  EXPECT_FALSE(valid_room("a b"));
  EXPECT_TRUE(valid_peer_id("0a1b2c3d-12"));
  EXPECT_FALSE(valid_peer_id("a.b"));
  EXPECT_FALSE(valid_peer_id(""));
}

TEST(SignalMessage, ServerMessages) {
  auto e = json::parse(make_error(ErrorCode::room_full, "full"));
  EXPECT_EQ(e, (json{{"type", "error"}, {"code", "room-full"}, {"message", "full"}}));
  EXPECT_EQ(json::parse(make_error(ErrorCode::shutdown, "bye", true))["closed"], true);
  EXPECT_EQ(json::parse(make_joined("r", "n-1", json::array({"n-0"}))),
            (json{{"type", "joined"}, {"room", "r"}, {"id", "n-1"}, {"peers", {"n-0"}}}));
  EXPECT_EQ(json::parse(make_peer_event("peer-left", "n-1")), (json{{"type", "peer-left"}, {"id", "n-1"}}));
}

TEST(SignalMessage, EveryErrorCodeHasADistinctWireName) {
  std::set<std::string_view> names;
  for (auto code : kAllErrorCodes) names.insert(to_string(code));
  EXPECT_EQ(names.size(), kErrorCodeCount);
  EXPECT_EQ(to_string(ErrorCode::bad_json), "bad-json");
  EXPECT_EQ(to_string(ErrorCode::rate_limited), "rate-limited");
  EXPECT_EQ(to_string(ErrorCode::too_large), "too-large");
  EXPECT_EQ(to_string(ErrorCode::unauthorized), "unauthorized");
  EXPECT_EQ(to_string(ErrorCode::unknown_peer), "unknown-peer");
}

}  // namespace
}  // namespace peer::signaling
