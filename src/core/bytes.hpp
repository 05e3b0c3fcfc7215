#pragma once
// Big-endian (network order) reads and writes on byte spans, shared by every wire format
// of the core (STUN, DCEP, RTP/RTCP). Callers check bounds first: these never do.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace peer::bytes {

inline uint8_t u8(std::span<const std::byte> b, std::size_t at) noexcept {
  return std::to_integer<uint8_t>(b[at]);
}
inline uint16_t u16(std::span<const std::byte> b, std::size_t at) noexcept {
  return static_cast<uint16_t>((u8(b, at) << 8) | u8(b, at + 1));
}
inline uint32_t u24(std::span<const std::byte> b, std::size_t at) noexcept {
  return (static_cast<uint32_t>(u8(b, at)) << 16) | u16(b, at + 1);
}
inline uint32_t u32(std::span<const std::byte> b, std::size_t at) noexcept {
  return (static_cast<uint32_t>(u16(b, at)) << 16) | u16(b, at + 2);
}
inline uint64_t u64(std::span<const std::byte> b, std::size_t at) noexcept {
  return (static_cast<uint64_t>(u32(b, at)) << 32) | u32(b, at + 4);
}

// In place, at a given offset.
inline void put8(std::span<std::byte> b, std::size_t at, uint32_t v) noexcept {
  b[at] = static_cast<std::byte>(v & 0xff);
}
inline void put16(std::span<std::byte> b, std::size_t at, uint32_t v) noexcept {
  put8(b, at, v >> 8);
  put8(b, at + 1, v);
}
inline void put24(std::span<std::byte> b, std::size_t at, uint32_t v) noexcept {
  put8(b, at, v >> 16);
  put16(b, at + 1, v);
}
inline void put32(std::span<std::byte> b, std::size_t at, uint32_t v) noexcept {
  put16(b, at, v >> 16);
  put16(b, at + 2, v);
}

// Appended to a growing message.
inline void append8(std::vector<std::byte>& out, uint32_t v) {
  out.push_back(static_cast<std::byte>(v & 0xff));
}
inline void append16(std::vector<std::byte>& out, uint32_t v) {
  append8(out, v >> 8);
  append8(out, v);
}
inline void append32(std::vector<std::byte>& out, uint32_t v) {
  append16(out, v >> 16);
  append16(out, v);
}

}  // namespace peer::bytes
