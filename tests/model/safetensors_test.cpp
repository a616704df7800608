// safetensors: a file built byte by byte in the test (the format as the spec states it, not as
// sembed's writer produces it) must parse and load; the file sembed writes must read back with
// nothing but a plain header read; malformed files are refused with a clear message.
#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model_io.h"
#include "tests/test_support.h"

namespace sembed {
namespace {

// Little-endian bytes of a float32.
std::string f32_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  }
  return out;
}

// 8-byte little-endian header length, the JSON text as given, then the data.
std::string assemble(const std::string& header_json, const std::string& data) {
  std::string out;
  const uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return out + header_json + data;
}

// A hand-written file for a Linear(2, 3) (weight [3, 2], bias [3]) under "dense.", plus a BF16
// tensor and metadata. The bias comes first in the data section although it sorts second, and the
// header has spaces: any conforming writer may do both.
std::string hand_written_file() {
  const std::string header =
      "{\"__metadata__\": {\"format\": \"pt\", \"note\": \"by hand\"}, "
      "\"dense.weight\": {\"dtype\": \"F32\", \"shape\": [3, 2], \"data_offsets\": [12, 36]}, "
      "\"dense.bias\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}, "
      "\"half\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [36, 40]}}";
  std::string data = f32_bytes({0.5f, -1.5f, 2.0f});        // bias
  data += f32_bytes({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f});  // weight
  data += std::string("\xC0\x3F\x80\xBF", 4);               // bf16 1.5 (0x3FC0), -1.0 (0xBF80)
  return assemble(header, data);
}

TEST(SafetensorsTest, HandWrittenFileParses) {
  {
    const SafetensorsFile file = SafetensorsFile::parse(hand_written_file());
    EXPECT_EQ(file.tensors().size(), 3u) << "__metadata__ is not a tensor";
    EXPECT_EQ(file.metadata().at("format"), "pt");
    EXPECT_EQ(file.metadata().at("note"), "by hand");
    const TensorView& w = file.at("dense.weight");
    EXPECT_EQ(w.dtype, DType::kF32);
    EXPECT_EQ(w.shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(w.numel(), 6);
    ASSERT_EQ(w.nbytes, 24u);
    float values[6];
    std::memcpy(values, w.data, 24);
    EXPECT_EQ(values[0], 1.0f);
    EXPECT_EQ(values[5], 6.0f);
    const TensorView& half = file.at("half");
    EXPECT_EQ(half.dtype, DType::kBF16);
    EXPECT_EQ(half.nbytes, 4u);
    EXPECT_TRUE(file.contains("dense.bias"));
    EXPECT_FALSE(file.contains("dense"));
    EXPECT_THROW(file.at("absent"), std::runtime_error);
  }

  {  // dtype names as safetensors spells them
    for (const char* name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"})
      EXPECT_STREQ(dtype_name(dtype_from_name(name)), name);
    EXPECT_EQ(dtype_size(DType::kBF16), 2u);
    EXPECT_EQ(dtype_size(DType::kI64), 8u);
    EXPECT_THROW(dtype_from_name("f32"), std::invalid_argument);
  }
}

TEST(SafetensorsTest, HandWrittenFileLoadsIntoAModule) {
  {
    const SafetensorsFile file = SafetensorsFile::parse(hand_written_file());
    torch::nn::Linear linear(2, 3);
    // "half" is outside the prefix, so strict loading accepts the file.
    load_module_tensors(*linear, file, "dense.");
    EXPECT_TRUE(
        torch::equal(linear->weight, torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({3, 2})));
    EXPECT_TRUE(torch::equal(linear->bias, torch::tensor({0.5f, -1.5f, 2.0f})));
    torch::NoGradGuard no_grad;
    const auto y = linear(torch::tensor({1.f, 1.f}).view({1, 2}));
    EXPECT_TRUE(torch::equal(y, torch::tensor({3.5f, 5.5f, 13.0f}).view({1, 3})));

    // BF16 data converts to float on load.
    const std::string header =
        "{\"weight\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[0,4]},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    const SafetensorsFile bf = SafetensorsFile::parse(
        assemble(header, std::string("\xC0\x3F\x80\xBF", 4) + f32_bytes({0.25f})));
    torch::nn::Linear small(2, 1);
    load_module_tensors(*small, bf);
    EXPECT_TRUE(torch::equal(small->weight, torch::tensor({1.5f, -1.0f}).view({1, 2})));
  }

  {  // names and shapes are checked
    const SafetensorsFile file = SafetensorsFile::parse(hand_written_file());
    torch::nn::Linear linear(2, 3);
    // Without the prefix nothing matches: "weight" is missing.
    try {
      load_module_tensors(*linear, file);
      FAIL() << "loaded without the prefix";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("'weight' is missing"), std::string::npos) << e.what();
    }
    torch::nn::Linear wrong(3, 3);
    try {
      load_module_tensors(*wrong, file, "dense.");
      FAIL() << "loaded a [3, 2] tensor into [3, 3]";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("'dense.weight' has shape [3, 2], expected [3, 3]"),
                std::string::npos)
          << e.what();
    }
    // Strict loading refuses tensors under the prefix that the module lacks.
    torch::nn::Linear no_bias(torch::nn::LinearOptions(2, 3).bias(false));
    EXPECT_THROW(load_module_tensors(*no_bias, file, "dense."), std::runtime_error);
    EXPECT_NO_THROW(load_module_tensors(*no_bias, file, "dense.", /*strict=*/false));
    EXPECT_TRUE(
        torch::equal(no_bias->weight, torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({3, 2})));
  }
}

