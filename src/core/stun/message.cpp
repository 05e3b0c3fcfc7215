// STUN messages (RFC 8489), with the ICE (RFC 8445) and TURN (RFC 8656) attributes.
//
// Rules, and why:
// - Every read is checked against what is left before it is made. parse() checks the header
//   and walks every attribute once, so that the typed readers after it only ever look at
//   values that are known to lie inside the message.
// - The length field must equal exactly what follows the header (section 6.3): over UDP a
//   datagram is one message, so extra or missing bytes mean it is not one. The length is a
//   multiple of 4 because every attribute is padded to 4 (section 14).
// - MESSAGE-INTEGRITY is 20 bytes (HMAC-SHA1, section 14.5); anything after it but
//   FINGERPRINT is ignored (section 14.5: "agents MUST ignore all other attributes that follow
//   MESSAGE-INTEGRITY"), so find() and unknown_required() stop there. Those attributes are
//   still walked, so a value running past the end is still an error.
// - A FINGERPRINT that is not last, not 4 bytes, or wrong makes the whole message fail: the
//   fingerprint is what tells STUN apart from other protocols on the same port (section
//   14.7), so a wrong one means "not STUN", not "STUN with a bad attribute".
// - Padding is not checked on receipt (section 14: "MUST be ignored by the receiver"); the
//   RFC 5769 test vectors pad with spaces. The Writer pads with zeros ("MUST be set to zero
//   on sending").
// - Integrity is computed over the message as the sender saw it when it added
//   MESSAGE-INTEGRITY: up to that attribute, with the header's length counting through it
//   (section 14.5). check_integrity() feeds a patched copy of the 20-byte header and then
//   the rest of the caller's bytes to an incremental HMAC, so the message is never copied.

#include "core/stun/message.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "core/bytes.hpp"
#include "peer/error.hpp"

