#include "engine/sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace lckv {

namespace {

// Higher score first, lower id on ties; NaN ranks last (it compares false with everything).
struct RanksBefore {
  const float* scores;
  bool operator()(int32_t a, int32_t b) const {
    const float x = std::isnan(scores[a]) ? -INFINITY : scores[a], y = std::isnan(scores[b]) ? -INFINITY : scores[b];
    return x > y || (x == y && a < b);
  }
};

double weight(float score, float top, double temperature) { return std::exp((double(score) - double(top)) / temperature); }

}  // namespace

double next_uniform(uint32_t* state) {
  *state += 0x6d2b79f5u;
  uint32_t t = *state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return double(t ^ (t >> 14)) / 4294967296.0;
}

void Sampler::rank(std::vector<int32_t>& ids) const { std::sort(ids.begin(), ids.end(), RanksBefore{scores_}); }

// The k best ids by rank, in order. A few: one pass that keeps them sorted, where once there
// are k a later id must beat the k-th score (an equal one ranks after it, having a higher
// id). Many (insertion would cost k per id): a partial sort.
void Sampler::top_k(int64_t vocab, int64_t k) {
  const RanksBefore before{scores_};
  order_.clear();
  if (k > 64) {
    for (int64_t id = 0; id < vocab; ++id) order_.push_back(int32_t(id));
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), before);
    order_.resize(size_t(k));
    return;
  }
  float floor = -INFINITY;
  for (int64_t id = 0; id < vocab; ++id) {
    if (int64_t(order_.size()) == k && !(scores_[id] > floor)) continue;
    order_.insert(std::upper_bound(order_.begin(), order_.end(), int32_t(id), before), int32_t(id));
    if (int64_t(order_.size()) > k) order_.pop_back();
    if (int64_t(order_.size()) == k) floor = scores_[order_.back()];
  }
}

// Without top-k: ranks only the ids top-p and min-p can keep, those whose weight reaches a
// cutoff (the min-p floor, raised to the largest power of ten whose ids already hold the
// top-p mass), a prefix of the full ranking. Returns every id's total weight, in id order.
double Sampler::nucleus(int64_t vocab, float top, const SamplingParams& p) {
  weights_.resize(size_t(vocab));
  double total = 0;
  for (int64_t id = 0; id < vocab; ++id) total += weights_[size_t(id)] = weight(scores_[id], top, p.temperature);
  double cutoff = p.min_p;  // the top id weighs exactly 1
  const double needed = (p.top_p + 1e-9) * total;
  for (double c = 0.1; p.top_p < 1 && c > cutoff && c > 1e-30; c /= 10) {
    double mass = 0;
    for (double w : weights_)
      if (w >= c) mass += w;
    if (mass >= needed) {
      cutoff = c;
      break;
    }
  }
  order_.clear();
  for (int64_t id = 0; id < vocab; ++id)
    if (weights_[size_t(id)] >= cutoff) order_.push_back(int32_t(id));
  rank(order_);
  return total;
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const SamplingParams& p, const int32_t* seen, int64_t n_seen,
                        uint32_t* rng) {
  scores_ = logits;
  if (p.repetition_penalty != 1) {
    penalized_.assign(logits, logits + vocab);
    for (int64_t i = 0; i < n_seen; ++i) {
      float& s = penalized_[size_t(seen[i])];
      // Past the float range a score saturates: Infinity - Infinity would make every weight NaN.
      s = s > 0 ? float(std::min(double(s) / p.repetition_penalty, double(FLT_MAX))) : float(double(s) * p.repetition_penalty);
    }
    scores_ = penalized_.data();
  }
  int64_t best = 0;
  for (int64_t id = 1; id < vocab; ++id)
    if (scores_[id] > scores_[best]) best = id;
  // A best score that is not finite (NaN or Infinity from a broken checkpoint) has no distribution.
  if (p.temperature == 0 || !std::isfinite(scores_[best])) return int32_t(best);
  double total;
  if (p.top_k > 0 && p.top_k < vocab) {
    top_k(vocab, p.top_k);
    by_id_.assign(order_.begin(), order_.end());
    std::sort(by_id_.begin(), by_id_.end());
    total = 0;  // summed in id order, as the nucleus sums every id
    for (int32_t id : by_id_) total += weight(scores_[id], scores_[order_[0]], p.temperature);
  } else {
    total = nucleus(vocab, scores_[best], p);
  }
  if (order_.empty()) return int32_t(best);  // only with settings JavaScript never passes (a NaN temperature)
  const float top = scores_[order_[0]];
  std::vector<double>& probs = weights_;
  probs.resize(order_.size());
  for (size_t i = 0; i < order_.size(); ++i) probs[i] = weight(scores_[order_[i]], top, p.temperature);
  size_t keep = order_.size();
  if (p.top_p < 1) {
    double cumulative = 0;
    for (size_t i = 0; i < order_.size(); ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0) {
    const double floor = p.min_p * probs[0];
    while (keep > 1 && probs[keep - 1] < floor) --keep;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += probs[i];
  double r = next_uniform(rng) * kept;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs[i];
    if (r < 0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace lckv
