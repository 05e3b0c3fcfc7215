#pragma once
// STUN messages (RFC 8489) with the attributes ICE (RFC 8445 section 16) and TURN (RFC 8656
// section 18) add: a non-owning view parser and a writer into a reusable buffer.
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |0 0|     STUN Message Type     |         Message Length        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                         Magic Cookie                          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                     Transaction ID (96 bits)                  |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |  attributes: Type (16) | Length (16) | Value, padded to 4 ... |
//
// The message type interleaves the class bits C1 C0 with the 12 method bits
// (M11..M7 C1 M6..M4 C0 M3..M0, RFC 8489 section 5).
//
// Message::parse() accepts exactly what RFC 8489 section 6.3 lets an agent process: the two
// top bits zero, the magic cookie, a length that is a multiple of 4 and equals what follows
// the header, attributes that fit, a FINGERPRINT (if any) that is last and right. Attributes
// after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (section 14.5). Nothing is
// allocated and nothing is thrown: a message that fails gives nullopt and a ParseError
// naming the field and the byte offset.
//
// Integrity is not checked by parse(): the key depends on USERNAME (ICE) or REALM/NONCE
// (TURN), which the caller reads first, then calls check_integrity(key).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.hpp"

namespace peer::stun {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr uint32_t kFingerprintXor = 0x5354554E;  // "STUN", section 14.7

enum class Class : uint8_t { request = 0, indication = 1, success = 2, error = 3 };

enum class Method : uint16_t {
  binding = 0x001,            // RFC 8489
  allocate = 0x003,           // RFC 8656 section 17
  refresh = 0x004,
  send = 0x006,
  data = 0x007,
  create_permission = 0x008,
  channel_bind = 0x009,
};

using TransactionId = std::array<std::byte, 12>;

// Attribute types (RFC 8489 section 18.3, RFC 8656 section 18, RFC 8445 section 16.1).
// 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF comprehension-optional.
namespace attr {
inline constexpr uint16_t mapped_address = 0x0001;
inline constexpr uint16_t username = 0x0006;
inline constexpr uint16_t message_integrity = 0x0008;
inline constexpr uint16_t error_code = 0x0009;
inline constexpr uint16_t unknown_attributes = 0x000A;
inline constexpr uint16_t channel_number = 0x000C;
inline constexpr uint16_t lifetime = 0x000D;
inline constexpr uint16_t xor_peer_address = 0x0012;
inline constexpr uint16_t data = 0x0013;
inline constexpr uint16_t realm = 0x0014;
inline constexpr uint16_t nonce = 0x0015;
inline constexpr uint16_t xor_relayed_address = 0x0016;
inline constexpr uint16_t requested_address_family = 0x0017;
inline constexpr uint16_t even_port = 0x0018;
inline constexpr uint16_t requested_transport = 0x0019;
inline constexpr uint16_t dont_fragment = 0x001A;
inline constexpr uint16_t message_integrity_sha256 = 0x001C;
inline constexpr uint16_t password_algorithm = 0x001D;
inline constexpr uint16_t userhash = 0x001E;
inline constexpr uint16_t xor_mapped_address = 0x0020;
inline constexpr uint16_t reservation_token = 0x0022;
inline constexpr uint16_t priority = 0x0024;
inline constexpr uint16_t use_candidate = 0x0025;
inline constexpr uint16_t password_algorithms = 0x8002;
inline constexpr uint16_t alternate_domain = 0x8003;
inline constexpr uint16_t software = 0x8022;
inline constexpr uint16_t alternate_server = 0x8023;
inline constexpr uint16_t fingerprint = 0x8028;
inline constexpr uint16_t ice_controlled = 0x8029;
inline constexpr uint16_t ice_controlling = 0x802A;
}  // namespace attr

// Error codes used by ICE and TURN (RFC 8489 section 14.8, RFC 8656 section 19, RFC 8445
// section 7.3.1.1).
namespace error {
inline constexpr int try_alternate = 300;
inline constexpr int bad_request = 400;
inline constexpr int unauthorized = 401;
inline constexpr int forbidden = 403;
inline constexpr int unknown_attribute = 420;
inline constexpr int allocation_mismatch = 437;
inline constexpr int stale_nonce = 438;
inline constexpr int address_family_not_supported = 440;
inline constexpr int wrong_credentials = 441;
inline constexpr int unsupported_transport = 442;
inline constexpr int allocation_quota_reached = 486;
inline constexpr int role_conflict = 487;
inline constexpr int server_error = 500;
inline constexpr int insufficient_capacity = 508;
}  // namespace error

// What parse() did not like: a static message naming the field and the RFC section, and the
// byte offset where it was found.
struct ParseError {
  const char* message = "";
  std::size_t offset = 0;
};

// True when the bytes could be a STUN message: at least a header, the two top bits zero, the
// magic cookie (RFC 8489 section 6). Cheap: for demultiplexing before a full parse.
bool looks_like_stun(std::span<const std::byte> bytes) noexcept;

struct ErrorCodeValue {
  int code = 0;             // 300..699
  std::string_view reason;  // UTF-8, may be empty
};

// A parsed message: a view into the caller's bytes, valid as long as they are.
class Message {
 public:
  static std::optional<Message> parse(std::span<const std::byte> bytes,
                                      ParseError* error = nullptr) noexcept;

  Class message_class() const noexcept { return class_; }
  Method method() const noexcept { return static_cast<Method>(method_); }
  uint16_t method_bits() const noexcept { return method_; }  // also for methods not in Method
  const TransactionId& transaction_id() const noexcept { return transaction_id_; }
  std::span<const std::byte> bytes() const noexcept { return bytes_; }