namespace peer::stun {

namespace {

constexpr std::size_t padded(std::size_t length) noexcept {
  return (length + 3) & ~std::size_t{3};
}

constexpr std::size_t kAttributeHeaderSize = 4;
constexpr std::size_t kIntegritySize = 20;  // HMAC-SHA1
constexpr std::size_t kFingerprintSize = 4;
// The largest value of the 16-bit length fields that is also a multiple of 4.
constexpr std::size_t kMaxMessageLength = 0xfffc;

// --- message type (section 5) -----------------------------------------------------------
//
//     0                 1
//     2  3  4 5 6 7 8 9 0 1 2 3 4 5
//    +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
//    |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
//    |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
//    +--+--+-+-+-+-+-+-+-+-+-+-+-+-+

constexpr uint16_t message_type(Class cls, uint16_t method) noexcept {
  const auto c = static_cast<uint16_t>(cls);
  return static_cast<uint16_t>((method & 0x000f) | (method & 0x0070) << 1 | (method & 0x0f80) << 2 |
                               (c & 1) << 4 | (c & 2) << 7);
}

constexpr uint16_t method_of(uint16_t type) noexcept {
  return static_cast<uint16_t>((type & 0x000f) | (type & 0x00e0) >> 1 | (type & 0x3e00) >> 2);
}

constexpr Class class_of(uint16_t type) noexcept {
  return static_cast<Class>((type >> 4 & 1) | (type >> 7 & 2));
}

static_assert(message_type(Class::request, 0x001) == 0x0001);
static_assert(message_type(Class::success, 0x001) == 0x0101);
static_assert(message_type(Class::error, 0x001) == 0x0111);
static_assert(message_type(Class::indication, 0x007) == 0x0017);
static_assert(method_of(message_type(Class::error, 0xfff)) == 0xfff);
static_assert(class_of(message_type(Class::indication, 0xfff)) == Class::indication);

// --- CRC-32 (section 14.7: "the CRC-32 of the STUN message ... as defined in ITU V.42",
// the ISO 3309 / zlib one: reflected polynomial 0xEDB88320, initial and final XOR ~0) ------

constexpr std::array<uint32_t, 256> make_crc_table() noexcept {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

constexpr uint32_t crc_step(uint32_t crc, uint8_t byte) noexcept {
  return kCrcTable[(crc ^ byte) & 0xff] ^ (crc >> 8);
}

uint32_t crc32(std::span<const std::byte> data) noexcept {
  uint32_t crc = 0xffffffffu;
  for (const std::byte b : data) crc = crc_step(crc, std::to_integer<uint8_t>(b));
  return crc ^ 0xffffffffu;
}

constexpr uint32_t crc32_of(std::string_view text) noexcept {
  uint32_t crc = 0xffffffffu;
  for (const char c : text) crc = crc_step(crc, static_cast<uint8_t>(c));
  return crc ^ 0xffffffffu;
}

// The check value of this CRC (the CRC of the nine ASCII digits), as catalogued for
// CRC-32/ISO-HDLC.
static_assert(crc32_of("123456789") == 0xcbf43926u);

// --- HMAC-SHA1 --------------------------------------------------------------------------

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

EVP_MAC_CTX* make_hmac_sha1() noexcept {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (mac == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context keeps its own reference
  if (ctx == nullptr) return nullptr;
  char digest[] = OSSL_DIGEST_NAME_SHA1;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

// One context per thread, made on first use and re-keyed on every call: fetching HMAC and
// SHA-1 and making a context costs a lookup and a dozen allocations, which a stream of
// connectivity checks would pay per message. (OpenSSL 3.0 still allocates a few bytes in
// EVP_MAC_init itself, for its copy of the key and digest state; that is out of our hands.)
EVP_MAC_CTX* hmac_sha1_context() noexcept {
  thread_local const std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(make_hmac_sha1());
  return ctx.get();
}

// HMAC-SHA1(key, first || second) into `out`; false if OpenSSL fails.
bool hmac_sha1(std::span<const std::byte> key, std::span<const std::byte> first,
               std::span<const std::byte> second,
               std::array<unsigned char, kIntegritySize>& out) noexcept {
  EVP_MAC_CTX* ctx = hmac_sha1_context();
  if (ctx == nullptr) return false;
  // EVP_MAC_init with a null key keeps the previous call's key: an empty password must not
  // come out as whatever key this thread used last.
  static const unsigned char kNoKey = 0;
  const auto* k = key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  std::size_t length = 0;
  return EVP_MAC_init(ctx, k, key.size(), nullptr) == 1 &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(first.data()), first.size()) ==
             1 &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(second.data()),
                        second.size()) == 1 &&
         EVP_MAC_final(ctx, out.data(), &length, out.size()) == 1 && length == out.size();
}

// --- attribute walk ---------------------------------------------------------------------

// True if the message being written holds an attribute of this type. Only for the Writer's
// own buffer, which is well formed by construction.
bool writer_has(std::span<const std::byte> message, uint16_t type) noexcept {
  for (std::size_t at = kHeaderSize; at + kAttributeHeaderSize <= message.size();
       at += kAttributeHeaderSize + padded(bytes::u16(message, at + 2))) {
    if (bytes::u16(message, at) == type) return true;
  }
  return false;
}

[[noreturn]] void throw_error(Errc code, const char* message) {
  throw Error(code, message);
}

}  // namespace

bool looks_like_stun(std::span<const std::byte> bytes) noexcept {
  return bytes.size() >= kHeaderSize && (bytes::u8(bytes, 0) & 0xc0) == 0 &&
         bytes::u32(bytes, 4) == kMagicCookie;
}

// --- Message ----------------------------------------------------------------------------

std::optional<Message> Message::parse(std::span<const std::byte> bytes,
                                      ParseError* error) noexcept {
  const auto fail = [error](const char* message, std::size_t offset) -> std::optional<Message> {
    if (error != nullptr) *error = ParseError{message, offset};
    return std::nullopt;
  };
  if (bytes.size() < kHeaderSize) {
    return fail("STUN: shorter than the 20-byte header (RFC 8489 section 5)", bytes.size());
  }
  const uint16_t type = bytes::u16(bytes, 0);
  if ((type & 0xc000) != 0) {
    return fail(
        "STUN: the two most significant bits of the message type are not zero "
        "(RFC 8489 section 5)",
        0);
  }
  if (bytes::u32(bytes, 4) != kMagicCookie) {
    return fail("STUN: magic cookie is not 0x2112A442 (RFC 8489 section 5)", 4);
  }
  const std::size_t length = bytes::u16(bytes, 2);
  if (length % 4 != 0) {
    return fail("STUN: message length is not a multiple of 4 (RFC 8489 section 5)", 2);
  }
  if (length != bytes.size() - kHeaderSize) {
    return fail(
        "STUN: message length differs from the bytes after the header "
        "(RFC 8489 section 6.3)",
        2);
  }

  Message m;
  m.bytes_ = bytes;
  std::memcpy(m.transaction_id_.data(), bytes.data() + 8, m.transaction_id_.size());
  m.class_ = class_of(type);
  m.method_ = method_of(type);

  // `at` and the size are both multiples of 4 here, so an attribute header always fits.
  for (std::size_t at = kHeaderSize; at < bytes.size();) {
    if (m.fingerprint_offset_ != 0) {
      return fail("STUN: FINGERPRINT is not the last attribute (RFC 8489 section 14.7)", at);
    }
    const uint16_t attr_type = bytes::u16(bytes, at);
    const std::size_t value_length = bytes::u16(bytes, at + 2);
    if (padded(value_length) > bytes.size() - at - kAttributeHeaderSize) {
      return fail(
          "STUN: attribute length (padded to 4) runs past the end of the message "
          "(RFC 8489 section 14)",
          at + 2);
    }
    if (attr_type == attr::fingerprint) {
      if (value_length != kFingerprintSize) {
        return fail("STUN: FINGERPRINT length is not 4 (RFC 8489 section 14.7)", at + 2);
      }
      m.fingerprint_offset_ = at;
    } else if (attr_type == attr::message_integrity && m.integrity_offset_ == 0) {
      if (value_length != kIntegritySize) {
        return fail("STUN: MESSAGE-INTEGRITY length is not 20 (RFC 8489 section 14.5)", at + 2);
      }
      m.integrity_offset_ = at;
    }
    at += kAttributeHeaderSize + padded(value_length);
  }

  if (m.fingerprint_offset_ != 0) {
    const std::size_t at = m.fingerprint_offset_;
    const uint32_t expected = crc32(bytes.first(at)) ^ kFingerprintXor;
    if (bytes::u32(bytes, at + kAttributeHeaderSize) != expected) {
      return fail(
          "STUN: FINGERPRINT does not match the message, which is therefore not STUN "
          "(RFC 8489 section 14.7)",
          at + kAttributeHeaderSize);
    }
  }
  m.end_of_attributes_ = m.integrity_offset_ != 0     ? m.integrity_offset_
                         : m.fingerprint_offset_ != 0 ? m.fingerprint_offset_
                                                      : bytes.size();
  return m;
}

std::optional<std::span<const std::byte>> Message::find(uint16_t type) const noexcept {
  const auto value_at = [this](std::size_t at) {
    return bytes_.subspan(at + kAttributeHeaderSize, bytes::u16(bytes_, at + 2));
  };
  if (type == attr::message_integrity) {
    if (integrity_offset_ == 0) return std::nullopt;
    return value_at(integrity_offset_);
  }
  if (type == attr::fingerprint) {
    if (fingerprint_offset_ == 0) return std::nullopt;
    return value_at(fingerprint_offset_);
  }
  // parse() walked these already: every header and value lies inside bytes_.
  for (std::size_t at = kHeaderSize; at < end_of_attributes_;
       at += kAttributeHeaderSize + padded(bytes::u16(bytes_, at + 2))) {
    if (bytes::u16(bytes_, at) == type) return value_at(at);
  }
  return std::nullopt;
}

// MAPPED-ADDRESS (section 14.1): a reserved byte, the family, the port, the address. The
// XOR forms (section 14.2) XOR the port with the cookie's top 16 bits, an IPv4 address with
// the cookie and an IPv6 address with the cookie followed by the transaction ID: header
// bytes 4 to 20 as they are on the wire.
std::optional<Address> Message::read_address(uint16_t type, bool xored) const noexcept {
  const auto v = find(type);
  if (!v || v->size() < 4) return std::nullopt;
  const uint8_t family = bytes::u8(*v, 1);
  const auto port = static_cast<uint16_t>(bytes::u16(*v, 2) ^ (xored ? kMagicCookie >> 16 : 0));
  const auto mask = [&](std::size_t i) -> uint8_t { return xored ? bytes::u8(bytes_, 4 + i) : 0; };
  if (family == 0x01 && v->size() == 8) {
    std::array<uint8_t, 4> ip{};
    for (std::size_t i = 0; i < ip.size(); ++i) ip[i] = bytes::u8(*v, 4 + i) ^ mask(i);
    return Address::v4(ip, port);
  }
  if (family == 0x02 && v->size() == 20) {
    std::array<uint8_t, 16> ip{};
    for (std::size_t i = 0; i < ip.size(); ++i) ip[i] = bytes::u8(*v, 4 + i) ^ mask(i);
    return Address::v6(ip, port);
  }
  return std::nullopt;
}

std::optional<std::string_view> Message::string(uint16_t type) const noexcept {
  const auto v = find(type);
  if (!v) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(v->data()), v->size());
}

std::optional<uint32_t> Message::u32(uint16_t type) const noexcept {
  const auto v = find(type);
  if (!v || v->size() != 4) return std::nullopt;
  return bytes::u32(*v, 0);
}

std::optional<uint64_t> Message::u64(uint16_t type) const noexcept {
  const auto v = find(type);
  if (!v || v->size() != 8) return std::nullopt;
  return bytes::u64(*v, 0);
}

// ERROR-CODE (section 14.8): 21 reserved bits, the class (3 bits, 3 to 6), the number
// (0 to 99), then the reason phrase.
std::optional<ErrorCodeValue> Message::error_code() const noexcept {
  const auto v = find(attr::error_code);
  if (!v || v->size() < 4) return std::nullopt;
  const int cls = bytes::u8(*v, 2) & 0x07;
  const int number = bytes::u8(*v, 3);
  if (cls < 3 || cls > 6 || number > 99) return std::nullopt;
  return ErrorCodeValue{
      cls * 100 + number,
      std::string_view(reinterpret_cast<const char*>(v->data()) + 4, v->size() - 4)};
}

// CHANNEL-NUMBER (RFC 8656 section 18.1): the number, then 16 reserved bits. The number is
// returned as sent, even outside 0x4000-0x4FFF: a server answers that with 400 (RFC 8656
// section 12.2), which it can only do if it sees it.
std::optional<uint16_t> Message::channel_number() const noexcept {
  const auto v = find(attr::channel_number);
  if (!v || v->size() != 4) return std::nullopt;
  return bytes::u16(*v, 0);
}

std::vector<uint16_t> Message::unknown_required(std::span<const uint16_t> known) const {
  std::vector<uint16_t> unknown;
  // The attributes that count, and MESSAGE-INTEGRITY itself, which is comprehension-required
  // like any other: a caller that checks integrity lists it in `known`.
  const std::size_t end = integrity_offset_ != 0
                              ? integrity_offset_ + kAttributeHeaderSize + kIntegritySize
                              : end_of_attributes_;
  for (std::size_t at = kHeaderSize; at < end;
       at += kAttributeHeaderSize + padded(bytes::u16(bytes_, at + 2))) {
    const uint16_t type = bytes::u16(bytes_, at);
    if (type >= 0x8000) continue;
    if (std::find(known.begin(), known.end(), type) != known.end()) continue;
    if (std::find(unknown.begin(), unknown.end(), type) != unknown.end()) continue;
    unknown.push_back(type);
  }
  return unknown;
}

bool Message::check_integrity(std::span<const std::byte> key) const noexcept {
  if (integrity_offset_ == 0) return false;
  std::array<std::byte, kHeaderSize> header{};
  std::memcpy(header.data(), bytes_.data(), header.size());
  // The length as it was when the sender computed the HMAC: through MESSAGE-INTEGRITY,
  // without what follows it (FINGERPRINT, ignored attributes).
  bytes::put16(header, 2,
            static_cast<uint16_t>(integrity_offset_ - kHeaderSize + kAttributeHeaderSize +
                                  kIntegritySize));
  std::array<unsigned char, kIntegritySize> mac{};
  if (!hmac_sha1(key, header, bytes_.subspan(kHeaderSize, integrity_offset_ - kHeaderSize), mac)) {
    return false;
  }
  return CRYPTO_memcmp(mac.data(), bytes_.data() + integrity_offset_ + kAttributeHeaderSize,
                       mac.size()) == 0;
}

// --- Writer -----------------------------------------------------------------------------

void Writer::reset(Class cls, Method method, const TransactionId& id) {
  const auto bits = static_cast<uint16_t>(method);
  if (bits > 0x0fff) {
    throw_error(Errc::invalid_argument, "STUN writer: a method has 12 bits (RFC 8489 section 5)");
  }
  buffer_.clear();  // keeps the capacity
  bytes::append16(buffer_, message_type(cls, bits));
  bytes::append16(buffer_, 0);
  bytes::append32(buffer_, kMagicCookie);
  buffer_.insert(buffer_.end(), id.begin(), id.end());
}

// Appends the type and length of an attribute whose value the caller appends next, after
// checking everything that could fail, so that a throw leaves the message as it was.
void Writer::begin_attribute(uint16_t type, std::size_t length) {
  if (buffer_.size() < kHeaderSize) {
    throw_error(Errc::invalid_state, "STUN writer: reset() before adding attributes");
  }
  if (writer_has(buffer_, attr::fingerprint)) {
    throw_error(Errc::invalid_state,
                "STUN writer: nothing may follow FINGERPRINT (RFC 8489 section 14.7)");
  }
  if (type != attr::fingerprint && writer_has(buffer_, attr::message_integrity)) {
    throw_error(Errc::invalid_state,
                "STUN writer: only FINGERPRINT may follow MESSAGE-INTEGRITY; the receiver ignores "
                "anything else (RFC 8489 section 14.5)");
  }
  if (length > 0xffff ||
      buffer_.size() - kHeaderSize + kAttributeHeaderSize + padded(length) > kMaxMessageLength) {
    throw_error(Errc::invalid_argument,
                "STUN writer: the attribute does not fit the 16-bit length fields (RFC 8489 "
                "sections 5 and 14)");
  }
  bytes::append16(buffer_, type);
  bytes::append16(buffer_, static_cast<uint16_t>(length));
}

void Writer::set_length() noexcept {
  bytes::put16(buffer_, 2, static_cast<uint16_t>(buffer_.size() - kHeaderSize));
}

void Writer::add(uint16_t type, std::span<const std::byte> value) {
  begin_attribute(type, value.size());
  buffer_.insert(buffer_.end(), value.begin(), value.end());
  buffer_.resize(padded(buffer_.size()), std::byte{0});
  set_length();
}

void Writer::add_string(uint16_t type, std::string_view value) {
  add(type, {reinterpret_cast<const std::byte*>(value.data()), value.size()});
}

void Writer::add_u32(uint16_t type, uint32_t value) {
  begin_attribute(type, 4);
  bytes::append32(buffer_, value);
  set_length();
}

void Writer::add_u64(uint16_t type, uint64_t value) {
  begin_attribute(type, 8);
  bytes::append32(buffer_, static_cast<uint32_t>(value >> 32));
  bytes::append32(buffer_, static_cast<uint32_t>(value & 0xffffffffu));
  set_length();
}

void Writer::add_flag(uint16_t type) {
  add(type, {});
}

// Section 14.1, or 14.2 when `xored` (see Message::read_address): the mask is the cookie and
// the transaction ID, header bytes 4 to 20 of this very message.
void Writer::add_address_value(uint16_t type, const Address& address, bool xored) {
  if (address.empty())
    throw_error(Errc::invalid_argument, "STUN writer: an address attribute needs an address");
  begin_attribute(type, 4 + address.ip_size());
  bytes::append8(buffer_, 0);
  bytes::append8(buffer_, address.family == AddressFamily::v4 ? 0x01 : 0x02);
  bytes::append16(buffer_, address.port ^ (xored ? kMagicCookie >> 16 : 0));
  const std::span<const uint8_t> ip = address.ip_bytes();
  for (std::size_t i = 0; i < ip.size(); ++i) {
    bytes::append8(buffer_, ip[i] ^ (xored ? bytes::u8(buffer_, 4 + i) : 0));
  }
  set_length();
}

void Writer::add_error_code(int code, std::string_view reason) {
  if (code < 300 || code > 699) {
    throw_error(Errc::invalid_argument,
                "STUN writer: an error code is 300 to 699 (RFC 8489 section 14.8)");
  }
  begin_attribute(attr::error_code, 4 + reason.size());
  bytes::append16(buffer_, 0);
  bytes::append8(buffer_, static_cast<uint8_t>(code / 100));
  bytes::append8(buffer_, static_cast<uint8_t>(code % 100));
  for (const char c : reason) bytes::append8(buffer_, static_cast<uint8_t>(c));
  buffer_.resize(padded(buffer_.size()), std::byte{0});
  set_length();
}

// UNKNOWN-ATTRIBUTES (section 14.9): 16-bit types, padded to 4 with zeros like any other
// value (RFC 3489's repetition of the last type is gone).
void Writer::add_unknown_attributes(std::span<const uint16_t> types) {
  if (types.size() > 0xffff / 2) {
    throw_error(Errc::invalid_argument,
                "STUN writer: too many UNKNOWN-ATTRIBUTES for one attribute");
  }
  begin_attribute(attr::unknown_attributes, 2 * types.size());
  for (const uint16_t t : types) bytes::append16(buffer_, t);
  buffer_.resize(padded(buffer_.size()), std::byte{0});
  set_length();
}

void Writer::add_channel_number(uint16_t channel) {
  if (channel < 0x4000 || channel > 0x4fff) {
    throw_error(Errc::invalid_argument,
                "STUN writer: a channel number is 0x4000 to 0x4FFF (RFC 8656 section 12)");
  }
  begin_attribute(attr::channel_number, 4);
  bytes::append16(buffer_, channel);
  bytes::append16(buffer_, 0);  // RFFU
  set_length();
}

// REQUESTED-TRANSPORT (RFC 8656 section 18.7): the IP protocol number, then 24 RFFU bits.
void Writer::add_requested_transport(uint8_t protocol) {
  begin_attribute(attr::requested_transport, 4);
  bytes::append8(buffer_, protocol);
  bytes::append8(buffer_, 0);
  bytes::append16(buffer_, 0);
  set_length();
}

void Writer::add_message_integrity(std::span<const std::byte> key) {
  const std::size_t at = buffer_.size();
  begin_attribute(attr::message_integrity, kIntegritySize);
  buffer_.resize(at + kAttributeHeaderSize + kIntegritySize, std::byte{0});
  // The length counts MESSAGE-INTEGRITY itself, as the receiver will when it checks.
  set_length();
  std::array<unsigned char, kIntegritySize> mac{};
  if (!hmac_sha1(key, std::span<const std::byte>(buffer_).first(at), {}, mac)) {
    buffer_.resize(at);
    set_length();
    throw_error(Errc::internal, "STUN writer: OpenSSL failed to compute HMAC-SHA1");
  }
  std::memcpy(buffer_.data() + at + kAttributeHeaderSize, mac.data(), mac.size());
}

void Writer::add_fingerprint() {
  const std::size_t at = buffer_.size();
  begin_attribute(attr::fingerprint, kFingerprintSize);
  bytes::append32(buffer_, 0);
  // The length counts FINGERPRINT itself; the CRC covers everything before it.
  set_length();
  bytes::put32(buffer_, at + kAttributeHeaderSize,
            crc32(std::span<const std::byte>(buffer_).first(at)) ^ kFingerprintXor);
}

// --- credentials ------------------------------------------------------------------------

std::array<std::byte, 16> long_term_key(std::string_view username, std::string_view realm,
                                        std::string_view password) {
  std::string input;
  input.reserve(username.size() + realm.size() + password.size() + 2);
  input.append(username).append(":").append(realm).append(":").append(password);
  std::array<std::byte, 16> key{};
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), reinterpret_cast<unsigned char*>(key.data()), &length,
                 EVP_md5(), nullptr) != 1 ||
      length != key.size()) {
    OPENSSL_cleanse(input.data(), input.size());
    throw_error(Errc::internal, "STUN: OpenSSL failed to compute MD5 for the long-term key");
  }
  OPENSSL_cleanse(input.data(), input.size());  // it holds the password
  return key;
}

