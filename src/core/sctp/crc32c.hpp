#pragma once
// CRC32c (Castagnoli, RFC 3309; the SCTP checksum of RFC 9260 section 6.8 and appendix A).
//
// usrsctp's own CRC32c is a third of all CPU in Debian's build (docs/performance.md lever 1), so
// the association turns usrsctp's checksumming off (usrsctp_enable_crc32c_offload) and
// computes it here on each outgoing packet: with SSE4.2's crc32 instruction when the CPU
// has it (checked once at run time with cpuid), else with a portable slicing-by-8 table.
// Incoming checksums are then not verified by usrsctp; DTLS authenticates every record
// below SCTP, so a corrupted packet never reaches it.

#include <cstddef>
#include <cstdint>
#include <span>

namespace peer::sctp {

// The CRC32c of `data` (initial value and final xor 0xFFFFFFFF; CRC32c("123456789") is
// 0xE3069283). Uses the fastest implementation this CPU supports.
std::uint32_t crc32c(std::span<const std::byte> data) noexcept;

// The portable table implementation, whatever the CPU (for tests and comparisons).
std::uint32_t crc32c_portable(std::span<const std::byte> data) noexcept;

// True when crc32c() uses the CPU's crc32 instruction (x86-64 with SSE4.2).
bool crc32c_hardware() noexcept;

// Writes the CRC32c of an SCTP packet into its checksum field (bytes 8..11 of the common
// header, RFC 9260 section 3.1): the field is zeroed, the CRC computed over the whole packet
// and stored least significant byte first, which is the order RFC 9260 appendix A and
// every implementation (usrsctp's sctp_calculate_cksum included) put on the wire.
// Packets shorter than the 12-byte common header are left alone.
void write_sctp_checksum(std::span<std::byte> packet) noexcept;

}  // namespace peer::sctp
