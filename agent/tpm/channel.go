package tpm

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// TPM 2.0 responses start with a 10-byte header whose bytes 2..6 hold the
// whole response size (TPM 2.0 Part 1, 18.4).
const (
	headerSize  = 10
	maxResponse = 1 << 16
)

// channel is the command channel go-attestation drives: one Write carries a
// command, the next Read returns its whole response. The kernel resource
// manager (/dev/tpmrm0) already answers with one response per read; a swtpm
// socket is a byte stream, so reads there take the header and then exactly
// the rest.
type channel struct {
	rwc    io.ReadWriteCloser
	stream bool
	resp   []byte
}

// openChannel opens path: "unix:/run/swtpm.sock", "tcp:127.0.0.1:2321" or a
// device such as /dev/tpmrm0.
func openChannel(path string) (*channel, error) {
	switch {
	case strings.HasPrefix(path, "unix:"), strings.HasPrefix(path, "tcp:"):
		network, addr, _ := strings.Cut(path, ":")
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, fmt.Errorf("dial TPM socket %s: %w", path, err)
		}
		return &channel{rwc: c, stream: true}, nil
	default:
		// Blocking mode on purpose: os.OpenFile would put the device into
		// Go's poller, i.e. O_NONBLOCK, and then the kernel runs each
		// command asynchronously: a read before the TPM has answered
		// returns 0 bytes (no EAGAIN), and the next write fails with EBUSY.
		// A TPM slower than the first read (RSA key generation on a real
		// chip, a vTPM) then broke every ceremony.
		fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open TPM device %s: %w", path, err)
		}
		return &channel{rwc: os.NewFile(uintptr(fd), path)}, nil
	}
}

func (c *channel) Write(p []byte) (int, error) {
	c.resp = nil
	return c.rwc.Write(p)
}

// Read returns the response to the last command, from its first byte on;
// a caller with a short buffer gets the rest on the next Read.
func (c *channel) Read(p []byte) (int, error) {
	if c.resp == nil {
		r, err := c.readResponse()
		if err != nil {
			return 0, err
		}
		c.resp = r
	}
	if len(c.resp) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.resp)
	c.resp = c.resp[n:]
	return n, nil
}

func (c *channel) readResponse() ([]byte, error) {
	if !c.stream {
		buf := make([]byte, maxResponse)
		n, err := c.rwc.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("read TPM response: %w", err)
		}
		return buf[:n], nil
	}
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(c.rwc, hdr); err != nil {
		return nil, fmt.Errorf("read TPM response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < headerSize || size > maxResponse {
		return nil, fmt.Errorf("TPM response size %d out of range", size)
	}
	buf := make([]byte, size)
	copy(buf, hdr)
	if _, err := io.ReadFull(c.rwc, buf[headerSize:]); err != nil {
		return nil, fmt.Errorf("read TPM response body: %w", err)
	}
	return buf, nil
}

func (c *channel) Close() error { return c.rwc.Close() }

// MeasurementLog is not needed for key attestation; platform attestation
// (PCR quotes against the boot log) would read it from securityfs.
func (c *channel) MeasurementLog() ([]byte, error) {
	return nil, fmt.Errorf("measurement log not available on this channel")
}
