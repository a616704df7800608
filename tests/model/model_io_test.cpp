// Model directories: save -> load round trips, and every kind of damaged directory refused with a
// message that names the problem.
#include "model/model_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "tests/model/model_fixtures.h"

namespace sembed {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::ScratchDir;
using test::tiny_model_dir;
using test::write_text;

// A private copy of the fixture model, free to damage.
std::string copy_model(const ScratchDir& dir, const std::string& name = "model") {
  const std::string to = dir.file(name);
  fs::copy(tiny_model_dir(), to, fs::copy_options::recursive);
  return to;
}

nlohmann::json read_config(const std::string& model) {
  return nlohmann::json::parse(read_text(model + "/config.json"));
}
void write_config(const std::string& model, const nlohmann::json& j) {
  write_text(model + "/config.json", j.dump(2));
}

// Replaces model.safetensors and makes config.json's weights record agree with the new bytes, as
// a tool that rewrote both consistently would: load_model must then find the fault itself.
void replace_weights(const std::string& model, const std::string& bytes) {
  write_text(model + "/model.safetensors", bytes);
  nlohmann::json j = read_config(model);
  j["weights"]["bytes"] = bytes.size();
  j["weights"]["hash"] = content_hash(bytes);
  write_config(model, j);
}

// load_model(dir) must throw std::runtime_error whose message holds every one of `needles`.
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  try {
    load_model(dir);
    ADD_FAILURE() << "load_model(" << dir << ") succeeded";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    for (const auto& needle : needles)
      EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

Encoder tiny_encoder(int hidden = 128, int layers = 2) {
  EncoderConfig c = EncoderConfig::preset("tiny");
  c.vocab_size = 300;
  c.hidden = hidden;
  c.layers = layers;
  return Encoder(c, PoolingConfig{});
}

std::vector<float> embed_ids(Encoder& encoder) {
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({2, 50, 60, 70, 3, 2, 80, 3, 0, 0}, torch::kLong).view({2, 5});
  const auto v = encoder->embed(ids, ids.ne(0)).contiguous();
  return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
}

TEST(ModelIoTest, SaveLoadRoundTripIsExact) {
  {
    ScratchDir dir("model-io");
    LoadedModel original = load_model(tiny_model_dir());
    EXPECT_FALSE(original.encoder->is_training()) << "loaded in eval mode";
    // Change the weights so the test cannot pass by re-initialising with the same seed.
    original.encoder->reset_parameters(1234);
    original.config.provenance["note"] = "reseeded";
    save_model(dir.file("saved"), original.config, original.encoder,
               original.tokenizer->serialized_model());

    LoadedModel loaded = load_model(dir.file("saved"));
    const auto a = original.encoder->named_parameters();
    const auto b = loaded.encoder->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
    EXPECT_EQ(embed_ids(loaded.encoder), embed_ids(original.encoder));
    EXPECT_EQ(loaded.config.provenance["note"], "reseeded");
    EXPECT_EQ(loaded.tokenizer->serialized_model(), original.tokenizer->serialized_model());
    EXPECT_EQ(loaded.weights_hash, content_hash(read_text(dir.file("saved/model.safetensors"))));
    EXPECT_NE(loaded.weights_hash, original.weights_hash);

    const nlohmann::json config = read_config(dir.file("saved"));
    EXPECT_EQ(config["format_version"], kModelFormatVersion);
    EXPECT_EQ(config["weights"]["file"], "model.safetensors");
    EXPECT_EQ(config["weights"]["bytes"], fs::file_size(dir.file("saved/model.safetensors")));
  }

  {  // the two save modes
    ScratchDir dir("model-io");
    LoadedModel m = load_model(tiny_model_dir());
    const std::string out = dir.file("out");
    fs::create_directories(out);
    write_text(out + "/checkpoint-1.txt", "kept?");
    save_model(out, m.config, m.encoder, m.tokenizer->serialized_model(), SaveMode::kUpdateFiles);
    EXPECT_TRUE(fs::exists(out + "/checkpoint-1.txt")) << "kUpdateFiles keeps other files";
    EXPECT_NO_THROW(load_model(out));
    save_model(out, m.config, m.encoder, m.tokenizer->serialized_model(),
               SaveMode::kReplaceDirectory);
    EXPECT_FALSE(fs::exists(out + "/checkpoint-1.txt")) << "kReplaceDirectory swaps the directory";
    EXPECT_NO_THROW(load_model(out));
    for (const auto& entry : fs::directory_iterator(dir.path()))
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
          << "temporary left behind: " << entry.path();
  }
}

TEST(ModelIoTest, Bf16WeightsLoadIntoFp32) {
  ScratchDir dir("model-io");
  const std::string model = copy_model(dir);
  LoadedModel m = load_model(model);
  std::vector<TensorData> tensors = module_tensors(*m.encoder);
  for (auto& t : tensors) {
    // Truncate each float to its upper 16 bits: bfloat16.
    std::string bf16(t.bytes.size() / 2, '\0');
    for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
      bf16[2 * i] = t.bytes[4 * i + 2];
      bf16[2 * i + 1] = t.bytes[4 * i + 3];
    }
    t.bytes = bf16;
    t.dtype = DType::kBF16;
  }
  replace_weights(model, serialize_safetensors(tensors));
  LoadedModel bf = load_model(model);
  const auto a = m.encoder->named_parameters();
  for (const auto& item : bf.encoder->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::allclose(item.value(), a[item.key()], /*rtol=*/1e-2, /*atol=*/1e-6))
        << item.key();
  }
}

