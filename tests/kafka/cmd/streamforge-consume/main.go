// Command streamforge-consume prints the readings the agent wrote to Kafka,
// one line each: topic, key, seq, value, quality, source time. A debugging
// and demo tool; it uses franz-go, not the agent's producer library.
//
//	streamforge-consume -brokers 127.0.0.1:9092 -topic telemetry.raw -n 10
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "streamforge-consume:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokers = flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers")
		topics  = flag.String("topic", "telemetry.raw", "comma-separated topics")
		n       = flag.Int("n", 0, "stop after this many records (0: follow until Ctrl-C)")
		latest  = flag.Bool("latest", false, "start at the end instead of the beginning")
		raw     = flag.Bool("raw", false, "print the JSON bodies as they are")
		user    = flag.String("user", "", "SCRAM-SHA-512 user (password from $STREAMFORGE_KAFKA_PASSWORD)")
	)
	flag.Parse()
	offset := kgo.NewOffset().AtStart()
	if *latest {
		offset = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumeTopics(strings.Split(*topics, ",")...),
		kgo.ConsumeResetOffset(offset),
	}
	if *user != "" {
		opts = append(opts, kgo.SASL(scram.Auth{User: *user, Pass: os.Getenv("STREAMFORGE_KAFKA_PASSWORD")}.AsSha512Mechanism()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	seen := 0
	for *n == 0 || seen < *n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, e := range fs.Errors() {
			return fmt.Errorf("fetch %s: %w", e.Topic, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if *n > 0 && seen >= *n {
				return
			}
			seen++
			fmt.Println(format(r, *raw))
		})
	}
	return nil
}

func format(r *kgo.Record, raw bool) string {
	if raw {
		return string(r.Value)
	}
	var b struct {
		Event       string `json:"event"`
		PrevQuality string `json:"prev_quality"`
		Value       any    `json:"value"`
		Type        string `json:"type"`
		Quality     string `json:"quality"`
		SourceTime  string `json:"source_time"`
		Seq         uint64 `json:"seq"`
	}
	if err := json.Unmarshal(r.Value, &b); err != nil {
		return fmt.Sprintf("%s %s undecodable: %v", r.Topic, r.Key, err)
	}
	line := fmt.Sprintf("%-13s %-40s seq=%-6d %v (%s) %s %s", r.Topic, r.Key, b.Seq, b.Value, b.Type, b.Quality, b.SourceTime)
	if b.Event != "" {
		line += fmt.Sprintf(" [%s from %s]", b.Event, b.PrevQuality)
	}
	return line
}
