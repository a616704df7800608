// Request parsing and validation (serve/requests.h): pure functions, every error a RequestError
// with the right status and a message naming the field.
#include "serve/requests.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "serve/http_error.h"

namespace sembed::serve {
namespace {

RequestLimits limits() {
  RequestLimits l;
  l.max_client_batch = 4;
  l.max_k = 100;
  l.vocab_size = 300;
  l.dim = 128;
  return l;
}

// Runs `parse` on `body` and checks it fails with `status` and a message containing `mention`.
void expect_error(const std::function<void(std::string_view)>& parse, const std::string& body,
                  int status, const std::string& mention) {
  try {
    parse(body);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), status) << body << " -> " << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos)
        << body << " -> " << e.what() << " (expected a mention of '" << mention << "')";
    EXPECT_EQ(e.type(), status == 400 ? "invalid_json" : "validation_error");
  }
}

auto embed = [](std::string_view b) { parse_embed_request(b, limits()); };
auto openai = [](std::string_view b) { parse_openai_embeddings_request(b, limits()); };
auto similarity = [](std::string_view b) { parse_similarity_request(b, limits()); };
auto search = [](std::string_view b) { parse_search_request(b, limits()); };

TEST(Requests, EmbedAcceptsTeiShapes) {
  auto one = parse_embed_request(R"({"inputs": "hello"})", limits());
  ASSERT_EQ(one.inputs.size(), 1u);
  EXPECT_EQ(one.inputs[0].text, "hello");
  EXPECT_TRUE(one.normalize);
  EXPECT_FALSE(one.truncation.truncate.has_value());

  auto many = parse_embed_request(
      R"({"inputs": ["a", "b c"], "normalize": false, "truncate": true,
          "truncation_direction": "Left", "unknown_field": {"x": 1}})",
      limits());
  ASSERT_EQ(many.inputs.size(), 2u);
  EXPECT_EQ(many.inputs[1].text, "b c");
  EXPECT_FALSE(many.normalize);
  EXPECT_EQ(many.truncation.truncate, true);
  EXPECT_EQ(many.truncation.direction, TruncationDirection::kLeft);

  auto ids = parse_embed_request(R"({"inputs": [5, 6, 7]})", limits());
  ASSERT_EQ(ids.inputs.size(), 1u);
  EXPECT_TRUE(ids.inputs[0].pretokenized);
  EXPECT_EQ(ids.inputs[0].ids, (std::vector<int>{5, 6, 7}));

  auto mixed = parse_embed_request(R"({"inputs": ["text", [9, 10]], "normalize": null})", limits());
  ASSERT_EQ(mixed.inputs.size(), 2u);
  EXPECT_FALSE(mixed.inputs[0].pretokenized);
  EXPECT_TRUE(mixed.inputs[1].pretokenized);
  EXPECT_TRUE(mixed.normalize) << "null counts as absent";
}

TEST(Requests, BodyErrorsAre400AndNameTheField) {
  expect_error(embed, "", 400, "empty");
  expect_error(embed, "   \n", 400, "empty");
  expect_error(embed, "{\"inputs\": ", 400, "not valid JSON");
  expect_error(embed, "{'inputs': 'x'}", 400, "not valid JSON");
  expect_error(embed, "{\"inputs\": \"x\"} trailing", 400, "not valid JSON");
  expect_error(embed, "{\"inputs\": \"\\ud800\"}", 400, "not valid JSON");
  // Invalid UTF-8: the message names the field that holds it.
  expect_error(embed, "{\"inputs\": [\"fine\", \"bad \xFF byte\"]}", 400, "inputs[1]");
  expect_error(embed, "{\"inputs\": [\"fine\", \"bad \xFF byte\"]}", 400, "UTF-8");
  expect_error(similarity,
               "{\"inputs\": {\"source_sentence\": \"\xC3\x28\", \"sentences\": [\"a\"]}}", 400,
               "inputs.source_sentence");
  expect_error(search, "{\"query\": \"\xED\xA0\x80\"}", 400, "query");  // an encoded surrogate
  // A million levels of nesting (what --max-body-bytes allows) must not exhaust the stack.
  const std::string deep = std::string(1000000, '[') + "\"\xFF\"" + std::string(1000000, ']');
  expect_error(embed, deep, 400, "UTF-8");
  expect_error(embed, std::string(1000000, '['), 400, "not valid JSON");
}

