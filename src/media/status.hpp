#pragma once
// Errors of the media layer (codecs, sources, file readers).
//
// Codecs run once per frame, so success costs nothing: a Status or a Result<T> is a flag and
// the value. An Error carries a code to branch on and a message that says what was wrong
// ("Y4M header: colour space 'C444' is not 4:2:0", "VP8: corrupt frame: ..."); the message
// is built only on failure (it allocates then). Misuse that a caller can fix at once (an
// encoder config out of range) throws peer::Error(invalid_argument) from the constructor.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace peer::media {

enum class ErrorCode : uint8_t {
  invalid_argument,  // a frame or buffer that does not fit the call (size, sample count)
  io,                // the file could not be opened, read or written
  bad_format,        // a file's header or a frame marker is not what the format says
  unsupported,       // valid for its format, but not something we read (4:4:4, float WAV)
  truncated,         // the input ends inside a header, a frame or a chunk
  end_of_stream,     // a reader reached the end cleanly (not an error for a looping source)
  need_keyframe,     // the decoder cannot use a delta frame now: ask the sender (PLI)
  corrupt,           // the codec rejected or could not fully decode the data: ask (PLI)
  codec,             // the codec library failed on valid input (encoder errors)
  no_picture,        // valid data that shows nothing (a VP8 frame with show_frame = 0)
};

// The stable name of a code ("truncated", "need_keyframe", ...).
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::codec;
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(ErrorCode code, std::string message) : error_{code, std::move(message)}, ok_(false) {}
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  explicit operator bool() const noexcept { return ok_; }
  bool ok() const noexcept { return ok_; }
  ErrorCode code() const noexcept { return error_.code; }
  const std::string& message() const noexcept { return error_.message; }
  const Error& error() const noexcept { return error_; }

 private:
  Error error_{};
  bool ok_ = true;
};

// Either a T or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                     // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}                 // NOLINT
  Result(Status status) : v_(std::move(status).error()) {}      // NOLINT: a failed Status only
  Result(ErrorCode code, std::string message) : v_(Error{code, std::move(message)}) {}
  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool ok() const noexcept { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  ErrorCode code() const { return error().code; }
  const std::string& message() const { return error().message; }
  Status status() const { return ok() ? Status{} : Status{error()}; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace peer::media
