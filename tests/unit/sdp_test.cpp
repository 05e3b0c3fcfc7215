#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "core/sdp/candidate.hpp"
#include "core/sdp/description.hpp"
#include "peer/error.hpp"

namespace peer::sdp {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PEER_FIXTURES) + "/sdp/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// Removes every line containing `needle`.
std::string drop_lines(const std::string& sdp, std::string_view needle) {
  std::string out;
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    std::size_t end = sdp.find('\n', pos);
    end = end == std::string::npos ? sdp.size() : end + 1;
    std::string_view line(sdp.data() + pos, end - pos);
    if (line.find(needle) == std::string_view::npos) out += line;
    pos = end;
  }
  return out;
}

// Expects bad_sdp whose message contains every one of `parts`.
void expect_bad(std::string_view sdp, std::initializer_list<std::string_view> parts) {
  try {
    parse(sdp);
    ADD_FAILURE() << "accepted:\n" << sdp;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::bad_sdp);
    std::string msg = e.what();
    for (auto p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

const char* const kFixtures[] = {
    "chrome_offer_av_data.sdp",    "chrome_answer_av_data.sdp", "chrome_offer_data.sdp",
    "chrome_offer_candidates.sdp", "firefox_offer_av_data.sdp", "firefox_answer_data.sdp",
};

class Fixture : public ::testing::TestWithParam<const char*> {};

TEST_P(Fixture, RoundTrips) {
  std::string text = fixture(GetParam());
  Description d = parse(text);
  std::string written = write(d);
  EXPECT_EQ(parse(written), d);
  EXPECT_EQ(write(parse(written)), written);  // the writer is a fixed point
  // CRLF everywhere, nothing else.
  EXPECT_EQ(replace_all(replace_all(written, "\r\n", ""), "\n", "").size(),
            replace_all(written, "\r\n", "").size());
  EXPECT_EQ(written.substr(written.size() - 2), "\r\n");
  EXPECT_EQ(written.rfind("v=0\r\n", 0), 0u);
}

TEST_P(Fixture, AcceptsLfAndMissingFinalNewline) {
  std::string text = fixture(GetParam());
  Description d = parse(text);
  std::string lf = replace_all(text, "\r\n", "\n");
  EXPECT_EQ(parse(lf), d);
  lf.pop_back();
  EXPECT_EQ(parse(lf), d);
  EXPECT_EQ(parse(text + "\r\n\r\n"), d);  // trailing blank lines
}

TEST_P(Fixture, ChromeAndFirefoxShapesAreFullyTyped) {
  // Browsers write nothing the model lacks a field for, so nothing lands in `attributes`.
  Description d = parse(fixture(GetParam()));
  EXPECT_TRUE(d.attributes.empty());
  for (const auto& m : d.media) {
    EXPECT_TRUE(m.attributes.empty()) << m.mid << ": " << m.attributes.front().name;
    for (const auto& c : m.candidates) EXPECT_NO_THROW(parse_candidate(c)) << c;
  }
}

// Every prefix of every fixture parses or fails with bad_sdp; never anything else.
TEST_P(Fixture, EveryPrefixIsHandled) {
  std::string text = fixture(GetParam());
  for (std::size_t n = 0; n < text.size(); n += 7) {
    try {
      Description d = parse(std::string_view(text).substr(0, n));
      EXPECT_EQ(parse(write(d)), d);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::bad_sdp);
    }
  }
}

// Random byte mutations: only bad_sdp, and whatever parses round trips.
TEST_P(Fixture, MutationsAreHandled) {
  std::string text = fixture(GetParam());
  std::mt19937 rng(1234);
  static constexpr char kAlphabet[] = " :=/\r\n\t0123456789abcz*-.{}\x7f\x00\xff";
  for (int i = 0; i < 300; ++i) {
    std::string s = text;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[at] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
          break;
        case 1:
          s.erase(at, 1 + rng() % 8);
          break;
        case 2:
          s.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
          break;
      }
      if (s.empty()) s = "v";
    }
    try {
      Description d = parse(s);
      EXPECT_EQ(parse(write(d)), d) << s;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::bad_sdp);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sdp, Fixture, ::testing::ValuesIn(kFixtures), [](const auto& info) {
  std::string n = info.param;
  return n.substr(0, n.find('.'));
});

