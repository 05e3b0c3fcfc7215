#include "ice/mdns_responder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/mdns/message.hpp"
#include "ice/mdns_sockets.hpp"

namespace peer::ice {
namespace {

constexpr uint32_t kTtl = 120;       // RFC 6762 section 10: records with a host name
constexpr uint32_t kLegacyTtl = 10;  // section 6.7
constexpr uint16_t kTypeAny = 255;   // RFC 1035 section 3.2.3, QTYPE *


// A random version-4 UUID (RFC 4122 section 4.4), as browsers name their host candidates.
std::string random_uuid(const std::function<void(std::span<std::byte>)>& random) {
  std::array<std::byte, 16> b{};
  if (random) {
    random(b);
  } else {
    RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(b.size()));
  }
  b[6] = (b[6] & std::byte{0x0f}) | std::byte{0x40};  // version 4
  b[8] = (b[8] & std::byte{0x3f}) | std::byte{0x80};  // variant 10
  auto x = [&](int i) { return std::to_integer<unsigned>(b[i]); };
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     x(0), x(1), x(2), x(3), x(4), x(5), x(6), x(7), x(8), x(9), x(10), x(11), x(12), x(13),
                     x(14), x(15));
}

}  // namespace

MdnsResponder::MdnsResponder(runtime::EventLoop& loop, const std::vector<Address>& locals,
                             std::function<void(std::span<std::byte>)> random)
    : loop_(loop) {
  std::vector<unsigned> interfaces;
  for (const auto& l : locals) {
    const Address ip = l.with_port(0);
    if (ip.family != AddressFamily::v4 || ip.empty() || ip.is_loopback()) continue;
    bool seen = false;
    for (const auto& n : names_) seen |= n.address == ip;
    if (seen) continue;
    auto link = mdns_link_of(ip);
    if (link.interface == 0) continue;
    names_.push_back({random_uuid(random) + ".local", ip, link.netmask, link.interface, {}});
    interfaces.push_back(link.interface);
  }
  if (names_.empty()) return;
  fd_ = open_mdns_group_listener(interfaces);
  if (fd_ < 0) {
    names_.clear();  // nobody could resolve them: keep the addresses
    return;
  }
  const int ttl = 255;  // RFC 6762 section 11, for unicast answers too
  const unsigned char ttl8 = 255;
  const int on = 1, off = 0;
  setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
  setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl8, sizeof ttl8);
  // Which interface and destination each query came with; no group traffic of interfaces
  // this socket did not join.
  if (setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) {
    ::close(fd_);
    fd_ = -1;
    names_.clear();
    return;
  }
  setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off);
  watch_ = loop_.watch(fd_, runtime::EventLoop::kReadable, [this](unsigned) { receive(); });
}

MdnsResponder::~MdnsResponder() {
  watch_.cancel();
  if (fd_ >= 0) ::close(fd_);
}

// A unicast query from off the link is not answered (RFC 6762 sections 5.5 and 11).
bool MdnsResponder::on_link(const Address& sender, const Named& named) {
  if (sender.family != AddressFamily::v4 || named.netmask.empty()) return false;
  for (int i = 0; i < 4; ++i) {
    if ((sender.ip[i] & named.netmask.ip[i]) != (named.address.ip[i] & named.netmask.ip[i])) return false;
  }
  return true;
}

std::optional<std::string> MdnsResponder::name_of(const Address& address) const {
  for (const auto& n : names_) {
    if (n.address == address.with_port(0)) return n.name;
  }
  return std::nullopt;
}

void MdnsResponder::receive() {
  std::array<std::byte, 9000> buffer;  // RFC 6762 section 17
  for (;;) {
    sockaddr_storage from{};
    alignas(cmsghdr) std::array<std::byte, CMSG_SPACE(sizeof(in_pktinfo))> control{};
    iovec iov{buffer.data(), buffer.size()};
    msghdr header{};
    header.msg_name = &from;
    header.msg_namelen = sizeof from;
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_, &header, MSG_DONTWAIT);
    if (n < 0) return;
    const socklen_t from_length = header.msg_namelen;
    const in_pktinfo* info = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) info = reinterpret_cast<const in_pktinfo*>(CMSG_DATA(c));
    }
    if (info == nullptr) continue;
    in_addr group{};
    std::memcpy(&group, mdns::kGroupV4.data(), 4);
    const bool to_group = info->ipi_addr.s_addr == group.s_addr;
    mdns::Error error;
    const auto message = mdns::Message::parse(std::span(buffer.data(), static_cast<std::size_t>(n)), &error);
    if (!message) {
      spdlog::debug("mdns: query dropped: {}", mdns::describe(error));
      continue;
    }
    if (message->is_response() || message->opcode() != 0) continue;  // section 18.3
    const auto sender = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_length);
    if (!sender) continue;
    const bool legacy = sender->port != mdns::kPort;  // section 6.7
    std::size_t at = 0;
    while (auto q = message->next_question(at)) {
      if (q->klass != mdns::kClassIn || (q->type != static_cast<uint16_t>(mdns::Type::a) && q->type != kTypeAny)) {
        continue;
      }
      for (auto& named : names_) {
        if (!q->name.equals(named.name) || static_cast<int>(named.interface) != info->ipi_ifindex) continue;
        if (!to_group && !on_link(*sender, named)) continue;  // sections 5.5 and 11
        answer(named, message->id(), q->type, legacy, q->unicast_response, from, from_length);
      }
    }
  }
}

void MdnsResponder::answer(Named& named, uint16_t id, uint16_t question_type, bool legacy, bool unicast,
                           const sockaddr_storage& to, socklen_t to_length) {
  mdns::Error error;
  const Address address = named.address;
  const bool multicast = !legacy && !unicast;
  const auto now = std::chrono::steady_clock::now();
  if (multicast && now - named.multicast_at < std::chrono::seconds(1)) return;  // section 6
  // A legacy unicast answer repeats the ID and the question, with a TTL of at most 10 s
  // (section 6.7); others have ID 0.
  if (!mdns::write_response(legacy ? id : 0, named.name,
                            legacy ? std::optional(static_cast<mdns::Type>(question_type)) : std::nullopt,
                            std::span(&address, 1), legacy ? kLegacyTtl : kTtl, message_, &error)) {
    spdlog::debug("mdns: cannot answer for {}: {}", named.name, mdns::describe(error));
    return;
  }
  sockaddr_storage group{};
  const sockaddr_storage* dest = &to;
  socklen_t dest_length = to_length;
  if (multicast) {
    named.multicast_at = now;
    ip_mreqn request{};
    std::memcpy(&request.imr_address, named.address.ip.data(), 4);
    request.imr_ifindex = static_cast<int>(named.interface);
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof request);
    dest_length = static_cast<socklen_t>(Address::v4(mdns::kGroupV4, mdns::kPort).to_sockaddr(group));
    dest = &group;
  }
  if (::sendto(fd_, message_.data(), message_.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(dest),
               dest_length) < 0) {
    spdlog::debug("mdns: answer for {}: {}", named.name, std::strerror(errno));
    return;
  }
  ++answered_;
}

}  // namespace peer::ice
