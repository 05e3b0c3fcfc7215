#pragma once
// Opus (RFC 6716) encoder and decoder (libopus), 16-bit interleaved PCM.
//
// Frames are 20 ms by default (960 samples per channel at 48 kHz), as WebRTC sends them.
// A missing packet is concealed (packet loss concealment: the decoder extrapolates from
// what it had) with conceal(), which a jitter buffer calls for each lost 20 ms.
//
// Cost: the constructors allocate libopus's state (one block each); encode() and decode()
// allocate nothing: they write into the caller's buffers.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "media/status.hpp"

struct OpusEncoder;  // libopus's opaque types
struct OpusDecoder;

namespace peer::media {

// The largest packet one Opus frame can make (RFC 6716 section 3.4, R5: 1275 bytes of
// frame plus the TOC byte); a buffer of this size never fails for lack of room.
inline constexpr std::size_t kMaxOpusPacket = 1276;

enum class OpusApplication { voip, audio };

struct OpusConfig {
  int sample_rate = 48000;  // 8000, 12000, 16000, 24000 or 48000
  int channels = 1;         // 1 or 2
  int frame_ms = 20;        // 10, 20, 40 or 60
  int bitrate_bps = 32000;  // 6000..510000, settable later
  OpusApplication application = OpusApplication::voip;
  int complexity = 9;       // 0..10
  bool inband_fec = false;  // LBRR: lets the next packet rebuild a lost one (RFC 6716 2.1.7)
  int expected_loss_pct = 0;
};

class OpusEncoder {
 public:
  // Throws peer::Error(invalid_argument) for a config out of range.
  explicit OpusEncoder(const OpusConfig& config = {});
  ~OpusEncoder();
  OpusEncoder(const OpusEncoder&) = delete;
  OpusEncoder& operator=(const OpusEncoder&) = delete;
  OpusEncoder(OpusEncoder&&) noexcept;
  OpusEncoder& operator=(OpusEncoder&&) noexcept;

  // Interleaved samples in one frame: frame_ms * sample_rate / 1000 * channels.
  std::size_t frame_samples() const noexcept;
  // Encodes exactly one frame of PCM into `packet`; returns the packet's size in bytes.
  Result<std::size_t> encode(std::span<const int16_t> pcm, std::span<uint8_t> packet);
  Status set_bitrate(int bps);
  const OpusConfig& config() const noexcept { return config_; }

 private:
  ::OpusEncoder* enc_ = nullptr;
  OpusConfig config_;
};

class OpusDecoder {
 public:
  // Throws peer::Error(invalid_argument) for a rate or channel count Opus does not have.
  explicit OpusDecoder(int sample_rate = 48000, int channels = 1);
  ~OpusDecoder();
  OpusDecoder(const OpusDecoder&) = delete;
  OpusDecoder& operator=(const OpusDecoder&) = delete;
  OpusDecoder(OpusDecoder&&) noexcept;
  OpusDecoder& operator=(OpusDecoder&&) noexcept;

  // Decodes one packet into `pcm` (interleaved; room for up to 120 ms is always enough);
  // returns the samples per channel written. A damaged packet is `corrupt`; an empty one
  // is concealed like a lost one.
  Result<std::size_t> decode(std::span<const uint8_t> packet, std::span<int16_t> pcm);
  // Conceals one lost packet: fills all of `pcm` (its size per channel must be a multiple
  // of 2.5 ms, e.g. 960 samples for 20 ms at 48 kHz) and returns the samples per channel.
  Result<std::size_t> conceal(std::span<int16_t> pcm);
  // Rebuilds a lost packet from the in-band FEC of the packet after it, when the sender
  // had inband_fec on (otherwise this conceals). `pcm` sized as for conceal().
  Result<std::size_t> decode_fec(std::span<const uint8_t> next_packet, std::span<int16_t> pcm);
  int sample_rate() const noexcept { return rate_; }
  int channels() const noexcept { return channels_; }

 private:
  Result<std::size_t> run(const uint8_t* data, std::size_t size, std::span<int16_t> pcm, bool fec);
  ::OpusDecoder* dec_ = nullptr;
  int rate_ = 48000;
  int channels_ = 1;
};

}  // namespace peer::media
