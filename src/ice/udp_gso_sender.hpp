#pragma once
// Sends a batch of datagrams over the selected UDP pair with UDP generic segmentation
// offload (UDP_SEGMENT, Linux 4.18+): a run of equal-sized datagrams leaves in one sendmsg
// as one large buffer and the kernel cuts it into datagrams, so the per-datagram cost of
// the socket layer is paid once per run. docs/performance.md lever 6: the data path went from
// 219 to 347 MB/s with it. It writes to the socket of the selected route (agent_transport.cpp),
// which the agent keeps receiving on and sending its own STUN (consent) on.
//
// Only for host, server-reflexive and peer-reflexive UDP pairs: TURN needs its framing
// (ChannelData / Send indications) and TCP its own, so those detach().

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

namespace peer::ice {

class UdpGsoSender {
 public:
  UdpGsoSender() = default;
  ~UdpGsoSender();
  UdpGsoSender(const UdpGsoSender&) = delete;
  UdpGsoSender& operator=(const UdpGsoSender&) = delete;

  // Sends to `remote` (a sockaddr_in or sockaddr_in6 of `remote_length` bytes) through `fd`
  // from now on; the caller owns the descriptor and keeps it open while attached. Replaces
  // an earlier attach.
  void attach(int fd, const sockaddr* remote, socklen_t remote_length);
  void detach();
  bool active() const noexcept { return fd_ >= 0 && !refused_; }

  // Sends the datagrams in order and returns how many left (a prefix of the batch): fewer
  // when the socket buffer is full. Returns 0 and turns inactive for good when the kernel
  // refuses UDP_SEGMENT (no support, or no checksum offload on the route): the caller then
  // sends datagram by datagram.
  std::size_t send(std::span<const std::span<const std::byte>> datagrams);

 private:
  int fd_ = -1;  // not owned
  sockaddr_storage remote_{};
  socklen_t remote_length_ = 0;
  bool refused_ = false;
  // Scratch reused between calls: no allocation per batch once grown.
  std::vector<iovec> iov_;
  std::vector<mmsghdr> messages_;
  std::vector<std::size_t> datagrams_in_message_;
  std::vector<std::byte> control_;
};

}  // namespace peer::ice
