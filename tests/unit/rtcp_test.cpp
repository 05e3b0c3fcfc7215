// RTCP (RFC 3550 section 6) and its feedback messages: the compound reader, the parsers of
// each kind on hand-written packets, the writer's round trips, and bad input. Lives in the
// unit_rtp binary.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rtp/rtcp.hpp"
#include "rtp_test_util.hpp"

namespace peer::rtp {
namespace {

using test::bytes;

std::vector<RtcpPacket> read_all(std::span<const std::byte> compound,
                                 std::optional<Error>* error = nullptr) {
  std::vector<RtcpPacket> out;
  RtcpReader reader(compound);
  RtcpPacket p;
  while (reader.next(p)) out.push_back(p);
  if (error) *error = reader.error();
  return out;
}

RtcpPacket only_packet(std::span<const std::byte> bytes) {
  std::optional<Error> error;
  auto all = read_all(bytes, &error);
  EXPECT_FALSE(error) << describe(*error);
  EXPECT_EQ(all.size(), 1u);
  return all.empty() ? RtcpPacket{} : all.front();
}

// Runs the parser of the packet's kind (and reads what it parsed); the error if it refused.
template <class T>
std::optional<Error> error_of(const Result<T>& r) {
  return r ? std::nullopt : std::optional<Error>(r.error());
}

std::optional<Error> parse_by_kind(const RtcpPacket& p) {
  switch (kind_of(p)) {
    case RtcpKind::sender_report: {
      const auto v = parse_sender_report(p);
      for (std::size_t i = 0; v && i < v->reports.size(); ++i) (void)v->reports[i];
      return error_of(v);
    }
    case RtcpKind::receiver_report: {
      const auto v = parse_receiver_report(p);
      for (std::size_t i = 0; v && i < v->reports.size(); ++i) (void)v->reports[i];
      return error_of(v);
    }
    case RtcpKind::sdes: {
      const auto v = parse_sdes(p);
      if (v) (void)v->cname();
      return error_of(v);
    }
    case RtcpKind::bye:
      return error_of(parse_bye(p));
    case RtcpKind::nack: {
      const auto v = parse_nack(p);
      if (v) v->for_each_sequence([](uint16_t) {});
      return error_of(v);
    }
    case RtcpKind::transport_cc: {
      const auto v = parse_transport_cc(p);
      if (v) (void)v->packets();
      return error_of(v);
    }
    case RtcpKind::pli:
      return error_of(parse_pli(p));
    case RtcpKind::fir: {
      const auto v = parse_fir(p);
      for (std::size_t i = 0; v && i < v->size(); ++i) (void)(*v)[i];
      return error_of(v);
    }
    case RtcpKind::remb:
      return error_of(parse_remb(p));
    case RtcpKind::other:
      return std::nullopt;
  }
  return std::nullopt;
}

// --- hand-written packets ---------------------------------------------------------------

// SR with one report block (RFC 3550 section 6.4.1), then SDES CNAME (section 6.5.1).
const std::vector<std::byte> kSrSdes = bytes({
    0x81, 0xc8, 0x00, 0x0c,  // V=2 RC=1 PT=200 length 12
    0x11, 0x22, 0x33, 0x44,  // SSRC of sender
    0xe8, 0x00, 0x00, 0x01,  // NTP seconds
    0x80, 0x00, 0x00, 0x00,  // NTP fraction (0.5 s)
    0x00, 0x01, 0x00, 0x00,  // RTP timestamp
    0x00, 0x00, 0x00, 0x64,  // sender's packet count 100
    0x00, 0x00, 0x27, 0x10,  // sender's octet count 10000
    0x55, 0x66, 0x77, 0x88,  // SSRC_1
    0x40, 0xff, 0xff, 0xfe,  // fraction lost 64/256, cumulative lost -2
    0x00, 0x01, 0x03, 0xe8,  // extended highest sequence (cycle 1, seq 1000)
    0x00, 0x00, 0x00, 0x20,  // jitter
    0x12, 0x34, 0x56, 0x78,  // LSR
    0x00, 0x01, 0x80, 0x00,  // DLSR 1.5 s
    0x81, 0xca, 0x00, 0x03,  // V=2 SC=1 PT=202 length 3
    0x11, 0x22, 0x33, 0x44,  // SSRC
    0x01, 0x04, 'c',  'a',   // CNAME, 4 bytes
    'm',  '1',  0x00, 0x00,  // end of items, padding
});

TEST(Rtcp, ParsesSenderReportAndSdes) {
  std::optional<Error> error;
  const auto packets = read_all(kSrSdes, &error);
  ASSERT_FALSE(error) << describe(*error);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(kind_of(packets[0]), RtcpKind::sender_report);
  const auto sr = parse_sender_report(packets[0]);
  ASSERT_TRUE(sr) << describe(sr.error());
  EXPECT_EQ(sr->ssrc, 0x11223344u);
  EXPECT_EQ(sr->info.ntp_time, 0xe800000180000000ull);
  EXPECT_EQ(sr->info.rtp_timestamp, 0x10000u);
  EXPECT_EQ(sr->info.packet_count, 100u);
  EXPECT_EQ(sr->info.octet_count, 10000u);
  ASSERT_EQ(sr->reports.size(), 1u);
  const ReportBlock r = sr->reports[0];
  EXPECT_EQ(r.ssrc, 0x55667788u);
  EXPECT_EQ(r.fraction_lost, 64);
  EXPECT_EQ(r.cumulative_lost, -2);
  EXPECT_EQ(r.highest_sequence, 0x103e8u);
  EXPECT_EQ(r.jitter, 32u);
  EXPECT_EQ(r.last_sr, 0x12345678u);
  EXPECT_EQ(r.delay_since_last_sr, 0x18000u);

  EXPECT_EQ(packets[1].offset, 52u);
  const auto sdes = parse_sdes(packets[1]);
  ASSERT_TRUE(sdes) << describe(sdes.error());
  EXPECT_EQ(sdes->chunk_count(), 1u);
  EXPECT_EQ(sdes->cname(), "cam1");
  EXPECT_EQ(sdes->cname(0x11223344), "cam1");
  EXPECT_FALSE(sdes->cname(1));
}

// Generic NACK (RFC 4585 section 6.2.1): PID 100, BLP 0x8005 -> 100, 101, 103, 116.
const std::vector<std::byte> kNack = bytes({
    0x81, 0xcd, 0x00, 0x04,  // FMT=1 PT=205 length 4
    0x00, 0x00, 0x00, 0x01,  // sender SSRC
    0x00, 0x00, 0x00, 0x02,  // media SSRC
    0x00, 0x64, 0x80, 0x05,  // PID 100, BLP bits 0, 2, 15
    0xff, 0xff, 0x00, 0x01,  // PID 65535, BLP bit 0 -> 0 (wraps)
});

TEST(Rtcp, ExpandsNackPidAndBlp) {
  const auto p = only_packet(kNack);
  EXPECT_EQ(kind_of(p), RtcpKind::nack);
  const auto nack = parse_nack(p);
  ASSERT_TRUE(nack) << describe(nack.error());
  EXPECT_EQ(nack->sender_ssrc, 1u);
  EXPECT_EQ(nack->media_ssrc, 2u);
  EXPECT_EQ(nack->entry_count(), 2u);
  std::vector<uint16_t> seqs;
  nack->for_each_sequence([&](uint16_t s) { seqs.push_back(s); });
  EXPECT_EQ(seqs, (std::vector<uint16_t>{100, 101, 103, 116, 65535, 0}));
}

// Transport-wide feedback as Chromium sends it (draft-holmer-rmcat-transport-wide-cc-
// extensions-01 section 3.1): a run length chunk, a 2-bit status vector chunk, small and
// large deltas, P-bit padding.
const std::vector<std::byte> kTransportCc = bytes({
    0xaf, 0xcd, 0x00, 0x08,        // P=1 FMT=15 PT=205 length 8
    0xfa, 0x17, 0xfa, 0x17,        // sender SSRC
    0x2b, 0x30, 0xab, 0x6d,        // media SSRC
    0x01, 0xf4, 0x00, 0x0c,        // base sequence 500, status count 12
    0x00, 0x01, 0x02, 0x07,        // reference time 258 (x 64 ms), fb pkt count 7
    0x20, 0x05,                    // run length: symbol 01 (small delta) x 5
    0xc9, 0x41,                    // status vector, 2-bit: 00 10 01 01 00 00 01
    0x04, 0x04, 0x08, 0x00, 0x01,  // small deltas of 500..504
    0xff, 0x38,                    // large delta of 506: -200 (x 250 us)
    0x10, 0x14, 0x02,              // small deltas of 507, 508, 511
    0x00, 0x02,                    // RTCP padding, count 2
});

TEST(Rtcp, ParsesChromiumLikeTransportCc) {
  const auto p = only_packet(kTransportCc);
  EXPECT_EQ(kind_of(p), RtcpKind::transport_cc);
  const auto tcc = parse_transport_cc(p);
  ASSERT_TRUE(tcc) << describe(tcc.error());
  EXPECT_EQ(tcc->sender_ssrc, 0xfa17fa17u);
  EXPECT_EQ(tcc->media_ssrc, 0x2b30ab6du);
  EXPECT_EQ(tcc->base_sequence, 500);
  EXPECT_EQ(tcc->status_count, 12);
  EXPECT_EQ(tcc->reference_time, 258);
  EXPECT_EQ(tcc->reference_time_us(), 258 * 64000);
  EXPECT_EQ(tcc->feedback_count, 7);
  EXPECT_EQ(tcc->chunks.size(), 4u);
  EXPECT_EQ(tcc->deltas.size(), 10u);
  const std::vector<TransportCcPacket> expected = {
      {500, true, 1000}, {501, true, 1000}, {502, true, 2000},   {503, true, 0},
      {504, true, 250},  {505, false, 0},   {506, true, -50000}, {507, true, 4000},
      {508, true, 5000}, {509, false, 0},   {510, false, 0},     {511, true, 500},
  };
  EXPECT_EQ(tcc->packets(), expected);
}

// A 1-bit status vector, a run length chunk longer than the status count, a negative
// reference time, the sequence wrapping, and zero padding without the P bit.
TEST(Rtcp, ParsesOneBitVectorsAndLongRuns) {
  const auto packet = bytes({
      0x8f, 0xcd, 0x00, 0x06,              // FMT=15 PT=205 length 6
      0,    0,    0,    1,    0, 0, 0, 2,  //
      0xff, 0xfe, 0x00, 0x11,              // base 65534, 17 packets
      0xff, 0xff, 0xff, 0x00,              // reference time -1, fb count 0
      0xa0, 0x01,                          // 1-bit vector: 1 0 0 0 0 0 0 0 0 0 0 0 0 1
      0x00, 0x64,                          // run length: not received x 100 (only 3 count)
      0x01, 0x02, 0x00, 0x00,              // two small deltas, zero padding
  });
  const auto p = only_packet(packet);
  const auto tcc = parse_transport_cc(p);
  ASSERT_TRUE(tcc) << describe(tcc.error());
  EXPECT_EQ(tcc->reference_time, -1);
  EXPECT_EQ(tcc->reference_time_us(), -64000);
  const auto packets = tcc->packets();
  ASSERT_EQ(packets.size(), 17u);
  EXPECT_EQ(packets[0], (TransportCcPacket{65534, true, 250}));
  EXPECT_EQ(packets[1], (TransportCcPacket{65535, false, 0}));
  EXPECT_EQ(packets[2], (TransportCcPacket{0, false, 0}));
  EXPECT_EQ(packets[13], (TransportCcPacket{11, true, 500}));
  EXPECT_EQ(packets[16], (TransportCcPacket{14, false, 0}));
  EXPECT_EQ(tcc->deltas.size(), 2u);
}

// PLI (RFC 4585 section 6.3.1), FIR (RFC 5104 section 4.3.1), REMB (draft-alvestrand-
// rmcat-remb section 2.2): a reduced-size compound (RFC 5506) of feedback only.
const std::vector<std::byte> kPsfb = bytes({
    0x81, 0xce, 0x00, 0x02, 0,    0,    0,    1,    0, 0, 0, 2,  // PLI 1 -> 2
    0x84, 0xce, 0x00, 0x04, 0,    0,    0,    1,    0, 0, 0, 0,  // FIR from 1
    0x00, 0x00, 0x00, 0x09, 0x2a, 0x00, 0x00, 0x00,              // SSRC 9, seq nr 42
    0x8f, 0xce, 0x00, 0x05, 0,    0,    0,    1,    0, 0, 0, 0,  // REMB from 1
    'R',  'E',  'M',  'B',  0x01, 0x0b, 0xd0, 0x90,              // 1 SSRC, exp 2, mantissa 250000
    0x00, 0x00, 0x00, 0x09,                                      //
});

TEST(Rtcp, ParsesPliFirRembInAReducedSizeCompound) {
  std::optional<Error> error;
  const auto packets = read_all(kPsfb, &error);
  ASSERT_FALSE(error) << describe(*error);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(kind_of(packets[0]), RtcpKind::pli);
  EXPECT_EQ(kind_of(packets[1]), RtcpKind::fir);
  EXPECT_EQ(kind_of(packets[2]), RtcpKind::remb);
  const auto pli = parse_pli(packets[0]);
  ASSERT_TRUE(pli);
  EXPECT_EQ(pli->sender_ssrc, 1u);
  EXPECT_EQ(pli->media_ssrc, 2u);
  const auto fir = parse_fir(packets[1]);
  ASSERT_TRUE(fir) << describe(fir.error());
  ASSERT_EQ(fir->size(), 1u);
  EXPECT_EQ((*fir)[0], (FirEntry{9, 42}));
  const auto remb = parse_remb(packets[2]);
  ASSERT_TRUE(remb) << describe(remb.error());
  EXPECT_EQ(remb->bitrate_bps, 1'000'000u);
  ASSERT_EQ(remb->size(), 1u);
  EXPECT_EQ(remb->ssrc(0), 9u);
  // Each parser refuses the others' packets.
  EXPECT_EQ(parse_pli(packets[1]).error().code, ErrorCode::wrong_type);
  EXPECT_EQ(parse_fir(packets[2]).error().code, ErrorCode::wrong_type);
  EXPECT_EQ(parse_nack(packets[0]).error().code, ErrorCode::wrong_type);
  EXPECT_EQ(parse_sender_report(packets[0]).error().code, ErrorCode::wrong_type);
}

// BYE with a reason (RFC 3550 section 6.6) and an APP packet (section 6.7).
const std::vector<std::byte> kByeApp = bytes({
    0x82, 0xcb, 0x00, 0x04, 0,   0,    0,    1,    0,   0,   0,   2,    // BYE SC=2
    0x04, 'g',  'o',  'n',  'e', 0x00, 0x00, 0x00,                      // reason "gone"
    0x80, 0xcc, 0x00, 0x02, 0,   0,    0,    1,    'n', 'a', 'm', 'e',  // APP
});

TEST(Rtcp, ParsesByeWithReasonAndUnknownTypes) {
  const auto packets = read_all(kByeApp);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(kind_of(packets[1]), RtcpKind::other);
  const auto bye = parse_bye(packets[0]);
  ASSERT_TRUE(bye) << describe(bye.error());
  ASSERT_EQ(bye->size(), 2u);
  EXPECT_EQ(bye->ssrc(1), 2u);
  EXPECT_EQ(bye->reason, "gone");
}

// --- bad input ---------------------------------------------------------------------------

TEST(Rtcp, ReaderGivesTheGoodPacketsBeforeABadOne) {
  auto compound = kNack;                                         // 20 bytes, good
  const auto bad = bytes({0x81, 0xcd, 0x00, 0x09, 0, 0, 0, 1});  // length past the end
  compound.insert(compound.end(), bad.begin(), bad.end());
  std::optional<Error> error;
  const auto packets = read_all(compound, &error);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_TRUE(parse_nack(packets[0]));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::truncated);
  EXPECT_EQ(error->offset, 22u);
  EXPECT_NE(std::string(error->message).find("length"), std::string::npos);
}

struct BadCase {
  const char* name;
  std::vector<std::byte> bytes;
  ErrorCode code;
  const char* field;
};

TEST(Rtcp, RejectsMalformedPacketsNamingTheField) {
  const BadCase cases[] = {
      {"header cut", bytes({0x80, 0xc9, 0x00}), ErrorCode::truncated, "common header"},
      {"version", bytes({0x40, 0xc9, 0x00, 0x00}), ErrorCode::bad_version, "version"},
      {"padding 0", bytes({0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 0}), ErrorCode::bad_padding, "padding"},
      {"padding long", bytes({0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 5}), ErrorCode::bad_padding,
       "padding"},
      {"SR short", bytes({0x80, 0xc8, 0x00, 0x01, 0, 0, 0, 0}), ErrorCode::truncated,
       "sender info"},
      {"RR count", bytes({0x81, 0xc9, 0x00, 0x01, 0, 0, 0, 0}), ErrorCode::truncated, "RC"},
      {"SDES count", bytes({0x82, 0xca, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 0}), ErrorCode::truncated,
       "SC"},
      {"SDES no null", bytes({0x81, 0xca, 0x00, 0x02, 0, 0, 0, 1, 1, 2, 'a', 'b'}),
       ErrorCode::truncated, "null item"},
      {"SDES item", bytes({0x81, 0xca, 0x00, 0x02, 0, 0, 0, 1, 1, 9, 'a', 'b'}),
       ErrorCode::truncated, "item length"},
      {"BYE count", bytes({0x82, 0xcb, 0x00, 0x01, 0, 0, 0, 1}), ErrorCode::truncated, "SC"},
      {"BYE reason", bytes({0x81, 0xcb, 0x00, 0x02, 0, 0, 0, 1, 9, 'a', 'b', 'c'}),
       ErrorCode::truncated, "reason length"},
      {"NACK no FCI", bytes({0x81, 0xcd, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2}), ErrorCode::bad_field,
       "FCI"},
      {"NACK short", bytes({0x81, 0xcd, 0x00, 0x01, 0, 0, 0, 1}), ErrorCode::truncated, "SSRCs"},
      {"FIR FCI", bytes({0x84, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}),
       ErrorCode::bad_field, "FCI"},
      {"not REMB",
       bytes({0x8f, 0xce, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 'A', 'B', 'C', 'D', 0, 0, 0, 0}),
       ErrorCode::wrong_type, "REMB"},
      {"REMB overflow", bytes({0x8f, 0xce, 0x00, 0x04, 0,   0,   0, 1,    0,    0,
                               0,    0,    'R',  'E',  'M', 'B', 0, 0xff, 0xff, 0xff}),
       ErrorCode::bad_field, "Mantissa"},
      {"REMB ssrcs",
       bytes({0x8f, 0xce, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 'R', 'E', 'M', 'B', 2, 0, 0, 1}),
       ErrorCode::truncated, "Num SSRC"},
      {"TCC header", bytes({0x8f, 0xcd, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1}),
       ErrorCode::truncated, "feedback header"},
      {"TCC count 0", bytes({0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0, 2,
                             0,    1,    0,    0,    0, 0, 0, 0, 0x20, 0x01, 1, 0}),
       ErrorCode::bad_field, "status count"},
      {"TCC chunks", bytes({0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0,    2,
                            0,    1,    0,    9,    0, 0, 0, 0, 0x20, 0x01, 0x20, 0x01}),
       ErrorCode::truncated, "packet chunks"},
      {"TCC deltas", bytes({0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0, 2,
                            0,    1,    0,    3,    0, 0, 0, 0, 0x40, 0x03, 1, 0}),
       ErrorCode::truncated, "receive deltas"},
      {"TCC run reserved", bytes({0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0, 2,
                                  0,    1,    0,    1,    0, 0, 0, 0, 0x60, 0x01, 0, 0}),
       ErrorCode::bad_field, "reserved"},
      {"TCC vector reserved", bytes({0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0, 2,
                                     0,    1,    0,    2,    0, 0, 0, 0, 0xcc, 0x00, 0, 0}),
       ErrorCode::bad_field, "reserved"},
  };
  for (const BadCase& c : cases) {
    RtcpReader reader(c.bytes);
    RtcpPacket p;
    std::optional<Error> error;
    if (reader.next(p)) {
      // A PSFB FMT 15 that is not REMB is `other`; ask the REMB parser why.
      error = kind_of(p) == RtcpKind::other ? error_of(parse_remb(p)) : parse_by_kind(p);
    } else {
      error = reader.error();
    }
    ASSERT_TRUE(error) << c.name << " was accepted";
    EXPECT_EQ(error->code, c.code) << c.name << ": " << describe(*error);
    EXPECT_NE(std::string(error->message).find(c.field), std::string::npos)
        << c.name << ": " << describe(*error);
    EXPECT_LE(error->offset, c.bytes.size()) << c.name;
  }
}

// Every prefix of every valid packet is read and parsed without reading past its end.
TEST(Rtcp, EveryPrefixIsRejectedOrParsedInBounds) {
  for (const auto* packet : {&kSrSdes, &kNack, &kTransportCc, &kPsfb, &kByeApp}) {
    test::for_each_prefix(*packet, [](std::span<const std::byte> prefix, std::size_t n) {
      RtcpReader reader(prefix);
      RtcpPacket p;
      std::size_t end = 0;
      while (reader.next(p)) {
        (void)parse_by_kind(p);
        end = p.offset + p.bytes.size();
      }
      // A cut compound always ends in an error unless it was cut between packets.
      if (end != n) {
        ASSERT_TRUE(reader.error()) << n;
        EXPECT_LE(reader.error()->offset, n);
      }
    });
  }
}

TEST(Rtcp, GarbageNeverCrashes) {
  uint32_t state = 99;
  std::vector<std::byte> buf;
  for (int round = 0; round < 20000; ++round) {
    state = state * 1664525u + 1013904223u;
    buf.resize(4 * (state % 24));
    for (auto& b : buf) {
      state = state * 1664525u + 1013904223u;
      b = static_cast<std::byte>(state >> 24);
    }
    // Keep the common header plausible so that the parsers behind it get exercised.
    for (std::size_t at = 0; at + 4 <= buf.size(); at += 4 * (1 + (state % 4))) {
      buf[at] = static_cast<std::byte>(0x80 | (std::to_integer<int>(buf[at]) & 0x3f));
      buf[at + 1] = static_cast<std::byte>(200 + (std::to_integer<int>(buf[at + 1]) % 7));
      buf[at + 2] = std::byte{0};
      buf[at + 3] = static_cast<std::byte>(std::to_integer<int>(buf[at + 3]) % 8);
    }
    RtcpReader reader(buf);
    RtcpPacket p;
    while (reader.next(p)) (void)parse_by_kind(p);
  }
}

// --- writer ------------------------------------------------------------------------------

TEST(RtcpWriter, WritesTheHandWrittenPackets) {
  std::array<std::byte, 256> out{};
  RtcpWriter w(out);
  const ReportBlock block{0x55667788, 64, -2, 0x103e8, 32, 0x12345678, 0x18000};
  ASSERT_TRUE(w.sender_report(0x11223344, {0xe800000180000000ull, 0x10000, 100, 10000},
                              std::span(&block, 1)));
  ASSERT_TRUE(w.sdes_cname(0x11223344, "cam1"));
  EXPECT_EQ(std::vector<std::byte>(w.bytes().begin(), w.bytes().end()), kSrSdes);

  RtcpWriter f(out);
  const std::array<FirEntry, 1> fir{{{9, 42}}};
  const std::array<uint32_t, 1> ssrcs{9};
  ASSERT_TRUE(f.pli(1, 2));
  ASSERT_TRUE(f.fir(1, fir));
  ASSERT_TRUE(f.remb(1, 1'000'000, ssrcs));
  EXPECT_EQ(std::vector<std::byte>(f.bytes().begin(), f.bytes().end()), kPsfb);

  RtcpWriter n(out);
  const std::array<uint16_t, 6> seqs{100, 101, 103, 116, 65535, 0};
  ASSERT_TRUE(n.nack(1, 2, seqs));
  EXPECT_EQ(std::vector<std::byte>(n.bytes().begin(), n.bytes().end()), kNack);
}

TEST(RtcpWriter, CompoundRoundTripsEveryBuilder) {
  std::array<std::byte, 1500> out{};
  RtcpWriter w(out);
  std::vector<ReportBlock> blocks;
  for (uint32_t i = 0; i < 31; ++i) {
    blocks.push_back(
        {i, static_cast<uint8_t>(i), -static_cast<int32_t>(i) * 1000, i << 16, i, ~i, i * 3});
  }
  blocks[0].cumulative_lost = 0x7fffff;
  blocks[1].cumulative_lost = -0x800000;
  const SenderInfo info{0x0123456789abcdefull, 1, 2, 3};
  const std::array<uint32_t, 3> bye_ssrcs{1, 2, 3};
  const std::array<uint16_t, 5> seqs{10, 11, 30, 31, 46};
  const std::array<FirEntry, 2> fir{{{5, 1}, {6, 255}}};
  const std::array<uint32_t, 2> remb_ssrcs{7, 8};
  const std::string cname(255, 'c');
  ASSERT_TRUE(w.sender_report(1, info, blocks));
  ASSERT_TRUE(w.receiver_report(2, std::span(blocks).first(3)));
  ASSERT_TRUE(w.receiver_report(3));
  ASSERT_TRUE(w.sdes_cname(1, cname));
  ASSERT_TRUE(w.bye(bye_ssrcs, "bye now"));
  ASSERT_TRUE(w.bye({}));
  ASSERT_TRUE(w.nack(1, 2, seqs));
  ASSERT_TRUE(w.pli(1, 2));
  ASSERT_TRUE(w.fir(1, fir));
  ASSERT_TRUE(w.remb(1, (uint64_t{0x3ffff} << 40), remb_ssrcs));
  ASSERT_FALSE(w.error());

  std::optional<Error> error;
  const auto p = read_all(w.bytes(), &error);
  ASSERT_FALSE(error) << describe(*error);
  ASSERT_EQ(p.size(), 10u);

  const auto sr = parse_sender_report(p[0]);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->info, info);
  ASSERT_EQ(sr->reports.size(), 31u);
  for (std::size_t i = 0; i < 31; ++i) EXPECT_EQ(sr->reports[i], blocks[i]) << i;
  const auto rr = parse_receiver_report(p[1]);
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->ssrc, 2u);
  ASSERT_EQ(rr->reports.size(), 3u);
  EXPECT_EQ(rr->reports[2], blocks[2]);
  ASSERT_TRUE(parse_receiver_report(p[2]));
  EXPECT_EQ(parse_receiver_report(p[2])->reports.size(), 0u);
  EXPECT_EQ(parse_sdes(p[3])->cname(1), cname);
  const auto bye = parse_bye(p[4]);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->size(), 3u);
  EXPECT_EQ(bye->reason, "bye now");
  EXPECT_EQ(parse_bye(p[5])->size(), 0u);
  std::vector<uint16_t> nacked;
  parse_nack(p[6])->for_each_sequence([&](uint16_t s) { nacked.push_back(s); });
  EXPECT_EQ(nacked, (std::vector<uint16_t>(seqs.begin(), seqs.end())));
  EXPECT_EQ(parse_nack(p[6])->entry_count(), 2u);  // 10 (+11), 30 (+31, 46)
  EXPECT_EQ(parse_pli(p[7])->media_ssrc, 2u);
  const auto f = parse_fir(p[8]);
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[1], (FirEntry{6, 255}));
  const auto remb = parse_remb(p[9]);
  EXPECT_EQ(remb->bitrate_bps, uint64_t{0x3ffff} << 40);
  EXPECT_EQ(remb->ssrc(1), 8u);

  // Every prefix of the written compound reads in bounds.
  test::for_each_prefix(w.bytes(), [](std::span<const std::byte> prefix, std::size_t) {
    RtcpReader reader(prefix);
    RtcpPacket packet;
    while (reader.next(packet)) (void)parse_by_kind(packet);
  });
}

