#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sembed::cli {

// A usage error found after parsing (bad flag combination, invalid value): exit code 2.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// One subcommand: setup() declares its flags on a CLI11 subcommand bound to plain config
// structs; run() calls the library and returns the exit code. Library errors propagate to main,
// which prints them and exits 1.
class Command {
 public:
  virtual ~Command() = default;
  virtual void setup(CLI::App& app) = 0;
  virtual int run() = 0;
  // The CLI11 subcommand created by setup(); main() asks it whether it was parsed.
  CLI::App* subcommand = nullptr;
};

std::unique_ptr<Command> make_prepare_command();
std::unique_ptr<Command> make_tokenizer_command();
std::unique_ptr<Command> make_init_command();
std::unique_ptr<Command> make_lexical_command();
std::unique_ptr<Command> make_embed_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_index_command();
std::unique_ptr<Command> make_search_command();
std::unique_ptr<Command> make_serve_command();

// The full version text of `sembed --version`.
std::string version_text();

}  // namespace sembed::cli