  // The value of the first attribute of this type before MESSAGE-INTEGRITY (or
  // MESSAGE-INTEGRITY itself, or FINGERPRINT); nullopt if there is none.
  std::optional<std::span<const std::byte>> find(uint16_t type) const noexcept;
  bool has(uint16_t type) const noexcept { return find(type).has_value(); }

  // Typed readers; nullopt when the attribute is absent or malformed (a wrong length, an
  // unknown address family).
  std::optional<Address> address(uint16_t type) const noexcept {  // MAPPED-ADDRESS, ALTERNATE-SERVER
    return read_address(type, false);
  }
  std::optional<Address> xor_address(uint16_t type) const noexcept {  // XOR-*-ADDRESS (section 14.2)
    return read_address(type, true);
  }
  std::optional<std::string_view> string(uint16_t type) const noexcept;  // USERNAME, REALM, NONCE, SOFTWARE
  std::optional<uint32_t> u32(uint16_t type) const noexcept;          // PRIORITY, LIFETIME
  std::optional<uint64_t> u64(uint16_t type) const noexcept;          // ICE-CONTROLLING/-CONTROLLED
  std::optional<ErrorCodeValue> error_code() const noexcept;          // section 14.8
  std::optional<uint16_t> channel_number() const noexcept;            // RFC 8656 section 18.1

  // The comprehension-required attribute types (0x0000-0x7FFF) present that are not in
  // `known` (RFC 8489 section 6.3.1: a request with any gets a 420 listing them).
  std::vector<uint16_t> unknown_required(std::span<const uint16_t> known) const;

  bool has_integrity() const noexcept { return integrity_offset_ != 0; }
  bool has_fingerprint() const noexcept { return fingerprint_offset_ != 0; }
  // HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, with the header's length field
  // counting through MESSAGE-INTEGRITY (section 14.5), compared in constant time. False
  // when there is no MESSAGE-INTEGRITY.
  bool check_integrity(std::span<const std::byte> key) const noexcept;

 private:
  std::optional<Address> read_address(uint16_t type, bool xored) const noexcept;

  std::span<const std::byte> bytes_;
  TransactionId transaction_id_{};
  Class class_ = Class::request;
  uint16_t method_ = 0;
  std::size_t integrity_offset_ = 0;    // offset of the MESSAGE-INTEGRITY attribute header; 0: none
  std::size_t fingerprint_offset_ = 0;  // offset of the FINGERPRINT attribute header; 0: none
  std::size_t end_of_attributes_ = 0;   // where attributes that count end (section 14.5)
};

// Builds one message into a buffer it owns and reuses (reset() keeps the capacity, so a
// steady stream of requests allocates nothing). Attributes are appended in call order;
// add_message_integrity() and add_fingerprint() come last, in that order.
class Writer {
 public:
  Writer() = default;
  Writer(Class cls, Method method, const TransactionId& id) { reset(cls, method, id); }
  void reset(Class cls, Method method, const TransactionId& id);

  void add(uint16_t type, std::span<const std::byte> value);
  void add_string(uint16_t type, std::string_view value);
  void add_u32(uint16_t type, uint32_t value);
  void add_u64(uint16_t type, uint64_t value);
  void add_flag(uint16_t type);                          // an empty value (USE-CANDIDATE)
  void add_address(uint16_t type, const Address& address) {  // MAPPED-ADDRESS form
    add_address_value(type, address, false);
  }
  void add_xor_address(uint16_t type, const Address& address) {  // XOR-*-ADDRESS form
    add_address_value(type, address, true);
  }
  void add_error_code(int code, std::string_view reason);
  void add_unknown_attributes(std::span<const uint16_t> types);
  void add_channel_number(uint16_t channel);
  void add_requested_transport(uint8_t protocol);  // 17 = UDP (RFC 8656 section 18.7)
  // HMAC-SHA1 with `key` (section 14.5); after it only add_fingerprint() may follow.
  void add_message_integrity(std::span<const std::byte> key);
  void add_fingerprint();  // CRC-32 of the message XOR 0x5354554E (section 14.7)

  std::span<const std::byte> bytes() const noexcept { return buffer_; }

 private:
  void begin_attribute(uint16_t type, std::size_t length);
  void add_address_value(uint16_t type, const Address& address, bool xored);
  void set_length() noexcept;
  std::vector<std::byte> buffer_;
};

// Key for short-term credentials (ICE, RFC 8489 section 9.1.1): the password itself (we do
// not apply OpaqueString: ICE passwords are ice-chars only, RFC 8839 section 5.4).
inline std::span<const std::byte> short_term_key(std::string_view password) noexcept {
  return {reinterpret_cast<const std::byte*>(password.data()), password.size()};
}
// Key for long-term credentials (TURN, section 9.2.2): MD5(username ":" realm ":" password).
std::array<std::byte, 16> long_term_key(std::string_view username, std::string_view realm,
                                        std::string_view password);

// A TURN ChannelData message (RFC 8656 section 12.4):
//    | Channel Number (0x4000-0x4FFF) | Length | Application Data, padded to 4 over TCP |
struct ChannelData {
  uint16_t channel = 0;
  std::span<const std::byte> data;
};
// Accepts a datagram whose length field fits; trailing padding is allowed (section 12.5).
std::optional<ChannelData> parse_channel_data(std::span<const std::byte> bytes) noexcept;
// Appends the 4-byte header and the data; `pad` to a multiple of 4 (required over TCP).
void write_channel_data(uint16_t channel, std::span<const std::byte> data, bool pad,
                        std::vector<std::byte>& out);

}  // namespace peer::stun