TEST(RtcpWriter, RembRoundsTheBitrateDown) {
  std::array<std::byte, 64> out{};
  for (const uint64_t bps :
       {0ull, 1ull, 262143ull, 262144ull, 1'000'001ull, 123'456'789ull, ~0ull}) {
    RtcpWriter w(out);
    ASSERT_TRUE(w.remb(1, bps, {}));
    const auto remb = parse_remb(read_all(w.bytes()).at(0));
    ASSERT_TRUE(remb) << describe(remb.error());
    EXPECT_LE(remb->bitrate_bps, bps);
    EXPECT_GE(remb->bitrate_bps, bps - (bps >> 17));  // 18 significant bits kept
  }
}

TEST(RtcpWriter, NackGroupsAcrossTheWrap) {
  std::array<std::byte, 64> out{};
  RtcpWriter w(out);
  const std::array<uint16_t, 8> seqs{100, 101, 103, 116, 117, 65535, 0, 1};
  ASSERT_TRUE(w.nack(1, 2, seqs));
  const auto nack = parse_nack(read_all(w.bytes()).at(0));
  ASSERT_TRUE(nack);
  EXPECT_EQ(nack->entry_count(), 3u);  // 100 (+101, 103, 116), 117, 65535 (+0, 1)
  std::vector<uint16_t> back;
  nack->for_each_sequence([&](uint16_t s) { back.push_back(s); });
  EXPECT_EQ(back, (std::vector<uint16_t>(seqs.begin(), seqs.end())));
}

