# -DSEMBED_SANITIZE=ON: ASan + UBSan for every target, SentencePiece included (scripts/sanitize.sh).
# Prebuilt libraries (Debian's libtorch, ICU, GoogleTest) stay uninstrumented.
if(SEMBED_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${_san})
  add_link_options(${_san})
  add_compile_definitions(SEMBED_SANITIZE=1)
endif()

# -DSEMBED_FUZZ=ON: libFuzzer targets in fuzz/ (scripts/fuzz.sh). Needs clang. Every library the
# fuzz targets link (sembed's own and SentencePiece) is compiled with coverage instrumentation
# (fuzzer-no-link) plus ASan + UBSan, so the fuzzer sees and checks their code; the fuzz targets
# themselves add -fsanitize=fuzzer (libFuzzer's main). UBSan findings abort (no recovery), so
# libFuzzer reports them as crashes.
if(SEMBED_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "SEMBED_FUZZ=ON needs clang (libFuzzer), but the compilers are "
      "${CMAKE_C_COMPILER_ID}/${CMAKE_CXX_COMPILER_ID}.\n"
      "Configure a separate build directory with clang, e.g.\n"
      "  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DSEMBED_FUZZ=ON\n"
      "or run scripts/fuzz.sh (Debian: apt-get install clang-14 libclang-rt-14-dev).")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -g)
  add_link_options(-fsanitize=address,undefined)
endif()
