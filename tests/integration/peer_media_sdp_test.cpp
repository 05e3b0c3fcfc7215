// JSEP for audio/video sections (src/core/session/media_description.hpp) against the
// browsers' own offers in tests/fixtures/sdp.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../support/sdp_fixture.hpp"
#include "core/sdp/description.hpp"
#include "core/session/media_description.hpp"

namespace {

namespace session = peer::session;
namespace sdp = peer::sdp;
using sdp::Direction;

using peer::test::local_transport;
std::string fixture(const std::string& name) { return peer::test::sdp_fixture(name); }

std::vector<std::string> names(const std::vector<session::Codec>& codecs) {
  std::vector<std::string> out;
  for (const auto& c : codecs) out.push_back(c.name + "/" + std::to_string(c.payload_type));
  return out;
}

TEST(MediaSdp, ChromesVideoOfferIsAnsweredWithItsVp8AndH264Mode1PayloadTypesOnly) {
  const auto offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  std::string why;
  const auto n = session::negotiate_offered(offer.media[1], 1, false, true, &why);
  ASSERT_TRUE(n) << why;
  EXPECT_EQ(n->kind, session::MediaKind::video);
  EXPECT_EQ(n->mid, "1");
  ASSERT_FALSE(n->codecs.empty());
  EXPECT_EQ(n->codecs.front().name, "VP8");
  EXPECT_EQ(n->codecs.front().payload_type, 96);
  for (const auto& c : n->codecs) {
    EXPECT_TRUE(c.name == "VP8" || c.name == "H264") << c.name;  // no rtx, red, ulpfec, VP9, AV1
    if (c.name == "H264") {
      EXPECT_NE(c.fmtp.find("packetization-mode=1"), std::string::npos) << c.fmtp;
    }
  }
  // Chrome's feedback minus transport-cc (we send no transport feedback).
  EXPECT_EQ(n->codecs.front().feedback, (std::vector<std::string>{"goog-remb", "ccm fir", "nack", "nack pli"}));
  EXPECT_EQ(n->extensions.mid, 4);
  EXPECT_EQ(n->extensions.abs_send_time, 2);
  EXPECT_EQ(n->direction, Direction::recvonly);  // it sends, we only receive
  // The FID group's second SSRC is RTX: not a sender of its own.
  EXPECT_EQ(n->remote_ssrcs, (std::vector<std::uint32_t>{2366023568u}));
  EXPECT_EQ(n->remote_stream_id, "230a5473-c30f-47cc-b763-947cd4bd2486");
  EXPECT_TRUE(n->rtcp_rsize);
}

TEST(MediaSdp, ChromesAudioOfferTakesOpusAtItsPayloadType) {
  const auto offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  std::string why;
  const auto n = session::negotiate_offered(offer.media[0], 0, true, true, &why);
  ASSERT_TRUE(n) << why;
  EXPECT_EQ(names(n->codecs), (std::vector<std::string>{"opus/111"}));
  EXPECT_EQ(n->codecs.front().channels, 2u);
  EXPECT_EQ(n->direction, Direction::sendrecv);
  EXPECT_EQ(n->remote_ssrcs, (std::vector<std::uint32_t>{3880317731u}));
}

TEST(MediaSdp, FirefoxBundleOnlyVideoIsAccepted) {
  const auto offer = sdp::parse(fixture("firefox_offer_av_data.sdp"));
  std::string why;
  const auto n = session::negotiate_offered(offer.media[1], 1, false, true, &why);
  ASSERT_TRUE(n) << why;
  EXPECT_EQ(n->codecs.front().name, "VP8");
  EXPECT_EQ(n->extensions.mid, 3);
  EXPECT_EQ(n->remote_ssrcs, (std::vector<std::uint32_t>{3006299546u}));
}

TEST(MediaSdp, DirectionFollowsRfc3264) {
  auto offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  sdp::Media m = offer.media[1];
  struct Case {
    Direction offered;
    bool send, receive;
    Direction want;
  };
  for (const Case& c : {Case{Direction::sendrecv, true, true, Direction::sendrecv},
                        Case{Direction::sendrecv, true, false, Direction::sendonly},
                        Case{Direction::sendonly, true, true, Direction::recvonly},
                        Case{Direction::recvonly, true, true, Direction::sendonly},
                        Case{Direction::recvonly, false, true, Direction::inactive},
                        Case{Direction::inactive, true, true, Direction::inactive}}) {
    m.direction = c.offered;
    const auto n = session::negotiate_offered(m, 1, c.send, c.receive, nullptr);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->direction, c.want) << sdp::to_string(c.offered) << " send=" << c.send << " receive=" << c.receive;
    EXPECT_EQ(n->remote_ssrcs.empty(), c.offered == Direction::recvonly || c.offered == Direction::inactive);
  }
}

