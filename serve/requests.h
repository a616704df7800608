#pragma once

// JSON request bodies of each route parsed and validated into plain structs. Pure functions of the
// body text and a few limits: no HTTP, no model, no globals, so they can be fuzzed. Every failure
// is a RequestError (serve/http_error.h) whose message names the field at fault:
//   400 "invalid_json"      the body is empty, not JSON, or not valid UTF-8;
//   422 "validation_error"  wrong types, missing fields, empty strings or lists, too many inputs,
//                           values out of range.
// Unknown fields are ignored (clients such as OpenAI's send extra ones); null counts as absent.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sembed::serve {

// Facts the parsers check against.
struct RequestLimits {
  int max_client_batch = 32;  // inputs per request (/embed, /v1/embeddings, /similarity, /search)
  int max_k = 1000;           // largest k for /search
  int vocab_size = 0;         // pre-tokenized inputs need ids in [0, vocab_size); 0 refuses them
  int dim = 0;                // embedding width (OpenAI "dimensions" must equal it when given)
};

// One input to embed: a text, or a list of this model's piece ids (no [CLS]/[SEP]), which TEI and
// OpenAI both accept in place of a text.
struct EmbedInput {
  std::string text;
  std::vector<int> ids;
  bool pretokenized = false;
};

enum class TruncationDirection { kRight, kLeft };

// Settings shared by every route that embeds text.
struct TruncationOptions {
  std::optional<bool> truncate;  // absent: the server's default (--no-truncate turns it off)
  TruncationDirection direction = TruncationDirection::kRight;  // which end loses tokens
};

// POST /embed (TEI): {"inputs": str | [str] | [id] | [[id]], "normalize": true,
// "truncate": bool, "truncation_direction": "right" | "left"}
struct EmbedRequest {
  std::vector<EmbedInput> inputs;
  bool normalize = true;
  TruncationOptions truncation;
};
EmbedRequest parse_embed_request(std::string_view body, const RequestLimits& limits);

// POST /v1/embeddings (OpenAI): {"input": str | [str] | [id] | [[id]], "model": str,
// "encoding_format": "float" | "base64", "dimensions": int, "user": str}
struct OpenAiEmbeddingsRequest {
  std::vector<EmbedInput> inputs;
  std::string model;    // echoed back; "" when absent
  bool base64 = false;  // encoding_format "base64": little-endian float32 bytes, base64-encoded
  TruncationOptions truncation;  // sembed extension: "truncate", "truncation_direction"
};
OpenAiEmbeddingsRequest parse_openai_embeddings_request(std::string_view body,
                                                        const RequestLimits& limits);

// POST /similarity (TEI): {"inputs": {"source_sentence": str, "sentences": [str]}, "truncate"...}
struct SimilarityRequest {
  std::string source;
  std::vector<std::string> sentences;
  TruncationOptions truncation;
};
SimilarityRequest parse_similarity_request(std::string_view body, const RequestLimits& limits);

// POST /search: {"query": str} or {"queries": [str]}, "k": int (default 10, or max_k when that is
// smaller), "truncate"...
struct SearchRequest {
  std::vector<std::string> queries;
  bool batch = false;  // "queries" was given: answer one list of hits per query
  int k = 10;
  TruncationOptions truncation;
};
SearchRequest parse_search_request(std::string_view body, const RequestLimits& limits);

}  // namespace sembed::serve
