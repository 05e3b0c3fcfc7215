// libFuzzer target for the signaling message parser (src/signal/message.cpp).
//
// Invariants checked on every input:
// - parse_client_message() never throws and returns a message or an error with text;
// - a relayed message never keeps a "from", and its "to" is a valid peer id;
// - a join names a valid room;
// - the relayed body serialises (the server dumps it once) and parses back equal.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "signal/message.hpp"

namespace {

[[noreturn]] void die(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_signal: %s\n%.*s\n", what, static_cast<int>(input.size()), input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peer::signaling;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseResult result = parse_client_message(text);
  if (auto* error = std::get_if<ProtocolError>(&result)) {
    if (error->message.empty()) die("an error without a message", text);
    return 0;
  }
  auto& message = std::get<Message>(result);
  if (auto* join = std::get_if<Join>(&message)) {
    if (!valid_room(join->room)) die("accepted an invalid room", text);
  } else if (auto* relay = std::get_if<Relay>(&message)) {
    if (relay->body.contains("from")) die("kept a client's \"from\"", text);
    if (!valid_peer_id(relay->to)) die("accepted an invalid \"to\"", text);
    relay->body["from"] = "node-1";
    const std::string out = relay->body.dump();
    if (nlohmann::json::parse(out) != relay->body) die("relayed body does not round trip", text);
  }
  return 0;
}