TEST(MediaSdp, UnacceptableSectionsSayWhy) {
  auto offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  std::string why;
  sdp::Media m = offer.media[1];
  m.formats = {"98"};  // VP9 only
  EXPECT_FALSE(session::negotiate_offered(m, 1, true, true, &why));
  EXPECT_NE(why.find("no codec in common"), std::string::npos) << why;
  m = offer.media[1];
  m.rtcp_mux = false;
  EXPECT_FALSE(session::negotiate_offered(m, 1, true, true, &why));
  EXPECT_NE(why.find("rtcp-mux"), std::string::npos) << why;
  m = offer.media[1];
  m.proto = "RTP/AVP";
  EXPECT_FALSE(session::negotiate_offered(m, 1, true, true, &why));
  EXPECT_NE(why.find("RTP/AVP"), std::string::npos) << why;
  m = offer.media[1];
  m.port = 0;
  EXPECT_FALSE(session::negotiate_offered(m, 1, true, true, &why));
  EXPECT_NE(why.find("port 0"), std::string::npos) << why;
  EXPECT_FALSE(session::negotiate_offered(offer.media[2], 2, true, true, &why));  // m=application
}

TEST(MediaSdp, OurOfferSectionSurvivesWriteAndParseAndNegotiatesWithItself) {
  session::LocalMedia video;
  video.mid = "0";
  video.kind = session::MediaKind::video;
  video.direction = Direction::sendrecv;
  video.stream_id = "stream";
  video.track_id = "camera";
  video.cname = "cname1";
  video.ssrc = 1234;
  video.codecs = session::supported_codecs(session::MediaKind::video);
  sdp::Description d;
  d.media.push_back(session::media_section(local_transport("actpass"), video));
  const auto parsed = sdp::parse(sdp::write(d));
  const sdp::Media& m = parsed.media.at(0);
  EXPECT_EQ(m.kind, "video");
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(m.formats, (std::vector<std::string>{"96", "102"}));
  EXPECT_TRUE(m.rtcp_mux);
  EXPECT_TRUE(m.rtcp_rsize);
  ASSERT_EQ(m.msids.size(), 1u);
  EXPECT_EQ(m.msids[0].track_id, "camera");

  // The far side answers our offer receiving only; we read what it agreed.
  std::string why;
  const auto theirs = session::negotiate_offered(m, 0, false, true, &why);
  ASSERT_TRUE(theirs) << why;
  EXPECT_EQ(theirs->direction, Direction::recvonly);
  EXPECT_EQ(theirs->remote_ssrcs, (std::vector<std::uint32_t>{1234u}));
  session::LocalMedia answer_side;
  answer_side.cname = "cname2";
  sdp::Description answer;
  answer.media.push_back(
      session::media_section(local_transport("active"), session::answer_media(*theirs, answer_side)));
  const auto answer_parsed = sdp::parse(sdp::write(answer));
  const auto ours = session::negotiate_answered(m, answer_parsed.media.at(0), 0, &why);
  ASSERT_TRUE(ours) << why;
  EXPECT_EQ(ours->direction, Direction::sendonly);
  EXPECT_EQ(names(ours->codecs), (std::vector<std::string>{"VP8/96", "H264/102"}));
  EXPECT_EQ(ours->extensions, (session::Extensions{1, 2}));
  EXPECT_TRUE(ours->remote_ssrcs.empty());  // it does not send

  // An answer that drops the section, or names payload types we never offered.
  sdp::Media rejected = answer_parsed.media.at(0);
  rejected.port = 0;
  EXPECT_FALSE(session::negotiate_answered(m, rejected, 0, &why));
  EXPECT_NE(why.find("rejected"), std::string::npos);
  sdp::Media foreign = answer_parsed.media.at(0);
  for (auto& r : foreign.rtpmaps) r.payload_type += 1;
  for (auto& f : foreign.formats) f = std::to_string(std::stoi(f) + 1);
  EXPECT_FALSE(session::negotiate_answered(m, foreign, 0, &why));
  EXPECT_NE(why.find("no codec we offered"), std::string::npos) << why;
}

}  // namespace