TEST(SdpChrome, OfferAudioVideoData) {
  Description d = parse(fixture("chrome_offer_av_data.sdp"));
  EXPECT_EQ(d.origin.username, "-");
  EXPECT_EQ(d.origin.session_id, 4215775240449105457u);
  EXPECT_EQ(d.origin.session_version, 2u);
  EXPECT_EQ(d.origin.address, "127.0.0.1");
  EXPECT_EQ(d.session_name, "-");
  EXPECT_EQ(d.timing, (Timing{0, 0}));
  ASSERT_EQ(d.groups.size(), 1u);
  EXPECT_EQ(d.groups[0].semantics, "BUNDLE");
  EXPECT_EQ(d.groups[0].mids, (std::vector<std::string>{"0", "1", "2"}));
  ASSERT_NE(find_group(d, "bundle"), nullptr);
  EXPECT_TRUE(d.extmap_allow_mixed);
  ASSERT_TRUE(d.msid_semantic);
  EXPECT_EQ(d.msid_semantic->semantic, "WMS");
  EXPECT_EQ(d.msid_semantic->ids.size(), 1u);
  EXPECT_TRUE(d.fingerprints.empty());

  ASSERT_EQ(d.media.size(), 3u);
  const Media& audio = d.media[0];
  const Media& video = d.media[1];
  const Media& data = d.media[2];
  EXPECT_EQ(audio.kind, "audio");
  EXPECT_EQ(video.kind, "video");
  EXPECT_EQ(data.kind, "application");
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(video.mid, "1");
  EXPECT_EQ(data.mid, "2");
  EXPECT_EQ(find_media(d, "1"), &video);
  EXPECT_EQ(find_media(d, "7"), nullptr);

  EXPECT_EQ(audio.port, 9);
  EXPECT_EQ(audio.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(audio.formats,
            (std::vector<std::string>{"111", "63", "9", "0", "8", "13", "110", "126"}));
  ASSERT_TRUE(audio.connection);
  EXPECT_EQ(audio.connection->address, "0.0.0.0");
  ASSERT_TRUE(audio.rtcp);
  EXPECT_EQ(audio.rtcp->port, 9);
  EXPECT_EQ(audio.ice_ufrag.size(), 4u);
  EXPECT_EQ(audio.ice_pwd.size(), 24u);
  EXPECT_EQ(audio.ice_options, (std::vector<std::string>{"trickle"}));
  ASSERT_EQ(audio.fingerprints.size(), 1u);
  EXPECT_EQ(audio.fingerprints[0].algorithm, "sha-256");
  EXPECT_EQ(audio.fingerprints[0].value.size(), 32u * 3 - 1);
  EXPECT_EQ(audio.setup, Setup::actpass);
  EXPECT_EQ(audio.direction, Direction::sendrecv);
  EXPECT_TRUE(audio.rtcp_mux);
  EXPECT_TRUE(audio.rtcp_rsize);
  EXPECT_TRUE(audio.candidates.empty());  // trickled
  EXPECT_FALSE(audio.end_of_candidates);

  const RtpMap* opus = find_rtpmap(audio, 111);
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(*opus, (RtpMap{111, "opus", 48000, 2}));
  ASSERT_NE(find_fmtp(audio, 111), nullptr);
  EXPECT_EQ(find_fmtp(audio, 111)->parameters, "minptime=10;useinbandfec=1");
  EXPECT_EQ(*find_rtpmap(audio, 0), (RtpMap{0, "PCMU", 8000, std::nullopt}));
  EXPECT_EQ(audio.rtcp_fbs.front(), (RtcpFb{111, "transport-cc", ""}));
  ASSERT_EQ(audio.extmaps.size(), 4u);
  EXPECT_EQ(audio.extmaps[0].id, 1);
  EXPECT_EQ(audio.extmaps[0].uri, "urn:ietf:params:rtp-hdrext:ssrc-audio-level");
  EXPECT_FALSE(audio.extmaps[0].direction);
  EXPECT_EQ(audio.extmaps[3].uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
  ASSERT_EQ(audio.msids.size(), 1u);
  EXPECT_EQ(audio.msids[0].stream_id, d.msid_semantic->ids[0]);
  ASSERT_EQ(audio.ssrcs.size(), 2u);
  EXPECT_EQ(audio.ssrcs[0].attribute, "cname");
  EXPECT_EQ(audio.ssrcs[1].attribute, "msid");
  EXPECT_NE(audio.ssrcs[1].value.find(' '), std::string::npos);  // "<stream> <track>"

  const RtpMap* vp8 = find_rtpmap(video, 96);
  ASSERT_NE(vp8, nullptr);
  EXPECT_EQ(vp8->encoding, "VP8");
  EXPECT_EQ(vp8->clock_rate, 90000u);
  EXPECT_EQ(find_fmtp(video, 97)->parameters, "apt=96");
  const RtpMap* h264 = find_rtpmap(video, 102);
  ASSERT_NE(h264, nullptr);
  EXPECT_EQ(h264->encoding, "H264");
  auto params = fmtp_parameters(find_fmtp(video, 102)->parameters);
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(params, (std::vector<P>{P{"level-asymmetry-allowed", "1"}, P{"packetization-mode", "1"},
                                    P{"profile-level-id", "42001f"}}));
  int vp8_fb = 0;
  for (const auto& fb : video.rtcp_fbs) vp8_fb += fb.payload_type == 96;
  EXPECT_EQ(vp8_fb, 5);
  EXPECT_NE(std::find(video.rtcp_fbs.begin(), video.rtcp_fbs.end(), RtcpFb{96, "nack", "pli"}),
            video.rtcp_fbs.end());
  ASSERT_EQ(video.ssrc_groups.size(), 1u);
  EXPECT_EQ(video.ssrc_groups[0].semantics, "FID");
  ASSERT_EQ(video.ssrc_groups[0].ssrcs.size(), 2u);
  EXPECT_EQ(video.ssrcs[0].id, video.ssrc_groups[0].ssrcs[0]);
  EXPECT_EQ(video.ssrcs.size(), 4u);
  EXPECT_EQ(video.extmaps.size(), 11u);
  EXPECT_EQ(video.extmaps[0].id, 14);
  EXPECT_EQ(video.extmaps[0].uri, "urn:ietf:params:rtp-hdrext:toffset");

  EXPECT_EQ(data.proto, "UDP/DTLS/SCTP");
  EXPECT_EQ(data.formats, (std::vector<std::string>{"webrtc-datachannel"}));
  EXPECT_EQ(data.sctp_port, 5000);
  EXPECT_EQ(data.max_message_size, 262144u);
  EXPECT_EQ(effective_max_message_size(data), 262144u);
  EXPECT_FALSE(data.direction);  // Chrome writes none for data
  EXPECT_EQ(effective_direction(d, data), Direction::sendrecv);
  EXPECT_TRUE(data.rtpmaps.empty());
}

TEST(SdpChrome, Answer) {
  Description d = parse(fixture("chrome_answer_av_data.sdp"));
  ASSERT_EQ(d.media.size(), 3u);
  for (const auto& m : d.media) EXPECT_EQ(m.setup, Setup::active);
  EXPECT_EQ(d.media[0].formats, (std::vector<std::string>{"111", "63", "126"}));
  EXPECT_EQ(d.media[1].rtpmaps.size(), 9u);
  EXPECT_EQ(d.media[2].sctp_port, 5000);
}

TEST(SdpChrome, DataOnlyOfferAndDefaultMaxMessageSize) {
  std::string text = fixture("chrome_offer_data.sdp");
  Description d = parse(text);
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.groups.at(0).mids, (std::vector<std::string>{"0"}));
  EXPECT_TRUE(d.msid_semantic->ids.empty());
  EXPECT_EQ(d.media[0].max_message_size, 262144u);
  // RFC 8841 section 6: absent means 65536.
  Description without = parse(drop_lines(text, "max-message-size"));
  EXPECT_FALSE(without.media[0].max_message_size);
  EXPECT_EQ(effective_max_message_size(without.media[0]), 65536u);
  EXPECT_EQ(write(without).find("max-message-size"), std::string::npos);
}

TEST(SdpChrome, InlineCandidates) {
  Description d = parse(fixture("chrome_offer_candidates.sdp"));
  ASSERT_EQ(d.media.size(), 2u);
  for (const auto& m : d.media) {
    EXPECT_EQ(m.port, 54321);
    EXPECT_EQ(m.connection->address, "203.0.113.7");
    ASSERT_EQ(m.candidates.size(), 7u);
    EXPECT_EQ(m.candidates[0].rfind("candidate:", 0), 0u);
    int host = 0, srflx = 0, relay = 0, tcp = 0, ipv6 = 0, mdns = 0;
    for (const auto& line : m.candidates) {
      Candidate c = parse_candidate(line);
      host += c.type == "host";
      srflx += c.type == "srflx";
      relay += c.type == "relay";
      tcp += c.transport == "tcp";
      ipv6 += c.address.find(':') != std::string::npos;
      mdns += c.address.ends_with(".local");
    }
    EXPECT_EQ(host, 5);
    EXPECT_EQ(srflx, 1);
    EXPECT_EQ(relay, 1);
    EXPECT_EQ(tcp, 2);
    EXPECT_EQ(ipv6, 2);
    EXPECT_EQ(mdns, 1);
  }
}

TEST(SdpFirefox, OfferAudioVideoData) {
  Description d = parse(fixture("firefox_offer_av_data.sdp"));
  EXPECT_EQ(d.origin.username, "mozilla...THIS_IS_SDPARTA-120.0");
  EXPECT_EQ(d.origin.session_version, 0u);
  ASSERT_EQ(d.fingerprints.size(), 1u);  // session level
  EXPECT_EQ(d.fingerprints[0].algorithm, "sha-256");
  EXPECT_EQ(d.ice_options, (std::vector<std::string>{"trickle"}));
  EXPECT_EQ(d.msid_semantic->ids, (std::vector<std::string>{"*"}));
  ASSERT_EQ(d.media.size(), 3u);
  const Media& audio = d.media[0];
  const Media& video = d.media[1];
  const Media& data = d.media[2];
  EXPECT_TRUE(audio.fingerprints.empty());
  EXPECT_EQ(&effective_fingerprints(d, audio), &d.fingerprints);
  EXPECT_EQ(effective_ice_options(d, audio), (std::vector<std::string>{"trickle"}));
  EXPECT_EQ(effective_ice_ufrag(d, audio), audio.ice_ufrag);
  EXPECT_EQ(effective_setup(d, audio), Setup::actpass);

  EXPECT_EQ(audio.port, 52716);
  EXPECT_EQ(audio.candidates.size(), 4u);
  EXPECT_TRUE(audio.end_of_candidates);
  ASSERT_EQ(audio.extmaps.size(), 3u);
  EXPECT_EQ(audio.extmaps[1].id, 2);
  EXPECT_EQ(audio.extmaps[1].direction, Direction::recvonly);
  EXPECT_EQ(audio.extmaps[1].uri, "urn:ietf:params:rtp-hdrext:csrc-audio-level");
  ASSERT_EQ(audio.msids.size(), 1u);
  EXPECT_EQ(audio.msids[0].stream_id.front(), '{');
  EXPECT_EQ(audio.msids[0].track_id.front(), '{');
  EXPECT_EQ(*find_rtpmap(audio, 9), (RtpMap{9, "G722", 8000, 1}));
  EXPECT_EQ(find_fmtp(audio, 101)->parameters, "0-15");
  EXPECT_EQ(fmtp_parameters("0-15"),
            (std::vector<std::pair<std::string, std::string>>{{"0-15", ""}}));
  ASSERT_EQ(audio.ssrcs.size(), 1u);
  EXPECT_EQ(audio.ssrcs[0].attribute, "cname");
  EXPECT_EQ(audio.rtcp->connection->address, "203.0.113.5");
  // Firefox writes fmtp before rtpmap; the model orders both by the m= line.
  EXPECT_EQ(audio.fmtps[0].payload_type, 109);
  EXPECT_EQ(audio.fmtps[1].payload_type, 101);

  EXPECT_EQ(video.port, 0);
  EXPECT_TRUE(video.bundle_only);
  EXPECT_TRUE(video.candidates.empty());
  EXPECT_EQ(video.extmaps[3].direction, Direction::recvonly);
  std::vector<int> fmtp_order;
  for (const auto& f : video.fmtps) fmtp_order.push_back(f.payload_type);
  EXPECT_EQ(fmtp_order, (std::vector<int>{120, 124, 121, 125, 126, 127, 97, 98, 119}));
  EXPECT_EQ(video.rtcp_fbs.size(), 20u);
  EXPECT_EQ(video.rtcp_fbs[0].payload_type, 120);
  ASSERT_EQ(video.ssrc_groups.size(), 1u);
  EXPECT_EQ(video.ssrc_groups[0].semantics, "FID");
  EXPECT_EQ(video.ssrcs.size(), 2u);
  auto h264 = fmtp_parameters(find_fmtp(video, 126)->parameters);
  EXPECT_EQ(h264[0], (std::pair<std::string, std::string>{"profile-level-id", "42e01f"}));

  EXPECT_EQ(data.direction, Direction::sendrecv);
  EXPECT_EQ(data.max_message_size, 1073741823u);
  EXPECT_EQ(data.sctp_port, 5000);
}

TEST(SdpFirefox, AnswerData) {
  Description d = parse(fixture("firefox_answer_data.sdp"));
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.media[0].setup, Setup::active);
  EXPECT_EQ(d.media[0].ice_pwd.size(), 32u);
  EXPECT_EQ(effective_fingerprints(d, d.media[0]).size(), 1u);
}

