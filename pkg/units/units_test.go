package units

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		4 << 30: "4.0 GiB", 1 << 40: "1.0 TiB", 1<<62 + 1<<61: "6.0 EiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestExact(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 512: "512 bytes", 1023: "1023 bytes", 1024: "1.0 KiB (1024 bytes)",
		1<<30 - 512: "1024.0 MiB (1073741312 bytes)", 1000204886016: "931.5 GiB (1000204886016 bytes)",
	} {
		if got := Exact(n); got != want {
			t.Errorf("Exact(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRateAndDuration(t *testing.T) {
	if got := Rate(10<<20, 2); got != "5.0 MiB/s" {
		t.Errorf("Rate = %q", got)
	}
	if got := Rate(1, 0); got != "-" {
		t.Errorf("Rate with no time = %q", got)
	}
	for d, want := range map[time.Duration]string{
		0: "0.0s", 430 * time.Millisecond: "0.4s", 9960 * time.Millisecond: "10s",
		42 * time.Second: "42s", 185 * time.Second: "3m05s", 3720 * time.Second: "1h02m",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		bar         string
		pct         float64
	}{
		{0, 0, "..........", 0},
		{0, 100, "..........", 0},
		{55, 100, "#####.....", 55},
		{100, 100, "##########", 100},
		{150, 100, "##########", 100}, // a total that grew late never overflows the bar
	} {
		bar, pct := Bar(c.done, c.total, 10)
		if bar != c.bar || pct != c.pct {
			t.Errorf("Bar(%d, %d) = %q, %.1f; want %q, %.1f", c.done, c.total, bar, pct, c.bar, c.pct)
		}
	}
}
