// The VP8 RTP payload format (RFC 7741).
//
// Rules, and why:
// - The descriptor's optional bytes are read only after checking each is there; the
//   reserved bits are ignored on receipt (section 4.2: "MUST be ignored by receivers").
// - A payload must carry at least one VP8 byte after its descriptor: an empty one has no
//   use and, on the first packet, no frame tag to tell a key frame by.
// - The packetizer sends a frame as one partition (S=1, PID=0 on the first packet only),
//   as libwebrtc does: RFC 7741 allows any split points, and a receiver needs none of the
//   partition boundaries to decode.

#include "core/rtp/payload_vp8.hpp"

#include <cstring>

namespace peer::rtp {

using detail::u8;

namespace {

constexpr Error err(ErrorCode code, std::size_t offset, const char* message) noexcept {
  return Error{code, offset, message};
}

constexpr uint8_t kX = 0x80, kN = 0x20, kS = 0x10, kPidMask = 0x07;
constexpr uint8_t kI = 0x80, kL = 0x40, kT = 0x20, kK = 0x10;
constexpr uint8_t kM = 0x80, kY = 0x20;

bool extended(const Vp8Descriptor& d) noexcept {
  return d.picture_id || d.tl0_pic_idx || d.temporal_id || d.key_idx;
}

}  // namespace

std::size_t vp8_descriptor_size(const Vp8Descriptor& d) noexcept {
  if (!extended(d)) return 1;
  std::size_t size = 2;
  if (d.picture_id) size += d.picture_id_15bit ? 2 : 1;
  if (d.tl0_pic_idx) size += 1;
  if (d.temporal_id || d.key_idx) size += 1;
  return size;
}

Result<std::size_t> write_vp8_descriptor(std::span<std::byte> out,
                                         const Vp8Descriptor& d) noexcept {
  if (d.partition_id > kPidMask) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 descriptor: partition id (PID) over 3 bits (RFC 7741 section 4.2)");
  }
  if (d.picture_id && *d.picture_id > (d.picture_id_15bit ? 0x7fff : 0x7f)) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 descriptor: picture id over 7 bits (M=0) or 15 bits (M=1) "
               "(RFC 7741 section 4.2)");
  }
  if (d.temporal_id && *d.temporal_id > 3) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 descriptor: temporal layer index (TID) over 2 bits (RFC 7741 section 4.2)");
  }
  if (d.key_idx && *d.key_idx > 31) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 descriptor: KEYIDX over 5 bits (RFC 7741 section 4.2)");
  }
  const std::size_t size = vp8_descriptor_size(d);
  if (out.size() < size) {
    return err(ErrorCode::buffer_too_small, out.size(),
               "VP8 descriptor: the buffer cannot hold the payload descriptor");
  }
  const bool x = extended(d);
  detail::put8(out, 0,
               (x ? kX : 0) | (d.non_reference ? kN : 0) | (d.start_of_partition ? kS : 0) |
                   d.partition_id);
  if (!x) return size;
  const bool tk = d.temporal_id || d.key_idx;
  detail::put8(out, 1,
               (d.picture_id ? kI : 0) | (d.tl0_pic_idx ? kL : 0) | (d.temporal_id ? kT : 0) |
                   (d.key_idx ? kK : 0));
  std::size_t at = 2;
  if (d.picture_id) {
    if (d.picture_id_15bit) {
      detail::put16(out, at, 0x8000u | *d.picture_id);
      at += 2;
    } else {
      detail::put8(out, at++, *d.picture_id);
    }
  }
  if (d.tl0_pic_idx) detail::put8(out, at++, *d.tl0_pic_idx);
  if (tk) {
    detail::put8(out, at++,
                 (d.temporal_id.value_or(0) << 6) | (d.layer_sync ? kY : 0) |
                     d.key_idx.value_or(0));
  }
  return size;
}

Result<Vp8Packet> parse_vp8(std::span<const std::byte> payload) noexcept {
  if (payload.empty()) {
    return err(ErrorCode::truncated, 0,
               "VP8 payload: empty, no payload descriptor (RFC 7741 section 4.2)");
  }
  Vp8Packet p;
  Vp8Descriptor& d = p.descriptor;
  const uint8_t b0 = u8(payload, 0);
  d.non_reference = (b0 & kN) != 0;
  d.start_of_partition = (b0 & kS) != 0;
  d.partition_id = b0 & kPidMask;
  std::size_t at = 1;
  if (b0 & kX) {
    if (payload.size() < 2) {
      return err(ErrorCode::truncated, 1,
                 "VP8 descriptor: X set but the I/L/T/K byte is cut (RFC 7741 section 4.2)");
    }
    const uint8_t x = u8(payload, 1);
    at = 2;
    if (x & kI) {
      if (payload.size() <= at) {
        return err(ErrorCode::truncated, at,
                   "VP8 descriptor: I set but the picture id is cut (RFC 7741 section 4.2)");
      }
      const uint8_t first = u8(payload, at);
      if (first & kM) {
        if (payload.size() <= at + 1) {
          return err(ErrorCode::truncated, at + 1,
                     "VP8 descriptor: M set but the second byte of the 15-bit picture id is "
                     "cut (RFC 7741 section 4.2)");
        }
        d.picture_id = static_cast<uint16_t>(((first & 0x7f) << 8) | u8(payload, at + 1));
        d.picture_id_15bit = true;
        at += 2;
      } else {
        d.picture_id = first;
        at += 1;
      }
    }
    if (x & kL) {
      if (payload.size() <= at) {
        return err(ErrorCode::truncated, at,
                   "VP8 descriptor: L set but TL0PICIDX is cut (RFC 7741 section 4.2)");
      }
      d.tl0_pic_idx = u8(payload, at++);
    }
    if (x & (kT | kK)) {
      if (payload.size() <= at) {
        return err(ErrorCode::truncated, at,
                   "VP8 descriptor: T or K set but the TID/Y/KEYIDX byte is cut "
                   "(RFC 7741 section 4.2)");
      }
      const uint8_t tk = u8(payload, at++);
      if (x & kT) d.temporal_id = static_cast<uint8_t>(tk >> 6);
      d.layer_sync = (tk & kY) != 0;
      if (x & kK) d.key_idx = static_cast<uint8_t>(tk & 0x1f);
    }
  }
  if (payload.size() <= at) {
    return err(ErrorCode::truncated, at,
               "VP8 payload: no VP8 data after the payload descriptor (RFC 7741 section 4.1)");
  }
  p.descriptor_size = at;
  p.data = payload.subspan(at);
  p.keyframe = p.begins_frame() && (u8(p.data, 0) & 0x01) == 0;
  return p;
}

