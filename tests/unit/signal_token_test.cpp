// Room tokens (HMAC-SHA256) and ws:// urls.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "signal/client.hpp"
#include "signal/token.hpp"

namespace peer::signaling {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

TEST(SignalToken, MintThenVerify) {
  const auto token = mint_token("room.1", kNow + 60, "s3cret");
  EXPECT_EQ(token.rfind("room.1.1700000060.", 0), 0u) << token;
  EXPECT_EQ(verify_token(token, "room.1", kNow, "s3cret"), TokenStatus::ok);
}

TEST(SignalToken, Expired) {
  const auto token = mint_token("r", kNow, "s");
  EXPECT_EQ(verify_token(token, "r", kNow, "s"), TokenStatus::expired);
  EXPECT_EQ(verify_token(token, "r", kNow + 1, "s"), TokenStatus::expired);
  EXPECT_EQ(verify_token(token, "r", kNow - 1, "s"), TokenStatus::ok);
}

TEST(SignalToken, WrongRoomOrSecret) {
  const auto token = mint_token("r", kNow + 60, "s");
  EXPECT_EQ(verify_token(token, "other", kNow, "s"), TokenStatus::wrong_room);
  EXPECT_EQ(verify_token(token, "r", kNow, "another secret"), TokenStatus::bad_signature);
}

TEST(SignalToken, Tampered) {
  const auto token = mint_token("r", kNow + 60, "s");
  std::string later = token;
  later.replace(2, 10, std::to_string(kNow + 999999));  // extend the expiry
  EXPECT_EQ(verify_token(later, "r", kNow, "s"), TokenStatus::bad_signature);
  std::string moved = "x" + token.substr(1);  // another room, same signature
  EXPECT_EQ(verify_token(moved, "x", kNow, "s"), TokenStatus::bad_signature);
  std::string flipped = token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(verify_token(flipped, "r", kNow, "s"), TokenStatus::bad_signature);
}

TEST(SignalToken, Malformed) {
  for (const std::string& t : std::vector<std::string>{"", "abc", "r.123", "r.abc." + std::string(64, '0'), "r.123.short", ".123." + std::string(64, '0'),
                 "r.12x." + std::string(64, '0')}) {
    EXPECT_EQ(verify_token(t, "r", kNow, "s"), TokenStatus::malformed) << t;
  }
}

TEST(SignalUrl, Parse) {
  auto u = parse_ws_url("ws://127.0.0.1:8787/signal");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "8787");
  EXPECT_EQ(u.path, "/signal");
  u = parse_ws_url("ws://[::1]:9");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9");
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(parse_ws_url("ws://example").port, "80");
  for (auto bad : {"http://x", "ws://", "ws://x:abc", "ws://[::1"}) {
    EXPECT_THROW(parse_ws_url(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace peer::signaling
