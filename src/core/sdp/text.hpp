#pragma once
// Small string helpers shared by the SDP and candidate parsers (internal to peer_sdp).
// Everything works on string_views and checks bounds before every access.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peer::sdp::detail {

// Splits on runs of spaces; never yields empty fields. RFC 8866 uses single SP, but
// doubled blanks from hand-edited SDP are harmless and write() normalises them.
inline std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Splits off the first space-separated field; `rest` starts at the next non-space.
struct HeadRest {
  std::string_view head;
  std::string_view rest;
};
inline HeadRest split_head(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  std::size_t start = i;
  while (i < s.size() && s[i] != ' ') ++i;
  HeadRest out{s.substr(start, i - start), {}};
  while (i < s.size() && s[i] == ' ') ++i;
  out.rest = s.substr(i);
  return out;
}

// Unsigned decimal: 1*DIGIT with no sign, blank or suffix, and no overflow past `max`.
template <typename T>
std::optional<T> parse_uint(std::string_view s, T max = std::numeric_limits<T>::max()) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > static_cast<uint64_t>(max)) {
    return std::nullopt;
  }
  return static_cast<T>(v);
}

// token-char (RFC 8866 section 9): %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A /
// %x5E-7E.
inline bool is_token_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2A || c == 0x2B || c == 0x2D ||
         c == 0x2E || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) ||
         (c >= 0x5E && c <= 0x7E);
}
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 section 5.1).
inline bool is_ice_chars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// A field that is not a token but must still be one visible word (usernames, addresses).
inline bool is_visible_word(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  return true;
}

// connection-address / rel-addr as WebRTC uses them: IPv4, IPv6 (with an optional %zone)
// or an FQDN (mDNS "<uuid>.local", RFC 8839 section 5.1 allows FQDNs).
inline bool is_address(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '-' || c == '_' || c == '%';
    if (!ok) return false;
  }
  return true;
}

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Makes untrusted input safe to put in an error message: at most `max` characters, control
// and non-ASCII bytes shown as \xNN, "..." when cut.
inline std::string quote_excerpt(std::string_view s, std::size_t max = 80) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  std::size_t shown = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shown >= max) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
    ++shown;
  }
  out += '"';
  return out;
}

}  // namespace peer::sdp::detail
