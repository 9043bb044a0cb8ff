package cqltest

// Fault is a registered fault on one page of the statements matching a key.
// Faults are persistent: they fire on every matching request until
// [Fault.Times] runs out or [Server.ClearFaults] removes them. When several
// faults hit one request, all delays are waited for first, then a drop wins
// over an error, and the first registered error wins over later ones.
//
// Page 1 is the request without a paging state; non-SELECT statements and
// statements inside a BATCH only have page 1.
type Fault struct {
	key       string
	page      int
	err       *ServerError
	release   <-chan struct{}
	drop      bool
	empty     bool
	remaining int // < 0: unlimited; guarded by Server.mu
	s         *Server
}

// Times limits the fault to the next n matching requests (n <= 0 disables
// it), e.g. srv.FailPage(q, 1, cqltest.Overloaded()).Times(1) to make only the
// first attempt fail and a retry succeed.
func (f *Fault) Times(n int) *Fault {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if n < 0 {
		n = 0
	}
	f.remaining = n
	return f
}

func (s *Server) addFault(f *Fault) *Fault {
	f.key, f.s, f.remaining = normalize(f.key), s, -1
	if f.page < 1 {
		s.tb.Helper()
		s.tb.Fatalf("cqltest: page numbers start at 1, got %d", f.page)
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
	return f
}

// FailPage answers requests for page (1-based) of statements matching query
// with err instead of rows.
func (s *Server) FailPage(query string, page int, err ServerError) *Fault {
	s.tb.Helper()
	return s.addFault(&Fault{key: query, page: page, err: &err})
}

// DelayPage holds back the response to page (1-based) of statements matching
// query until release is closed. If the server or that connection closes
// first, the request is never answered. The request is counted by
// [Server.Requests] as soon as it arrives, so a test can wait for it.
func (s *Server) DelayPage(query string, page int, release <-chan struct{}) *Fault {
	s.tb.Helper()
	if release == nil {
		s.tb.Fatalf("cqltest: DelayPage needs a non-nil release channel")
	}
	return s.addFault(&Fault{key: query, page: page, release: release})
}

// EmptyPage answers page (1-based) of statements matching query with no rows
// and a paging state that resumes where the page would have started, as
// Cassandra does when a filtered page finds nothing: the rows move to the
// next page.
func (s *Server) EmptyPage(query string, page int) *Fault {
	return s.addFault(&Fault{key: query, page: page, empty: true})
}

// DropConnectionOnPage closes the TCP connection that requested page
// (1-based) of statements matching query, instead of answering. Other
// requests in flight on that connection are lost too, as with a real node.
func (s *Server) DropConnectionOnPage(query string, page int) *Fault {
	s.tb.Helper()
	return s.addFault(&Fault{key: query, page: page, drop: true})
}

// ClearFaults removes every fault registered for exactly this query key.
// Requests already waiting on a delay stay delayed.
func (s *Server) ClearFaults(query string) {
	key := normalize(query)
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.faults[:0]
	for _, f := range s.faults {
		if f.key != key {
			kept = append(kept, f)
		}
	}
	for i := len(kept); i < len(s.faults); i++ {
		s.faults[i] = nil
	}
	s.faults = kept
}