// --------------------------------------------------------------------------- damaged directories

TEST(ModelIoTest, CorruptWeightsFileIsRefused) {
  {  // truncated
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    const std::string path = model + "/model.safetensors";
    const std::string bytes = read_text(path);
    // As an interrupted copy leaves it: config.json's record catches it first.
    write_text(path, bytes.substr(0, bytes.size() / 2));
    expect_load_error(model, {"model.safetensors", "truncated"});
    // Without a matching record, the parser itself must notice.
    replace_weights(model, bytes.substr(0, bytes.size() / 2));
    expect_load_error(model, {"model.safetensors", "truncated file?"});
    replace_weights(model, bytes.substr(0, bytes.size() - 1));
    expect_load_error(model, {"model.safetensors", "outside"});
    replace_weights(model, bytes.substr(0, 5));
    expect_load_error(model, {"model.safetensors", "shorter than its 8-byte header length"});
    replace_weights(model, "");
    expect_load_error(model, {"model.safetensors"});
  }

  {  // flipped header bytes
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    const std::string path = model + "/model.safetensors";
    const std::string bytes = read_text(path);
    std::string flipped = bytes;
    flipped[8] = static_cast<char>(~flipped[8]);  // the JSON's opening brace
    write_text(path, flipped);
    expect_load_error(model, {"model.safetensors", "hash"});
    replace_weights(model, flipped);
    expect_load_error(model, {"model.safetensors", "not valid JSON"});

    flipped = bytes;
    flipped[6] = '\x7f';  // header length ~ 2^55
    replace_weights(model, flipped);
    expect_load_error(model, {"model.safetensors", "header length"});

    // A flipped digit inside a shape: the byte count no longer matches.
    flipped = bytes;
    const size_t at = flipped.find("[300,128]");
    ASSERT_NE(at, std::string::npos) << flipped.substr(8, 300);
    flipped[at + 1] = '4';
    replace_weights(model, flipped);
    expect_load_error(model, {"model.safetensors", "embeddings.token.weight", "bytes"});
  }
}