TEST(RtcpWriter, FailsWithoutWritingPastTheBufferAndStaysFailed) {
  std::array<std::byte, 256> big{};
  RtcpWriter sizing(big);
  ASSERT_TRUE(sizing.receiver_report(1));
  ASSERT_TRUE(sizing.sdes_cname(1, "x"));
  const std::size_t rr = 8, need = sizing.size();
  for (std::size_t n = 0; n < need; ++n) {
    std::vector<std::byte> out(n + 8, std::byte{0x5a});
    RtcpWriter w{std::span(out).first(n)};
    const bool first = w.receiver_report(1);
    EXPECT_EQ(first, n >= rr);
    EXPECT_FALSE(w.sdes_cname(1, "x"));
    ASSERT_TRUE(w.error());
    EXPECT_EQ(w.error()->code, ErrorCode::buffer_too_small);
    EXPECT_FALSE(w.pli(1, 2));  // sticky
    EXPECT_EQ(w.size(), first ? rr : 0u);
    for (std::size_t i = w.size(); i < out.size(); ++i) EXPECT_EQ(out[i], std::byte{0x5a}) << n;
  }
}

TEST(RtcpWriter, RefusesWhatTheWireCannotCarry) {
  std::array<std::byte, 4096> out{};
  const std::vector<ReportBlock> blocks(32);
  const std::vector<uint32_t> ssrcs(32);
  const auto refused = [&](auto&& call) {
    RtcpWriter w(out);
    EXPECT_FALSE(call(w));
    return w.error() ? w.error()->code : ErrorCode::truncated;
  };
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.sender_report(1, {}, blocks); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.receiver_report(1, blocks); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.sdes_cname(1, ""); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.sdes_cname(1, std::string(256, 'a')); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.bye(ssrcs); }), ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.nack(1, 2, {}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(refused([&](RtcpWriter& w) { return w.fir(1, {}); }), ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace peer::rtp
