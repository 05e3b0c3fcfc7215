// Opus through libopus at 48 kHz: a 440 Hz tone keeps its level and its pitch, a lost packet
// is concealed, bad input is refused. Also the tone generator and the level helpers.
// Lives in the unit_media binary.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "media/analysis.hpp"
#include "media/audio_source.hpp"
#include "media/opus.hpp"
#include "peer/error.hpp"

namespace peer::media {
namespace {

constexpr std::size_t k20ms = 960;  // samples per channel at 48 kHz

// Share of the signal's power at `hz` (Goertzel), 0..1, for one channel of interleaved PCM.
double share_at(std::span<const int16_t> pcm, int channels, double hz, int rate = 48000) {
  const double w = 2 * std::numbers::pi * hz / rate;
  double s1 = 0, s2 = 0, total = 0;
  const std::size_t n = pcm.size() / std::size_t(channels);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = pcm[i * std::size_t(channels)];
    total += x * x;
    const double s = x + 2 * std::cos(w) * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const double power = s1 * s1 + s2 * s2 - 2 * std::cos(w) * s1 * s2;  // |X(k)|^2
  return total > 0 ? power / (double(n) * total / 2) : 0;
}

void round_trip_tone(int channels, OpusApplication app) {
  OpusConfig c;
  c.channels = channels;
  c.application = app;
  c.bitrate_bps = channels == 1 ? 32000 : 64000;
  OpusEncoder encoder(c);
  OpusDecoder decoder(48000, channels);
  ASSERT_EQ(encoder.frame_samples(), k20ms * std::size_t(channels));
  ToneGenerator tone(440, 48000, channels, 0.5);
  std::vector<int16_t> in(encoder.frame_samples()), out(encoder.frame_samples());
  std::array<uint8_t, kMaxOpusPacket> packet{};
  std::vector<int16_t> all_in, all_out;
  for (int i = 0; i < 50; ++i) {  // 1 s
    tone.next(in);
    const auto n = encoder.encode(in, packet);
    ASSERT_TRUE(n) << n.message();
    EXPECT_GT(*n, 10u);
    EXPECT_LT(*n, 400u);  // 32..64 kbit/s is 80..160 bytes a frame
    const auto got = decoder.decode(std::span(packet.data(), *n), out);
    ASSERT_TRUE(got) << got.message();
    EXPECT_EQ(*got, k20ms);
    if (i >= 5) {  // past the encoder's start-up
      all_in.insert(all_in.end(), in.begin(), in.end());
      all_out.insert(all_out.end(), out.begin(), out.end());
    }
  }
  EXPECT_FALSE(is_silence(all_out));
  const double ratio = rms(all_out) / rms(all_in);
  EXPECT_GT(ratio, 0.8);
  EXPECT_LT(ratio, 1.2);
  // Most of the decoded power is still at 440 Hz, on every channel.
  for (int ch = 0; ch < channels; ++ch) {
    EXPECT_GT(share_at(std::span(all_out).subspan(std::size_t(ch)), channels, 440), 0.9) << ch;
  }
  std::printf("%d channel(s): level ratio %.3f, share at 440 Hz %.3f\n", channels, ratio,
              share_at(all_out, channels, 440));
}

TEST(Opus, ToneRoundTripMonoVoip) { round_trip_tone(1, OpusApplication::voip); }
TEST(Opus, ToneRoundTripStereoAudio) { round_trip_tone(2, OpusApplication::audio); }

// A 440 Hz tone through an encoder and a decoder, 20 ms at a time.
struct ToneLink {
  explicit ToneLink(const OpusConfig& c = {}) : encoder(c) {}
  // Encodes the next 20 ms of tone; the packet (empty when encoding failed) lives until the
  // next call.
  std::span<const uint8_t> encode_next() {
    tone.next(in);
    const auto n = encoder.encode(in, packet);
    return n ? std::span<const uint8_t>(packet.data(), *n) : std::span<const uint8_t>{};
  }
  // Encodes and decodes `frames` frames; false at the first failure.
  bool pass(int frames) {
    for (int i = 0; i < frames; ++i) {
      const auto p = encode_next();
      if (p.empty() || !decoder.decode(p, out)) return false;
    }
    return true;
  }
  OpusEncoder encoder;
  OpusDecoder decoder;
  ToneGenerator tone{440};
  std::vector<int16_t> in = std::vector<int16_t>(k20ms);
  std::vector<int16_t> out = std::vector<int16_t>(k20ms);
  std::array<uint8_t, kMaxOpusPacket> packet{};
};

TEST(Opus, LostPacketIsConcealed) {
  ToneLink link;
  ASSERT_TRUE(link.pass(10));
  // Packet 10 is lost: PLC continues the tone rather than dropping to silence.
  ASSERT_FALSE(link.encode_next().empty());
  auto& out = link.out;
  std::fill(out.begin(), out.end(), int16_t{0});
  const auto concealed = link.decoder.conceal(out);
  ASSERT_TRUE(concealed) << concealed.message();
  EXPECT_EQ(*concealed, k20ms);
  EXPECT_FALSE(is_silence(out));
  EXPECT_GT(rms(out), 0.1);
  // An empty packet means the same.
  std::fill(out.begin(), out.end(), int16_t{0});
  const auto empty = link.decoder.decode({}, out);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, k20ms);
  // And the stream goes on.
  ASSERT_TRUE(link.pass(1));
  EXPECT_FALSE(is_silence(out));
  // Concealing 1 ms (not a multiple of 2.5 ms) is refused.
  std::vector<int16_t> odd(48);
  EXPECT_EQ(link.decoder.conceal(odd).code(), ErrorCode::invalid_argument);
}

TEST(Opus, InbandFecRebuildsALostPacket) {
  OpusConfig c;
  c.inband_fec = true;
  c.expected_loss_pct = 20;
  ToneLink link(c);
  ASSERT_TRUE(link.pass(20));
  ASSERT_FALSE(link.encode_next().empty());  // lost
  const auto next = link.encode_next();
  ASSERT_FALSE(next.empty());
  const auto fec = link.decoder.decode_fec(next, link.out);
  ASSERT_TRUE(fec) << fec.message();
  EXPECT_EQ(*fec, k20ms);
  EXPECT_FALSE(is_silence(link.out));
  ASSERT_TRUE(link.decoder.decode(next, link.out));
}

TEST(Opus, BadInputIsRefused) {
  OpusEncoder encoder;
  std::vector<int16_t> short_frame(100);
  std::array<uint8_t, kMaxOpusPacket> packet{};
  const auto e = encoder.encode(short_frame, packet);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(e.message().find("960"), std::string::npos) << e.message();
  EXPECT_EQ(encoder.set_bitrate(1000).code(), ErrorCode::invalid_argument);
  EXPECT_TRUE(encoder.set_bitrate(64000));
  EXPECT_EQ(encoder.config().bitrate_bps, 64000);

  OpusDecoder decoder;
  std::vector<int16_t> out(k20ms);
  // TOC code 3 (arbitrary frame count) with a count byte of 0 frames: malformed (RFC 6716 3.2.5).
  const std::array<uint8_t, 2> bad{0x03, 0x00};
  const auto d = decoder.decode(bad, out);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), ErrorCode::corrupt);

  OpusConfig c;
  c.sample_rate = 44100;
  EXPECT_THROW(OpusEncoder{c}, peer::Error);
  EXPECT_THROW(OpusDecoder(48000, 3), peer::Error);
}

