package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMedian(t *testing.T) {
	assert.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
}

func TestMedianCI(t *testing.T) {
	xs := []float64{0.9, 1.1, 1.0, 0.95, 1.05, 1.0, 0.98, 1.02}
	orig := append([]float64(nil), xs...)
	med, lo, hi := MedianCI(xs)
	assert.Equal(t, orig, xs, "xs is left as it was")
	assert.Equal(t, 1.0, med)
	assert.LessOrEqual(t, lo, med)
	assert.GreaterOrEqual(t, hi, med)
	assert.GreaterOrEqual(t, lo, 0.9)
	assert.LessOrEqual(t, hi, 1.1)
	assert.Less(t, lo, hi, "a spread sample gives an interval, not a point")
}

func TestSlope(t *testing.T) {
	b, r2 := Slope([]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7})
	assert.InDelta(t, 2.0, b, 1e-12)
	assert.InDelta(t, 1.0, r2, 1e-12, "a straight line explains everything")

	b, r2 = Slope([]float64{0, 1, 2, 3}, []float64{5, 4, 6, 5})
	assert.InDelta(t, 0.2, b, 1e-12)
	assert.Less(t, r2, 0.2, "noise around a flat line")

	b, _ = Slope([]float64{1, 1}, []float64{1, 2})
	assert.Zero(t, b, "no slope without a spread of x")
	b, _ = Slope([]float64{1}, []float64{1})
	assert.Zero(t, b)
}
