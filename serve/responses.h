#pragma once

// JSON response bodies, written by hand where they are large (embeddings): every float in its
// shortest form that reads back to the same float32, a few times faster and smaller than going
// through a JSON document of doubles. Non-finite values become null.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sembed::serve {

// {"error": {"code": status, "type": type, "message": message}}: the one error shape.
std::string error_body(int status, const std::string& type, const std::string& message);

// Appends `v` in its shortest round-trip decimal form (or null).
void append_float(std::string& out, float v);

// [[v, ...], ...]: `rows` vectors of `dim` floats (row-major `data`).
std::string embeddings_body(const float* data, int64_t rows, int64_t dim);

// [s, ...]
std::string float_list_body(const std::vector<float>& values);

// The OpenAI embeddings response: {"object": "list", "data": [{"object": "embedding", "index": i,
// "embedding": [...] or "<base64 of little-endian float32>"}], "model": model,
// "usage": {"prompt_tokens": n, "total_tokens": n}}.
std::string openai_embeddings_body(const float* data, int64_t rows, int64_t dim, bool base64,
                                   const std::string& model, int64_t prompt_tokens);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const void* data, size_t bytes);

}  // namespace sembed::serve
