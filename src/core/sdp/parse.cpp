// SDP parser (RFC 8866 syntax; attributes as JSEP RFC 8829 and the RFCs cited below use
// them).
//
// Rules, and why:
// - Input over kMaxDescriptionSize is refused up front, so a hostile peer cannot make us
//   allocate much (browsers write < 20 KiB).
// - Lines end with LF or CRLF (RFC 8866 section 5 says CRLF, and asks parsers to accept LF);
//   the last line may lack its end; trailing blanks and blank lines are ignored. A NUL or a
//   CR inside a line is refused (text = byte-string excludes them, RFC 8866 section 9).
// - Every line is <letter>=<value> with a type letter RFC 8866 defines; an unknown letter is
//   an error (section 5: "MUST completely ignore any session description that contains a
//   type letter that it does not understand").
// - v=0, o=, s= come first, then session lines in the section 5 order (i u e p c b t r z k
//   a), then m= sections (i c b k a). Chrome's parser enforces the same order.
// - Zero m= sections are accepted (JSEP 5.2.1 allows an offer with no m= sections).
// - Numbers are plain decimal without sign and are range-checked (ports 0..65535,
//   payload types 0..127, ssrc 32-bit); field counts are exact.
// - Attributes the model knows are validated; others are kept verbatim (section 5.13:
//   unknown attributes are ignored, and we must not lose them).
// - Single-valued attributes (mid, ice-ufrag, setup, direction, ...) may appear once.
// Errors: peer::Error(Errc::bad_sdp, "line <n>: \"<line>\": <what was expected>").

#include <algorithm>
#include <array>
#include <climits>

#include "core/sdp/candidate.hpp"
#include "core/sdp/description.hpp"
#include "core/sdp/text.hpp"
#include "peer/error.hpp"

