// SDP writer: CRLF lines (RFC 8866 section 5) in the order Chrome writes them
// (webrtc_sdp.cc), which Firefox and every other stack accept.

#include <array>

#include "core/sdp/description.hpp"
#include "core/sdp/text.hpp"

namespace peer::sdp {

namespace {

class Writer {
 public:
  std::string take() { return std::move(out_); }

  void line(char type, std::string_view value) {
    out_ += type;
    out_ += '=';
    out_ += value;
    out_ += "\r\n";
  }
  // a=<name>[:<value>]
  void attr(std::string_view name, std::string_view value = {}, bool has_value = false) {
    out_ += "a=";
    out_ += name;
    if (has_value || !value.empty()) {
      out_ += ':';
      out_ += value;
    }
    out_ += "\r\n";
  }

  void connection(const Connection& c) {
    line('c', c.net_type + ' ' + c.address_type + ' ' + c.address);
  }
  void bandwidths(const std::vector<Bandwidth>& bws) {
    for (const auto& b : bws) line('b', b.type + ':' + std::to_string(b.value));
  }
  // ice-ufrag, ice-pwd, ice-options, fingerprint, setup: Chrome's order.
  void transport(const std::string& ufrag, const std::string& pwd,
                 const std::vector<std::string>& options, const std::vector<Fingerprint>& fps,
                 const std::optional<Setup>& setup) {
    if (!ufrag.empty()) attr("ice-ufrag", ufrag);
    if (!pwd.empty()) attr("ice-pwd", pwd);
    if (!options.empty()) attr("ice-options", join(options));
    for (const auto& fp : fps) attr("fingerprint", fp.algorithm + ' ' + fp.value);
    if (setup) attr("setup", to_string(*setup));
  }
  void unknown(const std::vector<Attribute>& attributes) {
    for (const auto& a : attributes) attr(a.name, a.value.value_or(""), a.value.has_value());
  }

  void media(const Media& m);

  static std::string join(const std::vector<std::string>& words, std::string_view prefix = {}) {
    std::string s(prefix);
    for (const auto& w : words) {
      if (!s.empty()) s += ' ';
      s += w;
    }
    return s;
  }

 private:
  void rtpmap(const RtpMap& r) {
    std::string v =
        std::to_string(r.payload_type) + ' ' + r.encoding + '/' + std::to_string(r.clock_rate);
    if (r.channels) v += '/' + std::to_string(*r.channels);
    attr("rtpmap", v);
  }
  void rtcp_fb(const RtcpFb& fb) {
    std::string v = fb.payload_type ? std::to_string(*fb.payload_type) : "*";
    v += ' ';
    v += fb.type;
    if (!fb.parameter.empty()) v += ' ' + fb.parameter;
    attr("rtcp-fb", v);
  }
  void fmtp(const Fmtp& f) { attr("fmtp", std::to_string(f.payload_type) + ' ' + f.parameters); }

