// Command streamforge-sim runs the simulated PLCs: a Modbus TCP server and
// an OPC UA server publishing the same changing signals (see adapters/sim).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/streamforge/streamforge/adapters/sim"
)

func main() {
	if err := run(); err != nil {
		slog.Error("streamforge-sim", "err", err)
		os.Exit(1)
	}
}

func run() error {
	modbusAddr := flag.String("modbus-listen", "127.0.0.1:5020", "Modbus TCP listen address (empty: off)")
	opcuaAddr := flag.String("opcua-listen", "127.0.0.1:4840", "OPC UA listen address (empty: off)")
	tags := flag.Int("tags", 8, "number of changing signals")
	rate := flag.Float64("rate", 1, "updates per second")
	certFile := flag.String("opcua-cert", "opcua-sim.pem", "where to write the OPC UA server certificate for clients to trust")
	flag.Parse()
	if *tags < 1 || *rate <= 0 {
		return fmt.Errorf("--tags must be >= 1 and --rate > 0")
	}
	log.SetOutput(io.Discard) // gopcua's server prints its node set import through the standard logger
	signals := sim.Signals(*tags)
	if *modbusAddr != "" {
		m, err := sim.StartModbus(*modbusAddr, signals, *rate)
		if err != nil {
			return err
		}
		defer m.Close()
		slog.Info("modbus sim listening", "addr", m.Addr(), "signals", *tags,
			"layout", "holding/input registers 2i..2i+1 = signal i (float32/uint32 ABCD), coil i = alarm of signal i")
	}
	if *opcuaAddr != "" {
		o, err := sim.StartOPCUA(*opcuaAddr, signals, *rate)
		if err != nil {
			return err
		}
		defer o.Stop()
		if err := o.WriteCertificate(*certFile); err != nil {
			return fmt.Errorf("write certificate: %w", err)
		}
		slog.Info("opcua sim listening", "endpoint", o.Endpoint(), "certificate", *certFile,
			"nodes", sim.NodeID(signals[0].Name)+" ...")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
