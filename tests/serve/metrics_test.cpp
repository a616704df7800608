// Prometheus text from serve/metrics.h: counters by route and status, cumulative histograms,
// gauges read at render time.
#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/serve/serve_fixtures.h"

namespace sembed::serve {
namespace {

using test::metric_value;

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.record_request("/embed", 200, 0.003);
  m.record_request("/embed", 200, 0.2);
  m.record_request("/embed", 422, 0.001);
  m.record_request("other", 404, -1);
  BatchReport r;
  r.requests = 3;
  r.inputs = 5;
  r.tokens = 40;
  r.padded_tokens = 50;
  r.forward_passes = 1;
  r.batch_sizes = {5};
  r.seconds = 0.01;
  m.record_batch(r);
  m.record_search(2, 0.004);
  int depth = 7;
  m.set_gauge("sembed_queue_depth", "Requests waiting.", [&] { return depth; });
  const std::string page = m.render();

  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"/embed\",status=\"200\"}"), 2);
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"/embed\",status=\"422\"}"), 1);
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"other\",status=\"404\"}"), 1);
  EXPECT_EQ(
      metric_value(page, "sembed_request_duration_seconds_bucket{route=\"/embed\",le=\"0.005\"}"),
      2);
  EXPECT_EQ(
      metric_value(page, "sembed_request_duration_seconds_bucket{route=\"/embed\",le=\"+Inf\"}"),
      3);
  EXPECT_EQ(metric_value(page, "sembed_request_duration_seconds_count{route=\"/embed\"}"), 3);
  EXPECT_EQ(page.find("sembed_request_duration_seconds_count{route=\"other\"}"), std::string::npos)
      << "untimed requests are counted, not timed";
  EXPECT_EQ(metric_value(page, "sembed_forward_passes_total"), 1);
  EXPECT_EQ(metric_value(page, "sembed_inputs_total"), 5);
  EXPECT_EQ(metric_value(page, "sembed_tokens_total"), 40);
  EXPECT_EQ(metric_value(page, "sembed_padded_tokens_total"), 50);
  EXPECT_EQ(metric_value(page, "sembed_batch_size_bucket{le=\"4\"}"), 0);
  EXPECT_EQ(metric_value(page, "sembed_batch_size_bucket{le=\"8\"}"), 1);
  EXPECT_EQ(metric_value(page, "sembed_batch_requests_sum"), 3);
  EXPECT_EQ(metric_value(page, "sembed_search_queries_total"), 2);
  EXPECT_EQ(metric_value(page, "sembed_queue_depth"), 7);
  depth = 2;
  EXPECT_EQ(metric_value(m.render(), "sembed_queue_depth"), 2);

  // Every sample line belongs to a family announced by # HELP and # TYPE.
  std::istringstream lines(page);
  std::string line, family;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) family = line.substr(7, line.find(' ', 7) - 7);
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind(family, 0), 0u) << line << " outside family " << family;
  }
}

}  // namespace
}  // namespace sembed::serve