TEST(Requests, ValidationErrorsAre422AndNameTheField) {
  expect_error(embed, "[1, 2]", 422, "JSON object");
  expect_error(embed, "{}", 422, "'inputs'");
  expect_error(embed, R"({"inputs": null})", 422, "'inputs'");
  expect_error(embed, R"({"inputs": 3})", 422, "inputs must be");
  expect_error(embed, R"({"inputs": {"a": 1}})", 422, "got object");
  expect_error(embed, R"({"inputs": ""})", 422, "inputs must not be an empty string");
  expect_error(embed, R"({"inputs": []})", 422, "inputs must not be an empty list");
  expect_error(embed, R"({"inputs": ["a", ""]})", 422, "inputs[1]");
  expect_error(embed, R"({"inputs": ["a", 3]})", 422, "inputs[1]");
  expect_error(embed, R"({"inputs": ["a", []]})", 422, "inputs[1]");
  expect_error(embed, R"({"inputs": ["a", [1, "x"]]})", 422, "inputs[1]");
  expect_error(embed, R"({"inputs": ["a", "b", "c", "d", "e"]})", 422, "--max-client-batch");
  expect_error(embed, R"({"inputs": [1, 300]})", 422, "inputs[1]: token id 300");
  expect_error(embed, R"({"inputs": [-1]})", 422, "token id -1");
  expect_error(embed, R"({"inputs": "a", "normalize": "yes"})", 422, "normalize");
  expect_error(embed, R"({"inputs": "a", "truncate": 1})", 422, "truncate");
  expect_error(embed, R"({"inputs": "a", "truncation_direction": "up"})", 422,
               "truncation_direction");

  expect_error(openai, R"({"inputs": "a"})", 422, "'input'");
  expect_error(openai, R"({"input": "a", "encoding_format": "int8"})", 422, "encoding_format");
  expect_error(openai, R"({"input": "a", "model": 7})", 422, "model");
  expect_error(openai, R"({"input": "a", "dimensions": 64})", 422, "dimensions must be 128");
  expect_error(openai, R"({"input": "a", "dimensions": 1.5})", 422, "dimensions");

  expect_error(similarity, R"({"inputs": "a"})", 422, "inputs must be an object");
  expect_error(similarity, R"({"inputs": {"sentences": ["a"]}})", 422, "inputs.source_sentence");
  expect_error(similarity, R"({"inputs": {"source_sentence": "a"}})", 422, "inputs.sentences");
  expect_error(similarity, R"({"inputs": {"source_sentence": "a", "sentences": []}})", 422,
               "inputs.sentences must not be an empty list");
  expect_error(similarity, R"({"inputs": {"source_sentence": "a", "sentences": ["b", ""]}})", 422,
               "inputs.sentences[1]");
  expect_error(similarity, R"({"inputs": {"source_sentence": "", "sentences": ["b"]}})", 422,
               "inputs.source_sentence");

  expect_error(search, R"({})", 422, "'query'");
  expect_error(search, R"({"query": "a", "queries": ["b"]})", 422, "not both");
  expect_error(search, R"({"query": ""})", 422, "query");
  expect_error(search, R"({"query": ["a"]})", 422, "query must be a string");
  expect_error(search, R"({"queries": "a"})", 422, "queries must be a list");
  expect_error(search, R"({"queries": []})", 422, "queries must not be an empty list");
  expect_error(search, R"({"queries": ["a", "b", "c", "d", "e"]})", 422, "--max-client-batch");
  expect_error(search, R"({"query": "a", "k": 0})", 422, "k must be between 1 and 100");
  expect_error(search, R"({"query": "a", "k": 101})", 422, "k must be between 1 and 100");
  expect_error(search, R"({"query": "a", "k": -5})", 422, "k must be between");
  expect_error(search, R"({"query": "a", "k": 18446744073709551615})", 422, "k must be between");
  expect_error(search, R"({"query": "a", "k": 2.5})", 422, "k must be an integer");
  expect_error(search, R"({"query": "a", "k": "3"})", 422, "k must be an integer");
}

TEST(Requests, OpenAiSimilaritySearchAcceptValidBodies) {
  auto o = parse_openai_embeddings_request(
      R"({"input": ["x", "y"], "model": "m", "encoding_format": "base64", "dimensions": 128,
          "user": "u"})",
      limits());
  EXPECT_EQ(o.inputs.size(), 2u);
  EXPECT_EQ(o.model, "m");
  EXPECT_TRUE(o.base64);
  auto tokens = parse_openai_embeddings_request(R"({"input": [[1, 2], [3]]})", limits());
  ASSERT_EQ(tokens.inputs.size(), 2u);
  EXPECT_EQ(tokens.inputs[1].ids, (std::vector<int>{3}));
  EXPECT_FALSE(tokens.base64);

  auto s = parse_similarity_request(
      R"({"inputs": {"source_sentence": "a", "sentences": ["b", "c"]}, "truncate": false})",
      limits());
  EXPECT_EQ(s.source, "a");
  EXPECT_EQ(s.sentences.size(), 2u);
  EXPECT_EQ(s.truncation.truncate, false);

  auto one = parse_search_request(R"({"query": "a"})", limits());
  EXPECT_FALSE(one.batch);
  EXPECT_EQ(one.k, 10);
  auto many = parse_search_request(R"({"queries": ["a", "b"], "k": 100})", limits());
  EXPECT_TRUE(many.batch);
  EXPECT_EQ(many.queries.size(), 2u);
  EXPECT_EQ(many.k, 100);

  // Token ids need a vocabulary to check them against.
  RequestLimits l = limits();
  l.vocab_size = 0;
  try {
    parse_embed_request(R"({"inputs": [1, 2]})", l);
    ADD_FAILURE() << "token ids accepted without a vocabulary";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 422);
  }
}

// Found by fuzz/fuzz_requests: nlohmann throws out_of_range (not parse_error) for a number beyond
// double's range, which escaped the parsers as a non-RequestError (a 500 from the server).
TEST(Requests, HugeNumbersAre400NotACrash) {
  const std::vector<std::function<void(std::string_view)>> parsers = {embed, openai, similarity,
                                                                      search};
  for (const auto& parse : parsers) {
    expect_error(parse, R"({"inputs": 1e400})", 400, "number overflow");
    expect_error(parse, R"({"k": -1e999, "query": "a"})", 400, "number overflow");
  }
}

// Found by fuzz/fuzz_requests: without "k" the default of 10 was returned even when --max-k is
// smaller, a k the server says it does not accept.
TEST(Requests, DefaultKNeverExceedsMaxK) {
  RequestLimits l = limits();
  l.max_k = 3;
  EXPECT_EQ(parse_search_request(R"({"query": "a"})", l).k, 3);
  EXPECT_EQ(parse_search_request(R"({"query": "a", "k": 2})", l).k, 2);
  l.max_k = 1000;
  EXPECT_EQ(parse_search_request(R"({"query": "a"})", l).k, 10);
}

}  // namespace
}  // namespace sembed::serve
