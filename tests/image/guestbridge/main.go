// Command guestbridge is test scaffolding inside the booted test image (see
// tests/image). It stands in for what a real gateway has and the test VM
// lacks, and gives the test a way to look inside:
//
//   - a TPM: Debian's arm64 kernel has no driver for qemu's tpm-tis-device
//     (CONFIG_TCG_TIS is off), so it creates a vTPM with the kernel's
//     tpm_vtpm_proxy and relays its commands to the swtpm on the host. The
//     guest then has a real /dev/tpm0 and /dev/tpmrm0 (the kernel's
//     resource manager) backed by that swtpm;
//   - the host's services on the guest's loopback: qemu's user network
//     forwards 10.0.2.100:PORT to 127.0.0.1:PORT on the host (guestfwd), and
//     this forwards 127.0.0.1:PORT in the guest there, so Kafka's advertised
//     address and the TLS names (127.0.0.1) are the same on both sides;
//   - an HTTP endpoint that runs shell commands as root for the test's
//     checks (only reachable through the test's hostfwd on 127.0.0.1).
//
// It is never part of the gateway image.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	remote := flag.String("remote", "10.0.2.100", "guest-side address of qemu's guestfwd to the host")
	forward := flag.String("forward", "", "comma-separated ports to forward from 127.0.0.1 to the remote")
	tpmPort := flag.String("tpm", "", "port of the swtpm data channel on the remote (empty: no vTPM)")
	execAddr := flag.String("exec", "", "listen address of the command endpoint (empty: none)")
	flag.Parse()

	for _, p := range strings.Split(*forward, ",") {
		if p == "" {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			log.Fatalf("guestbridge: %v", err)
		}
		go serveForward(ln, net.JoinHostPort(*remote, p))
	}
	if *execAddr != "" {
		ln, err := net.Listen("tcp", *execAddr)
		if err != nil {
			log.Fatalf("guestbridge: %v", err)
		}
		go func() { log.Fatal(http.Serve(ln, http.HandlerFunc(runCommand))) }()
	}
	if *tpmPort != "" {
		dev, err := newVTPM()
		if err != nil {
			log.Fatalf("guestbridge: %v", err)
		}
		go relayTPM(dev, net.JoinHostPort(*remote, *tpmPort))
	}
	select {}
}

func serveForward(ln net.Listener, to string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("guestbridge: accept: %v", err)
			return
		}
		go func() {
			defer c.Close()
			r, err := net.DialTimeout("tcp", to, 10*time.Second)
			if err != nil {
				log.Printf("guestbridge: dial %s: %v", to, err)
				return
			}
			defer r.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(r, c); r.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, r); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// runCommand runs the request body with /bin/sh -c and answers its output;
// the exit status is in the X-Exit-Code header.
func runCommand(w http.ResponseWriter, r *http.Request) {
	script, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := exec.Command("/bin/sh", "-c", string(script)).CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		code = -1
		out = append(out, err.Error()...)
	}
	w.Header().Set("X-Exit-Code", fmt.Sprint(code))
	_, _ = w.Write(out)
}

// vtpmProxyNewDev is struct vtpm_proxy_new_dev of <linux/vtpm_proxy.h>.
type vtpmProxyNewDev struct {
	Flags, TPMNum, FD, Major, Minor uint32
}

const (
	vtpmProxyFlagTPM2 = 1
	// _IOWR(0xa1, 0x00, struct vtpm_proxy_new_dev)
	vtpmProxyIocNewDev = 3<<30 | uint32(unsafe.Sizeof(vtpmProxyNewDev{}))<<16 | 0xa1<<8
	// The proxy asks its user space for a locality with this vendor command
	// before commands; swtpm in socket mode does not know it.
	tpm2CCSetLocality = 0x20001000
)

// newVTPM creates /dev/tpmN (and /dev/tpmrmN) and returns the file the
// kernel writes their commands to.
func newVTPM() (*os.File, error) {
	ctl, err := os.OpenFile("/dev/vtpmx", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/vtpmx (module tpm_vtpm_proxy): %w", err)
	}
	defer ctl.Close()
	req := vtpmProxyNewDev{Flags: vtpmProxyFlagTPM2}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ctl.Fd(), uintptr(vtpmProxyIocNewDev), uintptr(unsafe.Pointer(&req))); errno != 0 {
		return nil, fmt.Errorf("VTPM_PROXY_IOC_NEW_DEV: %w", errno)
	}
	log.Printf("guestbridge: vTPM /dev/tpm%d backed by the host's swtpm", req.TPMNum)
	return os.NewFile(uintptr(req.FD), "vtpm"), nil
}

// relayTPM answers each command the kernel hands over with the host
// swtpm's response. It reconnects when the connection breaks; a command in
// flight then gets TPM_RC_FAILURE.
func relayTPM(dev *os.File, addr string) {
	var conn net.Conn
	buf := make([]byte, 1<<16)
	for {
		n, err := dev.Read(buf)
		if err != nil {
			log.Fatalf("guestbridge: read vTPM: %v", err)
		}
		cmd := buf[:n]
		var resp []byte
		if n >= 10 && binary.BigEndian.Uint32(cmd[6:10]) == tpm2CCSetLocality {
			resp = tpmResponse(0)
		} else {
			if conn == nil {
				conn, err = net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					log.Printf("guestbridge: dial swtpm %s: %v", addr, err)
					conn = nil
				}
			}
			if conn != nil {
				resp, err = roundTrip(conn, cmd)
				if err != nil {
					log.Printf("guestbridge: swtpm: %v", err)
					conn.Close()
					conn = nil
				}
			}
			if resp == nil {
				resp = tpmResponse(0x101) // TPM_RC_FAILURE
			}
		}
		if _, err := dev.Write(resp); err != nil {
			log.Fatalf("guestbridge: write vTPM: %v", err)
		}
	}
}

func roundTrip(conn net.Conn, cmd []byte) ([]byte, error) {
	if _, err := conn.Write(cmd); err != nil {
		return nil, err
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > 1<<16 {
		return nil, fmt.Errorf("response size %d", size)
	}
	resp := make([]byte, size)
	copy(resp, hdr)
	_, err := io.ReadFull(conn, resp[10:])
	return resp, err
}

func tpmResponse(rc uint32) []byte {
	b := make([]byte, 10)
	binary.BigEndian.PutUint16(b[0:2], 0x8001) // TPM_ST_NO_SESSIONS
	binary.BigEndian.PutUint32(b[2:6], 10)
	binary.BigEndian.PutUint32(b[6:10], rc)
	return b
}