TEST(Audio, ToneAndLevels) {
  ToneGenerator tone(1000, 48000, 2, 1.0);
  std::vector<int16_t> pcm(2 * 4800);
  tone.next(pcm);
  EXPECT_EQ(pcm[0], 0);
  EXPECT_EQ(pcm[0], pcm[1]);
  EXPECT_NEAR(rms(pcm), 1 / std::sqrt(2.0), 0.01);  // a full-scale sine
  EXPECT_NEAR(rms_dbfs(pcm), -3.01, 0.05);
  EXPECT_GT(share_at(pcm, 2, 1000), 0.98);
  std::vector<int16_t> quiet(960, 0);
  EXPECT_TRUE(is_silence(quiet));
  EXPECT_EQ(rms_dbfs(quiet), -200);
  quiet[5] = 3;  // dither-level noise is still silence
  EXPECT_TRUE(is_silence(quiet));
  EXPECT_THROW(ToneGenerator(30000, 48000), peer::Error);
}

// Not a check: the cost of one 20 ms frame (mono, 32 kbit/s, complexity 9), for the docs.
TEST(Opus, TimingPerFrame) {
  OpusEncoder encoder;
  OpusDecoder decoder;
  ToneGenerator tone(440);
  std::vector<int16_t> in(k20ms), out(k20ms);
  std::array<uint8_t, kMaxOpusPacket> packet{};
  std::vector<double> enc_us, dec_us;
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 100; ++i) {
    tone.next(in);
    const auto t0 = clock::now();
    const auto n = encoder.encode(in, packet);
    const auto t1 = clock::now();
    ASSERT_TRUE(n);
    ASSERT_TRUE(decoder.decode(std::span(packet.data(), *n), out));
    const auto t2 = clock::now();
    enc_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    dec_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  std::sort(enc_us.begin(), enc_us.end());
  std::sort(dec_us.begin(), dec_us.end());
  std::printf("Opus 20 ms mono 32 kbit/s, median of 100: encode %.1f us, decode %.1f us\n",
              enc_us[50], dec_us[50]);
}

}  // namespace
}  // namespace peer::media