constexpr std::string_view kHead = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

TEST(Sdp, WildcardRtcpFbAndUnknownAttributes) {
  std::string text = std::string(kHead) +
                     "a=x-session-thing:1\r\n"
                     "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
                     "c=IN IP4 0.0.0.0\r\n"
                     "a=rtcp-fb:* nack\r\n"
                     "a=rtpmap:96 VP8/90000\r\n"
                     "a=rid:f send\r\n"
                     "a=simulcast:send f;h\r\n"
                     "a=x-google-flag:conference\r\n"
                     "a=flag\r\n"
                     "a=empty:\r\n"
                     "a=rtcp-fb:96 ccm tmmbr smaxpr=120\r\n";
  Description d = parse(text);
  EXPECT_EQ(d.attributes, (std::vector<Attribute>{{"x-session-thing", "1"}}));
  const Media& m = d.media.at(0);
  ASSERT_EQ(m.rtcp_fbs.size(), 2u);
  EXPECT_EQ(m.rtcp_fbs[0], (RtcpFb{96, "ccm", "tmmbr smaxpr=120"}));  // ordered by m= line
  EXPECT_EQ(m.rtcp_fbs[1], (RtcpFb{std::nullopt, "nack", ""}));
  EXPECT_EQ(m.attributes, (std::vector<Attribute>{{"rid", "f send"},
                                                  {"simulcast", "send f;h"},
                                                  {"x-google-flag", "conference"},
                                                  {"flag", std::nullopt},
                                                  {"empty", ""}}));
  std::string out = write(d);
  EXPECT_NE(out.find("a=rtcp-fb:* nack\r\n"), std::string::npos);
  EXPECT_NE(out.find("a=rid:f send\r\na=simulcast:send f;h\r\na=x-google-flag:conference\r\n"
                     "a=flag\r\na=empty:\r\n"),
            std::string::npos);
  EXPECT_EQ(parse(out), d);
}

