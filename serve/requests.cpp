#include "serve/requests.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "serve/http_error.h"
#include "tokenizer/utf8.h"

namespace sembed::serve {
namespace {

using json = nlohmann::json;

// What a value is, for messages: "string", "object", "number 2.5", ...
std::string describe(const json& j) {
  if (j.is_number_float()) return "number " + j.dump();
  return j.type_name();
}

// Stands in for each malformed byte sequence while we find which field holds it: a Unicode
// noncharacter, which no well-behaved client sends.
constexpr int32_t kInvalidMarker = 0xFDD0;

std::string marker_utf8() {
  std::string s;
  append_utf8(s, kInvalidMarker);
  return s;
}

// Path of the first string (key or value) in `j` that contains the marker, e.g. "inputs[2]".
// Gives up below a few levels of nesting (a body may nest a million deep: no recursion that far).
bool find_marked(const json& j, const std::string& path, std::string& found, int depth = 0) {
  static const std::string marker = marker_utf8();
  if (depth > 16) return false;
  if (j.is_string()) {
    if (j.get_ref<const std::string&>().find(marker) == std::string::npos) return false;
    found = path.empty() ? "the body" : path;
    return true;
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      if (find_marked(j[i], path + "[" + std::to_string(i) + "]", found, depth + 1)) return true;
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string child = path.empty() ? it.key() : path + "." + it.key();
      if (it.key().find(marker) != std::string::npos) {
        found = "a field name" + (path.empty() ? std::string() : " in " + path);
        return true;
      }
      if (find_marked(it.value(), child, found, depth + 1)) return true;
    }
  }
  return false;
}

// The body as a JSON object, or a RequestError saying what is wrong with it.
json parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw invalid_json("the request body is empty; expected a JSON object");
  const size_t bad = find_invalid_utf8(body);
  if (bad != std::string_view::npos) {
    // Name the field: replace every malformed sequence by a marker, parse, look for it.
    std::string cleaned;
    for (size_t i = 0; i < body.size();) {
      size_t len = 0;
      const int32_t cp = decode_utf8(body, i, len);
      if (cp < 0)
        append_utf8(cleaned, kInvalidMarker);
      else
        cleaned.append(body.substr(i, len));
      i += len;
    }
    std::string where;
    const json j = json::parse(cleaned, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) find_marked(j, "", where);
    throw invalid_json((where.empty() ? std::string("the request body") : where) +
                       " is not valid UTF-8 (malformed byte at offset " + std::to_string(bad) +
                       " of the body)");
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // A parse_error, or an out_of_range for a number beyond double's range ("1e400").
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    std::string what = e.what();
    const size_t cut = what.find("] ");
    if (cut != std::string::npos) what = what.substr(cut + 2);
    throw invalid_json("the request body is not valid JSON: " + what);
  }
  if (!j.is_object())
    throw validation_error("the request body must be a JSON object, got " + describe(j));
  return j;
}

// The field `key` of `obj`, or nullptr when absent or null.
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// `path` is a C string: a std::string temporary here makes GCC 13 warn that the returned reference
// may dangle (-Wdangling-reference), though it points into `obj`.
const json& required(const json& obj, const char* key, const char* path) {
  const json* f = field(obj, key);
  if (f == nullptr) throw validation_error(std::string("missing required field '") + path + "'");
  return *f;
}

[[noreturn]] void wrong_type(const std::string& path, const std::string& expected,
                             const json& got) {
  throw validation_error(path + " must be " + expected + ", got " + describe(got));
}

bool optional_bool(const json& obj, const char* key, bool fallback) {
  const json* f = field(obj, key);
  if (f == nullptr) return fallback;
  if (!f->is_boolean()) wrong_type(key, "a boolean", *f);
  return f->get<bool>();
}

std::string non_empty_string(const json& j, const std::string& path) {
  if (!j.is_string()) wrong_type(path, "a string", j);
  const auto& s = j.get_ref<const std::string&>();
  if (s.empty()) throw validation_error(path + " must not be an empty string");
  return s;
}

