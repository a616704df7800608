// sembed prepare: raw text -> one normalised sentence per line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "tokenizer/corpus.h"

namespace sembed::cli {
namespace {

class PrepareCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "prepare",
        "Raw text (a document or paragraph per line) -> one normalised sentence per line. "
        "Normalisation: NFKC, control/format characters removed, whitespace collapsed. Streams "
        "in bounded memory; the output is written atomically.");
    auto* s = subcommand;
    s->add_option("-i,--input", config_.inputs, "Input text file(s); '-' for stdin")
        ->required()
        ->expected(1, -1);
    s->add_option("-o,--output", config_.output, "Output file (one sentence per line)")->required();
    s->add_flag("--split-sentences", config_.split_sentences,
                "Split each line into sentences (ICU, en@ss=standard abbreviations)");
    s->add_flag("--lowercase", config_.normalizer.lowercase, "Unicode case folding");
    s->add_option("--min-chars", config_.min_chars,
                  "Drop sentences with fewer code points (empty ones are always dropped)")
        ->capture_default_str();
    s->add_option("--max-chars", config_.max_chars,
                  "Drop sentences with more code points (0 = no limit); never truncated")
        ->capture_default_str();
    s->add_flag("--dedupe", config_.dedupe, "Drop exact duplicate sentences (64-bit hashes)");
    s->add_option("--on-invalid", on_invalid_,
                  "Lines with invalid UTF-8: skip (count + warn), replace (U+FFFD) or error")
        ->check(CLI::IsMember({"skip", "replace", "error"}))
        ->capture_default_str();
    s->add_option("--threads", config_.threads, "Worker threads (0 = all cores)")
        ->capture_default_str();
    s->add_flag("--json", json_, "Print the counts as one JSON object on stdout");
  }

  int run() override {
    config_.on_invalid = on_invalid_ == "replace" ? InvalidLinePolicy::kReplace
                         : on_invalid_ == "error" ? InvalidLinePolicy::kError
                                                  : InvalidLinePolicy::kSkip;
    try {
      config_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    const PrepareStats s = prepare_corpus(config_);
    if (json_) {
      nlohmann::json j = {{"read", s.lines_read},
                          {"sentences", s.sentences},
                          {"written", s.written},
                          {"dropped_duplicate", s.dropped_duplicate},
                          {"dropped_short", s.dropped_short},
                          {"dropped_long", s.dropped_long},
                          {"dropped_invalid", s.dropped_invalid},
                          {"replaced_invalid", s.replaced_invalid}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("read      %lld lines (%lld sentences)\n", (long long)s.lines_read,
                  (long long)s.sentences);
      std::printf("written   %lld sentences to %s\n", (long long)s.written, config_.output.c_str());
      std::printf("dropped   %lld duplicate, %lld too short, %lld too long, %lld invalid UTF-8\n",
                  (long long)s.dropped_duplicate, (long long)s.dropped_short,
                  (long long)s.dropped_long, (long long)s.dropped_invalid);
      if (s.replaced_invalid > 0)
        std::printf("replaced  invalid bytes with U+FFFD in %lld lines\n",
                    (long long)s.replaced_invalid);
    }
    return 0;
  }

 private:
  PrepareConfig config_;
  std::string on_invalid_ = "skip";
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_prepare_command() {
  return std::make_unique<PrepareCommand>();
}

}  // namespace sembed::cli
