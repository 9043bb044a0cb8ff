// Command benchratio reads the output of the real-node benchmarks
// (test/bench, run with -rounds=N) and prints, for each benchmark and
// concurrency, the ratio of each variant's throughput to raw gocql's in the
// same round, as a median with its range. Pairing by round cancels the slow
// phases of a server that shares the machine (a compaction, a collection),
// which an unpaired comparison counts as noise.
//
//	go test -run '^$' -bench 'Read|Write' -benchtime=2s ./bench/ -args -rounds=8 -control > bench.txt
//	go run ./cmd/benchratio < bench.txt
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/async-cassandra/cassandra/test/internal/stats"
)

// line matches one sub-benchmark result, e.g.
// BenchmarkRead/c=64/impl=async/round=3-2  100  21000 ns/op  17.1 client-cpu-µs/op  47000 ops/s ...
var line = regexp.MustCompile(`^Benchmark(\w+)/c=(\d+)/impl=([\w+]+)/round=(\d+)\S*\s+\d+\s+\S+ ns/op\s+(\S+) client-cpu-µs/op\s+(\S+) ops/s`)

type key struct {
	bench string
	c     int
}

type result struct{ ops, cpu float64 }

func main() {
	rounds := map[key]map[int]map[string]result{}
	var order []key
	var impls []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		c, _ := strconv.Atoi(m[2])
		round, _ := strconv.Atoi(m[4])
		cpu, _ := strconv.ParseFloat(m[5], 64)
		ops, _ := strconv.ParseFloat(m[6], 64)
		k := key{m[1], c}
		if rounds[k] == nil {
			rounds[k] = map[int]map[string]result{}
			order = append(order, k)
		}
		if rounds[k][round] == nil {
			rounds[k][round] = map[string]result{}
		}
		rounds[k][round][m[3]] = result{ops, cpu}
		if !slices.Contains(impls, m[3]) {
			impls = append(impls, m[3])
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintln(w, "benchmark\tc\tvariant\tthroughput / raw, median (min-max)\tclient CPU above raw, median µs/op\trounds")
	for _, k := range order {
		for _, impl := range impls {
			if impl == "raw" {
				continue
			}
			var ratios, extra []float64
			for _, r := range rounds[k] {
				raw, ok1 := r["raw"]
				v, ok2 := r[impl]
				if ok1 && ok2 && raw.ops > 0 {
					ratios = append(ratios, v.ops/raw.ops)
					extra = append(extra, v.cpu-raw.cpu)
				}
			}
			if len(ratios) == 0 {
				continue
			}
			slices.Sort(ratios)
			fmt.Fprintf(w, "%s\t%d\t%s\t%.3f (%.3f-%.3f)\t%+.2f\t%d\n",
				k.bench, k.c, impl, stats.Median(ratios), ratios[0], ratios[len(ratios)-1], stats.Median(extra), len(ratios))
		}
	}
}
