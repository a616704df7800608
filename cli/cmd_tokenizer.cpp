// sembed tokenizer train|encode|decode.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "common/atomic_file.h"
#include "common/line_reader.h"
#include "common/log.h"
#include "common/progress.h"
#include "model/model_dir.h"
#include "tokenizer/tokenizer.h"

namespace sembed::cli {
namespace {

// PATH.model (with the PATH.model.json that `tokenizer train` writes beside it) or a model
// directory, whose config.json carries the tokenizer's settings beside its tokenizer.model.
Tokenizer load_tokenizer(const std::string& path) {
  if (!is_directory(path)) return Tokenizer::load(path);
  return load_model_tokenizer(path, read_model_config(path));
}

constexpr const char* kTokenizerHelp = "Tokenizer model (PATH.model) or a model directory";

class TokenizerCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand("tokenizer", "Train a SentencePiece tokenizer, encode, decode");
    subcommand->require_subcommand(1, 1);

    train_ = subcommand->add_subcommand(
        "train",
        "Train a tokenizer on a text file (one sentence per line; lines are normalised first). "
        "Writes PATH.model and its config PATH.model.json atomically. Special ids: [PAD]=0 "
        "[UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.");
    train_->add_option("-i,--input", input_, "Training text")->required();
    train_->add_option("-o,--output", output_, "Output model path (e.g. tok.model)")->required();
    train_->add_option("--vocab-size", config_.vocab_size, "Vocabulary size incl. specials")
        ->capture_default_str();
    train_->add_option("--model-type", config_.model_type, "unigram or bpe")
        ->check(CLI::IsMember({"unigram", "bpe"}))
        ->capture_default_str();
    train_
        ->add_option("--character-coverage", config_.character_coverage,
                     "Fraction of characters the vocabulary covers")
        ->capture_default_str();
    train_
        ->add_option("--input-sentence-size", config_.input_sentence_size,
                     "Sentences sampled for training (0 = all)")
        ->capture_default_str();
    train_->add_option("--threads", config_.threads, "Training threads (0 = all cores)")
        ->capture_default_str();
    train_->add_option("--seed", config_.seed, "Sampling seed")->capture_default_str();
    train_->add_flag("--lowercase", config_.normalizer.lowercase,
                     "Case-fold text (saved with the tokenizer, applied at inference too)");
    train_->add_flag("--replace-invalid", config_.normalizer.replace_invalid_utf8,
                     "Replace invalid UTF-8 with U+FFFD instead of failing");

    encode_ = subcommand->add_subcommand(
        "encode", "Print the piece ids of each input line (normalised first), space-separated");
    encode_->add_option("-t,--tokenizer", model_, kTokenizerHelp)->required();
    encode_->add_option("-i,--input", input_, "Input text (default: stdin)");
    encode_->add_flag("--pieces", pieces_, "Print pieces instead of ids");

    decode_ = subcommand->add_subcommand(
        "decode", "Turn lines of space-separated ids back into text (special tokens skipped)");
    decode_->add_option("-t,--tokenizer", model_, kTokenizerHelp)->required();
    decode_->add_option("-i,--input", input_, "Input ids (default: stdin)");
  }

  int run() override {
    if (train_->parsed()) return run_train();
    if (encode_->parsed()) return run_encode();
    return run_decode();
  }

 private:
  int run_train() {
    try {
      config_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    Progress timer("tokenizer train", -1, "");
    Tokenizer::train(input_, output_, config_, log_level() >= LogLevel::kDebug);
    Tokenizer tok = Tokenizer::load(output_);
    std::printf("trained %s tokenizer: %d pieces -> %s (+ %s) in %s\n", config_.model_type.c_str(),
                tok.vocab_size(), output_.c_str(), tokenizer_sidecar_path(output_).c_str(),
                Progress::format_duration(timer.elapsed_seconds()).c_str());
    return 0;
  }

  int run_encode() {
    Tokenizer tok = load_tokenizer(model_);
    LineReader reader(input_.empty() ? "-" : input_);
    std::string line, out;
    while (reader.next(line)) {
      out.clear();
      try {
        if (pieces_) {
          for (const auto& p : tok.encode_pieces(line)) {
            if (!out.empty()) out.push_back(' ');
            out += p;
          }
        } else {
          for (int id : tok.encode(line)) {
            if (!out.empty()) out.push_back(' ');
            out += std::to_string(id);
          }
        }
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(reader.where() + ": " + e.what());
      }
      out.push_back('\n');
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return 0;
  }

  int run_decode() {
    Tokenizer tok = load_tokenizer(model_);
    LineReader reader(input_.empty() ? "-" : input_);
    std::string line;
    std::vector<int> ids;
    while (reader.next(line)) {
      ids.clear();
      size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        if (i >= line.size()) break;
        size_t j = i;
        while (j < line.size() && line[j] != ' ') ++j;
        const std::string tok_str = line.substr(i, j - i);
        try {
          size_t used = 0;
          long v = std::stol(tok_str, &used);
          if (used != tok_str.size()) throw std::invalid_argument("x");
          ids.push_back(static_cast<int>(v));
        } catch (const std::exception&) {
          throw std::invalid_argument(reader.where() + ": '" + tok_str + "' is not a token id");
        }
        i = j;
      }
      try {
        std::printf("%s\n", tok.decode(ids).c_str());
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(reader.where() + ": " + e.what());
      }
    }
    return 0;
  }

  CLI::App* train_ = nullptr;
  CLI::App* encode_ = nullptr;
  CLI::App* decode_ = nullptr;
  TokenizerConfig config_;
  std::string input_, output_, model_;
  bool pieces_ = false;
};

}  // namespace

std::unique_ptr<Command> make_tokenizer_command() {
  return std::make_unique<TokenizerCommand>();
}

}  // namespace sembed::cli
