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

// Slope fits y = a + b·x to the points by least squares and returns b, the
// change of y per unit of x, with r², the share of y's variance the line
// explains. It returns zeros for fewer than two points or when every x is
// the same.
func Slope(xs, ys []float64) (b, r2 float64) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return 0, 0
	}
	b = sxy / sxx
	if syy > 0 {
		r2 = sxy * sxy / (sxx * syy)
	}
	return b, r2
}
