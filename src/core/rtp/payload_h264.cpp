// The H.264 RTP payload format (RFC 6184), packetization-mode 1.
//
// Rules, and why:
// - Annex B: a NAL unit ends where the next start code begins; its trailing zero bytes are
//   the stream's (trailing_zero_8bits, or the leading zero of a 4-byte start code), not
//   its own, since a NAL unit ends with the rbsp stop bit. So splitting what
//   depacketize_h264() wrote gives back the NAL units that were packetized.
// - Packetizer, as libwebrtc's mode 1: consecutive NAL units that fit together go in one
//   STAP-A (its NRI the largest, F the OR of theirs, section 5.7.1); a NAL unit larger than
//   the budget goes in FU-A fragments of balanced sizes (section 5.8). Types 0 and 24..31
//   are refused: on the wire they would read as aggregation or fragmentation packets.
// - Depacketizer: every length is checked before a byte is copied. S and E both set in one
//   FU header is an error (section 5.8: "MUST NOT"), as is an empty fragment or STAP-A
//   unit. Interleaved-mode packets (STAP-B, MTAP16, MTAP24, FU-B) are refused by name.

#include "core/rtp/payload_h264.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace peer::rtp {

using detail::u16;
using detail::u8;

namespace {

constexpr Error err(ErrorCode code, std::size_t offset, const char* message) noexcept {
  return Error{code, offset, message};
}

constexpr std::array<std::byte, 4> kStartCode{std::byte{0}, std::byte{0}, std::byte{0},
                                              std::byte{1}};
constexpr uint8_t kTypeMask = 0x1f, kFMask = 0x80, kNriMask = 0x60;
constexpr uint8_t kFuS = 0x80, kFuE = 0x40;
constexpr std::size_t kNpos = static_cast<std::size_t>(-1);

// Index of the first 00 00 01 at or after `from`, or kNpos.
std::size_t find_start_code(std::span<const std::byte> s, std::size_t from) noexcept {
  for (std::size_t i = from; i + 2 < s.size(); ++i) {
    if (u8(s, i + 2) > 1) {
      i += 2;  // no start code can end at i+2, nor begin at i+1 or i+2 with a 00 00 01
      continue;
    }
    if (u8(s, i) == 0 && u8(s, i + 1) == 0 && u8(s, i + 2) == 1) return i;
  }
  return kNpos;
}

bool keyframe_type(uint8_t type) noexcept { return type == kH264NalIdr || type == kH264NalSps; }

// The error for a payload header or aggregated type that mode 1 cannot carry, if any.
const char* unsupported_type(uint8_t type) noexcept {
  switch (type) {
    case 0:
      return "H.264 payload: NAL unit type 0 is undefined (RFC 6184 section 5.2)";
    case 25:
      return "H.264 payload: STAP-B (type 25) needs the interleaved packetization mode, "
             "not supported (RFC 6184 section 5.7.1)";
    case 26:
      return "H.264 payload: MTAP16 (type 26) needs the interleaved packetization mode, "
             "not supported (RFC 6184 section 5.7.2)";
    case 27:
      return "H.264 payload: MTAP24 (type 27) needs the interleaved packetization mode, "
             "not supported (RFC 6184 section 5.7.2)";
    case 29:
      return "H.264 payload: FU-B (type 29) needs the interleaved packetization mode, "
             "not supported (RFC 6184 section 5.8)";
    case 30:
    case 31:
      return "H.264 payload: NAL unit type 30 or 31 is undefined (RFC 6184 section 5.2)";
    default:
      return nullptr;
  }
}

// Type of a NAL unit carried whole or in fragments: 1..23 only.
bool carried_type(uint8_t type) noexcept { return type >= 1 && type <= 23; }

}  // namespace

std::span<const std::byte> next_nal_unit(std::span<const std::byte>& stream) noexcept {
  for (;;) {
    const std::size_t start = find_start_code(stream, 0);
    if (start == kNpos) {
      stream = {};
      return {};
    }
    const std::size_t begin = start + 3;
    const std::size_t next = find_start_code(stream, begin);
    std::size_t end = next == kNpos ? stream.size() : next;
    while (end > begin && u8(stream, end - 1) == 0) --end;
    const auto nal = stream.subspan(begin, end - begin);
    stream = stream.subspan(next == kNpos ? stream.size() : next);
    if (!nal.empty()) return nal;
  }
}

