#include "model/model_io.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "common/atomic_file.h"

namespace sembed {

std::vector<TensorData> module_tensors(const torch::nn::Module& module, const std::string& prefix) {
  std::vector<TensorData> out;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    TensorData d;
    d.name = prefix + name;
    d.dtype = DType::kF32;
    d.shape.assign(c.sizes().begin(), c.sizes().end());
    d.bytes.assign(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
    out.push_back(std::move(d));
  };
  for (const auto& p : module.named_parameters(true)) add(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) add(b.key(), b.value());
  return out;
}

static torch::Tensor view_to_tensor(const TensorView& v, const std::string& name) {
  std::vector<int64_t> shape(v.shape.begin(), v.shape.end());
  torch::ScalarType st;
  switch (v.dtype) {
    case DType::kF32:
      st = torch::kFloat32;
      break;
    case DType::kBF16:
      st = torch::kBFloat16;
      break;
    case DType::kF16:
      st = torch::kFloat16;
      break;
    case DType::kF64:
      st = torch::kFloat64;
      break;
    default:
      throw std::runtime_error("tensor '" + name + "' has dtype " + dtype_name(v.dtype) +
                               ", expected a floating type");
  }
  auto t = torch::empty(shape, torch::TensorOptions().dtype(st));
  if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t.to(torch::kFloat32);
}

void load_module_tensors(torch::nn::Module& module, const SafetensorsFile& file,
                         const std::string& prefix, bool strict) {
  torch::NoGradGuard no_grad;
  std::set<std::string> expected;
  auto load_one = [&](const std::string& name, torch::Tensor& target) {
    const std::string key = prefix + name;
    expected.insert(key);
    if (!file.contains(key))
      throw std::runtime_error("tensor '" + key + "' is missing from the weights");
    const TensorView& v = file.at(key);
    std::vector<int64_t> want(target.sizes().begin(), target.sizes().end());
    if (v.shape != want) {
      auto fmt = [](const std::vector<int64_t>& s) {
        std::string r = "[";
        for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
        return r + "]";
      };
      throw std::runtime_error("tensor '" + key + "' has shape " + fmt(v.shape) + ", expected " +
                               fmt(want));
    }
    target.copy_(view_to_tensor(v, key).to(target.device(), target.scalar_type()));
  };
  for (auto& p : module.named_parameters(true)) load_one(p.key(), p.value());
  for (auto& b : module.named_buffers(true)) load_one(b.key(), b.value());
  if (strict) {
    for (const auto& [name, view] : file.tensors()) {
      if (name.rfind(prefix, 0) == 0 && !expected.count(name))
        throw std::runtime_error("unexpected tensor '" + name +
                                 "' in the weights (a different model shape?)");
    }
  }
}

LoadedModel load_model(const std::string& dir, const torch::Device& device) {
  LoadedModel m;
  m.config = read_model_config(dir);
  const std::string weights_path = join_path(dir, kWeightsFile);
  if (!path_exists(weights_path)) throw std::runtime_error("'" + weights_path + "' is missing");
  m.tokenizer = std::make_shared<const Tokenizer>(load_model_tokenizer(dir, m.config));
  std::string bytes = read_file(weights_path);
  const WeightsRecord record = read_weights_record(dir);
  m.weights_hash = content_hash(bytes);
  if (record.bytes >= 0 && record.bytes != static_cast<int64_t>(bytes.size()))
    throw std::runtime_error("'" + weights_path + "' is " + std::to_string(bytes.size()) +
                             " bytes but config.json records " + std::to_string(record.bytes) +
                             " (truncated file or interrupted save)");
  if (!record.hash.empty() && record.hash != m.weights_hash)
    throw std::runtime_error("'" + weights_path + "' does not match the hash in config.json " +
                             "(corrupt file or interrupted save)");
  SafetensorsFile file;
  try {
    file = SafetensorsFile::parse(std::move(bytes));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + weights_path + "': " + e.what());
  }
  if (m.tokenizer->vocab_size() != m.config.encoder.vocab_size)
    throw std::runtime_error("tokenizer.model has " + std::to_string(m.tokenizer->vocab_size()) +
                             " pieces but the encoder expects " +
                             std::to_string(m.config.encoder.vocab_size));
  m.encoder = Encoder(m.config.encoder, m.config.pooling);
  try {
    load_module_tensors(*m.encoder, file);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + weights_path + "': " + e.what());
  }
  m.encoder->to(device);
  m.encoder->eval();
  return m;
}

void write_model_files(const std::string& dir, const ModelConfig& config, const Encoder& encoder,
                       const std::string& tokenizer_model_bytes) {
  config.validate();
  const std::string weights =
      serialize_safetensors(module_tensors(*encoder), {{"format", "pt"}, {"producer", "sembed"}});
  nlohmann::json j = config;
  j["weights"] = {{"file", kWeightsFile},
                  {"bytes", static_cast<int64_t>(weights.size())},
                  {"hash", content_hash(weights)}};
  // Weights first, config last: a reader never sees a config that promises missing weights
  // (the hash check catches the reverse).
  write_file_atomic(join_path(dir, kTokenizerFile), tokenizer_model_bytes);
  write_file_atomic(join_path(dir, kWeightsFile), weights);
  write_file_atomic(join_path(dir, kConfigFile), j.dump(2) + "\n");
}