// --- ChannelData (RFC 8656 section 12.4) ------------------------------------------------

std::optional<ChannelData> parse_channel_data(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < 4) return std::nullopt;
  const uint16_t channel = bytes::u16(bytes, 0);
  if (channel < 0x4000 || channel > 0x4fff) return std::nullopt;
  const std::size_t length = bytes::u16(bytes, 2);
  if (length > bytes.size() - 4) return std::nullopt;
  // Bytes after the data are padding (up to 3 over TCP, section 12.5); over UDP a sender may
  // pad too, so anything left over is ignored rather than refused.
  return ChannelData{channel, bytes.subspan(4, length)};
}

void write_channel_data(uint16_t channel, std::span<const std::byte> data, bool pad,
                        std::vector<std::byte>& out) {
  if (channel < 0x4000 || channel > 0x4fff) {
    throw_error(Errc::invalid_argument,
                "ChannelData: a channel number is 0x4000 to 0x4FFF (RFC 8656 section 12)");
  }
  if (data.size() > 0xffff) {
    throw_error(Errc::invalid_argument,
                "ChannelData: more than 65535 bytes of data (RFC 8656 section 12.4)");
  }
  const std::size_t start = out.size();
  bytes::append16(out, channel);
  bytes::append16(out, static_cast<uint16_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  if (pad) out.resize(start + 4 + padded(data.size()), std::byte{0});
}

}  // namespace peer::stun
