// The batching worker (serve/batcher.h) with a fake model: packing under the token budget,
// 429 when full, errors reaching only their batch, draining on stop.
#include "serve/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "serve/http_error.h"

namespace sembed::serve {
namespace {

constexpr int kDim = 4;

// A fake model: row i = (first piece id, length, 0, 0) + 1; records the batch sizes; can be
// held (the first call blocks until release()) and can be told to fail.
struct FakeModel {
  std::mutex mutex;
  std::condition_variable cv;
  bool hold = false;
  bool held = false;  // a call is blocked right now
  bool fail = false;
  std::vector<size_t> calls;

  Batcher::EmbedFn fn() {
    return [this](const std::vector<std::vector<int>>& pieces, int64_t, EmbedStats* stats) {
      std::unique_lock<std::mutex> lock(mutex);
      calls.push_back(pieces.size());
      held = true;
      cv.notify_all();
      cv.wait(lock, [this] { return !hold; });
      held = false;
      if (fail) throw std::runtime_error("model exploded");
      std::vector<float> out;
      for (const auto& p : pieces) {
        out.push_back(p.empty() ? 1.0f : p[0] + 1.0f);
        out.push_back(static_cast<float>(p.size()) + 1);
        out.push_back(0);
        out.push_back(0);
      }
      stats->batches += 1;
      stats->texts += static_cast<int64_t>(pieces.size());
      return out;
    };
  }
  void wait_held() {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return held; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    hold = false;
    cv.notify_all();
  }
};

void wait_for_depth(const Batcher& b, int depth) {
  for (int i = 0; i < 5000 && b.queue_depth() != depth; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(b.queue_depth(), depth);
}

BatcherOptions options(int64_t budget, int max_queue = 100) {
  BatcherOptions o;
  o.max_batch_tokens = budget;
  o.max_len = 16;
  o.max_queue = max_queue;
  return o;
}

TEST(Batcher, PacksUnderTheTokenBudgetAndNormalisesWhenAsked) {
  {
    FakeModel model;
    model.hold = true;
    std::vector<BatchReport> reports;
    std::mutex reports_mutex;
    Batcher b(model.fn(), kDim, options(/*budget=*/36), [&](const BatchReport& r) {
      std::lock_guard<std::mutex> lock(reports_mutex);
      reports.push_back(r);
    });
    const std::vector<int> ten(10, 7);  // 12 tokens with [CLS]/[SEP]: 3 fit the budget of 36
    auto first = std::async(std::launch::async, [&] { return b.embed({ten}, false); });
    model.wait_held();
    std::vector<std::future<std::vector<float>>> rest;
    for (int i = 0; i < 4; ++i) {
      rest.push_back(std::async(std::launch::async,
                                [&, i] { return b.embed({std::vector<int>(10, 20 + i)}, false); }));
      wait_for_depth(b, i + 1);  // arrival order is queue order
    }
    EXPECT_EQ(b.in_flight(), 5);
    model.release();
    EXPECT_EQ(first.get()[0], 8.0f);
    for (int i = 0; i < 4; ++i) {
      const auto v = rest[i].get();
      ASSERT_EQ(v.size(), static_cast<size_t>(kDim));
      EXPECT_EQ(v[0], 21.0f + i) << "each request gets its own rows back";
    }
    b.stop();
    EXPECT_EQ(model.calls, (std::vector<size_t>{1, 3, 1})) << "3 x 12 tokens fill the budget of 36";
    ASSERT_EQ(reports.size(), 3u);
    EXPECT_EQ(reports[1].requests, 3);
    EXPECT_EQ(reports[1].inputs, 3);
    EXPECT_EQ(reports[1].padded_tokens, 36);
    EXPECT_EQ(reports[1].forward_passes, 1);
  }
  {
    FakeModel model;
    Batcher b(model.fn(), kDim, options(1000));
    const auto raw = b.embed({{2, 3}}, false);
    EXPECT_EQ(raw, (std::vector<float>{3, 3, 0, 0}));
    const auto unit = b.embed({{2, 3}, {}}, true);
    ASSERT_EQ(unit.size(), 8u);
    EXPECT_NEAR(unit[0], std::sqrt(0.5), 1e-6);
    EXPECT_NEAR(unit[1], std::sqrt(0.5), 1e-6);
    EXPECT_NEAR(unit[4] * unit[4] + unit[5] * unit[5], 1.0, 1e-6);
    EXPECT_TRUE(b.embed({}, true).empty());
  }
  {
    // One request's inputs of very different lengths: batches of similar lengths when a pass
    // costs less than the padding it saves, rows back in input order.
    FakeModel model;
    BatcherOptions o = options(1000);
    o.pass_cost_tokens = 8;  // one batch: 8 + 4 x 14 = 64; two: 8 + 2 x 14 + 8 + 2 x 5 = 54
    Batcher b(model.fn(), kDim, o);
    const auto v = b.embed({std::vector<int>(12, 1), std::vector<int>(2, 2),
                            std::vector<int>(11, 3), std::vector<int>(3, 4)},
                           false);
    EXPECT_EQ(model.calls, (std::vector<size_t>{2, 2})) << "14+13 tokens, then 5+4";
    o.pass_cost_tokens = 64;  // one batch: 64 + 56 = 120; two: 64 + 28 + 64 + 10 = 166
    Batcher one(model.fn(), kDim, o);
    one.embed({std::vector<int>(12, 1), std::vector<int>(2, 2), std::vector<int>(11, 3),
               std::vector<int>(3, 4)},
              false);
    EXPECT_EQ(model.calls.back(), 4u) << "a pass costs more than the padding it would save";
    ASSERT_EQ(v.size(), 16u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(v[i * kDim], i + 2.0f) << "row " << i;
  }
}

TEST(Batcher, FullQueueAnswers429AndModelErrorsFailOnlyTheirBatch) {
  {
    FakeModel model;
    model.hold = true;
    Batcher b(model.fn(), kDim, options(1000, /*max_queue=*/2));
    auto running = std::async(std::launch::async, [&] { return b.embed({{1}}, false); });
    model.wait_held();
    auto queued = std::async(std::launch::async, [&] { return b.embed({{2}}, false); });
    wait_for_depth(b, 1);
    try {
      b.embed({{3}}, false);
      ADD_FAILURE() << "a third request was accepted with max_queue 2";
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status(), 429);
      EXPECT_EQ(e.type(), "overloaded");
      EXPECT_NE(std::string(e.what()).find("--max-concurrent"), std::string::npos) << e.what();
    }
    model.release();
    EXPECT_EQ(running.get()[0], 2.0f);
    EXPECT_EQ(queued.get()[0], 3.0f);
    EXPECT_EQ(b.embed({{4}}, false)[0], 5.0f) << "room again once the queue drained";
  }
  {
    FakeModel model;
    model.fail = true;
    Batcher b(model.fn(), kDim, options(1000));
    try {
      b.embed({{1}}, false);
      ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "model exploded");
    }
    model.fail = false;
    EXPECT_EQ(b.embed({{1}}, false)[0], 2.0f) << "the worker survives";
  }
}

TEST(Batcher, StopFinishesQueuedWorkAndBadOptionsAreRefused) {
  {
    FakeModel model;
    model.hold = true;
    Batcher b(model.fn(), kDim, options(1000));
    auto a = std::async(std::launch::async, [&] { return b.embed({{1}}, false); });
    model.wait_held();
    auto c = std::async(std::launch::async, [&] { return b.embed({{5}}, false); });
    wait_for_depth(b, 1);
    std::thread stopper([&] { b.stop(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    model.release();
    stopper.join();
    EXPECT_EQ(a.get()[0], 2.0f);
    EXPECT_EQ(c.get()[0], 6.0f) << "queued before stop: still answered";
    try {
      b.embed({{1}}, false);
      ADD_FAILURE() << "accepted after stop";
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status(), 503);
    }
  }
  {
    FakeModel model;
    EXPECT_THROW(Batcher(model.fn(), kDim, options(8)), std::invalid_argument)
        << "budget below max_len";
    EXPECT_THROW(Batcher(model.fn(), 0, options(100)), std::invalid_argument);
  }
}

}  // namespace
}  // namespace sembed::serve
