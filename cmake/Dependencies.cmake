# Third-party dependencies. Everything comes from Debian packages (scripts/setup.sh) except
# SentencePiece, which is built from Debian's source package (cmake/SentencePiece.cmake).
find_package(Threads REQUIRED)
find_package(ICU 60 REQUIRED COMPONENTS uc i18n data)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)

# LibTorch: Debian's libtorch-dev (CPU) or, on the CUDA machine, pip torch's CMake package
# (pass -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')).
find_package(Torch REQUIRED)
# Torch's flags carry the C++ ABI choice; every TU must agree on it.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_compile_options(${_torch_flags})
add_library(sembed_torch INTERFACE)
target_link_libraries(sembed_torch INTERFACE ${TORCH_LIBRARIES})
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(SEMBED_HAVE_CUDA ON)
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

if(SEMBED_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(SEMBED_BUILD_BENCH)
  find_package(benchmark QUIET)
endif()
