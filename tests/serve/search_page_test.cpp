// The search page (GET /): what the server sends, then the page driven end to end in headless
// Chromium (Debian's `chromium`; those tests skip when it is not on PATH).
//
// Plain --headless cannot type, so the page reads /?q=TEXT (and /?tab=similarity&a=...&b=...)
// and does what a user typing does: fills the box, fires an input event and submits the form as
// Enter does. Chromium runs with --virtual-time-budget=10000: virtual time stands still while
// network fetches are pending, so --dump-dom and --screenshot wait for the page's fetch() calls to
// this server to finish (and its timers are fast-forwarded) before they read the page. Without the
// budget (Debian's Chromium 156, new headless mode) the DOM is dumped before the fetches return and
// holds no results; with it, a server that took 4 s to answer was still waited for.
#include "serve/web_page.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "tests/serve/serve_fixtures.h"

namespace sembed::serve {
namespace {

using nlohmann::json;
using test::RunningServer;

bool have_chromium() {
  return test::run_shell("command -v chromium").exit_code == 0;
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string url_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// How a serialized DOM writes `text` inside an element.
std::string html_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

// The start tag of the element with id `id` in `html`, or "".
std::string start_tag(const std::string& html, const std::string& id) {
  const size_t at = html.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t open = html.rfind('<', at);
  return html.substr(open, html.find('>', at) + 1 - open);
}

// The text of the element with id `id` (up to its first child tag or end tag).
std::string element_text(const std::string& html, const std::string& id) {
  const std::string tag = start_tag(html, id);
  if (tag.empty()) return "";
  const size_t begin = html.find(tag) + tag.size();
  return html.substr(begin, html.find('<', begin) - begin);
}

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// One run of headless Chromium with a fresh profile, bounded in time. `mode` is "--dump-dom" or
// "--screenshot=PATH --window-size=W,H". Fails the test (and returns "") when Chromium fails.
std::string chromium(const std::string& mode, const std::string& url) {
  test::ScratchDir profile("chromium-profile");
  // Its crash database and caches go into the profile too, not under $HOME.
  const std::string env = "XDG_CONFIG_HOME=" + test::shell_quote(profile.file("config")) +
                          " XDG_CACHE_HOME=" + test::shell_quote(profile.file("cache")) + " ";
  const std::string command =
      env + "timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir=" +
      test::shell_quote(profile.path()) +
      " --no-first-run --no-default-browser-check --disable-extensions --disable-sync"
      " --disable-background-networking --disable-component-update --disable-dev-shm-usage"
      " --virtual-time-budget=10000 " +
      mode + " " + test::shell_quote(url);
  const test::CommandResult r = test::run_shell(command);
  EXPECT_EQ(r.exit_code, 0) << command << "\nexit " << r.exit_code << " (124: timed out)\n"
                            << r.err;
  return r.exit_code == 0 ? r.out : "";
}

TEST(SearchPage, ServedWithoutAuthAndSelfContained) {
  auto config = test::test_config(/*with_embeddings=*/false);
  config.api_key = "s3cret-key";
  RunningServer s(config);
  auto cli = s.client();

  auto r = cli.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "the page needs no key: " << r->body.substr(0, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  const std::string& page = r->body;
  EXPECT_EQ(page, web_page());
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  for (const char* part :
       {"<form id=\"search-form\"", "<input id=\"q\" name=\"q\" type=\"search\"",
        "id=\"tab-similarity\"", "<form id=\"similarity-form\"", "<input id=\"a\"",
        "<input id=\"b\"", "id=\"hits\"", "id=\"similarity-score\"", "<input id=\"key\"",
        "localStorage", "<label"})
    EXPECT_NE(page.find(part), std::string::npos) << part;
  // Nothing from elsewhere: no absolute or protocol-relative URL, no external script or sheet.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_FALSE(std::regex_search(
      page, std::regex(R"((src|href|action)\s*=\s*["']?\s*(//|(?!data:)[a-zA-Z][\w+.-]*:))")));
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  // Result text never goes through an HTML parser.
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"})
    EXPECT_EQ(page.find(sink), std::string::npos) << sink;

  // With a query string too; the API itself still wants the key; other methods are refused.
  auto with_query = cli.Get("/?q=a%20query&tab=similarity");
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->status, 200);
  EXPECT_EQ(cli.Get("/info")->status, 401);
  auto post = cli.Post("/", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET");

  cli.set_bearer_token_auth("s3cret-key");
  const std::string metrics = cli.Get("/metrics")->body;
  EXPECT_EQ(test::metric_value(metrics, "sembed_requests_total{route=\"/\",status=\"200\"}"), 2)
      << metrics;
  EXPECT_EQ(test::metric_value(metrics, "sembed_requests_total{route=\"/\",status=\"405\"}"), 1);
}

TEST(SearchPage, HeadlessChromiumSearchesAndScores) {
  if (!have_chromium()) GTEST_SKIP() << "chromium is not on PATH";
  // A small set with one line of markup, which must come out as text.
  const std::string markup = "Tom & Jerry <b>bold</b> <img src=x onerror=\"document.title='x'\">";
  std::vector<std::string> lines = test::corpus_sentences();
  lines.resize(40);
  lines.push_back(markup);
  test::ScratchDir dir("search-page");
  auto config = test::test_config(/*with_embeddings=*/false);
  config.embeddings_dir = test::make_embedding_set(dir.file("set"), lines);
  RunningServer s(config);
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port()) + "/";

  // Search: a sentence of the set finds itself first, with score 1; every row is listed (k=50).
  const std::string query = lines[17];
  const std::string search_url = base + "?q=" + url_encode(query) + "&k=50";
  const std::string dom = chromium("--dump-dom", search_url);
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(count(dom, "<li class=\"hit\">"), static_cast<int>(lines.size())) << dom;
  const size_t first = dom.find("<li class=\"hit\">");
  ASSERT_NE(first, std::string::npos) << dom;
  const std::string want_first =
      "<li class=\"hit\"><span class=\"score\">1.0000</span><span class=\"text\">" +
      html_text(query) + "</span><span class=\"id\">#17</span></li>";
  EXPECT_EQ(dom.substr(first, want_first.size()), want_first);
  EXPECT_EQ(element_text(dom, "search-status").rfind(std::to_string(lines.size()) + " results", 0),
            0u)
      << start_tag(dom, "search-status");
  EXPECT_NE(start_tag(dom, "hits").find("aria-busy=\"false\""), std::string::npos);
  // The markup row is text, not elements (and its onerror never ran).
  EXPECT_NE(dom.find("<span class=\"text\">" + html_text(markup) + "</span>"), std::string::npos);
  EXPECT_EQ(dom.find("<b>bold</b>"), std::string::npos);
  EXPECT_NE(dom.find("<title>sembed</title>"), std::string::npos);

  // Similarity: the score POST /similarity gives, to 4 decimals.
  auto cli = s.client();
  auto sim = cli.Post(
      "/similarity",
      json({{"inputs", {{"source_sentence", lines[3]}, {"sentences", {lines[4]}}}}}).dump(),
      "application/json");
  ASSERT_TRUE(sim && sim->status == 200);
  char want[32];
  std::snprintf(want, sizeof(want), "%.4f", json::parse(sim->body)[0].get<double>());
  const std::string sim_dom =
      chromium("--dump-dom",
               base + "?tab=similarity&a=" + url_encode(lines[3]) + "&b=" + url_encode(lines[4]));
  ASSERT_FALSE(sim_dom.empty());
  EXPECT_EQ(element_text(sim_dom, "similarity-score"), want) << sim_dom;
  EXPECT_NE(start_tag(sim_dom, "tab-similarity").find("aria-selected=\"true\""), std::string::npos);
  EXPECT_NE(start_tag(sim_dom, "panel-search").find("hidden"), std::string::npos);

  // A screenshot of the search, into the build folder.
  const std::string png = std::string(SEMBED_BUILD_DIR) + "/search_page.png";
  std::filesystem::remove(png);
  chromium("--screenshot=" + test::shell_quote(png) + " --window-size=1000,800", search_url);
  ASSERT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 10000u);
  EXPECT_EQ(test::read_text(png).substr(0, 8), "\x89PNG\r\n\x1a\n");
}

TEST(SearchPage, HeadlessChromiumSaysWhySearchIsUnavailable) {
  if (!have_chromium()) GTEST_SKIP() << "chromium is not on PATH";
  {
    // No embedding set: search says so, the similarity tab opens and still works.
    RunningServer s(test::test_config(/*with_embeddings=*/false));
    const std::string dom =
        chromium("--dump-dom", "http://127.0.0.1:" + std::to_string(s.port()) + "/?q=anything");
    ASSERT_FALSE(dom.empty());
    EXPECT_NE(element_text(dom, "search-status").find("Search is unavailable"), std::string::npos)
        << dom;
    EXPECT_NE(start_tag(dom, "tab-similarity").find("aria-selected=\"true\""), std::string::npos);
    EXPECT_EQ(count(dom, "class=\"hit\""), 0);
  }
  {
    // An API key is required and none was given: the 401 message shows, the key field opens.
    auto config = test::test_config(/*with_embeddings=*/false);
    config.api_key = "s3cret-key";
    RunningServer s(config);
    const std::string dom =
        chromium("--dump-dom", "http://127.0.0.1:" + std::to_string(s.port()) + "/?q=anything");
    ASSERT_FALSE(dom.empty());
    const std::string status = element_text(dom, "search-status");
    EXPECT_NE(status.find("Unauthorized: missing API key"), std::string::npos) << dom;
    EXPECT_NE(start_tag(dom, "search-status").find("error"), std::string::npos);
    EXPECT_NE(start_tag(dom, "settings").find("open"), std::string::npos);
  }
}

}  // namespace
}  // namespace sembed::serve