std::vector<std::string> string_list(const json& j, const std::string& path,
                                     const RequestLimits& limits) {
  if (!j.is_array()) wrong_type(path, "a list of strings", j);
  if (j.empty()) throw validation_error(path + " must not be an empty list");
  if (j.size() > static_cast<size_t>(limits.max_client_batch))
    throw validation_error(path + " has " + std::to_string(j.size()) + " items; the limit is " +
                           std::to_string(limits.max_client_batch) + " (--max-client-batch)");
  std::vector<std::string> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(non_empty_string(j[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

TruncationOptions truncation_options(const json& obj) {
  TruncationOptions t;
  if (const json* f = field(obj, "truncate")) {
    if (!f->is_boolean()) wrong_type("truncate", "a boolean", *f);
    t.truncate = f->get<bool>();
  }
  if (const json* f = field(obj, "truncation_direction")) {
    if (!f->is_string()) wrong_type("truncation_direction", "\"right\" or \"left\"", *f);
    std::string v = f->get<std::string>();
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "right")
      t.direction = TruncationDirection::kRight;
    else if (v == "left")
      t.direction = TruncationDirection::kLeft;
    else
      throw validation_error("truncation_direction must be \"right\" or \"left\", got \"" +
                             f->get<std::string>() + "\"");
  }
  return t;
}

bool is_id_list(const json& j) {
  if (!j.is_array() || j.empty()) return false;
  for (const auto& e : j)
    if (!e.is_number_integer()) return false;
  return true;
}

EmbedInput id_input(const json& j, const std::string& path, const RequestLimits& limits) {
  if (limits.vocab_size <= 0)
    throw validation_error(path + ": pre-tokenized input (token ids) is not supported here");
  EmbedInput in;
  in.pretokenized = true;
  in.ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    const bool in_range = e.is_number_unsigned()
                              ? e.get<uint64_t>() < static_cast<uint64_t>(limits.vocab_size)
                              : e.get<int64_t>() >= 0 && e.get<int64_t>() < limits.vocab_size;
    if (!in_range)
      throw validation_error(path + "[" + std::to_string(i) + "]: token id " + e.dump() +
                             " is outside this model's vocabulary [0, " +
                             std::to_string(limits.vocab_size) + ")");
    in.ids.push_back(static_cast<int>(e.get<int64_t>()));
  }
  return in;
}

// str | [str] | [id] | [[id]] (and mixtures of texts and id lists).
std::vector<EmbedInput> embed_inputs(const json& j, const std::string& path,
                                     const RequestLimits& limits) {
  const std::string expected = "a string, a list of strings or a list of token ids";
  std::vector<EmbedInput> out;
  if (j.is_string()) {
    EmbedInput in;
    in.text = non_empty_string(j, path);
    out.push_back(std::move(in));
    return out;
  }
  if (!j.is_array()) wrong_type(path, expected, j);
  if (j.empty()) throw validation_error(path + " must not be an empty list");
  if (is_id_list(j)) {  // one pre-tokenized input
    out.push_back(id_input(j, path, limits));
    return out;
  }
  if (j.size() > static_cast<size_t>(limits.max_client_batch))
    throw validation_error(path + " has " + std::to_string(j.size()) + " items; the limit is " +
                           std::to_string(limits.max_client_batch) + " (--max-client-batch)");
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string item = path + "[" + std::to_string(i) + "]";
    const json& e = j[i];
    if (e.is_string()) {
      EmbedInput in;
      in.text = non_empty_string(e, item);
      out.push_back(std::move(in));
    } else if (e.is_array()) {
      if (e.empty()) throw validation_error(item + " must not be an empty list");
      if (!is_id_list(e)) wrong_type(item, "a string or a list of token ids", e);
      out.push_back(id_input(e, item, limits));
    } else {
      wrong_type(item, "a string or a list of token ids", e);
    }
  }
  return out;
}

}  // namespace

EmbedRequest parse_embed_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_body(body);
  EmbedRequest r;
  r.inputs = embed_inputs(required(j, "inputs", "inputs"), "inputs", limits);
  r.normalize = optional_bool(j, "normalize", true);
  r.truncation = truncation_options(j);
  return r;
}

OpenAiEmbeddingsRequest parse_openai_embeddings_request(std::string_view body,
                                                        const RequestLimits& limits) {
  const json j = parse_body(body);
  OpenAiEmbeddingsRequest r;
  r.inputs = embed_inputs(required(j, "input", "input"), "input", limits);
  if (const json* f = field(j, "model")) {
    if (!f->is_string()) wrong_type("model", "a string", *f);
    r.model = f->get<std::string>();
  }
  if (const json* f = field(j, "encoding_format")) {
    if (!f->is_string()) wrong_type("encoding_format", "\"float\" or \"base64\"", *f);
    const std::string v = f->get<std::string>();
    if (v != "float" && v != "base64")
      throw validation_error("encoding_format must be \"float\" or \"base64\", got \"" + v + "\"");
    r.base64 = v == "base64";
  }
  if (const json* f = field(j, "dimensions")) {
    if (!f->is_number_integer()) wrong_type("dimensions", "an integer", *f);
    if (limits.dim > 0 && f->get<int64_t>() != limits.dim)
      throw validation_error("dimensions must be " + std::to_string(limits.dim) +
                             " (this model's embedding width), got " + f->dump());
  }
  if (const json* f = field(j, "user")) {
    if (!f->is_string()) wrong_type("user", "a string", *f);
  }
  r.truncation = truncation_options(j);
  return r;
}

SimilarityRequest parse_similarity_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_body(body);
  const json& inputs = required(j, "inputs", "inputs");
  if (!inputs.is_object())
    wrong_type("inputs", "an object {\"source_sentence\": str, \"sentences\": [str]}", inputs);
  SimilarityRequest r;
  r.source = non_empty_string(required(inputs, "source_sentence", "inputs.source_sentence"),
                              "inputs.source_sentence");
  r.sentences =
      string_list(required(inputs, "sentences", "inputs.sentences"), "inputs.sentences", limits);
  r.truncation = truncation_options(j);
  return r;
}

SearchRequest parse_search_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_body(body);
  const json* query = field(j, "query");
  const json* queries = field(j, "queries");
  if (query != nullptr && queries != nullptr)
    throw validation_error("give either 'query' or 'queries', not both");
  SearchRequest r;
  r.k = std::min(r.k, limits.max_k);  // the default never exceeds --max-k
  if (query != nullptr) {
    r.queries.push_back(non_empty_string(*query, "query"));
  } else if (queries != nullptr) {
    r.queries = string_list(*queries, "queries", limits);
    r.batch = true;
  } else {
    throw validation_error("missing required field 'query' (or 'queries' for several)");
  }
  if (const json* f = field(j, "k")) {
    if (!f->is_number_integer()) wrong_type("k", "an integer", *f);
    const bool in_range =
        f->is_number_unsigned()
            ? f->get<uint64_t>() <= static_cast<uint64_t>(limits.max_k) && f->get<uint64_t>() >= 1
            : f->get<int64_t>() >= 1 && f->get<int64_t>() <= limits.max_k;
    if (!in_range)
      throw validation_error("k must be between 1 and " + std::to_string(limits.max_k) + ", got " +
                             f->dump());
    r.k = static_cast<int>(f->get<int64_t>());
  }
  r.truncation = truncation_options(j);
  return r;
}

}  // namespace sembed::serve
