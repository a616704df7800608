# -DSEMBED_SANITIZE=ON: ASan + UBSan for every target, SentencePiece included.
if(SEMBED_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${_san})
  add_link_options(${_san})
  add_compile_definitions(SEMBED_SANITIZE=1)
endif()
