#pragma once

#include <vector>

namespace sembed {

// Ranks 1..n with ties given the average of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& values);
// Pearson correlation; 0 when either side has zero variance. Throws std::invalid_argument for
// sizes that differ or are < 2.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman correlation = Pearson of average ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace sembed
