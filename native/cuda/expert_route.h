// The router's choice for one token, written once for the host and the device so that
// the GPU picks exactly the experts the CPU reference (cpu/experts.cpp) picks, exact ties
// included. The CPU takes torch.topk's rule through the C++ standard library: an
// nth_element selection of the k-th largest (probability, expert) pair, then a sort of
// the k − 1 before it. Which of two tied experts wins depends on that algorithm's swaps,
// so the device code below replays libstdc++'s: introselect (median-of-three pivot,
// unguarded partition, heap select when the depth runs out, insertion sort on ranges of
// at most 3) and, for the k − 1 ≤ 16 leaders, its insertion sort. The experts tests of
// tramontane-test-cuda compare it with cpu::route on ties.
//
// Worked example, 4 experts, k = 2, probabilities p = (0.3, 0.2, 0.3, 0.2): the larger
// pairs are (0.3, 0) and (0.3, 2); nth_element at index 1 leaves them as (0.3, 0),
// (0.3, 2) and the weights are 0.3 / 0.6 = 0.5 each. With p = (0.4, 0.2, 0.2, 0.2)
// the second place is a three-way tie, and the expert that lands at index 1 is the one
// libstdc++'s partition leaves there (expert 2 here, not 1; weights 2/3 and 1/3): the same
// on both sides.
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define TR_HOST_DEVICE __host__ __device__
#else
#define TR_HOST_DEVICE
#endif

namespace tramontane::cuda::route {

// Router limits of the CUDA backend (one warp scores the experts of a token; a token's
// choices are combined in registers).
constexpr int kMaxExperts = 32;
constexpr int kMaxChosen = 8;

struct Entry {
  float p;
  int expert;
};

// a before b: the larger probability first, NaN counted as the largest (as cpu::route).
TR_HOST_DEVICE inline bool larger(const Entry& a, const Entry& b) {
  const bool a_nan = a.p != a.p, b_nan = b.p != b.p;
  return (a_nan && !b_nan) || a.p > b.p;
}

TR_HOST_DEVICE inline void swap(Entry& a, Entry& b) {
  const Entry t = a;
  a = b;
  b = t;
}

TR_HOST_DEVICE inline int floor_log2(int n) {
  int r = 0;
  while (n > 1) {
    n >>= 1;
    ++r;
  }
  return r;
}

// libstdc++ __push_heap / __adjust_heap / __make_heap / __pop_heap / __heap_select.
TR_HOST_DEVICE inline void push_heap(Entry* first, int hole, int top, Entry value) {
  int parent = (hole - 1) / 2;
  while (hole > top && larger(first[parent], value)) {
    first[hole] = first[parent];
    hole = parent;
    parent = (hole - 1) / 2;
  }
  first[hole] = value;
}

TR_HOST_DEVICE inline void adjust_heap(Entry* first, int hole, int len, Entry value) {
  const int top = hole;
  int child = hole;
  while (child < (len - 1) / 2) {
    child = 2 * (child + 1);
    if (larger(first[child], first[child - 1])) --child;
    first[hole] = first[child];
    hole = child;
  }
  if ((len & 1) == 0 && child == (len - 2) / 2) {
    child = 2 * (child + 1);
    first[hole] = first[child - 1];
    hole = child - 1;
  }
  push_heap(first, hole, top, value);
}

TR_HOST_DEVICE inline void heap_select(Entry* first, int middle, int last) {
  if (middle >= 2) {  // make_heap over [0, middle)
    for (int parent = (middle - 2) / 2;; --parent) {
      adjust_heap(first, parent, middle, first[parent]);
      if (parent == 0) break;
    }
  }
  for (int i = middle; i < last; ++i) {
    if (larger(first[i], first[0])) {  // pop_heap(first, first + middle, first + i)
      const Entry value = first[i];
      first[i] = first[0];
      adjust_heap(first, 0, middle, value);
    }
  }
}

// libstdc++ __insertion_sort over [lo, hi).
TR_HOST_DEVICE inline void insertion_sort(Entry* a, int lo, int hi) {
  if (lo == hi) return;
  for (int i = lo + 1; i < hi; ++i) {
    const Entry v = a[i];
    if (larger(v, a[lo])) {
      for (int j = i; j > lo; --j) a[j] = a[j - 1];
      a[lo] = v;
    } else {
      int j = i;
      while (larger(v, a[j - 1])) {
        a[j] = a[j - 1];
        --j;
      }
      a[j] = v;
    }
  }
}

// libstdc++ std::nth_element(a, a + nth, a + n, larger) (__introselect).
TR_HOST_DEVICE inline void nth_element(Entry* a, int nth, int n) {
  if (n == 0 || nth == n) return;
  int first = 0, last = n, depth = 2 * floor_log2(n);
  while (last - first > 3) {
    if (depth == 0) {
      heap_select(a + first, nth - first + 1, last - first);
      swap(a[first], a[nth]);
      return;
    }
    --depth;
    // __unguarded_partition_pivot: the median of (first + 1, mid, last − 1) to first.
    const int mid = first + (last - first) / 2;
    const int x = first + 1, y = mid, z = last - 1;
    int m;
    if (larger(a[x], a[y])) {
      m = larger(a[y], a[z]) ? y : larger(a[x], a[z]) ? z : x;
    } else {
      m = larger(a[x], a[z]) ? x : larger(a[y], a[z]) ? z : y;
    }
    swap(a[first], a[m]);
    // __unguarded_partition(first + 1, last, pivot = first).
    int lo = first + 1, hi = last;
    while (true) {
      while (larger(a[lo], a[first])) ++lo;
      --hi;
      while (larger(a[first], a[hi])) --hi;
      if (!(lo < hi)) break;
      swap(a[lo], a[hi]);
      ++lo;
    }
    if (lo <= nth) first = lo;
    else last = lo;
  }
  insertion_sort(a, first, last);
}

// logits: [n_experts] (n_experts ≤ kMaxExperts), turned into probabilities in place as
// cpu::softmax does. Writes the k (≤ kMaxChosen) chosen experts and their weights
// divided by their sum, in cpu::route's order. queue: room for n_experts entries.
TR_HOST_DEVICE inline void choose(float* logits, int n_experts, int k, int* chosen,
                                  float* weight, Entry* queue) {
  float max = logits[0];
  for (int i = 1; i < n_experts; ++i) max = logits[i] > max ? logits[i] : max;
  float sum = 0.f;
  for (int i = 0; i < n_experts; ++i) {
    logits[i] = expf(logits[i] - max);
    sum += logits[i];
  }
  const float inv = 1.f / sum;
  for (int i = 0; i < n_experts; ++i) logits[i] *= inv;
  for (int e = 0; e < n_experts; ++e) queue[e] = Entry{logits[e], e};
  // cpu::route takes std::partial_sort when 64·k ≤ n_experts: never below kMaxExperts.
  nth_element(queue, k - 1, n_experts);
  insertion_sort(queue, 0, k - 1);  // std::sort of ≤ 16 entries is an insertion sort
  float total = 0.f;
  for (int j = 0; j < k; ++j) total += queue[j].p;
  for (int j = 0; j < k; ++j) {
    chosen[j] = queue[j].expert;
    weight[j] = queue[j].p / total;
  }
}

}  // namespace tramontane::cuda::route
