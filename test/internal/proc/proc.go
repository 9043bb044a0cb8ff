// Package proc reads what the load tools measure about processes on this
// machine from Linux's /proc and getrusage: this process's CPU time and
// system calls, the local Cassandra node's CPU time, and the machine's.
// Every function returns zero when it cannot tell, so a tool run elsewhere
// prints zeros rather than failing.
package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tick is the kernel's clock tick in /proc: 100 Hz on Linux, so CPU times
// read there move in 10 ms steps and only sums over many slices mean much.
const tick = 10 * time.Millisecond

// CPUTime returns this process's user plus system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverPID is the process of the Cassandra node running on this machine,
// found once. It is 0 if there is none, or more than one (a local
// cluster), since which of them serves the load is not known.
var serverPID = sync.OnceValue(func() int {
	dirs, _ := os.ReadDir("/proc")
	found := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), "org.apache.cassandra.service.CassandraDaemon") {
			if found != 0 {
				return 0
			}
			found = pid
		}
	}
	return found
})

// ServerCPU returns the local Cassandra node's user plus system CPU time,
// or 0 if there is not exactly one node on this machine.
func ServerCPU() time.Duration {
	pid := serverPID()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// utime and stime are the 14th and 15th fields of the line, the 12th
	// and 13th after the command's closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * tick
}

// MachineCPU returns the busy CPU time of the whole machine, every CPU's
// (the first line of /proc/stat, idle and iowait left out).
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		x, _ := strconv.ParseInt(v, 10, 64)
		busy += x
	}
	return time.Duration(busy) * tick
}

// Syscalls returns the write and read system calls this process has made
// (syscw and syscr of /proc/self/io).
func Syscalls() (writes, reads int64) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		x, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscw":
			writes = x
		case "syscr":
			reads = x
		}
	}
	return writes, reads
}

// RSS returns this process's resident set size: the memory it holds in
// RAM, Go's heap and everything else (the second field of
// /proc/self/statm, in pages).
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
