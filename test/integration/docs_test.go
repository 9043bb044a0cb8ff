package integration

import (
	"bufio"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/test/internal/node"
)

// What a new user copies from the documentation must work: the complete
// programs of the README and of docs/getting-started.md are built and run
// against the test node, and every other Go snippet of getting-started.md
// and migrating-from-gocql.md is checked against the code it is taken from,
// which is compiled.

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// goBlock is one ```go block of a Markdown file.
type goBlock struct {
	line int // of the opening fence, from 1
	text string
}

// goBlocks returns the ```go blocks of the Markdown file at path.
func goBlocks(t *testing.T, path string) []goBlock {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var (
		blocks []goBlock
		cur    *goBlock
		lines  []string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur, lines = &goBlock{line: n}, nil
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = strings.Join(lines, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			lines = append(lines, line)
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: unterminated ```go block", path)
	return blocks
}

var packageMain = regexp.MustCompile(`(?m)^package main$`)

// programs splits blocks into complete programs and fragments.
func programs(blocks []goBlock) (progs, fragments []goBlock) {
	for _, b := range blocks {
		if packageMain.MatchString(b.text) {
			progs = append(progs, b)
		} else {
			fragments = append(fragments, b)
		}
	}
	return progs, fragments
}

// localNode is how the documented programs name the node.
const localNode = `gocql.NewCluster("127.0.0.1")`

// runProgram builds src, a program of the documentation that connects to
// localNode, inside the test module (so that it uses this checkout of the
// library), runs it against the test node and returns its output.
func runProgram(t *testing.T, src string) string {
	t.Helper()
	require.Contains(t, src, localNode, "the program no longer connects as the test expects")
	quoted := make([]string, 0, len(node.Hosts()))
	for _, h := range node.Hosts() {
		quoted = append(quoted, strconv.Quote(h))
	}
	src = strings.ReplaceAll(src, localNode, "gocql.NewCluster("+strings.Join(quoted, ", ")+")")

	// A directory whose name starts with "_" is part of no ./... pattern.
	dir, err := os.MkdirTemp(".", "_docprogram")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	bin := filepath.Join(t.TempDir(), "program")
	out, err := osexec.Command("go", "build", "-o", bin, "./"+dir).CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err = osexec.CommandContext(ctx, bin).CombinedOutput()
	require.NoError(t, err, "the program failed: %s", out)
	return string(out)
}

func TestReadmeProgramRuns(t *testing.T) {
	progs, _ := programs(goBlocks(t, filepath.Join(repoRoot, "README.md")))
	require.Len(t, progs, 1, "the README has one complete program")
	out := runProgram(t, progs[0].text)
	assert.Regexp(t, `(?m)^Cassandra \d+\.\d+`, out)
	assert.Contains(t, out, "system_schema.tables\n", "the stream lists the schema tables")
}

func TestGettingStartedProgramRunsAsShown(t *testing.T) {
	path := filepath.Join(repoRoot, "docs", "getting-started.md")
	progs, fragments := programs(goBlocks(t, path))
	require.Len(t, progs, 1, "getting-started.md has one complete program")
	out := runProgram(t, progs[0].text)

	// The output shown after `go run .` is the program's.
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	shown := regexp.MustCompile("(?s)```sh\ngo run \\.\n```\n\n```text\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, shown, "getting-started.md shows the program's output after `go run .`")
	assert.Equal(t, string(shown[1]), out)

	// Every fragment is a piece of the program, so it compiles where it stands.
	for _, f := range fragments {
		assertExcerpt(t, progs[0].text, f, path)
	}
}

func TestMigrationSnippetsAreCompiled(t *testing.T) {
	path := filepath.Join(repoRoot, "docs", "migrating-from-gocql.md")
	src, err := os.ReadFile(filepath.Join(repoRoot, "example_migrate_test.go"))
	require.NoError(t, err)
	blocks := goBlocks(t, path)
	require.NotEmpty(t, blocks)
	for _, b := range blocks {
		assertExcerpt(t, string(src), b, path)
	}
}

// assertExcerpt checks that the lines of fragment appear in src in the same
// order, ignoring indentation and blank lines.
func assertExcerpt(t *testing.T, src string, fragment goBlock, path string) {
	t.Helper()
	var have []string
	for _, l := range strings.Split(src, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			have = append(have, l)
		}
	}
	i := 0
	for _, l := range strings.Split(fragment.text, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		for i < len(have) && have[i] != l {
			i++
		}
		if !assert.Less(t, i, len(have), "%s:%d: line %q is not in the code the snippet comes from", path, fragment.line, l) {
			return
		}
		i++
	}
}
