package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// KafkaVersion is the Apache Kafka release the tests run (tests/kafka/pom.xml).
const KafkaVersion = "4.4.0"

// StartKafka starts Apache Kafka in KRaft mode (one combined broker and
// controller, PLAINTEXT on a free loopback port) from the jars that
// `make kafka-jars` caches, fetching them with mvn when they are missing. The
// data directory persists across Stop/Start. Only KafkaOpts.Persist applies
// (it always persists).
func StartKafka(t testing.TB, _ KafkaOpts) *Broker {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		Missing(t, "java (default-jre-headless) for Apache Kafka")
	}
	libs := kafkaLibs(t)
	dir := t.TempDir()
	bport, cport := freePort(t), freePort(t)
	props := filepath.Join(dir, "server.properties")
	writeFile(t, props, fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[3]s
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
`, bport, cport, filepath.Join(dir, "data")))
	jvm := []string{"-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", filepath.Join(libs, "*")}
	format := exec.Command(java, append(jvm, "kafka.tools.StorageTool", "format", "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c", props)...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format Kafka storage: %v\n%s", err, out)
	}
	b := &Broker{t: t, Addr: fmt.Sprintf("127.0.0.1:%d", bport)}
	b.launch = func(int) *exec.Cmd {
		return exec.Command(java, append(jvm, "kafka.Kafka", props)...)
	}
	b.start(bport, nil)
	t.Cleanup(b.Stop)
	return b
}

var kafkaJarsMu sync.Mutex

// kafkaLibs returns the directory of the broker's jars, fetching them once.
func kafkaLibs(t testing.TB) string {
	t.Helper()
	kafkaJarsMu.Lock()
	defer kafkaJarsMu.Unlock()
	home := os.Getenv("STREAMFORGE_KAFKA_HOME")
	if home == "" {
		cache := os.Getenv("STREAMFORGE_CACHE")
		if cache == "" {
			h, _ := os.UserHomeDir()
			cache = filepath.Join(h, ".cache", "streamforge")
		}
		home = filepath.Join(cache, "kafka-"+KafkaVersion)
	}
	libs := filepath.Join(home, "libs")
	if _, err := os.Stat(filepath.Join(libs, "kafka_2.13-"+KafkaVersion+".jar")); err == nil {
		return libs
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		Missing(t, "Apache Kafka jars in %s and mvn (maven) to fetch them (make kafka-jars)", libs)
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("find module root: %v", err)
	}
	script := filepath.Join(filepath.Dir(strings.TrimSpace(string(root))), "scripts", "kafka.sh")
	cmd := exec.Command(script, "jars")
	cmd.Env = append(os.Environ(), "KAFKA_VERSION="+KafkaVersion, "STREAMFORGE_CACHE="+filepath.Dir(home))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetch Kafka jars: %v\n%s", err, out)
	}
	return libs
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
