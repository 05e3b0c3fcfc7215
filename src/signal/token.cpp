#include "signal/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "signal/message.hpp"

namespace peer::signaling {

namespace {

std::string hmac_hex(std::string_view secret, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::string_view to_string(TokenStatus status) noexcept {
  switch (status) {
    case TokenStatus::ok: return "ok";
    case TokenStatus::malformed: return "malformed";
    case TokenStatus::wrong_room: return "for another room";
    case TokenStatus::expired: return "expired";
    case TokenStatus::bad_signature: return "bad signature";
  }
  return "malformed";
}

std::string mint_token(std::string_view room, std::int64_t expires_unix, std::string_view secret) {
  std::string payload = std::string(room) + "." + std::to_string(expires_unix);
  return payload + "." + hmac_hex(secret, payload);
}

TokenStatus verify_token(std::string_view token, std::string_view room, std::int64_t now_unix,
                         std::string_view secret) {
  const auto sig_dot = token.rfind('.');
  if (sig_dot == std::string_view::npos || sig_dot == 0) return TokenStatus::malformed;
  const auto exp_dot = token.rfind('.', sig_dot - 1);
  if (exp_dot == std::string_view::npos) return TokenStatus::malformed;
  const std::string_view token_room = token.substr(0, exp_dot);
  const std::string_view expiry = token.substr(exp_dot + 1, sig_dot - exp_dot - 1);
  const std::string_view signature = token.substr(sig_dot + 1);
  std::int64_t expires = 0;
  auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), expires);
  if (ec != std::errc{} || end != expiry.data() + expiry.size() || expiry.empty() ||
      !valid_room(token_room) || signature.size() != 64) {
    return TokenStatus::malformed;
  }
  const std::string expected = hmac_hex(secret, token.substr(0, sig_dot));
  // The signature first: a forged token learns nothing from the other checks.
  if (CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
    return TokenStatus::bad_signature;
  }
  if (token_room != room) return TokenStatus::wrong_room;
  if (expires <= now_unix) return TokenStatus::expired;
  return TokenStatus::ok;
}

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read secret file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.empty()) throw std::runtime_error("secret file " + path + " is empty");
  return secret;
}

}  // namespace peer::signaling
