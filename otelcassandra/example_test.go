package otelcassandra_test

import (
	"context"
	"log"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/otelcassandra"
)

// A service wires the collector to its providers once; every request of
// every session of the cluster is then traced and measured, a child of
// the span in the context it was submitted with.
func ExampleNew() {
	tp := sdktrace.NewTracerProvider() // with the service's exporter
	mp := sdkmetric.NewMeterProvider() // with the service's reader
	col, err := otelcassandra.New(otelcassandra.WithTracerProvider(tp), otelcassandra.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster("127.0.0.1"), cassandra.WithCollector(col))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background() // in a handler: the request's context, which carries its span
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := session.Execute(ctx, "SELECT release_version FROM system.local").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var version string
	_ = rs.One(&version)
}