  std::string out_;
};

void Writer::media(const Media& m) {
  std::string mline = m.kind + ' ' + std::to_string(m.port);
  if (m.port_count) mline += '/' + std::to_string(*m.port_count);
  mline += ' ' + m.proto;
  for (const auto& f : m.formats) mline += ' ' + f;
  line('m', mline);
  // RFC 8866 section 5: m= i= c= b= k= a=
  for (const auto& l : m.other_lines) {
    if (l.type == 'i') line(l.type, l.value);
  }
  if (m.connection) connection(*m.connection);
  bandwidths(m.bandwidths);
  for (const auto& l : m.other_lines) {
    if (l.type != 'i') line(l.type, l.value);
  }

  if (m.rtcp) {
    std::string v = std::to_string(m.rtcp->port);
    if (m.rtcp->connection) {
      const auto& c = *m.rtcp->connection;
      v += ' ' + c.net_type + ' ' + c.address_type + ' ' + c.address;
    }
    attr("rtcp", v);
  }
  for (const auto& c : m.candidates) {
    // Stored as "candidate:..." (RTCIceCandidateInit.candidate); tolerate a bare value.
    if (std::string_view(c).substr(0, 10) == "candidate:") {
      out_ += "a=" + c + "\r\n";
    } else {
      attr("candidate", c);
    }
  }
  if (m.end_of_candidates) attr("end-of-candidates");
  transport(m.ice_ufrag, m.ice_pwd, m.ice_options, m.fingerprints, m.setup);
  if (!m.mid.empty()) attr("mid", m.mid);
  if (m.bundle_only) attr("bundle-only");
  if (m.extmap_allow_mixed) attr("extmap-allow-mixed");
  for (const auto& e : m.extmaps) {
    std::string v = std::to_string(e.id);
    if (e.direction) v += '/' + std::string(to_string(*e.direction));
    v += ' ' + e.uri;
    if (!e.attributes.empty()) v += ' ' + e.attributes;
    attr("extmap", v);
  }
  if (m.direction) attr(to_string(*m.direction));
  for (const auto& ms : m.msids) {
    attr("msid", ms.track_id.empty() ? ms.stream_id : ms.stream_id + ' ' + ms.track_id);
  }
  if (m.rtcp_mux) attr("rtcp-mux");
  if (m.rtcp_rsize) attr("rtcp-rsize");

  // Per payload type in m= order: rtpmap, rtcp-fb, fmtp (Chrome's grouping); then entries
  // for payload types not on the m= line, and rtcp-fb:*. parse() sorts the same way.
  std::array<bool, 128> listed{};
  for (const auto& f : m.formats) {
    auto pt = detail::parse_uint<int>(f, 127);
    if (!pt || listed[*pt]) continue;
    listed[*pt] = true;
    for (const auto& r : m.rtpmaps) {
      if (r.payload_type == *pt) rtpmap(r);
    }
    for (const auto& fb : m.rtcp_fbs) {
      if (fb.payload_type == *pt) rtcp_fb(fb);
    }
    for (const auto& f : m.fmtps) {
      if (f.payload_type == *pt) fmtp(f);
    }
  }
  auto is_listed = [&](std::optional<int> pt) {
    return pt && *pt >= 0 && *pt <= 127 && listed[*pt];
  };
  for (const auto& r : m.rtpmaps) {
    if (!is_listed(r.payload_type)) rtpmap(r);
  }
  for (const auto& fb : m.rtcp_fbs) {
    if (!is_listed(fb.payload_type)) rtcp_fb(fb);
  }
  for (const auto& f : m.fmtps) {
    if (!is_listed(f.payload_type)) fmtp(f);
  }

  for (const auto& g : m.ssrc_groups) {
    std::string v = g.semantics;
    for (auto id : g.ssrcs) v += ' ' + std::to_string(id);
    attr("ssrc-group", v);
  }
  for (const auto& s : m.ssrcs) {
    std::string v = std::to_string(s.id) + ' ' + s.attribute;
    if (!s.value.empty()) v += ':' + s.value;
    attr("ssrc", v);
  }
  if (m.sctp_port) attr("sctp-port", std::to_string(*m.sctp_port));
  if (m.max_message_size) attr("max-message-size", std::to_string(*m.max_message_size));
  unknown(m.attributes);
}

// Session-level lines of other_lines written before c= (i u e p) or after t= (t r z k).
bool before_connection(char type) {
  return type == 'i' || type == 'u' || type == 'e' || type == 'p';
}

}  // namespace

std::string write(const Description& d) {
  Writer w;
  w.line('v', "0");
  const Origin& o = d.origin;
  w.line('o', o.username + ' ' + std::to_string(o.session_id) + ' ' +
                  std::to_string(o.session_version) + ' ' + o.net_type + ' ' + o.address_type +
                  ' ' + o.address);
  // RFC 8866 section 5.3: "s= " (a single space) when there is no name.
  w.line('s', d.session_name.empty() ? std::string_view(" ") : std::string_view(d.session_name));
  for (const auto& l : d.other_lines) {
    if (before_connection(l.type)) w.line(l.type, l.value);
  }
  if (d.connection) w.connection(*d.connection);
  w.bandwidths(d.bandwidths);
  w.line('t', std::to_string(d.timing.start) + ' ' + std::to_string(d.timing.stop));
  for (const auto& l : d.other_lines) {
    if (!before_connection(l.type)) w.line(l.type, l.value);
  }

  for (const auto& g : d.groups) w.attr("group", Writer::join(g.mids, g.semantics));
  if (d.extmap_allow_mixed) w.attr("extmap-allow-mixed");
  // Chrome's spelling, with the blank after the colon.
  if (d.msid_semantic)
    w.attr("msid-semantic", ' ' + Writer::join(d.msid_semantic->ids, d.msid_semantic->semantic));
  if (d.ice_lite) w.attr("ice-lite");
  w.transport(d.ice_ufrag, d.ice_pwd, d.ice_options, d.fingerprints, d.setup);
  if (d.direction) w.attr(to_string(*d.direction));
  w.unknown(d.attributes);

  for (const auto& m : d.media) w.media(m);
  return w.take();
}

}  // namespace peer::sdp
