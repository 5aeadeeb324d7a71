package tui

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// fakeKernelClock makes the kernel limiter's clock the returned counter of
// seconds, until the test ends; with step, each reading of the clock
// moves it on a second.
func fakeKernelClock(t *testing.T, step bool) *atomic.Int64 {
	var now atomic.Int64
	now.Store(1_000_000)
	old := kernelClock
	kernelClock = func() time.Time {
		if step {
			return time.Unix(now.Add(1), 0)
		}
		return time.Unix(now.Load(), 0)
	}
	t.Cleanup(func() { kernelClock = old })
	return &now
}

// kmsg is one /dev/kmsg record.
func kmsg(seq int, msg string) string {
	return fmt.Sprintf("3,%d,%d,-;%s\n", seq, seq*1000, msg)
}

// word spells n in letters, so that messages differ by more than numbers.
func word(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('a' + n%26)}, b...)
		n /= 26
		if n == 0 {
			return string(b)
		}
	}
}

// TestKernelMessagesApartAndLimited feeds a flood of kernel messages
// through the kernel log file the UI follows (as /dev/kmsg in the rescue
// environment): Lifeboat's own log shows none of them; k shows them, with
// 500 I/O errors differing only in their sector collapsed into one line
// and a count, and no more than kernelPerSecond messages of one second
// shown, the rest counted once the second is over.
func TestKernelMessagesApartAndLimited(t *testing.T) {
	now := fakeKernelClock(t, false)
	var b strings.Builder
	seq := 0
	b.WriteString(kmsg(seq, "sr 1:0:0:0: Attached scsi CD-ROM sr0"))
	b.WriteString(" SUBSYSTEM=scsi\n DEVICE=+scsi:1:0:0:0\n")
	for i := 0; i < 500; i++ {
		seq++
		b.WriteString(kmsg(seq, fmt.Sprintf("I/O error, dev sr0, sector %d op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", i*8)))
	}
	for i := 0; i < 300; i++ {
		seq++
		b.WriteString(kmsg(seq, "usb 1-1: device descriptor read, "+word(i)))
	}
	kl := filepath.Join(t.TempDir(), "kmsg")
	if err := os.WriteFile(kl, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{KernelLog: kl})
	h.waitFor("Disks")
	h.typeText("l")
	// The kernel's list takes: the first message, the first I/O error, the
	// count of the other 499 (when the next message differs) and 18 more
	// messages, the limit of 20 a second; the rest wait for the second
	// to end.
	h.typeText("k")
	h.waitFor("Kernel messages: 21 lines", "(the message above repeated 499 more times)", "descriptor read, r")
	if s := h.text(); strings.Contains(s, "descriptor read, s") {
		t.Errorf("more than %d kernel messages of one second are shown:\n%s", kernelPerSecond, s)
	}
	now.Add(1)
	h.waitFor("Kernel messages: 22 lines", "(282 more messages left out: over 20 a second)")
	h.key(tcell.KeyHome)
	s := h.waitFor("scrolled back", "Attached scsi CD-ROM sr0")
	if n := strings.Count(s, "I/O error"); n != 1 {
		t.Errorf("the kernel messages show %d I/O errors, want 1 and a count:\n%s", n, s)
	}
	// Lifeboat's own log holds none of them.
	h.typeText("k")
	s = logBody(h.waitFor("Log: ", "Lifeboat test started"))
	for _, k := range []string{"sr0", "I/O error", "usb 1-1", "kernel"} {
		if strings.Contains(s, k) {
			t.Errorf("Lifeboat's own log shows the kernel's %q:\n%s", k, s)
		}
	}
}

// TestLogStaysScrolledBack scrolls the log back while kernel messages
// keep coming: the view must stay on the lines it shows, and follow the
// new lines again only after End.
func TestLogStaysScrolledBack(t *testing.T) {
	fakeKernelClock(t, true) // each message in a second of its own: none is held back
	fifo := filepath.Join(t.TempDir(), "kmsg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{KernelLog: fifo})
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the UI to open it
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seq := 0
	send := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := w.WriteString(kmsg(seq, "message "+word(seq))); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	send(100)
	h.waitFor("Disks")
	h.typeText("l")
	h.typeText("k")
	h.waitFor("Kernel messages: 100 lines", "message "+word(99))
	// One key: with two, the screen could be read between them.
	h.key(tcell.KeyPgUp)
	before := h.waitFor("scrolled back")
	if strings.Contains(before, "message "+word(99)) {
		t.Fatalf("PgUp did not scroll back:\n%s", before)
	}
	send(100)
	after := h.waitFor("Kernel messages: 200 lines")
	if logBody(after) != logBody(before) {
		t.Errorf("new lines moved the view the user scrolled back; before:\n%s\nafter:\n%s", before, after)
	}
	h.key(tcell.KeyEnd)
	s := h.waitFor("message " + word(199))
	if strings.Contains(s, "scrolled back") {
		t.Errorf("after End the title still says the view is scrolled back:\n%s", s)
	}
	send(1)
	h.waitFor("Kernel messages: 201 lines", "message "+word(200))
}

// logBody is the log screen's lines of text, without its title and hints.
func logBody(screen string) string {
	lines := strings.Split(screen, "\n")
	if len(lines) < 4 {
		return screen
	}
	return strings.Join(lines[2:len(lines)-2], "\n")
}

// kmsgSteps gives one record a read, or fails a read with EPIPE where a
// step is "", as /dev/kmsg does when the reader fell behind.
type kmsgSteps []string

func (k *kmsgSteps) Read(p []byte) (int, error) {
	if len(*k) == 0 {
		return 0, io.EOF
	}
	step := (*k)[0]
	*k = (*k)[1:]
	if step == "" {
		return 0, syscall.EPIPE
	}
	return copy(p, step), nil
}

// TestKernelMessagesGoOnAfterOverrun: a read of the kernel's log that
// fails with EPIPE (records overwritten before they were read) is said in
// the list, and the messages after it are still read.
func TestKernelMessagesGoOnAfterOverrun(t *testing.T) {
	l := newLogView(nil)
	l.limit.now = func() time.Time { return time.Unix(0, 0) }
	l.readKernel(&kmsgSteps{kmsg(1, "usb 1-1: new device"), "", kmsg(9, "sd 2:0:0:0: [sdb] Attached SCSI disk")})
	got := strings.Join(l.KernelLines(), "\n")
	for _, want := range []string{"usb 1-1: new device", "kernel messages were lost", "[sdb] Attached SCSI disk"} {
		if !strings.Contains(got, want) {
			t.Errorf("kernel list lacks %q:\n%s", want, got)
		}
	}
}