TEST(ModelIoTest, WeightsThatDoNotFitTheModelAreRefused) {
  {  // a tensor missing: named
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    LoadedModel m = load_model(model);
    std::vector<TensorData> tensors = module_tensors(*m.encoder);
    tensors.erase(
        std::remove_if(tensors.begin(), tensors.end(),
                       [](const TensorData& t) { return t.name == "layers.1.ffn.down.bias"; }),
        tensors.end());
    replace_weights(model, serialize_safetensors(tensors));
    expect_load_error(model, {"model.safetensors", "'layers.1.ffn.down.bias'", "missing"});
  }

  {  // weights of a model of another size
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    replace_weights(model, serialize_safetensors(module_tensors(*tiny_encoder(64))));
    expect_load_error(model, {"model.safetensors", "shape [300, 64], expected [300, 128]"});
    replace_weights(model, serialize_safetensors(module_tensors(*tiny_encoder(128, 3))));
    expect_load_error(model, {"model.safetensors", "unexpected tensor 'layers.2."});
    replace_weights(model, serialize_safetensors(module_tensors(*tiny_encoder(128, 1))));
    expect_load_error(model, {"model.safetensors", "'layers.1.", "missing"});
  }

  {  // a tensor of integers
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    LoadedModel m = load_model(model);
    std::vector<TensorData> tensors = module_tensors(*m.encoder);
    for (auto& t : tensors)
      if (t.name == "final_norm.bias") t.dtype = DType::kI32;  // same byte size
    replace_weights(model, serialize_safetensors(tensors));
    expect_load_error(model, {"final_norm.bias", "I32", "floating"});
  }
}

TEST(ModelIoTest, BadConfigOrTokenizerIsRefused) {
  {  // config.json
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    const nlohmann::json good = read_config(model);

    nlohmann::json j = good;
    j["format_version"] = 99;
    write_config(model, j);
    expect_load_error(model, {"config.json", "format_version 99", "not supported"});

    j = good;
    j.erase("format_version");
    write_config(model, j);
    expect_load_error(model, {"config.json", "format_version"});

    write_text(model + "/config.json", "{\"format_version\": 1,");
    expect_load_error(model, {"config.json", "not valid JSON"});

    j = good;
    j["encoder"]["heads"] = 3;  // 128 % 3 != 0
    write_config(model, j);
    expect_load_error(model, {"config.json", "divisible"});

    j = good;
    j["encoder"]["hidden"] = 64;  // config and weights disagree
    j["encoder"]["heads"] = 4;
    write_config(model, j);
    expect_load_error(model, {"model.safetensors", "expected [300, 64]"});

    fs::remove(model + "/config.json");
    expect_load_error(model, {"config.json", "missing", "not a sembed model directory"});
    expect_load_error(dir.file("absent"), {"absent", "does not exist"});
  }

  {  // tokenizer.model (and weights) missing or bad
    ScratchDir dir("model-io");
    const std::string model = copy_model(dir);
    fs::remove(model + "/tokenizer.model");
    expect_load_error(model, {"tokenizer.model", "missing"});
    write_text(model + "/tokenizer.model", "not a sentencepiece model");
    expect_load_error(model, {"tokenizer.model"});
    fs::remove(model + "/model.safetensors");
    expect_load_error(model, {"model.safetensors", "missing"});
  }
}

}  // namespace
}  // namespace sembed

