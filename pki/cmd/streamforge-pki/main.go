// Command streamforge-pki sets up the cloud's PKI: the attestation CA that
// issues TPM AK certificates, and a step-ca configuration whose ACME
// provisioner trusts it and asks the cloud's webhook before issuing.
//
//	streamforge-pki init --dir /var/lib/streamforge/pki \
//	    --address :9443 --dns ca.example.com \
//	    --webhook-url https://cloud.example.com:8443/internal/step-ca/authorize
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streamforge-pki:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: streamforge-pki init [flags] (see init -h)")
	}
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	dir := fs.String("dir", "pki", "directory that receives attestation-ca/ and step-ca/")
	address := fs.String("address", ":9443", "address step-ca listens on")
	dns := fs.String("dns", "localhost", "comma-separated names or IPs gateways use to reach step-ca")
	webhookURL := fs.String("webhook-url", "", "https URL of the cloud's step-ca authorizing webhook (required)")
	webhookHosts := fs.String("webhook-hosts", "", "comma-separated names or IPs for the webhook listener certificate (default: the URL's host)")
	lifetime := fs.Duration("lifetime", stepca.DefaultCertLifetime, "gateway certificate lifetime")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	caDir := filepath.Join(*dir, "attestation-ca")
	ca, err := attestca.Init(caDir)
	if err != nil {
		return err
	}
	l, err := stepca.Init(stepca.InitOptions{
		Dir:                 filepath.Join(*dir, "step-ca"),
		Address:             *address,
		DNSNames:            split(*dns),
		AttestationRootsPEM: ca.CertificatePEM(),
		WebhookURL:          *webhookURL,
		WebhookHosts:        split(*webhookHosts),
		CertLifetime:        *lifetime,
	})
	if err != nil {
		_ = os.RemoveAll(caDir) // created just now: leave nothing half made
		return err
	}
	fmt.Fprintf(out, `PKI created in %s (keys are 0600 files: protect the directory).
  attestation CA:       %s
  step-ca:              step-ca %s
  ACME directory:       %s
  gateway root (mTLS):  %s
  webhook listener:     %s, %s (clients: step-ca's certificate from the gateway root)
  gateway certificates: %s, renewed through ACME only (step-ca /renew disabled)
`, *dir, caDir, l.Config, l.ACMEDirectory, l.RootCert, l.WebhookCert, l.WebhookKey, lifetime.Round(time.Second))
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
