// Runs a test body once per SIMD target that is both compiled into octet and supported by this CPU, so the
// portable and SSE paths are checked on an AVX-512 machine too.
#ifndef OCTET_TESTS_OPS_SIMD_TARGETS_H_
#define OCTET_TESTS_OPS_SIMD_TARGETS_H_

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "hwy/targets.h"

namespace octet::testing {

// Calls body(target_name) with dispatch forced to each target in turn, then restores normal dispatch (also when
// a fatal assertion returns early from the body).
template <class Body>
void ForEachSimdTarget(Body&& body) {
  struct Restore {
    ~Restore() { hwy::SetSupportedTargetsForTest(0); }
  } restore;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("SIMD target ") + hwy::TargetName(target));
    body(std::string(hwy::TargetName(target)));
  }
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_OPS_SIMD_TARGETS_H_