namespace peer::sdp {

using detail::is_token;
using detail::is_visible_word;
using detail::parse_uint;
using detail::split_head;
using detail::split_spaces;

namespace {

// RFC 8866 section 5 order of session-level lines; r= shares t='s rank (it repeats with it).
int session_rank(char type) {
  switch (type) {
    case 'v':
      return 0;
    case 'o':
      return 1;
    case 's':
      return 2;
    case 'i':
      return 3;
    case 'u':
      return 4;
    case 'e':
      return 5;
    case 'p':
      return 6;
    case 'c':
      return 7;
    case 'b':
      return 8;
    case 't':
    case 'r':
      return 9;
    case 'z':
      return 10;
    case 'k':
      return 11;
    case 'a':
      return 12;
    case 'm':
      return 13;
    default:
      return -1;
  }
}

// Order inside a media section (RFC 8866 section 5): m i c b k a. -1: not allowed there.
int media_rank(char type) {
  switch (type) {
    case 'm':
      return 0;
    case 'i':
      return 1;
    case 'c':
      return 2;
    case 'b':
      return 3;
    case 'k':
      return 4;
    case 'a':
      return 5;
    default:
      return -1;
  }
}

bool is_rtp_proto(std::string_view proto) {
  return proto.find("RTP/") != std::string_view::npos;
}

// proto = token *("/" token) (RFC 8866 section 9)
bool is_proto(std::string_view proto) {
  if (proto.empty()) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = proto.find('/', start);
    std::string_view part = proto.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!is_token(part)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// fingerprint = 2UHEX *(":" 2UHEX) (RFC 8122 section 5). Lowercase hex is accepted too:
// comparisons are case-insensitive and some stacks write it.
bool is_fingerprint_value(std::string_view v) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  };
  if (v.size() < 2 || (v.size() + 1) % 3 != 0) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i % 3 == 2 ? v[i] != ':' : !hex(v[i])) return false;
  }
  return true;
}

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Description run() {
    if (text_.size() > kMaxDescriptionSize) {
      throw Error(Errc::bad_sdp, "description is " + std::to_string(text_.size()) +
                                     " bytes, more than the " +
                                     std::to_string(kMaxDescriptionSize) + " allowed");
    }
    Description d;
    int last_rank = -1;
    bool seen_timing = false;
    Media* media = nullptr;
    int media_last_rank = 0;
    while (next_line()) {
      char type = line_[0];
      std::string_view value = line_.substr(2);
      if (session_rank(type) < 0) {
        fail("unknown line type '" + std::string(1, type) +
             "=': expected one of v o s i u e p c b t r z k a m (RFC 8866 section 5)");
      }
      // v=, o=, s= must open the description, in that order (RFC 8866 sections 5.1-5.3).
      if (last_rank < 2) {
        static constexpr char kFirst[] = {'v', 'o', 's'};
        char want = kFirst[last_rank + 1];
        if (type != want) {
          fail(want == 'v' ? "expected 'v=0' as the first line (RFC 8866 section 5.1)"
                           : std::string("expected the ") + want + "= line here (RFC 8866 " +
                                 (want == 'o' ? "section 5.2)" : "section 5.3)"));
        }
      }
      if (type == 'm') {
        if (!seen_timing) fail("expected a t= line before the first m= (RFC 8866 section 5.9)");
        last_rank = session_rank('m');
        d.media.emplace_back();
        media = &d.media.back();
        media_last_rank = 0;
        parse_media_line(*media, value);
        continue;
      }
      if (media) {
        int rank = media_rank(type);
        if (rank < 0) {
          fail("'" + std::string(1, type) +
               "=' is not allowed in a media section: expected i= c= b= k= or a= "
               "(RFC 8866 section 5)");
        }
        if (rank < media_last_rank || (rank == media_last_rank && type != 'b' && type != 'a')) {
          fail("'" + std::string(1, type) +
               "=' out of order or repeated: a media section is m= i= c= b= k= a= "
               "(RFC 8866 section 5)");
        }
        media_last_rank = rank;
        switch (type) {
          case 'i':
          case 'k':
            media->other_lines.push_back({type, std::string(value)});
            break;
          case 'c':
            media->connection = parse_connection(value);
            break;
          case 'b':
            media->bandwidths.push_back(parse_bandwidth(value));
            break;
          case 'a':
            media_attribute(*media, value);
            break;
        }
        continue;
      }
      int rank = session_rank(type);
      bool repeatable =
          type == 'e' || type == 'p' || type == 'b' || type == 't' || type == 'r' || type == 'a';
      if (rank < last_rank || (rank == last_rank && !repeatable)) {
        fail("'" + std::string(1, type) +
             "=' out of order or repeated: session lines are v o s i u e p c b t r z k a "
             "(RFC 8866 section 5)");
      }
      if ((type == 'r' || type == 'z' || type == 'k' || type == 'a') && !seen_timing) {
        fail("expected a t= line before this line (RFC 8866 section 5.9)");
      }
      last_rank = rank;
      switch (type) {
        case 'v':
          if (value != "0") fail("expected 'v=0' (RFC 8866 section 5.1)");
          break;
        case 'o':
          d.origin = parse_origin(value);
          break;
        case 's':
          d.session_name = value;
          break;
        case 'c':
          d.connection = parse_connection(value);
          break;
        case 'b':
          d.bandwidths.push_back(parse_bandwidth(value));
          break;
        case 't':
          if (!seen_timing) {
            d.timing = parse_timing(value);
            seen_timing = true;
          } else {
            parse_timing(value);  // validated; kept verbatim
            d.other_lines.push_back({type, std::string(value)});
          }
          break;
        case 'a':
          session_attribute(d, value);
          break;
        default:
          d.other_lines.push_back({type, std::string(value)});
          break;
      }
    }
    if (last_rank < 0) fail_at_end("empty description: expected 'v=0' (RFC 8866 section 5.1)");
    if (last_rank < 2) fail_at_end("missing o= or s= line (RFC 8866 sections 5.2, 5.3)");
    if (!seen_timing) fail_at_end("missing t= line (RFC 8866 section 5.9)");
    for (auto& m : d.media) order_codec_lines(m);
    return d;
  }

 private:
  // Reads the next non-blank line into line_; false at the end of the text.
  bool next_line() {
    while (pos_ < text_.size()) {
      std::size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view line = text_.substr(pos_, end - pos_);
      pos_ = end + 1;
      ++line_no_;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.remove_suffix(1);
      }
      if (line.empty()) continue;
      line_ = line;
      if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
        fail("NUL or CR inside a line (RFC 8866 section 9: text excludes them)");
      }
      if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
        fail("expected '<type>=<value>' with a lowercase type letter (RFC 8866 section 5)");
      }
      return true;
    }
    return false;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(Errc::bad_sdp, "line " + std::to_string(line_no_) + ": " +
                                   detail::quote_excerpt(line_) + ": " + what);
  }
  [[noreturn]] void fail_at_end(const std::string& what) const {
    throw Error(Errc::bad_sdp, "line " + std::to_string(line_no_) + " (end): " + what);
  }

  // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
  Origin parse_origin(std::string_view value) {
    static constexpr const char* kExpected =
        "expected '<username> <sess-id> <sess-version> <nettype> <addrtype> <address>' "
        "(RFC 8866 section 5.2)";
    auto f = split_spaces(value);
    if (f.size() != 6) fail(kExpected);
    Origin o;
    auto id = parse_uint<uint64_t>(f[1]);
    auto version = parse_uint<uint64_t>(f[2]);
    if (!is_visible_word(f[0]) || !id || !version || !is_token(f[3]) || !is_token(f[4]) ||
        !is_visible_word(f[5])) {
      fail(std::string(kExpected) + ", with sess-id and sess-version 64-bit decimal numbers");
    }
    o.username = f[0];
    o.session_id = *id;
    o.session_version = *version;
    o.net_type = f[3];
    o.address_type = f[4];
    o.address = f[5];
    return o;
  }

  // c=<nettype> <addrtype> <connection-address> (RFC 8866 section 5.7)
  Connection parse_connection(std::string_view value) {
    auto f = split_spaces(value);
    if (f.size() != 3 || !is_token(f[0]) || !is_token(f[1]) || !is_visible_word(f[2])) {
      fail("expected 'IN IP4 <address>' (RFC 8866 section 5.7)");
    }
    return Connection{std::string(f[0]), std::string(f[1]), std::string(f[2])};
  }

  Connection parse_connection_fields(std::string_view a, std::string_view b, std::string_view c,
                                     const char* expected) {
    if (!is_token(a) || !is_token(b) || !is_visible_word(c)) fail(expected);
    return Connection{std::string(a), std::string(b), std::string(c)};
  }

  // b=<bwtype>:<bandwidth> (RFC 8866 section 5.8)
  Bandwidth parse_bandwidth(std::string_view value) {
    std::size_t colon = value.find(':');
    if (colon == std::string_view::npos) fail("expected 'b=<type>:<kbps>' (RFC 8866 section 5.8)");
    auto bw = parse_uint<uint64_t>(value.substr(colon + 1));
    if (!is_token(value.substr(0, colon)) || !bw) {
      fail("expected 'b=<type>:<kbps>' with a decimal number (RFC 8866 section 5.8)");
    }
    return Bandwidth{std::string(value.substr(0, colon)), *bw};
  }

  // t=<start-time> <stop-time> (RFC 8866 section 5.9)
  Timing parse_timing(std::string_view value) {
    auto f = split_spaces(value);
    std::optional<uint64_t> start, stop;
    if (f.size() == 2) {
      start = parse_uint<uint64_t>(f[0]);
      stop = parse_uint<uint64_t>(f[1]);
    }
    if (!start || !stop) fail("expected 't=<start> <stop>', e.g. 't=0 0' (RFC 8866 section 5.9)");
    return Timing{*start, *stop};
  }

  // m=<media> <port>[/<number of ports>] <proto> 1*(SP <fmt>) (RFC 8866 section 5.14)
  void parse_media_line(Media& m, std::string_view value) {
    static constexpr const char* kExpected =
        "expected 'm=<media> <port> <proto> <fmt> ...' (RFC 8866 section 5.14)";
    auto f = split_spaces(value);
    if (f.size() < 4) fail(kExpected);
    if (!is_token(f[0])) fail(std::string(kExpected) + ": bad media type");
    m.kind = f[0];
    std::string_view port = f[1];
    std::size_t slash = port.find('/');
    if (slash != std::string_view::npos) {
      auto count = parse_uint<uint16_t>(port.substr(slash + 1));
      if (!count || *count == 0) fail("bad number of ports: expected 1 to 65535");
      m.port_count = *count;
      port = port.substr(0, slash);
    }
    auto p = parse_uint<uint16_t>(port);
    if (!p) fail("bad port: expected a number from 0 to 65535");
    m.port = *p;
    if (!is_proto(f[2])) fail(std::string(kExpected) + ": bad proto");
    m.proto = f[2];
    bool rtp = is_rtp_proto(m.proto);
    for (std::size_t i = 3; i < f.size(); ++i) {
      // For RTP profiles the formats are payload types (RFC 8866 section 5.14, RFC 3551).
      if (rtp ? !parse_uint<int>(f[i], 127) : !is_token(f[i])) {
        fail("bad format " + detail::quote_excerpt(f[i], 32) +
             (rtp ? ": expected an RTP payload type from 0 to 127" : ": expected a token"));
      }
      m.formats.emplace_back(f[i]);
    }
  }

  // Splits "name[:value]" (RFC 8866 section 5.13: attribute = (attribute-name ":"
  // attribute-value) / attribute-name).
  struct Attr {
    std::string_view name;
    bool has_value = false;
    std::string_view value;
  };
  Attr split_attribute(std::string_view text) {
    Attr a;
    std::size_t colon = text.find(':');
    a.name = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      a.has_value = true;
      a.value = text.substr(colon + 1);
    }
    if (!is_token(a.name)) fail("expected 'a=<attribute>[:<value>]' (RFC 8866 section 5.13)");
    return a;
  }

  void no_value(const Attr& a) {
    if (a.has_value) fail("a=" + std::string(a.name) + " takes no value");
  }
  // Value of a known attribute; blanks after the colon are tolerated (Chrome writes
  // "a=msid-semantic: WMS").
  std::string_view need_value(const Attr& a, const char* expected) {
    std::string_view v = ltrim(a.value);
    if (!a.has_value || v.empty()) fail(expected);
    return v;
  }

  static Attribute unknown(const Attr& a) {
    Attribute out{std::string(a.name), std::nullopt};
    if (a.has_value) out.value = std::string(a.value);
    return out;
  }

  void once(bool already, const Attr& a) {
    if (already) fail("duplicate a=" + std::string(a.name) + ": it may appear only once here");
  }

  // Attributes valid at session and media level. Returns false if `a` is not one of them.
  struct Shared {
    std::string* ice_ufrag;
    std::string* ice_pwd;
    std::vector<std::string>* ice_options;
    std::vector<Fingerprint>* fingerprints;
    std::optional<Setup>* setup;
    std::optional<Direction>* direction;
  };
  bool shared_attribute(const Attr& a, Shared s) {
    std::string_view n = a.name;
    if (n == "ice-ufrag") {
      // RFC 8839 section 5.4: ice-ufrag = 4*256ice-char
      auto v = need_value(a, "expected 'a=ice-ufrag:<4 to 256 ice-chars>' (RFC 8839 5.4)");
      if (v.size() < 4 || v.size() > 256 || !detail::is_ice_chars(v)) {
        fail("expected 4 to 256 characters of ALPHA / DIGIT / '+' / '/' (RFC 8839 section 5.4)");
      }
      once(!s.ice_ufrag->empty(), a);
      *s.ice_ufrag = v;
    } else if (n == "ice-pwd") {
      // RFC 8839 section 5.4: ice-pwd = 22*256ice-char
      auto v = need_value(a, "expected 'a=ice-pwd:<22 to 256 ice-chars>' (RFC 8839 5.4)");
      if (v.size() < 22 || v.size() > 256 || !detail::is_ice_chars(v)) {
        fail("expected 22 to 256 characters of ALPHA / DIGIT / '+' / '/' (RFC 8839 section 5.4)");
      }
      once(!s.ice_pwd->empty(), a);
      *s.ice_pwd = v;
    } else if (n == "ice-options") {
      // RFC 8839 section 5.6: ice-options = ice-option-tag *(SP ice-option-tag)
      static constexpr const char* kExpected =
          "expected 'a=ice-options:<tag> [<tag>...]', e.g. 'trickle' (RFC 8839 section 5.6)";
      auto tags = split_spaces(need_value(a, kExpected));
      once(!s.ice_options->empty(), a);
      for (auto t : tags) {
        if (!is_token(t)) fail(kExpected);
        s.ice_options->emplace_back(t);
      }
    } else if (n == "fingerprint") {
      static constexpr const char* kExpected =
          "expected '<hash-func> <XX:XX:...>', e.g. 'sha-256 AB:CD:...' (RFC 8122 section 5)";
      auto f = split_spaces(need_value(a, kExpected));
      if (f.size() != 2 || !is_token(f[0]) || !is_fingerprint_value(f[1])) fail(kExpected);
      s.fingerprints->push_back(Fingerprint{std::string(f[0]), std::string(f[1])});
    } else if (n == "setup") {
      auto setup = setup_from_string(need_value(a, "expected 'a=setup:<role>'"));
      if (!setup) fail("expected actpass, active, passive or holdconn (RFC 4145 section 4)");
      once(s.setup->has_value(), a);
      *s.setup = setup;
    } else if (auto dir = direction_from_string(n)) {
      no_value(a);
      if (s.direction->has_value()) {
        fail(
            "a second direction attribute: only one of sendrecv, sendonly, recvonly, "
            "inactive may appear (RFC 3264 section 5.1)");
      }
      *s.direction = dir;
    } else {
      return false;
    }
    return true;
  }

  void session_attribute(Description& d, std::string_view text) {
    Attr a = split_attribute(text);
    std::string_view n = a.name;
    if (shared_attribute(a, {&d.ice_ufrag, &d.ice_pwd, &d.ice_options, &d.fingerprints, &d.setup,
                             &d.direction})) {
      return;
    }
    if (n == "group") {
      // RFC 5888 section 5: group-attribute = "a=group:" semantics *(SP identification-tag)
      static constexpr const char* kExpected =
          "expected 'a=group:<semantics> <mid> ...', e.g. 'BUNDLE 0 1' (RFC 5888 section 5)";
      auto f = split_spaces(need_value(a, kExpected));
      Group g;
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (!is_token(f[i])) fail(kExpected);
        if (i == 0) {
          g.semantics = f[i];
        } else {
          g.mids.emplace_back(f[i]);
        }
      }
      d.groups.push_back(std::move(g));
    } else if (n == "msid-semantic") {
      static constexpr const char* kExpected = "expected 'a=msid-semantic: WMS [<id>...]'";
      auto f = split_spaces(need_value(a, kExpected));
      once(d.msid_semantic.has_value(), a);
      MsidSemantic ms;
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (!is_token(f[i])) fail(kExpected);
        if (i == 0) {
          ms.semantic = f[i];
        } else {
          ms.ids.emplace_back(f[i]);
        }
      }
      d.msid_semantic = std::move(ms);
    } else if (n == "extmap-allow-mixed") {
      no_value(a);
      d.extmap_allow_mixed = true;
    } else if (n == "ice-lite") {
      no_value(a);
      d.ice_lite = true;
    } else {
      d.attributes.push_back(unknown(a));
    }
  }

  int payload_type(std::string_view v, const char* expected) {
    auto pt = parse_uint<int>(v, 127);
    if (!pt) fail(std::string("bad payload type: ") + expected);
    return *pt;
  }

  void media_attribute(Media& m, std::string_view text) {
    Attr a = split_attribute(text);
    std::string_view n = a.name;
    if (shared_attribute(a, {&m.ice_ufrag, &m.ice_pwd, &m.ice_options, &m.fingerprints, &m.setup,
                             &m.direction})) {
      return;
    }
    if (n == "mid") {
      // RFC 5888 section 4: mid-attribute = "a=mid:" identification-tag (a token)
      auto v = need_value(a, "expected 'a=mid:<token>' (RFC 5888 section 4)");
      if (!is_token(v)) fail("expected 'a=mid:<token>' (RFC 5888 section 4)");
      once(!m.mid.empty(), a);
      m.mid = v;
    } else if (n == "rtcp-mux") {
      no_value(a);
      m.rtcp_mux = true;
    } else if (n == "rtcp-rsize") {
      no_value(a);
      m.rtcp_rsize = true;
    } else if (n == "bundle-only") {
      no_value(a);
      m.bundle_only = true;
    } else if (n == "extmap-allow-mixed") {
      no_value(a);
      m.extmap_allow_mixed = true;
    } else if (n == "end-of-candidates") {
      no_value(a);
      m.end_of_candidates = true;
    } else if (n == "rtcp") {
      // RFC 3605 section 2.1: rtcp-attribute = "a=rtcp:" port [nettype addrtype address]
      static constexpr const char* kExpected =
          "expected 'a=rtcp:<port> [IN IP4 <address>]' (RFC 3605 section 2.1)";
      auto f = split_spaces(need_value(a, kExpected));
      if (f.size() != 1 && f.size() != 4) fail(kExpected);
      auto port = parse_uint<uint16_t>(f[0]);
      if (!port) fail("bad port: expected a number from 0 to 65535 (RFC 3605 section 2.1)");
      once(m.rtcp.has_value(), a);
      Rtcp r{*port, std::nullopt};
      if (f.size() == 4) r.connection = parse_connection_fields(f[1], f[2], f[3], kExpected);
      m.rtcp = std::move(r);
    } else if (n == "candidate") {
      // Validated with the ICE grammar (RFC 8839 section 5.1) but kept as written: it is
      // handed to ICE as the browser's RTCIceCandidateInit.candidate string.
      auto v = need_value(a, "expected 'a=candidate:<foundation> ...' (RFC 8839 section 5.1)");
      std::string candidate = "candidate:" + std::string(v);
      try {
        (void)parse_candidate(candidate);
      } catch (const Error& e) {
        fail(e.what());
      }
      m.candidates.push_back(std::move(candidate));
    } else if (n == "sctp-port") {
      auto v = need_value(a, "expected 'a=sctp-port:<port>' (RFC 8841 section 5)");
      auto port = parse_uint<uint16_t>(v);
      if (!port) fail("bad port: expected a number from 0 to 65535 (RFC 8841 section 5)");
      once(m.sctp_port.has_value(), a);
      m.sctp_port = *port;
    } else if (n == "max-message-size") {
      auto v = need_value(a, "expected 'a=max-message-size:<bytes>' (RFC 8841 section 6)");
      auto size = parse_uint<uint64_t>(v);
      if (!size) fail("expected a decimal number of bytes (RFC 8841 section 6)");
      once(m.max_message_size.has_value(), a);
      m.max_message_size = *size;
    } else if (n == "rtpmap") {
      // RFC 8866 section 6.6: a=rtpmap:<pt> <encoding name>/<clock rate>[/<parameters>]
      static constexpr const char* kExpected =
          "expected 'a=rtpmap:<pt> <name>/<clock rate>[/<channels>]' (RFC 8866 section 6.6)";
      auto f = split_spaces(need_value(a, kExpected));
      if (f.size() != 2) fail(kExpected);
      RtpMap r;
      r.payload_type = payload_type(f[0], kExpected);
      std::string_view rest = f[1];
      std::size_t s1 = rest.find('/');
      if (s1 == std::string_view::npos) fail(kExpected);
      std::string_view name = rest.substr(0, s1);
      rest = rest.substr(s1 + 1);
      std::size_t s2 = rest.find('/');
      std::string_view clock = rest.substr(0, s2);
      auto rate = parse_uint<uint32_t>(clock);
      if (!is_token(name) || !rate) fail(kExpected);
      r.encoding = name;
      r.clock_rate = *rate;
      if (s2 != std::string_view::npos) {
        auto channels = parse_uint<uint32_t>(rest.substr(s2 + 1));
        if (!channels) fail(std::string(kExpected) + ": bad channel count");
        r.channels = *channels;
      }
      for (const auto& other : m.rtpmaps) {
        if (other.payload_type == r.payload_type) {
          fail("duplicate a=rtpmap for payload type " + std::to_string(r.payload_type));
        }
      }
      m.rtpmaps.push_back(std::move(r));
    } else if (n == "fmtp") {
      // RFC 8866 section 6.15: a=fmtp:<format> <format specific parameters>
      static constexpr const char* kExpected =
          "expected 'a=fmtp:<pt> <parameters>' (RFC 8866 section 6.15)";
      auto hr = split_head(need_value(a, kExpected));
      if (hr.rest.empty()) fail(kExpected);
      Fmtp f{payload_type(hr.head, kExpected), std::string(hr.rest)};
      for (const auto& other : m.fmtps) {
        if (other.payload_type == f.payload_type) {
          fail("duplicate a=fmtp for payload type " + std::to_string(f.payload_type));
        }
      }
      m.fmtps.push_back(std::move(f));
    } else if (n == "rtcp-fb") {
      // RFC 4585 section 4.2: a=rtcp-fb:<pt or *> <type> [<parameters>]
      static constexpr const char* kExpected =
          "expected 'a=rtcp-fb:<pt or *> <type> [<parameter>]' (RFC 4585 section 4.2)";
      auto hr = split_head(need_value(a, kExpected));
      auto tp = split_head(hr.rest);
      if (!is_token(tp.head)) fail(kExpected);
      RtcpFb fb;
      if (hr.head != "*") fb.payload_type = payload_type(hr.head, kExpected);
      fb.type = tp.head;
      fb.parameter = tp.rest;
      m.rtcp_fbs.push_back(std::move(fb));
    } else if (n == "extmap") {
      // RFC 8285 section 8: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
      static constexpr const char* kExpected =
          "expected 'a=extmap:<id>[/<direction>] <uri> [<attributes>]' (RFC 8285 section 8)";
      auto hr = split_head(need_value(a, kExpected));
      auto ur = split_head(hr.rest);
      if (ur.head.empty() || !is_visible_word(ur.head)) fail(kExpected);
      Extmap e;
      std::string_view id = hr.head;
      std::size_t slash = id.find('/');
      if (slash != std::string_view::npos) {
        e.direction = direction_from_string(id.substr(slash + 1));
        if (!e.direction)
          fail("bad extmap direction: expected sendrecv, sendonly, recvonly or inactive");
        id = id.substr(0, slash);
      }
      // RFC 8285 section 5: 1-14 (one-byte), 16-255 (two-byte); section 7: 4096-4351 may
      // be offered and are remapped in the answer. 0 and 15 are reserved.
      auto v = parse_uint<int>(id, 4351);
      if (!v || *v == 0 || *v == 15 || (*v > 255 && *v < 4096)) {
        fail("bad extmap id: expected 1-14, 16-255 or 4096-4351 (RFC 8285 sections 5, 7)");
      }
      e.id = *v;
      for (const auto& other : m.extmaps) {
        if (other.id == e.id) fail("duplicate extmap id " + std::to_string(e.id));
      }
      e.uri = ur.head;
      e.attributes = ur.rest;
      m.extmaps.push_back(std::move(e));
    } else if (n == "msid") {
      // RFC 8830 section 2: msid-value = msid-id [ SP msid-appdata ]
      static constexpr const char* kExpected =
          "expected 'a=msid:<stream id> [<track id>]' (RFC 8830 section 2)";
      auto f = split_spaces(need_value(a, kExpected));
      if (f.size() > 2 || !is_token(f[0]) || (f.size() == 2 && !is_token(f[1]))) {
        fail(kExpected);
      }
      m.msids.push_back(Msid{std::string(f[0]), f.size() == 2 ? std::string(f[1]) : ""});
    } else if (n == "ssrc-group") {
      // RFC 5576 section 4.2: a=ssrc-group:<semantics> *(SP <ssrc-id>)
      static constexpr const char* kExpected =
          "expected 'a=ssrc-group:<semantics> <ssrc> ...', e.g. 'FID 1 2' (RFC 5576 4.2)";
      auto f = split_spaces(need_value(a, kExpected));
      if (f.size() < 2 || !is_token(f[0])) fail(kExpected);
      SsrcGroup g{std::string(f[0]), {}};
      for (std::size_t i = 1; i < f.size(); ++i) {
        auto id = parse_uint<uint32_t>(f[i]);
        if (!id) fail(std::string(kExpected) + ": bad ssrc (a 32-bit decimal number)");
        g.ssrcs.push_back(*id);
      }
      m.ssrc_groups.push_back(std::move(g));
    } else if (n == "ssrc") {
      // RFC 5576 section 4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
      static constexpr const char* kExpected =
          "expected 'a=ssrc:<ssrc> <attribute>[:<value>]' (RFC 5576 section 4.1)";
      auto hr = split_head(need_value(a, kExpected));
      auto id = parse_uint<uint32_t>(hr.head);
      if (!id) fail(std::string(kExpected) + ": bad ssrc (a 32-bit decimal number)");
      std::size_t colon = hr.rest.find(':');
      std::string_view attr = hr.rest.substr(0, colon);
      if (!is_token(attr)) fail(kExpected);
      Ssrc s{*id, std::string(attr), ""};
      if (colon != std::string_view::npos) s.value = hr.rest.substr(colon + 1);
      m.ssrcs.push_back(std::move(s));
    } else {
      m.attributes.push_back(unknown(a));
    }
  }

  // Puts rtpmap / rtcp-fb / fmtp entries in the order of the m= line (stable), the order
  // write() produces, so parse(write(d)) == d holds whatever order the input used.
  static void order_codec_lines(Media& m) {
    std::array<int, 128> index;
    index.fill(INT_MAX);
    for (std::size_t i = 0; i < m.formats.size(); ++i) {
      auto pt = parse_uint<int>(m.formats[i], 127);
      if (pt && index[*pt] == INT_MAX) index[*pt] = static_cast<int>(i);
    }
    auto key = [&](std::optional<int> pt) {
      return (pt && *pt >= 0 && *pt <= 127) ? index[*pt] : INT_MAX;
    };
    std::stable_sort(m.rtpmaps.begin(), m.rtpmaps.end(), [&](const RtpMap& x, const RtpMap& y) {
      return key(x.payload_type) < key(y.payload_type);
    });
    std::stable_sort(m.fmtps.begin(), m.fmtps.end(), [&](const Fmtp& x, const Fmtp& y) {
      return key(x.payload_type) < key(y.payload_type);
    });
    std::stable_sort(m.rtcp_fbs.begin(), m.rtcp_fbs.end(), [&](const RtcpFb& x, const RtcpFb& y) {
      return key(x.payload_type) < key(y.payload_type);
    });
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_no_ = 0;
  std::string_view line_;
};

}  // namespace

Description parse(std::string_view text) {
  return Parser(text).run();
}

}  // namespace peer::sdp
