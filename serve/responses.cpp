#include "serve/responses.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace sembed::serve {

std::string error_body(int status, const std::string& type, const std::string& message) {
  const nlohmann::json body = {{"error", {{"code", status}, {"type", type}, {"message", message}}}};
  // Messages may quote client text: never fail on it.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

namespace {

void append_vector(std::string& out, const float* v, int64_t dim) {
  out += '[';
  for (int64_t i = 0; i < dim; ++i) {
    if (i > 0) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

}  // namespace

std::string embeddings_body(const float* data, int64_t rows, int64_t dim) {
  std::string out;
  out.reserve(static_cast<size_t>(rows * dim * 12 + 2));
  out += '[';
  for (int64_t r = 0; r < rows; ++r) {
    if (r > 0) out += ',';
    append_vector(out, data + r * dim, dim);
  }
  out += ']';
  return out;
}

std::string float_list_body(const std::vector<float>& values) {
  std::string out;
  append_vector(out, values.data(), static_cast<int64_t>(values.size()));
  return out;
}

std::string base64_encode(const void* data, size_t bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((bytes + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes; i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < bytes) v |= uint32_t(p[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string openai_embeddings_body(const float* data, int64_t rows, int64_t dim, bool base64,
                                   const std::string& model, int64_t prompt_tokens) {
  std::string out;
  out.reserve(static_cast<size_t>(rows * dim * (base64 ? 6 : 12) + 256));
  out += "{\"object\":\"list\",\"data\":[";
  std::vector<unsigned char> le(static_cast<size_t>(dim) * 4);
  for (int64_t r = 0; r < rows; ++r) {
    if (r > 0) out += ',';
    out += "{\"object\":\"embedding\",\"index\":" + std::to_string(r) + ",\"embedding\":";
    const float* v = data + r * dim;
    if (base64) {
      // OpenAI's base64 format is the little-endian float32 bytes, whatever the host order.
      for (int64_t i = 0; i < dim; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &v[i], 4);
        for (int b = 0; b < 4; ++b) le[i * 4 + b] = static_cast<unsigned char>(bits >> (8 * b));
      }
      out += '"' + base64_encode(le.data(), le.size()) + '"';
    } else {
      append_vector(out, v, dim);
    }
    out += '}';
  }
  out += "],\"model\":" +
         nlohmann::json(model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += ",\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
         ",\"total_tokens\":" + std::to_string(prompt_tokens) + "}}";
  return out;
}

}  // namespace sembed::serve
