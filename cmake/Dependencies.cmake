# Third-party dependencies. Everything comes from Debian packages (scripts/setup.sh) except
# SentencePiece, which is built from Debian's source package (cmake/SentencePiece.cmake).
find_package(Threads REQUIRED)
find_package(ICU 60 REQUIRED COMPONENTS uc i18n data)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)

# LibTorch: Debian's libtorch-dev (CPU) or, on the CUDA machine, pip torch's CMake package
# (pass -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')).
# pip torch's CUDA config looks for the NVTX3 headers in PyTorch's own source tree unless told to
# use the system's (the CUDA toolkit ships them); without them it links a CUDA::nvToolsExt target
# that recent CUDA toolkits may not define. torch 2.11 (the CUDA machine's) needed neither; kept
# for the 2.x configs that look for NVTX3. Neither matters for CPU builds.
if(NOT DEFINED USE_SYSTEM_NVTX)
  set(USE_SYSTEM_NVTX ON)
endif()
find_package(Torch REQUIRED)
# Torch's flags carry the C++ ABI choice; every TU must agree on it.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_compile_options(${_torch_flags})
add_library(sembed_torch INTERFACE)
if(Torch_VERSION VERSION_GREATER_EQUAL 2.0)
  # pytorch.org's LibTorch 2.x (pip wheels, libtorch zips) is built with a devtoolset GCC and
  # exports the static libstdc++ pieces it carries, std::filesystem among them
  # (pytorch/pytorch#133437). The linker binds each call to the first library on the command line
  # that defines it, and g++ puts libstdc++ last, so std::filesystem calls bound to torch's copy,
  # which does not match this compiler's inline code: every checkpoint prune, scratch directory
  # and model directory write segfaulted on the CUDA machine. Named again just before torch,
  # libstdc++ wins (checked there: those tests pass). A directory-wide add_link_options(-lstdc++)
  # ahead of the objects did not change the binding there.
  target_link_libraries(sembed_torch INTERFACE
                        "-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state")
endif()
target_link_libraries(sembed_torch INTERFACE ${TORCH_LIBRARIES})
if(TARGET torch_cuda)
  set(SEMBED_HAVE_CUDA ON)
  if(NOT TARGET CUDA::nvToolsExt)
    # Named by torch's config when it found no NVTX3 headers; sembed makes no NVTX calls.
    add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
  endif()
  # Nothing in sembed calls into libtorch_cuda directly: without this the linker's --as-needed
  # drops it and torch::cuda::is_available() says false.
  target_link_libraries(sembed_torch INTERFACE "-Wl,--no-as-needed" torch_cuda "-Wl,--as-needed")
else()
  set(SEMBED_HAVE_CUDA OFF)
endif()
message(STATUS "sembed: LibTorch ${Torch_VERSION}, CUDA: ${SEMBED_HAVE_CUDA}")

# cpp-httplib is a compiled library on Debian: its compile definitions must be used or the
# class layouts disagree (segfault).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# hnswlib is header-only on Debian.
find_path(HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h REQUIRED)
add_library(sembed_hnswlib INTERFACE)
target_include_directories(sembed_hnswlib SYSTEM INTERFACE ${HNSWLIB_INCLUDE_DIR})
if(SEMBED_SANITIZE OR SEMBED_FUZZ)
  # hnswlib 0.6.2's SSE path prefetches the neighbour after the last one, reading 4 bytes past the
  # end of a link list (upstream nmslib/hnswlib#107, #459; harmless on real hardware, but ASan
  # stops there). Sanitizer builds take hnswlib's portable path; release builds keep SSE/AVX.
  target_compile_definitions(sembed_hnswlib INTERFACE NO_MANUAL_VECTORIZATION)
endif()

if(SEMBED_BUILD_TESTS)
  # SEMBED_GTEST_SOURCE_DIR: build GoogleTest from source (the CUDA machine has no Debian
  # libgtest built for its compiler; its source comes in Debian's googletest package).
  set(SEMBED_GTEST_SOURCE_DIR "" CACHE PATH "Build GoogleTest from this source tree")
  if(SEMBED_GTEST_SOURCE_DIR)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory(${SEMBED_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gtest)  # GoogleTest >= 1.11 defines these aliases itself
      add_library(GTest::gtest ALIAS gtest)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
  else()
    find_package(GTest REQUIRED)
  endif()
endif()
if(SEMBED_BUILD_BENCH)
  find_package(benchmark QUIET)
endif()