TEST(Sdp, ZeroMediaSectionsAccepted) {
  // JSEP 5.2.1: createOffer() with nothing to negotiate yields no m= sections.
  Description d = parse(std::string(kHead) + "a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n");
  EXPECT_TRUE(d.media.empty());
  EXPECT_EQ(parse(write(d)), d);
}

TEST(Sdp, OtherLineTypesArePreserved) {
  std::string text =
      "v=0\no=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\ns=Call\ni=A call\n"
      "u=https://example.com\ne=j@example.com\np=+1 617 555-6011\nc=IN IP4 198.51.100.1\n"
      "b=AS:2000\nt=0 0\nr=7d 1h 0 25h\nt=10 20\nz=2882844526 -1h\nk=clear:x\na=recvonly\n"
      "m=audio 49170 RTP/AVP 0\ni=voice\nc=IN IP4 198.51.100.1\nb=AS:64\nb=TIAS:64000\nk=prompt\n"
      "a=rtpmap:0 PCMU/8000\n";
  Description d = parse(text);
  EXPECT_EQ(d.session_name, "Call");
  EXPECT_EQ(d.other_lines.size(), 8u);
  EXPECT_EQ(d.connection->address, "198.51.100.1");
  EXPECT_EQ(d.bandwidths, (std::vector<Bandwidth>{{"AS", 2000}}));
  EXPECT_EQ(d.direction, Direction::recvonly);
  EXPECT_EQ(effective_direction(d, d.media[0]), Direction::recvonly);
  EXPECT_EQ(d.media[0].other_lines.size(), 2u);
  EXPECT_EQ(d.media[0].bandwidths.size(), 2u);
  std::string out = write(d);
  EXPECT_EQ(parse(out), d);
  EXPECT_NE(out.find("s=Call\r\ni=A call\r\nu=https://example.com\r\ne=j@example.com\r\n"
                     "p=+1 617 555-6011\r\nc=IN IP4 198.51.100.1\r\nb=AS:2000\r\nt=0 0\r\n"),
            std::string::npos);
  EXPECT_NE(out.find("t=0 0\r\nr=7d 1h 0 25h\r\nt=10 20\r\nz="), std::string::npos);
}

