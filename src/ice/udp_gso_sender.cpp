#include "ice/udp_gso_sender.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace peer::ice {
namespace {

// The kernel cuts at most UDP_MAX_SEGMENTS (64) datagrams from one buffer, and the buffer
// must fit one IP packet's length field (65535 minus headers).
constexpr std::size_t kMaxSegments = 64;
constexpr std::size_t kMaxRunBytes = 65000;
constexpr std::size_t kControlSpace = CMSG_SPACE(sizeof(std::uint16_t));

// errno values that mean "this socket or route cannot do UDP_SEGMENT", as opposed to a
// full buffer or an unreachable peer.
bool refuses_segmentation(int error) {
  return error == EIO || error == EINVAL || error == ENOPROTOOPT || error == EOPNOTSUPP;
}

}  // namespace

UdpGsoSender::~UdpGsoSender() { detach(); }

void UdpGsoSender::attach(int fd, const sockaddr* remote, socklen_t remote_length) {
  detach();
  if (fd < 0 || remote_length > sizeof remote_) return;
  fd_ = fd;
  std::memcpy(&remote_, remote, remote_length);
  remote_length_ = remote_length;
}

void UdpGsoSender::detach() {
  fd_ = -1;
  remote_length_ = 0;
}

std::size_t UdpGsoSender::send(std::span<const std::span<const std::byte>> datagrams) {
  if (!active() || datagrams.empty()) return 0;
  iov_.resize(datagrams.size());
  messages_.resize(datagrams.size());
  datagrams_in_message_.resize(datagrams.size());
  control_.resize(datagrams.size() * kControlSpace);

  // Group the batch into runs: equal-sized datagrams, optionally ended by one smaller
  // datagram (the kernel allows a short last segment), within the kernel's limits.
  std::size_t message_count = 0;
  for (std::size_t i = 0; i < datagrams.size();) {
    const std::size_t segment = datagrams[i].size();
    const std::size_t first = i;
    std::size_t bytes = 0;
    while (i < datagrams.size() && i - first < kMaxSegments &&
           bytes + datagrams[i].size() <= kMaxRunBytes) {
      const std::size_t size = datagrams[i].size();
      if (size > segment || (i > first && size == 0)) break;
      iov_[i] = {const_cast<std::byte*>(datagrams[i].data()), size};
      bytes += size;
      ++i;
      if (size < segment) break;  // a short segment can only be the last
    }
    if (i == first) {  // a single datagram larger than kMaxRunBytes: let it go alone
      iov_[i] = {const_cast<std::byte*>(datagrams[i].data()), datagrams[i].size()};
      ++i;
    }
    mmsghdr& m = messages_[message_count];
    m = {};
    m.msg_hdr.msg_name = &remote_;
    m.msg_hdr.msg_namelen = remote_length_;
    m.msg_hdr.msg_iov = &iov_[first];
    m.msg_hdr.msg_iovlen = i - first;
    if (i - first > 1) {
      std::byte* control = control_.data() + message_count * kControlSpace;
      std::memset(control, 0, kControlSpace);
      m.msg_hdr.msg_control = control;
      m.msg_hdr.msg_controllen = kControlSpace;
      cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto size = static_cast<std::uint16_t>(segment);
      std::memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    datagrams_in_message_[message_count] = i - first;
    ++message_count;
  }

  const int fd = fd_;
  const int sent = sendmmsg(fd, messages_.data(), static_cast<unsigned>(message_count),
                            MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) {
    // Only a refusal of the very first message says anything about segmentation support;
    // anything else (a full buffer, ICMP errors) is a drop, as on the network.
    if (refuses_segmentation(errno) && messages_[0].msg_hdr.msg_controllen != 0) refused_ = true;
    return 0;
  }
  std::size_t count = 0;
  for (int m = 0; m < sent; ++m) count += datagrams_in_message_[static_cast<std::size_t>(m)];
  return count;
}

}  // namespace peer::ice
