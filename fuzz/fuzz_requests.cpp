// Request parsing and validation (serve/requests.h) on arbitrary bodies: every route's parser, with
// generous and with strict limits. The documented contract: a parser returns a request that
// satisfies its limits, or throws RequestError (400 "invalid_json" / 422 "validation_error") with a
// message; any other exception, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "serve/http_error.h"
#include "serve/requests.h"
#include "tokenizer/utf8.h"

namespace sembed::serve {
namespace {

RequestLimits generous() {
  RequestLimits l;
  l.max_client_batch = 4;
  l.max_k = 100;
  l.vocab_size = 300;
  l.dim = 8;
  return l;
}

// Refuses pre-tokenized input and allows one input per request.
RequestLimits strict() {
  RequestLimits l;
  l.max_client_batch = 1;
  l.max_k = 1;
  l.vocab_size = 0;
  l.dim = 0;
  return l;
}

bool valid_text(const std::string& s) {
  return !s.empty() && find_invalid_utf8(s) == std::string_view::npos;
}

void check_inputs(const std::vector<EmbedInput>& inputs, const RequestLimits& l) {
  FUZZ_CHECK(!inputs.empty(), "no inputs accepted");
  // One pre-tokenized input ([id, ...]) is not counted against the batch limit.
  const bool single_ids = inputs.size() == 1 && inputs[0].pretokenized;
  FUZZ_CHECK(single_ids || inputs.size() <= static_cast<size_t>(l.max_client_batch),
             std::to_string(inputs.size()) + " inputs accepted");
  for (const EmbedInput& in : inputs) {
    if (in.pretokenized) {
      FUZZ_CHECK(l.vocab_size > 0, "token ids accepted without a vocabulary");
      FUZZ_CHECK(!in.ids.empty(), "empty id list accepted");
      for (int id : in.ids)
        FUZZ_CHECK(id >= 0 && id < l.vocab_size, "token id " + std::to_string(id) + " accepted");
    } else {
      FUZZ_CHECK(valid_text(in.text), "empty or invalid text accepted");
    }
  }
}

void check_strings(const std::vector<std::string>& list, const RequestLimits& l, size_t min) {
  FUZZ_CHECK(list.size() >= min && list.size() <= static_cast<size_t>(l.max_client_batch),
             std::to_string(list.size()) + " strings accepted");
  for (const std::string& s : list) FUZZ_CHECK(valid_text(s), "empty or invalid string accepted");
}

// Runs one parser; checks the error contract when it refuses the body.
void run(const char* route, std::string_view body, const std::function<void()>& parse) {
  const bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
  const bool bad_utf8 = find_invalid_utf8(body) != std::string_view::npos;
  try {
    parse();
    FUZZ_CHECK(!blank && !bad_utf8, std::string(route) + ": blank or non-UTF-8 body accepted");
  } catch (const RequestError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(e.status() == 400 || e.status() == 422, "status " + std::to_string(e.status()));
    FUZZ_CHECK(e.type() == (e.status() == 400 ? "invalid_json" : "validation_error"),
               "status " + std::to_string(e.status()) + " with type " + e.type());
    FUZZ_CHECK(!what.empty(), "empty error message");
    if (blank || bad_utf8)
      FUZZ_CHECK(e.status() == 400, std::string(route) + ": blank or non-UTF-8 body gave " + what);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string(route) + " threw a non-RequestError: " + e.what());
  }
}

void parse_all(std::string_view body, const RequestLimits& l) {
  run("/embed", body, [&] {
    const EmbedRequest r = parse_embed_request(body, l);
    check_inputs(r.inputs, l);
  });
  run("/v1/embeddings", body, [&] {
    const OpenAiEmbeddingsRequest r = parse_openai_embeddings_request(body, l);
    check_inputs(r.inputs, l);
  });
  run("/similarity", body, [&] {
    const SimilarityRequest r = parse_similarity_request(body, l);
    FUZZ_CHECK(valid_text(r.source), "empty or invalid source_sentence accepted");
    check_strings(r.sentences, l, 1);
  });
  run("/search", body, [&] {
    const SearchRequest r = parse_search_request(body, l);
    check_strings(r.queries, l, 1);
    FUZZ_CHECK(r.batch || r.queries.size() == 1, "several queries without 'queries'");
    FUZZ_CHECK(r.k >= 1 && r.k <= l.max_k, "k = " + std::to_string(r.k) + " accepted");
  });
}

}  // namespace
}  // namespace sembed::serve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  sembed::serve::parse_all(body, sembed::serve::generous());
  sembed::serve::parse_all(body, sembed::serve::strict());
  return 0;
}
