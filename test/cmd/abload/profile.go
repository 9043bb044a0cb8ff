package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// writeProfile writes the named runtime profile to a file.
func writeProfile(name, file string) {
	f, err := os.Create(file)
	if err != nil {
		log.Fatalf("abload: %v", err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		log.Fatalf("abload: %v", err)
	}
	if err := f.Close(); err != nil {
		log.Fatalf("abload: %v", err)
	}
}

// cpuProfileHz is the -profile-hz flag.
var cpuProfileHz int

// startProfile starts the CPU profile of one slice, written to the file it
// returns when the profile stops.
func startProfile(dir string, c, v int, variant string, pair int) *os.File {
	name := fmt.Sprintf("c%d-%c-%s-%03d.pprof", c, "ab"[v], variant, pair)
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatalf("abload: %v", err)
	}
	if cpuProfileHz > 0 {
		runtime.SetCPUProfileRate(cpuProfileHz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatalf("abload: %v", err)
	}
	return f
}
