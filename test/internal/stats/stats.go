// Package stats has the little statistics the load tools report.
package stats

import (
	"math/rand/v2"
	"slices"
)

// Median returns the median of xs, which it sorts.
func Median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// MedianCI returns the median of xs and a 95% interval for it, from 2000
// bootstrap resamples with a fixed seed, so that a run's output can be
// checked. xs is left as it was.
func MedianCI(xs []float64) (med, lo, hi float64) {
	med = Median(slices.Clone(xs))
	rng := rand.New(rand.NewPCG(1, 2))
	meds := make([]float64, 2000)
	buf := make([]float64, len(xs))
	for i := range meds {
		for j := range buf {
			buf[j] = xs[rng.IntN(len(xs))]
		}
		meds[i] = Median(buf)
	}
	slices.Sort(meds)
	return med, meds[len(meds)*25/1000], meds[len(meds)*975/1000-1]
}