// --- Vp8Packetizer --------------------------------------------------------------------

Result<Vp8Packetizer> Vp8Packetizer::create(std::span<const std::byte> frame,
                                            std::size_t max_payload, uint16_t picture_id,
                                            bool non_reference) noexcept {
  if (frame.empty()) {
    return err(ErrorCode::invalid_argument, 0, "VP8 packetizer: empty frame");
  }
  if (picture_id > 0x7fff) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 packetizer: picture id over 15 bits (RFC 7741 section 4.2)");
  }
  if (max_payload <= kDescriptorSize) {
    return err(ErrorCode::invalid_argument, 0,
               "VP8 packetizer: max payload leaves no room after the 4-byte descriptor");
  }
  Vp8Packetizer p;
  p.frame_ = frame;
  const std::size_t room = max_payload - kDescriptorSize;
  p.count_ = (frame.size() + room - 1) / room;
  p.picture_id_ = picture_id;
  p.non_reference_ = non_reference;
  return p;
}

Result<PacketizedPayload> Vp8Packetizer::next(std::span<std::byte> out) noexcept {
  if (done()) {
    return err(ErrorCode::invalid_argument, 0, "VP8 packetizer: no payload left");
  }
  // Balanced sizes: the first (size % count) packets carry one byte more.
  const std::size_t chunk =
      frame_.size() / count_ + (index_ < frame_.size() % count_ ? 1 : 0);
  if (out.size() < kDescriptorSize + chunk) {
    return err(ErrorCode::buffer_too_small, out.size(),
               "VP8 packetizer: the buffer cannot hold the next payload");
  }
  Vp8Descriptor d;
  d.non_reference = non_reference_;
  d.start_of_partition = index_ == 0;
  d.picture_id = picture_id_;
  d.picture_id_15bit = true;
  (void)write_vp8_descriptor(out, d);  // fits and valid: checked above and in create()
  std::memcpy(out.data() + kDescriptorSize, frame_.data() + offset_, chunk);
  offset_ += chunk;
  ++index_;
  return PacketizedPayload{kDescriptorSize + chunk, done()};
}

// --- Frames ---------------------------------------------------------------------------

Result<Vp8Frame> assemble_vp8(std::span<const std::span<const std::byte>> payloads,
                              std::span<std::byte> out) noexcept {
  if (payloads.empty()) {
    return err(ErrorCode::invalid_argument, 0, "VP8 frame: no packets");
  }
  Vp8Frame frame;
  std::size_t base = 0;  // offset of this payload in the payloads taken as one buffer
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto p = parse_vp8(payloads[i]);
    if (!p) {
      Error e = p.error();
      e.offset += base;
      return e;
    }
    if (i == 0) {
      if (!p->begins_frame()) {
        return err(ErrorCode::bad_field, base,
                   "VP8 frame: the first packet does not begin a frame (S=1, PID=0; "
                   "RFC 7741 section 4.2)");
      }
      frame.keyframe = p->keyframe;
      frame.picture_id = p->descriptor.picture_id;
    } else {
      if (p->begins_frame()) {
        return err(ErrorCode::bad_field, base,
                   "VP8 frame: a later packet begins a frame too (S=1, PID=0; "
                   "RFC 7741 section 4.2)");
      }
      if (p->descriptor.picture_id != frame.picture_id) {
        return err(ErrorCode::bad_field, base,
                   "VP8 frame: picture ids differ within the frame (RFC 7741 section 4.2)");
      }
    }
    if (out.size() - frame.size < p->data.size()) {
      return err(ErrorCode::buffer_too_small, frame.size,
                 "VP8 frame: the buffer cannot hold the frame");
    }
    std::memcpy(out.data() + frame.size, p->data.data(), p->data.size());
    frame.size += p->data.size();
    base += payloads[i].size();
  }
  return frame;
}

bool is_complete_vp8_frame(std::span<const RtpView> packets) noexcept {
  if (!detail::contiguous_frame(packets)) return false;
  std::optional<uint16_t> picture_id;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const auto p = parse_vp8(packets[i].payload());
    if (!p || p->begins_frame() != (i == 0)) return false;
    if (i == 0) picture_id = p->descriptor.picture_id;
    if (p->descriptor.picture_id != picture_id) return false;
  }
  return true;
}

}  // namespace peer::rtp