// --- H264Packetizer -------------------------------------------------------------------

Result<H264Packetizer> H264Packetizer::create(std::span<const std::byte> annexb,
                                              std::size_t max_payload) noexcept {
  if (max_payload < 3) {
    return err(ErrorCode::invalid_argument, 0,
               "H.264 packetizer: max payload under 3 bytes (an FU-A needs 2 and 1 of data)");
  }
  H264Packetizer p;
  p.stream_ = annexb;
  p.rest_ = annexb;
  p.max_ = max_payload;
  p.nal_ = next_nal_unit(p.rest_);
  if (p.nal_.empty()) {
    return err(ErrorCode::invalid_argument, 0,
               "H.264 packetizer: no NAL unit in the Annex B stream (no 00 00 01)");
  }
  // A dry run checks every NAL unit and counts the payloads, so that an error comes before
  // anything is sent.
  H264Packetizer dry = p;
  while (!dry.done()) {
    const auto step = dry.step({}, false);
    if (!step) return step.error();
    ++p.count_;
  }
  return p;
}

Result<PacketizedPayload> H264Packetizer::next(std::span<std::byte> out) noexcept {
  if (done()) return err(ErrorCode::invalid_argument, 0, "H.264 packetizer: no payload left");
  return step(out, true);
}

Result<PacketizedPayload> H264Packetizer::step(std::span<std::byte> out, bool write) noexcept {
  const auto offset_of = [&](std::span<const std::byte> nal) {
    return static_cast<std::size_t>(nal.data() - stream_.data());
  };
  const auto check = [&](std::span<const std::byte> nal) -> std::optional<Error> {
    if (carried_type(u8(nal, 0) & kTypeMask)) return std::nullopt;
    return err(ErrorCode::invalid_argument, offset_of(nal),
               "H.264 packetizer: NAL unit of type 0 or 24..31 cannot be sent "
               "(RFC 6184 section 5.2)");
  };
  if (auto bad = check(nal_)) return *bad;
  const uint8_t header = u8(nal_, 0);

  if (nal_.size() > max_) {  // FU-A (section 5.8)
    const std::size_t data_size = nal_.size() - 1;
    if (fu_count_ == 0) fu_count_ = (data_size + max_ - 3) / (max_ - 2);
    const std::size_t chunk = data_size / fu_count_ + (fu_index_ < data_size % fu_count_ ? 1 : 0);
    const bool last = fu_index_ + 1 == fu_count_;
    if (write) {
      if (out.size() < 2 + chunk) {
        return err(ErrorCode::buffer_too_small, out.size(),
                   "H.264 packetizer: the buffer cannot hold the next FU-A payload");
      }
      detail::put8(out, 0, (header & (kFMask | kNriMask)) | kH264FuA);
      detail::put8(out, 1, (fu_index_ == 0 ? kFuS : 0) | (last ? kFuE : 0) | (header & kTypeMask));
      std::memcpy(out.data() + 2, nal_.data() + 1 + fu_offset_, chunk);
    }
    fu_offset_ += chunk;
    ++fu_index_;
    if (last) {
      fu_index_ = fu_count_ = fu_offset_ = 0;
      nal_ = next_nal_unit(rest_);
    }
    return PacketizedPayload{2 + chunk, done()};
  }

  // The NAL units after nal_ that fit with it in one STAP-A (section 5.7.1).
  std::size_t count = 1;
  std::size_t stap_size = 1 + 2 + nal_.size();
  std::span<const std::byte> scan = rest_;  // the stream after `next`
  std::span<const std::byte> next = next_nal_unit(scan);
  while (!next.empty() && nal_.size() <= 0xffff && next.size() <= 0xffff &&
         stap_size + 2 + next.size() <= max_) {
    if (auto bad = check(next)) return *bad;
    stap_size += 2 + next.size();
    ++count;
    next = next_nal_unit(scan);
  }
  const std::size_t size = count == 1 ? nal_.size() : stap_size;
  if (write) {
    if (out.size() < size) {
      return err(ErrorCode::buffer_too_small, out.size(),
                 "H.264 packetizer: the buffer cannot hold the next payload");
    }
    if (count == 1) {
      std::memcpy(out.data(), nal_.data(), nal_.size());
    } else {
      uint8_t f = 0, nri = 0;
      std::size_t at = 1;
      std::span<const std::byte> walk = rest_;
      std::span<const std::byte> unit = nal_;
      for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) unit = next_nal_unit(walk);
        f |= u8(unit, 0) & kFMask;
        nri = std::max<uint8_t>(nri, u8(unit, 0) & kNriMask);
        detail::put16(out, at, static_cast<uint32_t>(unit.size()));
        std::memcpy(out.data() + at + 2, unit.data(), unit.size());
        at += 2 + unit.size();
      }
      detail::put8(out, 0, f | nri | kH264StapA);
    }
  }
  nal_ = next;
  rest_ = scan;
  return PacketizedPayload{size, done()};
}

