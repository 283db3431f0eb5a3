// Command kfake-broker runs franz-go's kfake, a Kafka-protocol broker, as its
// own process so tests and the demo can stop, kill and restart it like a real
// broker. With -data-dir it keeps topics, offsets and producer state across
// restarts; without it a restart loses everything (which is how the tests
// provoke fatal idempotent-producer errors).
//
// It prints "listening <host:port>" on stdout once it accepts connections.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

type users []string

func (u *users) String() string     { return strings.Join(*u, ",") }
func (u *users) Set(v string) error { *u = append(*u, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfake-broker:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		port       = flag.Int("port", 0, "listen port on 127.0.0.1 (0 picks a free one)")
		dataDir    = flag.String("data-dir", "", "persist state here (empty: in memory only)")
		partitions = flag.Int("partitions", 3, "partitions of auto-created topics")
		topics     = flag.String("topics", "telemetry.raw,events.raw", "comma-separated topics to create at start")
		cert       = flag.String("tls-cert", "", "PEM certificate: serve TLS (SSL or SASL_SSL)")
		key        = flag.String("tls-key", "", "PEM key for -tls-cert")
		scram      users
	)
	flag.Var(&scram, "scram-user", "NAME:PASSWORD of a SCRAM-SHA-512 superuser; enables SASL (repeatable; the password may also be read from the env var it names as NAME:env:VAR)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, kfake.LogLevelWarn)),
	}
	if *topics != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	}
	if len(scram) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range scram {
			name, pass, ok := strings.Cut(u, ":")
			if !ok {
				return fmt.Errorf("-scram-user %q: want NAME:PASSWORD", name)
			}
			if v, found := strings.CutPrefix(pass, "env:"); found {
				pass = os.Getenv(v)
			}
			opts = append(opts, kfake.Superuser("SCRAM-SHA-512", name, pass))
		}
	}

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	fmt.Printf("listening %s\n", c.ListenAddrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	slog.Info("kfake-broker: shutting down")
	c.Close()
	return nil
}
