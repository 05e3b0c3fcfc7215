#pragma once
// The messages both sides of an interop case send and check: the same rules as
// tests/interop/page/pattern.js, so that each side verifies what the other sent without an
// echo (an echo could hide a fault that happens on the way out and back).
//   text i:    "#<i> " followed by ("aé€𝄞" repeated i % 40 + 1 times): 1-, 2-, 3- and 4-byte UTF-8
//   binary i:  size 4 + (i * 7919) % 65532, or exactly 65536 when i % 50 == 49;
//              bytes 0-3: i little-endian; byte j >= 4: (i * 31 + j * 7) & 255
//   bulk k:    65536 bytes; bytes 0-3: k little-endian; byte j >= 4: (k + j) & 255;
//              the sender ends with the text "bulk-end <bytes>"
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace peer::interop {

inline std::string pattern_text(std::uint32_t i) {
  std::string s = "#" + std::to_string(i) + " ";
  for (std::uint32_t r = 0; r < i % 40 + 1; ++r) s += "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E";
  return s;
}

inline std::size_t pattern_binary_size(std::uint32_t i) {
  return i % 50 == 49 ? 65536 : 4 + (static_cast<std::size_t>(i) * 7919) % 65532;
}

inline void put_index(std::vector<std::byte>& out, std::uint32_t i) {
  for (int b = 0; b < 4; ++b) out[b] = static_cast<std::byte>((i >> (8 * b)) & 0xFF);
}

inline std::uint32_t get_index(std::span<const std::byte> in) {
  std::uint32_t i = 0;
  for (int b = 0; b < 4; ++b) i |= std::to_integer<std::uint32_t>(in[b]) << (8 * b);
  return i;
}

inline std::vector<std::byte> pattern_binary(std::uint32_t i) {
  std::vector<std::byte> out(pattern_binary_size(i));
  put_index(out, i);
  for (std::size_t j = 4; j < out.size(); ++j) out[j] = static_cast<std::byte>((i * 31 + j * 7) & 0xFF);
  return out;
}

inline constexpr std::size_t kBulkMessage = 65536;

inline void pattern_bulk(std::vector<std::byte>& out, std::uint32_t k) {
  out.resize(kBulkMessage);
  put_index(out, k);
  for (std::size_t j = 4; j < out.size(); ++j) out[j] = static_cast<std::byte>((k + j) & 0xFF);
}

// The index of a received text message when it is exactly pattern_text(index); -1 if not.
inline long check_text(std::string_view s) {
  if (s.size() < 3 || s[0] != '#') return -1;
  const auto space = s.find(' ');
  if (space == std::string_view::npos || space == 1 || space > 11) return -1;
  std::uint64_t i = 0;
  for (char c : s.substr(1, space - 1)) {
    if (c < '0' || c > '9') return -1;
    i = i * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (i > 0xFFFFFFFFu || pattern_text(static_cast<std::uint32_t>(i)) != s) return -1;
  return static_cast<long>(i);
}

inline long check_binary(std::span<const std::byte> b) {
  if (b.size() < 4) return -1;
  const std::uint32_t i = get_index(b);
  if (b.size() != pattern_binary_size(i)) return -1;
  for (std::size_t j = 4; j < b.size(); ++j) {
    if (b[j] != static_cast<std::byte>((i * 31 + j * 7) & 0xFF)) return -1;
  }
  return static_cast<long>(i);
}

inline long check_bulk(std::span<const std::byte> b) {
  if (b.size() != kBulkMessage) return -1;
  const std::uint32_t k = get_index(b);
  for (std::size_t j = 4; j < b.size(); ++j) {
    if (b[j] != static_cast<std::byte>((k + j) & 0xFF)) return -1;
  }
  return static_cast<long>(k);
}

}  // namespace peer::interop