// --- Depacketizer ---------------------------------------------------------------------

Result<H264Packet> parse_h264(std::span<const std::byte> payload) noexcept {
  if (payload.empty()) {
    return err(ErrorCode::truncated, 0,
               "H.264 payload: empty, no NAL unit header (RFC 6184 section 5.3)");
  }
  H264Packet p;
  const uint8_t type = u8(payload, 0) & kTypeMask;
  if (const char* bad = unsupported_type(type)) return err(ErrorCode::bad_field, 0, bad);
  if (type == kH264StapA) {
    p.kind = H264PacketKind::stap_a;
    p.nal_type = type;
    std::size_t at = 1;
    while (at < payload.size()) {
      if (payload.size() - at < 2) {
        return err(ErrorCode::truncated, at,
                   "H.264 STAP-A: NAL unit size cut by the end (RFC 6184 section 5.7.1)");
      }
      const std::size_t size = u16(payload, at);
      if (size == 0) {
        return err(ErrorCode::bad_field, at,
                   "H.264 STAP-A: NAL unit size 0 (RFC 6184 section 5.7.1)");
      }
      if (payload.size() - at - 2 < size) {
        return err(ErrorCode::truncated, at,
                   "H.264 STAP-A: NAL unit size runs past the end (RFC 6184 section 5.7.1)");
      }
      const uint8_t inner = u8(payload, at + 2) & kTypeMask;
      if (!carried_type(inner)) {
        return err(ErrorCode::bad_field, at + 2,
                   "H.264 STAP-A: aggregated NAL unit of type 0 or 24..31 "
                   "(RFC 6184 section 5.7.1)");
      }
      p.keyframe = p.keyframe || keyframe_type(inner);
      p.annexb_size += kStartCode.size() + size;
      ++p.nal_count;
      at += 2 + size;
    }
    if (p.nal_count == 0) {
      return err(ErrorCode::truncated, 1,
                 "H.264 STAP-A: no NAL unit after the header (RFC 6184 section 5.7.1)");
    }
    return p;
  }
  if (type == kH264FuA) {
    p.kind = H264PacketKind::fu_a;
    if (payload.size() < 2) {
      return err(ErrorCode::truncated, 1,
                 "H.264 FU-A: FU header cut by the end (RFC 6184 section 5.8)");
    }
    const uint8_t fu = u8(payload, 1);
    p.fu_start = (fu & kFuS) != 0;
    p.fu_end = (fu & kFuE) != 0;
    p.nal_type = fu & kTypeMask;
    if (p.fu_start && p.fu_end) {
      return err(ErrorCode::bad_field, 1,
                 "H.264 FU-A: start (S) and end (E) bits both set (RFC 6184 section 5.8)");
    }
    if (!carried_type(p.nal_type)) {
      return err(ErrorCode::bad_field, 1,
                 "H.264 FU-A: fragmented NAL unit of type 0 or 24..31 (RFC 6184 section 5.8)");
    }
    if (payload.size() < 3) {
      return err(ErrorCode::truncated, 2,
                 "H.264 FU-A: no fragment after the FU header (RFC 6184 section 5.8)");
    }
    p.keyframe = keyframe_type(p.nal_type);
    p.nal_count = p.fu_start ? 1 : 0;
    p.annexb_size = (payload.size() - 2) + (p.fu_start ? kStartCode.size() + 1 : 0);
    return p;
  }
  p.kind = H264PacketKind::single_nal;
  p.nal_type = type;
  p.nal_count = 1;
  p.keyframe = keyframe_type(type);
  p.annexb_size = kStartCode.size() + payload.size();
  return p;
}

