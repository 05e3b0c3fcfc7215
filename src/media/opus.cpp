#include "media/opus.hpp"

#include <fmt/format.h>
#include <opus.h>

#include <utility>

#include "peer/error.hpp"

namespace peer::media {
namespace {

bool valid_rate(int rate) {
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

void bad(const std::string& what) { throw peer::Error(Errc::invalid_argument, what); }

}  // namespace

OpusEncoder::OpusEncoder(const OpusConfig& c) : config_(c) {
  if (!valid_rate(c.sample_rate)) bad(fmt::format("OpusEncoder: sample rate {} is not one Opus has", c.sample_rate));
  if (c.channels != 1 && c.channels != 2) bad(fmt::format("OpusEncoder: {} channels: 1 or 2", c.channels));
  if (c.frame_ms != 10 && c.frame_ms != 20 && c.frame_ms != 40 && c.frame_ms != 60)
    bad(fmt::format("OpusEncoder: frame of {} ms: 10, 20, 40 or 60", c.frame_ms));
  if (c.bitrate_bps < 6000 || c.bitrate_bps > 510000)
    bad(fmt::format("OpusEncoder: bitrate {} bit/s is not within 6000..510000", c.bitrate_bps));
  if (c.complexity < 0 || c.complexity > 10)
    bad(fmt::format("OpusEncoder: complexity {} is not within 0..10", c.complexity));
  if (c.expected_loss_pct < 0 || c.expected_loss_pct > 100)
    bad(fmt::format("OpusEncoder: expected loss {}% is not within 0..100", c.expected_loss_pct));
  int err = OPUS_OK;
  const int app = c.application == OpusApplication::voip ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO;
  enc_ = opus_encoder_create(c.sample_rate, c.channels, app, &err);
  if (err != OPUS_OK || enc_ == nullptr) {
    throw peer::Error(Errc::internal, fmt::format("OpusEncoder: {}", opus_strerror(err)));
  }
  opus_encoder_ctl(enc_, OPUS_SET_BITRATE(c.bitrate_bps));
  opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(c.complexity));
  opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(c.inband_fec ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(c.expected_loss_pct));
}

OpusEncoder::~OpusEncoder() {
  if (enc_) opus_encoder_destroy(enc_);
}
OpusEncoder::OpusEncoder(OpusEncoder&& o) noexcept
    : enc_(std::exchange(o.enc_, nullptr)), config_(o.config_) {}
OpusEncoder& OpusEncoder::operator=(OpusEncoder&& o) noexcept {
  std::swap(enc_, o.enc_);
  std::swap(config_, o.config_);
  return *this;
}

std::size_t OpusEncoder::frame_samples() const noexcept {
  return std::size_t(config_.sample_rate / 1000 * config_.frame_ms * config_.channels);
}

Result<std::size_t> OpusEncoder::encode(std::span<const int16_t> pcm, std::span<uint8_t> packet) {
  if (pcm.size() != frame_samples()) {
    return Error{ErrorCode::invalid_argument,
                 fmt::format("Opus: {} samples given, a {} ms frame of {} channel(s) at {} Hz is {}",
                             pcm.size(), config_.frame_ms, config_.channels, config_.sample_rate,
                             frame_samples())};
  }
  const int n = opus_encode(enc_, pcm.data(), int(pcm.size()) / config_.channels, packet.data(),
                            opus_int32(std::min<std::size_t>(packet.size(), 1 << 20)));
  if (n < 0) {
    return Error{n == OPUS_BUFFER_TOO_SMALL ? ErrorCode::invalid_argument : ErrorCode::codec,
                 fmt::format("Opus: encode into {} bytes failed: {}", packet.size(), opus_strerror(n))};
  }
  return std::size_t(n);
}

Status OpusEncoder::set_bitrate(int bps) {
  if (bps < 6000 || bps > 510000) {
    return {ErrorCode::invalid_argument, fmt::format("Opus: bitrate {} bit/s is not within 6000..510000", bps)};
  }
  if (const int e = opus_encoder_ctl(enc_, OPUS_SET_BITRATE(bps)); e != OPUS_OK) {
    return {ErrorCode::codec, fmt::format("Opus: cannot set bitrate {}: {}", bps, opus_strerror(e))};
  }
  config_.bitrate_bps = bps;
  return {};
}

OpusDecoder::OpusDecoder(int sample_rate, int channels) : rate_(sample_rate), channels_(channels) {
  if (!valid_rate(sample_rate)) bad(fmt::format("OpusDecoder: sample rate {} is not one Opus has", sample_rate));
  if (channels != 1 && channels != 2) bad(fmt::format("OpusDecoder: {} channels: 1 or 2", channels));
  int err = OPUS_OK;
  dec_ = opus_decoder_create(sample_rate, channels, &err);
  if (err != OPUS_OK || dec_ == nullptr) {
    throw peer::Error(Errc::internal, fmt::format("OpusDecoder: {}", opus_strerror(err)));
  }
}

OpusDecoder::~OpusDecoder() {
  if (dec_) opus_decoder_destroy(dec_);
}
OpusDecoder::OpusDecoder(OpusDecoder&& o) noexcept
    : dec_(std::exchange(o.dec_, nullptr)), rate_(o.rate_), channels_(o.channels_) {}
OpusDecoder& OpusDecoder::operator=(OpusDecoder&& o) noexcept {
  std::swap(dec_, o.dec_);
  std::swap(rate_, o.rate_);
  std::swap(channels_, o.channels_);
  return *this;
}

Result<std::size_t> OpusDecoder::run(const uint8_t* data, std::size_t size, std::span<int16_t> pcm,
                                     bool fec) {
  const int frames = int(pcm.size()) / channels_;
  // For loss (data == nullptr) and FEC, libopus fills exactly `frames`, which must be a
  // multiple of 2.5 ms.
  if ((data == nullptr || fec) && (frames == 0 || (frames * 400) % rate_ != 0)) {
    return Error{ErrorCode::invalid_argument,
                 fmt::format("Opus: concealment of {} samples per channel is not a multiple of 2.5 ms "
                             "at {} Hz",
                             frames, rate_)};
  }
  const int n = opus_decode(dec_, data, opus_int32(size), pcm.data(), frames, fec ? 1 : 0);
  if (n < 0) {
    return Error{n == OPUS_BUFFER_TOO_SMALL ? ErrorCode::invalid_argument : ErrorCode::corrupt,
                 fmt::format("Opus: cannot decode a packet of {} bytes into {} samples per channel: {}",
                             size, frames, opus_strerror(n))};
  }
  return std::size_t(n);
}

Result<std::size_t> OpusDecoder::decode(std::span<const uint8_t> packet, std::span<int16_t> pcm) {
  if (packet.empty()) return conceal(pcm);
  return run(packet.data(), packet.size(), pcm, false);
}

Result<std::size_t> OpusDecoder::conceal(std::span<int16_t> pcm) { return run(nullptr, 0, pcm, false); }

Result<std::size_t> OpusDecoder::decode_fec(std::span<const uint8_t> next_packet, std::span<int16_t> pcm) {
  if (next_packet.empty()) return conceal(pcm);
  return run(next_packet.data(), next_packet.size(), pcm, true);
}

}  // namespace peer::media