TEST(Sdp, WriteUsesChromeOrder) {
  Description d;
  d.origin.session_id = 42;
  d.origin.session_version = 2;
  d.groups.push_back({"BUNDLE", {"0"}});
  d.extmap_allow_mixed = true;
  d.msid_semantic = MsidSemantic{};
  Media m;
  m.kind = "audio";
  m.proto = "UDP/TLS/RTP/SAVPF";
  m.formats = {"111"};
  m.connection = Connection{};
  m.rtcp = Rtcp{9, Connection{}};
  m.ice_ufrag = "abcd";
  m.ice_pwd = "0123456789abcdefghijkl";
  m.ice_options = {"trickle"};
  m.fingerprints = {{"sha-256", "AB:CD"}};
  m.setup = Setup::actpass;
  m.mid = "0";
  m.extmaps = {{1, std::nullopt, "urn:ietf:params:rtp-hdrext:sdes:mid", ""}};
  m.direction = Direction::sendonly;
  m.msids = {{"-", "t1"}};
  m.rtcp_mux = true;
  m.rtpmaps = {{111, "opus", 48000, 2}};
  m.rtcp_fbs = {{111, "transport-cc", ""}};
  m.fmtps = {{111, "minptime=10;useinbandfec=1"}};
  m.ssrcs = {{1, "cname", "x"}};
  d.media.push_back(m);
  EXPECT_EQ(write(d),
            "v=0\r\n"
            "o=- 42 2 IN IP4 127.0.0.1\r\n"
            "s=-\r\n"
            "t=0 0\r\n"
            "a=group:BUNDLE 0\r\n"
            "a=extmap-allow-mixed\r\n"
            "a=msid-semantic: WMS\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
            "c=IN IP4 0.0.0.0\r\n"
            "a=rtcp:9 IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:abcd\r\n"
            "a=ice-pwd:0123456789abcdefghijkl\r\n"
            "a=ice-options:trickle\r\n"
            "a=fingerprint:sha-256 AB:CD\r\n"
            "a=setup:actpass\r\n"
            "a=mid:0\r\n"
            "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
            "a=sendonly\r\n"
            "a=msid:- t1\r\n"
            "a=rtcp-mux\r\n"
            "a=rtpmap:111 opus/48000/2\r\n"
            "a=rtcp-fb:111 transport-cc\r\n"
            "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
            "a=ssrc:1 cname:x\r\n");
  EXPECT_EQ(parse(write(d)), d);
}