Result<std::size_t> depacketize_h264(std::span<const std::byte> payload,
                                     std::span<std::byte> out) noexcept {
  const auto p = parse_h264(payload);
  if (!p) return p.error();
  if (out.size() < p->annexb_size) {
    return err(ErrorCode::buffer_too_small, out.size(),
               "H.264 depacketizer: the buffer cannot hold the Annex B bytes");
  }
  std::byte* w = out.data();
  const auto put = [&](std::span<const std::byte> bytes) {
    std::memcpy(w, bytes.data(), bytes.size());
    w += bytes.size();
  };
  switch (p->kind) {
    case H264PacketKind::single_nal:
      put(kStartCode);
      put(payload);
      break;
    case H264PacketKind::stap_a:
      for (std::size_t at = 1; at < payload.size();) {
        const std::size_t size = u16(payload, at);
        put(kStartCode);
        put(payload.subspan(at + 2, size));
        at += 2 + size;
      }
      break;
    case H264PacketKind::fu_a:
      if (p->fu_start) {
        put(kStartCode);
        *w++ = static_cast<std::byte>((u8(payload, 0) & (kFMask | kNriMask)) | p->nal_type);
      }
      put(payload.subspan(2));
      break;
  }
  return p->annexb_size;
}

namespace {

// assemble_h264() and is_complete_h264_frame() in one: payload_at(i) gives the i-th of n
// payloads; with an empty `out` nothing is written and only the rules are checked.
template <class PayloadAt>
Result<H264Frame> walk_frame(std::size_t n, PayloadAt payload_at, std::span<std::byte> out,
                             bool write) noexcept {
  if (n == 0) return err(ErrorCode::invalid_argument, 0, "H.264 frame: no packets");
  H264Frame frame;
  std::size_t base = 0;
  bool in_fu = false;
  uint8_t fu_type = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::span<const std::byte> payload = payload_at(i);
    const auto p = parse_h264(payload);
    if (!p) {
      Error e = p.error();
      e.offset += base;
      return e;
    }
    if (p->kind == H264PacketKind::fu_a) {
      if (p->fu_start && in_fu) {
        return err(ErrorCode::bad_field, base + 1,
                   "H.264 frame: FU-A start (S) before the previous fragmented NAL unit "
                   "ended (RFC 6184 section 5.8)");
      }
      if (!p->fu_start && !in_fu) {
        return err(ErrorCode::bad_field, base + 1,
                   "H.264 frame: FU-A fragment without its start (S) (RFC 6184 section 5.8)");
      }
      if (!p->fu_start && p->nal_type != fu_type) {
        return err(ErrorCode::bad_field, base + 1,
                   "H.264 frame: FU-A fragment of another NAL unit type than its start "
                   "(RFC 6184 section 5.8)");
      }
      in_fu = !p->fu_end;
      fu_type = p->nal_type;
    } else if (in_fu) {
      return err(ErrorCode::bad_field, base,
                 "H.264 frame: a packet before the fragmented NAL unit ended (no E bit; "
                 "RFC 6184 section 5.8)");
    }
    if (write) {
      const auto w = depacketize_h264(payload, out.subspan(frame.size));
      if (!w) {
        Error e = w.error();
        e.offset = frame.size;
        return e;
      }
    }
    frame.size += p->annexb_size;
    frame.keyframe = frame.keyframe || p->keyframe;
    base += payload.size();
  }
  if (in_fu) {
    return err(ErrorCode::truncated, base,
               "H.264 frame: ends inside a fragmented NAL unit (no E bit; "
               "RFC 6184 section 5.8)");
  }
  return frame;
}

}  // namespace

Result<H264Frame> assemble_h264(std::span<const std::span<const std::byte>> payloads,
                                std::span<std::byte> out) noexcept {
  return walk_frame(
      payloads.size(), [&](std::size_t i) { return payloads[i]; }, out, true);
}

bool is_complete_h264_frame(std::span<const RtpView> packets) noexcept {
  if (!detail::contiguous_frame(packets)) return false;
  return walk_frame(
             packets.size(), [&](std::size_t i) { return packets[i].payload(); }, {}, false)
      .ok();
}

}  // namespace peer::rtp
