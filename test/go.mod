module github.com/async-cassandra/cassandra/test

go 1.26.8

replace github.com/async-cassandra/cassandra => ../

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2
	github.com/apache/cassandra-gocql-driver/v2 v2.1.2
	github.com/async-cassandra/cassandra v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	gopkg.in/inf.v0 v0.9.1
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