TEST(Sdp, ToleratesBlanks) {
  Description d = parse(std::string(kHead) +
                        "m=application  9   UDP/DTLS/SCTP webrtc-datachannel  \r\n"
                        "a=mid: 0\r\na=sctp-port:5000 \t\r\n\r\n");
  EXPECT_EQ(d.media[0].mid, "0");
  EXPECT_EQ(d.media[0].sctp_port, 5000);
}

TEST(SdpErrors, MessageNamesLineNumberAndLine) {
  std::string text = fixture("chrome_offer_data.sdp");
  std::string bad = replace_all(text, "a=fingerprint:sha-256 ", "a=fingerprint:sha-256 ZZ");
  try {
    parse(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::bad_sdp);
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("line 13: \"a=fingerprint:sha-256 ZZ", 0), 0u) << msg;
    EXPECT_NE(msg.find("expected '<hash-func> <XX:XX:...>'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("RFC 8122"), std::string::npos) << msg;
    EXPECT_NE(msg.find("...\""), std::string::npos) << msg;  // the long line is cut
    EXPECT_LT(msg.size(), 250u);
  }
}

TEST(SdpErrors, Structure) {
  expect_bad("", {"empty description"});
  expect_bad("\r\n\r\n", {"empty description"});
  expect_bad("o=- 1 2 IN IP4 127.0.0.1\r\n", {"line 1:", "o=- 1 2", "expected 'v=0'"});
  expect_bad("v=1\r\n", {"line 1:", "\"v=1\"", "expected 'v=0'"});
  expect_bad("v=0\r\ns=-\r\n", {"line 2:", "expected the o= line"});
  expect_bad("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nt=0 0\r\n", {"line 3:", "expected the s= line"});
  expect_bad("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n", {"missing t="});
  expect_bad("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n",
             {"line 4:", "t= line before the first m="});
  expect_bad(std::string(kHead) + "hello\r\n", {"line 5:", "\"hello\"", "'<type>=<value>'"});
  expect_bad(std::string(kHead) + "x=foo\r\n", {"line 5:", "unknown line type 'x='"});
  expect_bad(std::string(kHead) + "A=foo\r\n", {"line 5:", "lowercase"});
  expect_bad(std::string(kHead) + "a=foo\r\nc=IN IP4 0.0.0.0\r\n", {"line 6:", "out of order"});
  expect_bad(std::string(kHead) + "m=audio 9 RTP/AVP 0\r\nt=0 0\r\n",
             {"line 6:", "not allowed in a media section"});
  expect_bad(std::string(kHead) + "m=audio 9 RTP/AVP 0\r\na=x\r\nc=IN IP4 0.0.0.0\r\n",
             {"line 7:", "out of order"});
  expect_bad(std::string(kHead) + std::string("a=foo\0bar\r\n", 11), {"line 5:", "NUL or CR"});
  expect_bad(std::string(kHead) + "a=foo\rbar\r\n", {"line 5:", "NUL or CR"});
  expect_bad(std::string(kHead) + "a=:x\r\n", {"line 5:", "a=<attribute>"});
  expect_bad(std::string(kMaxDescriptionSize + 1, 'v'), {"262145 bytes", "262144"});
}

TEST(SdpErrors, FieldsAndNumbers) {
  std::string h(kHead);
  expect_bad("v=0\r\no=- 1 2 IN IP4\r\ns=-\r\nt=0 0\r\n", {"line 2:", "<username> <sess-id>"});
  expect_bad("v=0\r\no=- x 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", {"line 2:", "sess-id"});
  expect_bad("v=0\r\no=- 99999999999999999999 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", {"line 2:"});
  expect_bad("v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0\r\n", {"line 4:", "t=<start> <stop>"});
  expect_bad("v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\nt=0 0\r\n",
             {"line 4:", "IN IP4 <address>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\nc=IN IP4 1.2.3.4 5\r\n", {"line 6:", "IN IP4 <address>"});
  expect_bad(h + "m=audio 70000 RTP/AVP 0\r\n", {"line 5:", "m=audio 70000", "bad port"});
  expect_bad(h + "m=audio x RTP/AVP 0\r\n", {"line 5:", "bad port"});
  expect_bad(h + "m=audio -9 RTP/AVP 0\r\n", {"line 5:", "bad port"});
  expect_bad(h + "m=audio 9 RTP/AVP\r\n", {"line 5:", "m=<media> <port> <proto> <fmt>"});
  expect_bad(h + "m=audio 9 UDP/TLS/RTP/SAVPF 111 128\r\n",
             {"line 5:", "bad format \"128\"", "0 to 127"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtpmap:128 foo/8000\r\n",
             {"line 6:", "bad payload type", "a=rtpmap:<pt>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", {"line 6:", "<clock rate>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/x\r\n", {"line 6:"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:0 PCMA/8000\r\n",
             {"line 7:", "duplicate a=rtpmap"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=fmtp:0\r\n", {"line 6:", "a=fmtp:<pt> <parameters>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtcp-fb:0\r\n", {"line 6:", "a=rtcp-fb"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtcp-fb:x nack\r\n", {"line 6:", "bad payload type"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=extmap:15 urn:x\r\n", {"line 6:", "bad extmap id"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=extmap:0 urn:x\r\n", {"line 6:", "bad extmap id"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=extmap:1/both urn:x\r\n", {"line 6:", "direction"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=extmap:1\r\n", {"line 6:", "<uri>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=extmap:1 urn:a\r\na=extmap:1 urn:b\r\n",
             {"line 7:", "duplicate extmap id 1"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=ssrc:4294967296 cname:x\r\n", {"line 6:", "bad ssrc"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=ssrc:1\r\n", {"line 6:", "<attribute>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=ssrc-group:FID\r\n", {"line 6:", "a=ssrc-group"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=ssrc-group:FID 1 x\r\n", {"line 6:", "bad ssrc"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=msid:a b c\r\n", {"line 6:", "a=msid"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtcp:9 IN IP4\r\n", {"line 6:", "a=rtcp:<port>"});
  expect_bad(h + "m=audio 9 RTP/AVP 0\r\na=rtcp:65536\r\n", {"line 6:", "bad port"});
}

TEST(SdpErrors, TransportAttributes) {
  std::string h = std::string(kHead) + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
  expect_bad(h + "a=fingerprint:sha-256\r\n", {"line 6:", "<hash-func>"});
  expect_bad(h + "a=fingerprint:sha-256 AB:C\r\n", {"line 6:", "<hash-func>"});
  expect_bad(h + "a=fingerprint:sha-256 AB:CD:\r\n", {"line 6:"});
  expect_bad(h + "a=setup:both\r\n", {"line 6:", "a=setup:both", "actpass, active, passive"});
  expect_bad(h + "a=ice-ufrag:abc\r\n", {"line 6:", "4 to 256"});
  expect_bad(h + "a=ice-ufrag:ab-cd\r\n", {"line 6:", "4 to 256"});
  expect_bad(h + "a=ice-pwd:short\r\n", {"line 6:", "22 to 256"});
  expect_bad(h + "a=ice-options:\r\n", {"line 6:", "a=ice-options"});
  expect_bad(h + "a=mid:0\r\na=mid:1\r\n", {"line 7:", "duplicate a=mid"});
  expect_bad(h + "a=mid:\r\n", {"line 6:", "a=mid:<token>"});
  expect_bad(h + "a=sendrecv\r\na=recvonly\r\n", {"line 7:", "second direction"});
  expect_bad(h + "a=rtcp-mux:1\r\n", {"line 6:", "takes no value"});
  expect_bad(h + "a=sctp-port:70000\r\n", {"line 6:", "bad port"});
  expect_bad(h + "a=max-message-size:-1\r\n", {"line 6:", "RFC 8841"});
  expect_bad(h + "a=max-message-size:1\r\na=max-message-size:2\r\n", {"line 7:", "duplicate"});
  expect_bad(h + "a=candidate:1 1 udp 100 10.0.0.1 99999 typ host\r\n",
             {"line 6:", "a=candidate:1 1 udp", "bad port", "99999"});
  expect_bad(h + "a=candidate:1 1 sctp 100 10.0.0.1 9 typ host\r\n", {"line 6:", "bad transport"});
  expect_bad(std::string(kHead) + "a=group:BUNDLE 0 1\r\na=msid-semantic:\r\n",
             {"line 6:", "msid-semantic"});
  expect_bad(std::string(kHead) + "a=setup:active\r\na=setup:passive\r\n",
             {"line 6:", "duplicate"});
}

}  // namespace
}  // namespace peer::sdp
