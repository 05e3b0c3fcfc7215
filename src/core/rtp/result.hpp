#pragma once
// Errors of the RTP/RTCP layer and the byte helpers its parsers and writers share.
//
// The layer sits on the media hot path, so nothing here throws or allocates: a parser or a
// writer returns Result<T>, holding either the value or an Error. An Error names what was
// wrong in a static message (which field, which RFC section) and the byte offset where the
// problem was found; describe() formats both for a log line (and allocates; only on failure).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace peer::rtp {

enum class ErrorCode : uint8_t {
  truncated,         // a field or a length runs past the end of the bytes given
  bad_version,       // the version field is not 2 (RFC 3550 sections 5.1, 6.4.1)
  bad_padding,       // a padding count of 0 or larger than what it pads
  bad_extension,     // an RTP header extension (RFC 3550 section 5.3.1, RFC 8285) is malformed
  bad_field,         // a field holds a value its RFC forbids (the message names it)
  wrong_type,        // an RTCP packet given to the parser of another type or format
  buffer_too_small,  // a writer's caller buffer cannot hold the packet
  invalid_argument,  // a writer was given a value that cannot go on the wire
};

// The stable name of a code ("truncated", "bad_version", ...).
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::truncated;
  std::size_t offset = 0;    // byte offset in the packet (or compound) where it was found
  const char* message = "";  // static: names the field and the RFC section
  bool operator==(const Error&) const = default;
};

// "bad_padding at byte 37: RTP padding ..." for logs and error events.
std::string describe(const Error& error);

// Either a T or an Error; T is a small trivially copyable view or number.
template <class T>
class Result {
 public:
  Result(T value) noexcept : value_(value), ok_(true) {}  // NOLINT: implicit by design
  Result(Error error) noexcept : error_(error) {}         // NOLINT
  explicit operator bool() const noexcept { return ok_; }
  bool ok() const noexcept { return ok_; }
  const T& value() const noexcept { return value_; }
  const T& operator*() const noexcept { return value_; }
  const T* operator->() const noexcept { return &value_; }
  const Error& error() const noexcept { return error_; }

 private:
  T value_{};
  Error error_{};
  bool ok_ = false;
};

namespace detail {

// Big-endian reads and writes (core/bytes.hpp); callers check bounds first.
using bytes::put16;
using bytes::put24;
using bytes::put32;
using bytes::put8;
using bytes::u16;
using bytes::u24;
using bytes::u32;
using bytes::u8;

}  // namespace detail
}  // namespace peer::rtp
