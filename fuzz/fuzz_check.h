#pragma once

// FUZZ_CHECK(cond, what): an invariant of the code under test. A failure prints the condition
// and a note, then aborts, which libFuzzer reports as a crash (and saves the input).
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sembed::fuzz {

[[noreturn]] inline void check_failed(const char* cond, const std::string& what, const char* file,
                                      int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, cond, what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace sembed::fuzz

#define FUZZ_CHECK(cond, what)                                                    \
  do {                                                                            \
    if (!(cond)) ::sembed::fuzz::check_failed(#cond, (what), __FILE__, __LINE__); \
  } while (0)
