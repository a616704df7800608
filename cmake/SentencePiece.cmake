# SentencePiece 0.1.97, built from Debian's source package (fetched by scripts/setup.sh into
# .deps/; Debian's patches add the API that Debian's headers declare) as ONE static library with
# hidden visibility and its own builtin protobuf-lite. Debian's shared libsentencepiece exports
# its protobuf 3.14, which clashes with the protobuf 3.21 that libtorch loads and crashes the
# process before main(). Consumers link with -Wl,--exclude-libs,ALL (see sembed_tokenizer).
set(SEMBED_SPM_DIR "${CMAKE_CURRENT_SOURCE_DIR}/.deps/sentencepiece-0.1.97" CACHE PATH
    "SentencePiece 0.1.97 source tree (Debian source package)")
if(NOT EXISTS "${SEMBED_SPM_DIR}/src/sentencepiece_processor.cc")
  message(FATAL_ERROR "SentencePiece source not found in ${SEMBED_SPM_DIR}.\n"
                      "Run scripts/setup.sh first (it fetches Debian's source package).")
endif()

file(STRINGS "${SEMBED_SPM_DIR}/VERSION.txt" SEMBED_SPM_VERSION LIMIT_COUNT 1)
set(_spm ${SEMBED_SPM_DIR}/src)
file(GLOB _spm_protobuf_lite ${SEMBED_SPM_DIR}/third_party/protobuf-lite/*.cc)
set(_spm_sources
    ${_spm_protobuf_lite}
    ${_spm}/builtin_pb/sentencepiece.pb.cc
    ${_spm}/builtin_pb/sentencepiece_model.pb.cc
    ${SEMBED_SPM_DIR}/third_party/absl/flags/flag.cc
    # inference
    ${_spm}/bpe_model.cc ${_spm}/char_model.cc ${_spm}/error.cc ${_spm}/filesystem.cc
    ${_spm}/model_factory.cc ${_spm}/model_interface.cc ${_spm}/normalizer.cc
    ${_spm}/sentencepiece_processor.cc ${_spm}/unigram_model.cc ${_spm}/util.cc
    ${_spm}/word_model.cc
    # training
    ${_spm}/builder.cc ${_spm}/unicode_script.cc ${_spm}/trainer_factory.cc
    ${_spm}/trainer_interface.cc ${_spm}/unigram_model_trainer.cc ${_spm}/word_model_trainer.cc
    ${_spm}/char_model_trainer.cc ${_spm}/bpe_model_trainer.cc ${_spm}/sentencepiece_trainer.cc
    ${_spm}/pretokenizer_for_training.cc)

set(_spm_gen ${CMAKE_CURRENT_BINARY_DIR}/sentencepiece-gen)
file(WRITE ${_spm_gen}/config.h.new
     "#ifndef CONFIG_H_\n#define CONFIG_H_\n#define VERSION \"${SEMBED_SPM_VERSION}\"\n"
     "#define PACKAGE \"sentencepiece\"\n#define PACKAGE_STRING \"sentencepiece\"\n#endif\n")
# Only touch config.h when its content changes (a rewrite would rebuild all of SentencePiece).
configure_file(${_spm_gen}/config.h.new ${_spm_gen}/config.h COPYONLY)

add_library(sembed_sentencepiece STATIC ${_spm_sources})
set_target_properties(sembed_sentencepiece PROPERTIES
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  POSITION_INDEPENDENT_CODE ON)
target_compile_definitions(sembed_sentencepiece PRIVATE HAVE_PTHREAD=1 _USE_INTERNAL_STRING_VIEW)
target_compile_options(sembed_sentencepiece PRIVATE -w -pthread)
target_include_directories(sembed_sentencepiece
  PRIVATE ${_spm_gen} ${_spm} ${_spm}/builtin_pb ${SEMBED_SPM_DIR}/third_party
          ${SEMBED_SPM_DIR}/third_party/protobuf-lite ${SEMBED_SPM_DIR})
# Only the two public headers are exposed; they include std headers alone.
target_include_directories(sembed_sentencepiece SYSTEM INTERFACE ${_spm})
target_link_libraries(sembed_sentencepiece PUBLIC Threads::Threads)
# Keep every archive symbol (protobuf-lite above all) out of the dynamic symbol table of
# whatever links us.
if(SEMBED_FUZZ OR SEMBED_SANITIZE)
  # Clang links the sanitizer runtimes as static archives: hiding ALL archive symbols hides their
  # malloc/operator new interceptors from shared libraries (libstdc++.so then allocates with glibc
  # and ASan reports a bad-free). Hide SentencePiece's own archive only.
  target_link_options(sembed_sentencepiece INTERFACE
                      "LINKER:--exclude-libs,libsembed_sentencepiece.a")
else()
  target_link_options(sembed_sentencepiece INTERFACE "LINKER:--exclude-libs,ALL")
endif()
