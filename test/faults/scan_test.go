//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// A table of 1,000,000 rows (10,000 partitions of 100 rows) at replication
// factor 3, scanned on the 3-node cluster: every row exactly once; stopped
// as by a crash and resumed from its last checkpoint, every row exactly
// once; and with node 2 killed and restarted during the scan, either every
// row exactly once or a typed error from which the checkpoint resumes with
// nothing lost.
const (
	faultScanParts   = 10_000
	faultScanPerPart = 100
	faultScanRows    = faultScanParts * faultScanPerPart
)

// scanCounts counts how often each row of the table was read.
type scanCounts []uint8

func newScanCounts() scanCounts { return make(scanCounts, faultScanRows) }

func (sc scanCounts) add(t *testing.T, p, c int) {
	if p < 0 || p >= faultScanParts || c < 0 || c >= faultScanPerPart {
		require.Failf(t, "unknown row", "(%d, %d)", p, c)
	}
	if sc[p*faultScanPerPart+c] < 255 {
		sc[p*faultScanPerPart+c]++
	}
}

// requireEach fails unless every row was read want times (or, with
// atLeast, at least that often).
func (sc scanCounts) requireEach(t *testing.T, want uint8, atLeast bool, msg string) {
	t.Helper()
	for i, n := range sc {
		if n != want && (!atLeast || n < want) {
			require.Failf(t, msg, "row (%d, %d) read %d times", i/faultScanPerPart, i%faultScanPerPart, n)
		}
	}
}

// scanRow reads one row's key.
func scanRow(t *testing.T, row cassandra.Row) (p, c int) {
	var b int
	require.NoError(t, row.Scan(&p, &b, &c))
	require.Equal(t, p%7, b)
	return p, c
}

