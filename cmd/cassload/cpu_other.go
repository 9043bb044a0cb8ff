//go:build !unix

package main

import "time"

// cpuTime returns 0 where getrusage is missing: the CPU column then reads 0.
func cpuTime() time.Duration { return 0 }
