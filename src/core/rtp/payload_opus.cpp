// The Opus RTP payload format (RFC 7587) and the TOC byte (RFC 6716 section 3.1).

#include "core/rtp/payload_opus.hpp"

namespace peer::rtp {

namespace {

constexpr Error err(ErrorCode code, std::size_t offset, const char* message) noexcept {
  return Error{code, offset, message};
}

constexpr uint32_t kMaxPacketSamples = 5760;  // 120 ms at 48 kHz (RFC 6716 section 3.4, R5)

}  // namespace

Result<OpusToc> parse_opus_toc(std::span<const std::byte> packet) noexcept {
  if (packet.empty()) {
    return err(ErrorCode::truncated, 0,
               "Opus packet: empty, no TOC byte (RFC 6716 section 3.4, R1)");
  }
  const uint8_t toc = detail::u8(packet, 0);
  OpusToc t;
  t.config = toc >> 3;
  t.stereo = (toc & 0x04) != 0;
  t.code = toc & 0x03;
  // Table 2 of RFC 6716 section 3.1.
  static constexpr uint32_t kSilk[4] = {480, 960, 1920, 2880};  // 10, 20, 40, 60 ms
  static constexpr uint32_t kCelt[4] = {120, 240, 480, 960};    // 2.5, 5, 10, 20 ms
  if (t.config < 12) {
    t.mode = OpusMode::silk;
    t.bandwidth = static_cast<OpusBandwidth>(t.config / 4);  // NB, MB, WB
    t.frame_samples = kSilk[t.config % 4];
  } else if (t.config < 16) {
    t.mode = OpusMode::hybrid;
    t.bandwidth = t.config < 14 ? OpusBandwidth::super_wide : OpusBandwidth::full;
    t.frame_samples = t.config % 2 == 0 ? 480 : 960;  // 10, 20 ms
  } else {
    t.mode = OpusMode::celt;
    static constexpr OpusBandwidth kCeltBandwidth[4] = {
        OpusBandwidth::narrow, OpusBandwidth::wide, OpusBandwidth::super_wide,
        OpusBandwidth::full};
    t.bandwidth = kCeltBandwidth[(t.config - 16) / 4];
    t.frame_samples = kCelt[t.config % 4];
  }
  if (t.code == 0) {
    t.frame_count = 1;
  } else if (t.code < 3) {
    t.frame_count = 2;
  } else {
    if (packet.size() < 2) {
      return err(ErrorCode::truncated, 1,
                 "Opus packet: code 3 without its frame count byte (RFC 6716 section 3.2.5, "
                 "R6)");
    }
    t.frame_count = detail::u8(packet, 1) & 0x3f;
    if (t.frame_count == 0) {
      return err(ErrorCode::bad_field, 1,
                 "Opus packet: code 3 frame count M is 0 (RFC 6716 section 3.2.5, R5)");
    }
  }
  if (t.samples() > kMaxPacketSamples) {
    return err(ErrorCode::bad_field, t.code == 3 ? 1 : 0,
               "Opus packet: frames add up to more than 120 ms (RFC 6716 section 3.2.5, R5)");
  }
  return t;
}

Result<OpusPayload> packetize_opus(std::span<const std::byte> packet,
                                   bool after_silence) noexcept {
  const auto toc = parse_opus_toc(packet);
  if (!toc) return toc.error();
  return OpusPayload{packet, after_silence, toc->samples()};
}

}  // namespace peer::rtp
