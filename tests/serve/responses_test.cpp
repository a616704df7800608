// Response formatting (serve/responses.h): the error shape, floats that read back exactly,
// OpenAI's base64 of little-endian float32.
#include "serve/responses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

namespace sembed::serve {
namespace {

std::vector<unsigned char> base64_decode(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::vector<unsigned char> out;
  for (size_t i = 0; i + 4 <= s.size(); i += 4) {
    const uint32_t v = (value(s[i]) << 18) | (value(s[i + 1]) << 12) |
                       (s[i + 2] == '=' ? 0 : value(s[i + 2]) << 6) |
                       (s[i + 3] == '=' ? 0 : value(s[i + 3]));
    out.push_back(static_cast<unsigned char>(v >> 16));
    if (s[i + 2] != '=') out.push_back(static_cast<unsigned char>(v >> 8));
    if (s[i + 3] != '=') out.push_back(static_cast<unsigned char>(v));
  }
  return out;
}

TEST(Responses, ErrorShapeAndFloats) {
  const auto j = nlohmann::json::parse(error_body(422, "validation_error", "inputs: \"bad\" \xFF"));
  EXPECT_EQ(j.at("error").at("code"), 422);
  EXPECT_EQ(j.at("error").at("type"), "validation_error");
  EXPECT_NE(j.at("error").at("message").get<std::string>().find("inputs"), std::string::npos);
  EXPECT_EQ(j.size(), 1u);

  // Floats read back exactly.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> v(300);
  for (auto& x : v) x = normal(rng) * std::pow(10.0f, static_cast<float>(rng() % 20) - 10);
  v[0] = 0;
  v[1] = -0.0f;
  v[2] = 1e-45f;
  v[3] = 3.4028235e38f;
  const auto parsed = nlohmann::json::parse(embeddings_body(v.data(), 3, 100));
  ASSERT_EQ(parsed.size(), 3u);
  for (size_t r = 0; r < 3; ++r)
    for (size_t i = 0; i < 100; ++i)
      EXPECT_EQ(parsed[r][i].get<float>(), v[r * 100 + i]) << r << "," << i;
  EXPECT_EQ(embeddings_body(v.data(), 0, 100), "[]");
  std::string s;
  append_float(s, NAN);
  append_float(s, INFINITY);
  EXPECT_EQ(s, "nullnull");
  EXPECT_EQ(float_list_body({0.5f, -1.0f}), "[0.5,-1]");
}

TEST(Responses, Base64AndOpenAiBody) {
  EXPECT_EQ(base64_encode("", 0), "");
  EXPECT_EQ(base64_encode("f", 1), "Zg==");
  EXPECT_EQ(base64_encode("fo", 2), "Zm8=");
  EXPECT_EQ(base64_encode("foo", 3), "Zm9v");
  EXPECT_EQ(base64_encode("foobar", 6), "Zm9vYmFy");
  const unsigned char bytes[] = {0xFB, 0xFF, 0x00};
  EXPECT_EQ(base64_encode(bytes, 3), "+/8A");

  // OpenAI's body: floats, or base64 of little-endian float32.
  const std::vector<float> v = {0.25f, -1.5f, 3.0f, 1e-3f, 7.0f, -0.0f};
  const auto f = nlohmann::json::parse(openai_embeddings_body(v.data(), 2, 3, false, "m", 12));
  EXPECT_EQ(f.at("object"), "list");
  EXPECT_EQ(f.at("model"), "m");
  EXPECT_EQ(f.at("usage").at("prompt_tokens"), 12);
  EXPECT_EQ(f.at("usage").at("total_tokens"), 12);
  ASSERT_EQ(f.at("data").size(), 2u);
  EXPECT_EQ(f.at("data")[1].at("object"), "embedding");
  EXPECT_EQ(f.at("data")[1].at("index"), 1);
  EXPECT_EQ(f.at("data")[1].at("embedding")[0].get<float>(), 1e-3f);

  const auto b = nlohmann::json::parse(openai_embeddings_body(v.data(), 2, 3, true, "m", 12));
  for (int r = 0; r < 2; ++r) {
    const auto bytes = base64_decode(b.at("data")[r].at("embedding").get<std::string>());
    ASSERT_EQ(bytes.size(), 12u);
    for (int i = 0; i < 3; ++i) {
      uint32_t bits = 0;
      for (int k = 0; k < 4; ++k) bits |= uint32_t(bytes[i * 4 + k]) << (8 * k);  // little-endian
      float x;
      std::memcpy(&x, &bits, 4);
      EXPECT_EQ(x, v[r * 3 + i]);
    }
  }
}

}  // namespace
}  // namespace sembed::serve
