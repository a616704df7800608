#pragma once

// Embedding file sets, what downstream search consumes:
//   DIR/embeddings.npy   float32 [N, D] ('<f4'), or int8 ('|i1') with meta.json "scale"
//   DIR/texts.jsonl      {"id": i, "text": line i} per row
//   DIR/meta.json        dim, dtype, normalized, pooling, count, model hash, source, ...
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/embedder.h"

namespace sembed {

struct EmbedFileOptions {
  std::string input;              // one text per line ("-" = stdin)
  std::string output_dir;         // replaced atomically
  std::string dtype = "float32";  // float32 or int8 (int8 needs normalised vectors)
  int64_t chunk_lines = 32768;    // lines held in memory at a time
  bool progress = true;
  void validate() const;
};

struct EmbedFileStats {
  int64_t rows = 0;
  int64_t empty = 0;      // empty lines: embedded as the empty text, row kept
  int64_t truncated = 0;  // lines cut to max_len tokens
  int64_t tokens = 0;
  double seconds = 0;
};

// Embeds every line of options.input into an embedding file set. Streams in chunks (memory does
// not grow with the input); the directory appears complete under its final name or not at all.
// Invalid UTF-8 is an error naming the line. Throws std::runtime_error / std::invalid_argument.
EmbedFileStats embed_file(const Embedder& embedder, const EmbedFileOptions& options);

// A loaded embedding set (vectors as float32 whatever the stored dtype).
struct EmbeddingSet {
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<float> vectors;      // rows * dim
  std::vector<std::string> texts;  // row i's text
  std::vector<std::string> ids;    // row i's id, as a string
  nlohmann::json meta;
};
// Reads and cross-checks the three files (row counts, dim). Throws std::runtime_error naming the
// file on any inconsistency.
EmbeddingSet load_embedding_set(const std::string& dir);

}  // namespace sembed
