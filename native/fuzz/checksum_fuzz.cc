// libFuzzer harness: completion of partial inner checksums (CompletePartialChecksum). Invariants
// (core/checksum.h): "completed" means the TCP/UDP checksum is now valid and only its two bytes changed,
// and a second call says "valid"; "valid" means it was valid; "bad" means it was not; and only
// "completed" writes to the packet.
//
// Also: every SumBytes implementation (scalar, AVX2) gives the same sum over the input bytes.
//
// Input: the IP packet.
#include "core/checksum.h"
#include "fuzz_input.h"
#include "slow_checksum.h"

using namespace vxtun;

namespace {}  // namespace

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
    case CsumFix::NotApplicable: FUZZ_CHECK(std::memcmp(pkt.get(), before.get(), len) == 0); break;
  }
  return 0;
}
