package cqltest

import (
	"net"
	"strings"

	"github.com/datastax/go-cassandra-native-protocol/message"
)

// hostID (of a server made by NewServer) and schemaVersion are fixed so that
// tests are reproducible.
var (
	hostID        = [16]byte{0xc0, 0xd1, 0xd2, 0x1e, 0xbb, 0x01, 0x41, 0x96, 0x86, 0xdb, 0xbc, 0x31, 0x7b, 0xc1, 0x79, 0x6a}
	schemaVersion = [16]byte{0x59, 0xad, 0x61, 0xd0, 0xc5, 0x40, 0x30, 0x75, 0x8c, 0x95, 0x4f, 0x3d, 0x2b, 0x19, 0x6f, 0x70}
)

func sysCols(table string, nameTypes ...any) []Column {
	cols := Cols(nameTypes...)
	for i := range cols {
		cols[i].Keyspace, cols[i].Table = "system", table
	}
	return cols
}

// systemTables builds the view gocql reads while connecting: system.local
// with one row, system.peers and system.peers_v2 with full column metadata,
// and one system.peers_v2 row for each other node of a NewCluster.
func (s *Server) systemTables() map[string]*table {
	ip := net.ParseIP(s.Host()).To4()
	localCols := sysCols("local",
		"key", Text, "bootstrapped", Text, "broadcast_address", Inet, "broadcast_port", Int,
		"cluster_name", Text, "cql_version", Text, "data_center", Text, "gossip_generation", Int,
		"host_id", UUID, "listen_address", Inet, "listen_port", Int, "native_protocol_version", Text,
		"partitioner", Text, "rack", Text, "release_version", Text, "rpc_address", Inet, "rpc_port", Int,
		"schema_version", UUID, "tokens", SetOf(Text))
	localRow := []any{
		"local", "COMPLETED", ip, int32(7000),
		s.cfg.clusterName, "3.4.7", s.cfg.dataCenter, int32(1),
		s.cfg.hostID, ip, int32(7000), "4",
		"org.apache.cassandra.dht.Murmur3Partitioner", s.cfg.rack, s.cfg.releaseVersion, ip, int32(s.Port()),
		schemaVersion, []string{s.cfg.token},
	}
	local, err := newTable(localCols, [][]any{localRow})
	if err != nil {
		panic("cqltest: system.local: " + err.Error()) // a bug in this package
	}
	peers, _ := newTable(sysCols("peers",
		"peer", Inet, "data_center", Text, "host_id", UUID, "preferred_ip", Inet, "rack", Text,
		"release_version", Text, "rpc_address", Inet, "schema_version", UUID, "tokens", SetOf(Text)), nil)
	peerRows := make([][]any, len(s.cfg.peers))
	for i, p := range s.cfg.peers {
		// The nodes of a NewCluster listen on 127.0.0.1 unless
		// DistinctAddresses; the native port tells them apart (gocql reads
		// it from peers_v2 only).
		peerRows[i] = []any{p.ip, int32(7000), s.cfg.dataCenter, p.hostID, p.ip,
			int32(p.port), nil, nil, s.cfg.rack, s.cfg.releaseVersion, schemaVersion, []string{p.token}}
	}
	peersV2, err := newTable(sysCols("peers_v2",
		"peer", Inet, "peer_port", Int, "data_center", Text, "host_id", UUID, "native_address", Inet,
		"native_port", Int, "preferred_ip", Inet, "preferred_port", Int, "rack", Text,
		"release_version", Text, "schema_version", UUID, "tokens", SetOf(Text)), peerRows)
	if err != nil {
		panic("cqltest: system.peers_v2: " + err.Error()) // a bug in this package
	}
	return map[string]*table{"system.local": local, "system.peers": peers, "system.peers_v2": peersV2}
}

// systemResult answers SELECTs on system tables, honouring the projection
// (SELECT a, b FROM ...). Schema tables (system_schema.*, system.schema_*)
// are empty. ok is false when stmt is no system query.
func (s *Server) systemResult(stmt string) (t *table, errMsg message.Error, ok bool) {
	lower := strings.ToLower(stmt)
	if !strings.HasPrefix(lower, "select ") {
		return nil, nil, false
	}
	from := strings.Index(lower, " from ")
	if from < 0 {
		return nil, nil, false
	}
	rest := strings.Fields(lower[from+len(" from "):])
	if len(rest) == 0 {
		return nil, nil, false
	}
	name := strings.TrimSuffix(rest[0], ";")
	projection := strings.TrimSpace(stmt[len("select "):from])

	if strings.HasPrefix(name, "system_schema.") || strings.HasPrefix(name, "system.schema_") {
		cols := []Column{}
		if projection != "*" {
			for _, p := range strings.Split(projection, ",") {
				cols = append(cols, Column{Name: strings.TrimSpace(p), Type: Text, Keyspace: "system_schema", Table: "x"})
			}
		}
		t, _ := newTable(cols, nil)
		return t, nil, true
	}
	full, found := s.sys[name]
	if !found {
		if strings.HasPrefix(name, "system.") {
			return nil, &message.Invalid{ErrorMessage: "unconfigured table " + strings.TrimPrefix(name, "system.")}, true
		}
		return nil, nil, false
	}
	if projection == "*" {
		return full, nil, true
	}
	return full.project(strings.Split(projection, ","))
}
