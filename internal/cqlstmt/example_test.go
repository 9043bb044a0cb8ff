package cqlstmt_test

import (
	"fmt"

	"github.com/async-cassandra/cassandra/internal/cqlstmt"
)

func ExampleNormalize() {
	fmt.Println(cqlstmt.Normalize("select * from ks.users where id = 42 and tags contains 'vip' and region in ('eu', 'us');"))
	fmt.Println(cqlstmt.Normalize("INSERT INTO t (k, m) VALUES (0xCAFE, {'a': 1}) USING TTL 3600 -- nightly"))
	fmt.Println(cqlstmt.Normalize(`UPDATE "Accounts" SET balance = balance - 10.5 WHERE id = :id IF balance > 0`))
	// Output:
	// SELECT * FROM ks.users WHERE id = ? AND tags CONTAINS ? AND region IN ?
	// INSERT INTO t (k, m) VALUES (?, ?) USING TTL ?
	// UPDATE "Accounts" SET balance = balance - ? WHERE id = :id IF balance > ?
}

func ExampleClassify() {
	info := cqlstmt.Classify(`SELECT name FROM Shop."Orders" WHERE id = ?`)
	fmt.Println(info.Kind, info.Keyspace, info.Table)
	info = cqlstmt.Classify("BEGIN BATCH INSERT INTO ks.t (a) VALUES (1); DELETE FROM ks.t WHERE a = 2; APPLY BATCH")
	fmt.Println(info.Kind, info.Keyspace, info.Table)
	// Output:
	// SELECT shop Orders
	// BATCH ks t
}