func TestScanOnTheCluster(t *testing.T) {
	s := connectCluster(t)
	ks := fmt.Sprintf("fault_scan_%d", time.Now().UnixNano())
	run(t, s, `CREATE KEYSPACE `+ks+` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, _ = s.Execute(ctx, `DROP KEYSPACE IF EXISTS `+ks).Await(ctx)
	})
	table := ks + ".rows"
	run(t, s, `CREATE TABLE `+table+` (p int, b int, c int, v text, PRIMARY KEY ((p, b), c))`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	require.NoError(t, s.Gocql().AwaitSchemaAgreement(ctx))

	start := time.Now()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 64)
	for p := range faultScanParts {
		b := s.Batch(gocql.UnloggedBatch)
		for c := range faultScanPerPart {
			b.Query(`INSERT INTO `+table+` (p, b, c, v) VALUES (?, ?, ?, ?)`, p, p%7, c, "v")
		}
		futs = append(futs, b.Execute(ctx))
		if len(futs) == cap(futs) || p == faultScanParts-1 {
			_, err := cassandra.AwaitAll(ctx, futs...)
			require.NoError(t, err, "every write acknowledged at QUORUM")
			futs = futs[:0]
		}
	}
	t.Logf("wrote %d rows in %v", faultScanRows, time.Since(start).Round(time.Second))

	opts := []cassandra.ScanOption{cassandra.ScanColumns("p", "b", "c"), cassandra.ScanPageSize(2000),
		cassandra.ScanParallelism(8), cassandra.ScanConsistency(gocql.Quorum)}

	t.Run("EveryRowOnce", func(t *testing.T) {
		counts := newScanCounts()
		sc := s.Scan(ctx, table, opts...)
		for row, err := range sc.Rows() {
			require.NoError(t, err)
			p, c := scanRow(t, row)
			counts.add(t, p, c)
		}
		counts.requireEach(t, 1, false, "every row read exactly once")
		p := sc.Progress()
		assert.Equal(t, p.RangesTotal, p.RangesDone)
		t.Logf("read %d rows over %d ranges in %v (%.0f rows/s)", p.Rows, p.RangesTotal, p.Elapsed.Round(time.Millisecond), p.RowsPerSecond)
	})

	t.Run("ResumedAfterACrash", func(t *testing.T) {
		beforeCP := newScanCounts() // rows read up to the last checkpoint
		all := newScanCounts()      // every row read, the lost ones too
		var since [][2]int          // rows read after the last checkpoint
		var saved []byte
		sc := s.Scan(ctx, table, append(opts, cassandra.ScanCheckpoints(func(cp cassandra.ScanCheckpoint) error {
			for _, k := range since {
				beforeCP.add(t, k[0], k[1])
			}
			since = since[:0]
			var err error
			saved, err = json.Marshal(cp)
			return err
		}))...)
		read := 0
		for row, err := range sc.Rows() {
			require.NoError(t, err)
			p, c := scanRow(t, row)
			all.add(t, p, c)
			since = append(since, [2]int{p, c})
			if read++; read == 400_000 {
				break // the crash: the rows since the last checkpoint are lost
			}
		}
		require.NotNil(t, saved)
		var cp cassandra.ScanCheckpoint
		require.NoError(t, json.Unmarshal(saved, &cp))
		require.NotEmpty(t, cp.InProgress, "the checkpoint holds ranges in progress, with their page states")

		resumed := s.Scan(ctx, table, append(opts, cassandra.ScanResume(&cp))...)
		for row, err := range resumed.Rows() {
			require.NoError(t, err)
			p, c := scanRow(t, row)
			beforeCP.add(t, p, c)
			all.add(t, p, c)
		}
		beforeCP.requireEach(t, 1, false, "with the checkpoint's page states, every row exactly once")
		all.requireEach(t, 1, true, "counting the rows read after the checkpoint, every row at least once")
	})

	t.Run("NodeKilledDuringTheScan", func(t *testing.T) {
		counts := newScanCounts()
		var since [][2]int
		var last cassandra.ScanCheckpoint
		var faults sync.WaitGroup
		killed := false
		defer func() {
			faults.Wait()
			if t.Failed() {
				_ = nodeShErr("restart", "2") // leave the cluster whole
			}
		}()
		sc := s.Scan(ctx, table, append(opts, cassandra.ScanCheckpoints(func(cp cassandra.ScanCheckpoint) error {
			for _, k := range since {
				counts.add(t, k[0], k[1])
			}
			since, last = since[:0], cp
			return nil
		}))...)
		read := 0
		for sc.Next() {
			var p, b, c int
			require.NoError(t, sc.Scan(&p, &b, &c))
			since = append(since, [2]int{p, c})
			if read++; read == 200_000 && !killed {
				killed = true
				faults.Add(1)
				go func() {
					defer faults.Done()
					if err := nodeShErr("kill", "2"); err != nil {
						t.Errorf("node.sh kill 2: %v", err)
					}
					if err := nodeShErr("restart", "2"); err != nil {
						t.Errorf("node.sh restart 2: %v", err)
					}
				}()
			}
		}
		require.True(t, killed, "the scan read 200,000 rows before the kill")
		err := sc.Err()
		faults.Wait() // node 2 is back
		if err == nil {
			for _, k := range since {
				counts.add(t, k[0], k[1])
			}
			counts.requireEach(t, 1, false, "a scan that completes despite the dead node has every row exactly once")
			t.Logf("the scan completed while node 2 was killed and restarted")
			return
		}
		var se *cassandra.ScanError
		require.True(t, errors.As(err, &se), "the scan ends with a *ScanError, got %T: %v", err, err)
		t.Logf("the scan ended with %v (kind %s); resuming from its last checkpoint", err, cassandra.ErrorKind(err))
		assert.Equal(t, last, sc.Checkpoint(), "the last checkpoint delivered is the scan's position")
		resumed := s.Scan(ctx, table, append(opts, cassandra.ScanResume(&last))...)
		for row, err := range resumed.Rows() {
			require.NoError(t, err)
			p, c := scanRow(t, row)
			counts.add(t, p, c)
		}
		counts.requireEach(t, 1, false, "the typed error lost nothing: resumed, every row exactly once")
	})
}