void save_model(const std::string& dir, const ModelConfig& config, const Encoder& encoder,
                const std::string& tokenizer_model_bytes, SaveMode mode) {
  if (mode == SaveMode::kUpdateFiles) {
    make_directories(dir);
    write_model_files(dir, config, encoder, tokenizer_model_bytes);
    return;
  }
  AtomicDirectory out(dir);
  write_model_files(out.temp_path(), config, encoder, tokenizer_model_bytes);
  out.commit();
}

}  // namespace sembed

#include "model/model_init.h"
#include "tokenizer/idf.h"

namespace sembed {

void InitOptions::validate() const {
  if (tokenizer_path.empty()) throw std::invalid_argument("init: --tokenizer is required");
  if (output_dir.empty()) throw std::invalid_argument("init: --output is required");
  pooling.validate();
}

ModelConfig init_model(const InitOptions& options) {
  options.validate();
  const Tokenizer tokenizer = Tokenizer::load(options.tokenizer_path);
  ModelConfig config;
  config.tokenizer = tokenizer.config();
  config.encoder = options.encoder;
  config.encoder.vocab_size = tokenizer.vocab_size();
  config.pooling = options.pooling;
  config.provenance = {{"created_by", "sembed init"},
                       {"seed", options.seed},
                       {"tokenizer_source", options.tokenizer_path}};
  config.validate();
  Encoder encoder(config.encoder, config.pooling);
  encoder->reset_parameters(options.seed);
  if (!options.idf_corpus.empty()) {
    if (!config.pooling.uses_token_weights())
      throw std::invalid_argument(
          "init: --idf-corpus needs --pooling idf_mean or --lexical-weight");
    encoder->set_token_weights(compute_idf(tokenizer, options.idf_corpus));
    config.provenance["idf_corpus"] = options.idf_corpus;
  } else if (config.pooling.uses_token_weights()) {
    // Every piece weighs 1 until `sembed train --init` computes the IDF from its training texts.
    config.provenance[kTokenWeightsUnset] = true;
  }
  save_model(options.output_dir, config, encoder, tokenizer.serialized_model());
  return config;
}

ModelConfig set_lexical_path(const LexicalOptions& options) {
  if (options.model_dir.empty()) throw std::invalid_argument("lexical: --model is required");
  if (options.output_dir.empty()) throw std::invalid_argument("lexical: --output is required");
  LoadedModel m = load_model(options.model_dir, torch::kCPU);
  ModelConfig config = m.config;
  config.pooling.lexical_weight = options.weight;
  config.validate();
  const bool had_weights = m.config.pooling.uses_token_weights() && !token_weights_unset(m.config);
  if (config.pooling.uses_token_weights() && !had_weights && options.idf_corpus.empty())
    throw std::invalid_argument("lexical: the model has no piece IDF; give --idf-corpus FILE...");
  if (!options.idf_corpus.empty()) config.provenance.erase(kTokenWeightsUnset);
  if (!options.table.empty() && options.table != "random" && options.table != "embeddings")
    throw std::invalid_argument("lexical: table must be random or embeddings, not '" +
                                options.table + "'");
  Encoder encoder = rebuild_encoder(m.encoder, config.encoder, config.pooling, options.seed);
  if (encoder->token_weights.defined() && !options.idf_corpus.empty())
    encoder->set_token_weights(compute_idf(*m.tokenizer, options.idf_corpus));
  // What the table holds, for the provenance; a kept table keeps its description.
  nlohmann::json table = m.config.provenance.value("lexical_path", nlohmann::json::object())
                             .value("table", nlohmann::json("random"));
  if (encoder->lexical_table.defined()) {
    if (options.table == "embeddings") {
      torch::NoGradGuard no_grad;
      encoder->lexical_table.copy_(encoder->embeddings->token->weight);
      table = "token embeddings";
    } else if (options.table == "random" || !m.encoder->lexical_table.defined()) {
      // A new path already has the seed's table from rebuild_encoder; an old one is redrawn.
      if (m.encoder->lexical_table.defined()) encoder->draw_lexical_table(options.seed);
      table = "random";
    }
  }
  config.provenance["lexical_path"] = {
      {"from", options.model_dir},
      {"weight", options.weight},
      {"table", table},
      {"idf", options.idf_corpus.empty() ? nlohmann::json("the model's token_weights")
                                         : nlohmann::json(options.idf_corpus)}};
  // In place: replace the three model files (each atomically, config last) and keep whatever
  // else the directory holds (a training run's checkpoints/ and last/).
  std::error_code ec;
  const bool in_place = std::filesystem::equivalent(options.model_dir, options.output_dir, ec);
  save_model(options.output_dir, config, encoder, m.tokenizer->serialized_model(),
             in_place ? SaveMode::kUpdateFiles : SaveMode::kReplaceDirectory);
  return config;
}

}  // namespace sembed