TEST(SafetensorsTest, SembedFileReadsWithAPlainHeaderRead) {
  EncoderConfig config = EncoderConfig::preset("tiny");
  config.vocab_size = 300;
  Encoder encoder(config, PoolingConfig{});
  encoder->reset_parameters(9);
  const std::string bytes = serialize_safetensors(module_tensors(*encoder), {{"format", "pt"}});

  // What any reader does: 8 bytes of length, then JSON.
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "data section 8-byte aligned";
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  const size_t data_start = 8 + n;
  EXPECT_EQ(header.at("__metadata__").at("format"), "pt");

  std::set<std::string> registered;
  for (const auto& p : encoder->named_parameters()) registered.insert(p.key());
  std::set<std::string> names;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") continue;
    names.insert(name);
    EXPECT_EQ(entry.at("dtype"), "F32") << name;
    const auto shape = entry.at("shape").get<std::vector<int64_t>>();
    const torch::Tensor param = encoder->named_parameters()[name];
    EXPECT_EQ(shape, param.sizes().vec()) << name;
    const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
    ASSERT_EQ(offsets.size(), 2u);
    EXPECT_EQ(offsets[1] - offsets[0], static_cast<uint64_t>(param.numel()) * 4) << name;
    ranges.emplace_back(offsets[0], offsets[1]);
    // The raw bytes are the parameter's values.
    EXPECT_EQ(std::memcmp(bytes.data() + data_start + offsets[0],
                          param.contiguous().data_ptr<float>(), offsets[1] - offsets[0]),
              0)
        << name;
  }
  EXPECT_EQ(names, registered);
  EXPECT_TRUE(names.count("layers.0.attention.qkv.weight"));
  EXPECT_EQ(header.at("layers.0.attention.qkv.weight").at("shape"), nlohmann::json({384, 128}));
  std::sort(ranges.begin(), ranges.end());
  uint64_t expected_begin = 0;
  for (const auto& [begin, end] : ranges) {
    EXPECT_EQ(begin, expected_begin) << "contiguous, no gaps or overlaps";
    expected_begin = end;
  }
  EXPECT_EQ(expected_begin, bytes.size() - data_start) << "data section ends with the last tensor";
}

TEST(SafetensorsTest, SerializeRoundTrip) {
  std::vector<TensorData> tensors(2);
  tensors[0] = {"b", DType::kF32, {2}, f32_bytes({1.f, 2.f})};
  tensors[1] = {"a", DType::kI8, {3}, std::string("\x01\x02\xFF", 3)};
  const SafetensorsFile file = SafetensorsFile::parse(serialize_safetensors(tensors, {{"k", "v"}}));
  EXPECT_EQ(file.metadata().at("k"), "v");
  EXPECT_EQ(file.at("a").dtype, DType::kI8);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.at("a").data), 3), tensors[1].bytes);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.at("b").data), 8), tensors[0].bytes);
  // Views stay valid in copies.
  SafetensorsFile copy = file;
  EXPECT_EQ(copy.at("b").data, file.at("b").data);

  tensors[0].shape = {3};
  EXPECT_THROW(serialize_safetensors(tensors), std::invalid_argument);
  tensors[0].shape = {2};
  tensors[1].name = "b";
  EXPECT_THROW(serialize_safetensors(tensors), std::invalid_argument) << "duplicate names";
}

TEST(SafetensorsTest, MalformedFilesAreRefused) {
  {
    const std::string w = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";
    const std::string data8 = f32_bytes({1.f, 2.f});
    struct Case {
      std::string bytes;
      std::string message;
    };
    const std::vector<Case> cases = {
        {"abc", "shorter than its 8-byte header length"},
        {std::string("\xFF\x00\x00\x00\x00\x00\x00\x00", 8) + "{}", "exceeds the file size"},
        {assemble("{\"w\": [1,", ""), "not valid JSON"},
        {assemble("[1, 2]", ""), "not a JSON object"},
        {assemble("{\"w\": 3}", ""), "'w' is not an object"},
        {assemble("{\"w\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", data8),
         "unknown safetensors dtype 'F99'"},
        {assemble("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data8), "'w' has no dtype"},
        {assemble("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data8),
         "bad dimension"},
        {assemble(w + "[0]}}", data8), "data_offsets"},
        {assemble(w + "[0,16]}}", data8), "outside"},
        {assemble(w + "[8,0]}}", data8), "outside"},
        {assemble(w + "[0,4]}}", data8), "holds 4 bytes but its shape and dtype need 8"},
        {assemble(w + "[0,8]},\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  data8),
         "overlap"},
        {assemble("{\"__metadata__\":{\"a\":1}}", ""), "__metadata__ value of 'a' is not a string"},
    };
    for (const auto& c : cases) {
      try {
        SafetensorsFile::parse(c.bytes);
        ADD_FAILURE() << "accepted: " << c.bytes;
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
            << "expected '" << c.message << "' in: " << e.what();
      }
    }
    // An empty header and no data is a valid (empty) file.
    EXPECT_TRUE(SafetensorsFile::parse(assemble("{}", "")).tensors().empty());
  }

  {  // SafetensorsFile::read names the path
    test::ScratchDir dir("safetensors");
    test::write_text(dir.file("bad.safetensors"), "abc");
    try {
      SafetensorsFile::read(dir.file("bad.safetensors"));
      FAIL();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(dir.file("bad.safetensors")), std::string::npos)
          << e.what();
    }
    EXPECT_THROW(SafetensorsFile::read(dir.file("absent.safetensors")), std::runtime_error);
  }
}

}  // namespace
}  // namespace sembed
