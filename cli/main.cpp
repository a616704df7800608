// sembed: one binary, one subcommand per file in cli/. Exit codes: 0 ok, 1 runtime failure,
// 2 usage error. This is one of the three places that catch library exceptions.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "cli/runtime_env.h"
#include "common/log.h"
#include "model/runtime.h"
#include "sembed/version.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace sembed::cli {

std::string version_text() {
  const TorchRuntimeInfo torch = torch_runtime_info();  // runs a tensor op: torch is alive
  std::string text = std::string("sembed ") + SEMBED_VERSION + "\n";
  text += "  LibTorch      " + torch.version +
          (torch.cuda_available ? " (CUDA, " + std::to_string(torch.cuda_devices) + " device(s))"
                                : " (CPU)") +
          "\n";
  text += "  SentencePiece " + sentencepiece_version() + " (static, hidden symbols)\n";
  text += "  ICU           " + icu_version() + "\n";
  return text;
}

}  // namespace sembed::cli

int main(int argc, char** argv) {
  using namespace sembed;
  cli::reexec_with_runtime_env(argc, argv);
  CLI::App app{
      "sembed: sentence embeddings learned by contrast (SimCSE) - prepare text, train a "
      "tokenizer and an encoder, embed, search and serve."};
  app.require_subcommand(1, 1);
  app.fallthrough();
  app.set_version_flag(
      "--version", [] { return cli::version_text(); }, "Print versions and exit");
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only print warnings and errors");
  app.add_flag("-v,--verbose", verbose, "Print debug messages");

  std::vector<std::unique_ptr<cli::Command>> commands;
  commands.push_back(cli::make_prepare_command());
  commands.push_back(cli::make_tokenizer_command());
#ifdef SEMBED_HAVE_MODEL_COMMANDS
  commands.push_back(cli::make_init_command());
  commands.push_back(cli::make_lexical_command());
#ifdef SEMBED_HAVE_TRAIN_COMMAND
  commands.push_back(cli::make_train_command());
#endif
  commands.push_back(cli::make_embed_command());
  commands.push_back(cli::make_eval_command());
#endif
#ifdef SEMBED_HAVE_SERVE_COMMANDS
  commands.push_back(cli::make_index_command());
  commands.push_back(cli::make_search_command());
  commands.push_back(cli::make_serve_command());
#endif
  for (auto& c : commands) c->setup(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (quiet) set_log_level(LogLevel::kWarning);
  if (verbose) set_log_level(LogLevel::kDebug);

  for (auto& c : commands) {
    if (c->subcommand == nullptr || !c->subcommand->parsed()) continue;
    try {
      return c->run();
    } catch (const cli::UsageError& e) {
      std::fprintf(stderr, "sembed %s: usage error: %s\nRun with --help for usage.\n",
                   c->subcommand->get_name().c_str(), e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sembed %s: error: %s\n", c->subcommand->get_name().c_str(), e.what());
      return 1;
    }
  }
  return 2;
}
