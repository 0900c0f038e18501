// libFuzzer harness: completion of partial inner checksums (CompletePartialChecksum). Invariants
// (checksum.h): "completed" means the TCP/UDP checksum is now valid and only its two bytes changed,
// and a second call says "valid"; "valid" means it was valid; "bad" means it was not; and only
// "completed" writes to the packet.
//
// Also: every SumBytes implementation (scalar, AVX2) gives the same sum over the input bytes.
//
// Input: the IP packet.
#include "../checksum.h"
#include "fuzz_input.h"

using namespace vxtun;

namespace {

// Whether the TCP/UDP checksum of a parsed packet verifies (the slow way: byte by byte).
bool L4Valid(const uint8_t* pkt, const InnerIp& ip) {
  const size_t l4len = ip.length - ip.headerLen;
  const size_t alen = ip.family == 4 ? 4 : 16;
  uint64_t sum = 0;
  for (size_t i = 0; i < alen; i += 2) sum += (ip.src[i] << 8 | ip.src[i + 1]) + (ip.dst[i] << 8 | ip.dst[i + 1]);
  sum += ip.proto + l4len;
  const uint8_t* l4 = pkt + ip.headerLen;
  for (size_t i = 0; i < l4len; i++) sum += i % 2 ? l4[i] : l4[i] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint16_t scalar = Fold(SumBytesWith(SumImpl::Scalar, data, size));
  FUZZ_CHECK(Fold(SumBytesWith(SumImpl::Avx2, data, size)) == scalar);  // Scalar again when the CPU lacks AVX2
  FUZZ_CHECK(Fold(SumBytes(data, size)) == scalar);

  fuzz::Reader r(data, size);
  size_t len;
  auto pkt = r.Rest(&len);
  InnerIp ip;
  if (ParseInnerIp(pkt.get(), len, &ip) != Verdict::Forward) return 0;
  std::unique_ptr<uint8_t[]> before(new uint8_t[len]);
  std::memcpy(before.get(), pkt.get(), len);

  const CsumFix fix = CompletePartialChecksum(pkt.get(), ip);
  const size_t csumAt = ip.headerLen + (ip.proto == 6 ? 16 : 6);
  switch (fix) {
    case CsumFix::Completed:
      FUZZ_CHECK(L4Valid(pkt.get(), ip));
      for (size_t i = 0; i < len; i++) FUZZ_CHECK(pkt[i] == before[i] || i == csumAt || i == csumAt + 1);
      FUZZ_CHECK(CompletePartialChecksum(pkt.get(), ip) == CsumFix::Valid);
      break;
    case CsumFix::Valid:
      FUZZ_CHECK(std::memcmp(pkt.get(), before.get(), len) == 0);
      FUZZ_CHECK(L4Valid(pkt.get(), ip));
      break;
    case CsumFix::Bad:
      FUZZ_CHECK(std::memcmp(pkt.get(), before.get(), len) == 0);
      FUZZ_CHECK(!L4Valid(pkt.get(), ip));
      break;
    case CsumFix::NotApplicable:
      FUZZ_CHECK(std::memcmp(pkt.get(), before.get(), len) == 0);
      break;
  }
  return 0;
}