namespace sembed {
namespace {

TEST(ModelIoTest, LexicalPathIsAddedReweightedAndRemovedWithoutTouchingTheTransformer) {
  ScratchDir dir("model-io-lexical");
  test::write_lines(dir.file("corpus.txt"), test::synthetic_corpus(200, 3));
  LexicalOptions o;
  o.model_dir = tiny_model_dir();
  o.output_dir = dir.file("lex");
  o.weight = 0.25;

  // A mean-pooled model has no piece IDF: the path needs a corpus for it.
  EXPECT_THROW(set_lexical_path(o), std::invalid_argument);
  EXPECT_FALSE(fs::exists(o.output_dir));
  o.idf_corpus = {dir.file("corpus.txt")};
  const ModelConfig config = set_lexical_path(o);
  EXPECT_EQ(config.embedding_dim(), 256);
  EXPECT_DOUBLE_EQ(read_config(o.output_dir)["pooling"]["lexical_weight"].get<double>(), 0.25);
  EXPECT_EQ(read_config(o.output_dir)["provenance"]["lexical_path"]["from"], tiny_model_dir());

  LoadedModel base = load_model(tiny_model_dir());
  LoadedModel lex = load_model(o.output_dir);
  for (const auto& p : base.encoder->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), lex.encoder->named_parameters()[p.key()])) << p.key();
  ASSERT_TRUE(lex.encoder->token_weights.defined());
  EXPECT_GT(lex.encoder->token_weights.max().item<float>(), 0.0f) << "IDF from the corpus";

  // Vectors: the transformer half is the old model's vector scaled by sqrt(1 - w).
  const std::vector<float> old_v = embed_ids(base.encoder), new_v = embed_ids(lex.encoder);
  ASSERT_EQ(new_v.size(), 2 * old_v.size());
  for (int row = 0; row < 2; ++row)
    for (int i = 0; i < 128; ++i)
      EXPECT_NEAR(new_v[row * 256 + 128 + i], old_v[row * 128 + i] * std::sqrt(0.75), 1e-5);

  // Re-weighting in place keeps the table and the IDF; weight 0 restores the original exactly.
  LexicalOptions again;
  again.model_dir = again.output_dir = o.output_dir;
  again.weight = 0.5;
  write_text(o.output_dir + "/checkpoints.txt", "a training run's other files");
  set_lexical_path(again);
  EXPECT_TRUE(fs::exists(o.output_dir + "/checkpoints.txt")) << "in place keeps other files";
  LoadedModel half = load_model(o.output_dir);
  EXPECT_TRUE(torch::equal(half.encoder->lexical_table, lex.encoder->lexical_table));
  EXPECT_TRUE(torch::equal(half.encoder->token_weights, lex.encoder->token_weights));
  again.weight = 0;
  again.output_dir = dir.file("plain");
  set_lexical_path(again);
  LoadedModel plain = load_model(dir.file("plain"));
  EXPECT_FALSE(plain.encoder->lexical_table.defined());
  EXPECT_EQ(embed_ids(plain.encoder), old_v);

  again.weight = 1.0;
  EXPECT_THROW(set_lexical_path(again), std::invalid_argument);

  // table "embeddings": the lexical half is the IDF-weighted bag of the model's own piece vectors.
  LexicalOptions emb = again;
  emb.weight = 0.25;
  emb.output_dir = dir.file("emb");
  emb.table = "embeddings";
  set_lexical_path(emb);
  LoadedModel e = load_model(emb.output_dir);
  EXPECT_TRUE(torch::equal(e.encoder->lexical_table, base.encoder->embeddings->token->weight));
  EXPECT_EQ(read_config(emb.output_dir)["provenance"]["lexical_path"]["table"], "token embeddings");
  EXPECT_EQ(embed_ids(e.encoder).size(), new_v.size());
  // Re-weighting keeps that table; "random" draws the seed's table again.
  emb.model_dir = emb.output_dir;
  emb.table.clear();
  emb.weight = 0.4;
  set_lexical_path(emb);
  EXPECT_TRUE(torch::equal(load_model(emb.output_dir).encoder->lexical_table,
                           base.encoder->embeddings->token->weight));
  EXPECT_EQ(read_config(emb.output_dir)["provenance"]["lexical_path"]["table"], "token embeddings");
  emb.table = "random";
  set_lexical_path(emb);
  EXPECT_TRUE(
      torch::equal(load_model(emb.output_dir).encoder->lexical_table, lex.encoder->lexical_table));
  emb.table = "learned";
  EXPECT_THROW(set_lexical_path(emb), std::invalid_argument);
}

}  // namespace
}  // namespace sembed
