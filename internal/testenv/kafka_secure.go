package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// secure reports whether clients must log in or use TLS.
func (o KafkaOpts) secure() bool { return o.SCRAMUser != "" || o.TLSCert != "" }

// clientProtocol is the security protocol of the clients' listener.
func (o KafkaOpts) clientProtocol() string {
	switch {
	case o.SCRAMUser != "" && o.TLSCert != "":
		return "SASL_SSL"
	case o.SCRAMUser != "":
		return "SASL_PLAINTEXT"
	}
	return "SSL"
}

// secureProps adds the CLIENT listener at client to a node's
// server.properties (later keys win): SCRAM-SHA-512 logins checked against
// the credentials the storage format wrote (scramArgs), and TLS with PEM
// key material given inline, so no Java key store is needed.
func (o KafkaOpts) secureProps(t testing.TB, plain, controller, client string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listeners=PLAINTEXT://%s,CONTROLLER://%s,CLIENT://%s\n", plain, controller, client)
	fmt.Fprintf(&b, "advertised.listeners=PLAINTEXT://%s,CLIENT://%s\n", plain, client)
	fmt.Fprintf(&b, "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,CLIENT:%s\n", o.clientProtocol())
	b.WriteString("inter.broker.listener.name=PLAINTEXT\n")
	if o.SCRAMUser != "" {
		b.WriteString("listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512\n")
		b.WriteString("listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n")
	}
	if o.TLSCert != "" {
		fmt.Fprintf(&b, "listener.name.client.ssl.keystore.type=PEM\nlistener.name.client.ssl.keystore.certificate.chain=%s\nlistener.name.client.ssl.keystore.key=%s\n",
			pemProperty(t, o.TLSCert), pemProperty(t, o.TLSKey))
	}
	if o.TLSClientCA != "" {
		fmt.Fprintf(&b, "listener.name.client.ssl.client.auth=required\nlistener.name.client.ssl.truststore.type=PEM\nlistener.name.client.ssl.truststore.certificates=%s\n",
			pemProperty(t, o.TLSClientCA))
	}
	return b.String()
}

// scramArgs give the storage format the SCRAM user (Kafka keeps SCRAM
// credentials in its KRaft metadata).
func (o KafkaOpts) scramArgs() []string {
	if o.SCRAMUser == "" {
		return nil
	}
	return []string{"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", o.SCRAMUser, o.SCRAMPassword)}
}

// pemProperty is a PEM file as one properties value (newlines escaped).
func pemProperty(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", `\n`)
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}
