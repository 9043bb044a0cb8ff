package main

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// progress shows one line of progress on a terminal, rewritten in place,
// and nothing when its writer is not a terminal (a file, a pipe, a test).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	shown bool // a line is on the screen and not yet cleared
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// printf replaces the line with a new one.
func (p *progress) printf(format string, args ...any) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Carriage return, the line, then erase whatever a longer line left.
	fmt.Fprintf(p.w, "\r"+format+"\x1b[K", args...)
	p.shown = true
}

// clear erases the line.
func (p *progress) clear() {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// note prints a line that stays, on a terminal only.
func (p *progress) note(format string, args ...any) {
	if !p.tty {
		return
	}
	p.clear()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "cassload: "+format+"\n", args...)
}
