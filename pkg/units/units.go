// Package units formats byte counts, rates and durations the way Lifeboat
// shows them to people: binary units with one decimal ("1.5 GiB"), and
// the exact count after it where that matters.
package units

import (
	"fmt"
	"strings"
	"time"
)

// Bytes formats a byte count: "512 B", "4.0 KiB", "1.5 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Exact formats a byte count where the exact number matters (a disk's
// size, a shortfall): "1.5 GiB (1610612736 bytes)"; below 1 KiB, "512
// bytes".
func Exact(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%s (%d bytes)", Bytes(n), n)
}

// Rate formats n bytes in secs seconds as "123.4 MiB/s"; "-" when secs is
// not positive.
func Rate(n int64, secs float64) string {
	if secs <= 0 {
		return "-"
	}
	return Bytes(int64(float64(n)/secs)) + "/s"
}

// Duration formats a duration for a person: "0.4s", "42s", "3m05s",
// "1h02m". Below 10 s it keeps a tenth of a second.
func Duration(d time.Duration) string {
	if d < 9950*time.Millisecond {
		return fmt.Sprintf("%.1fs", max(d, 0).Seconds())
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// Bar draws done out of total as a bar of width characters ("####....")
// and returns it with the percentage done.
func Bar(done, total int64, width int) (string, float64) {
	pct := 0.0
	if total > 0 {
		pct = min(float64(done)*100/float64(total), 100)
	}
	fill := int(pct / 100 * float64(width))
	return strings.Repeat("#", fill) + strings.Repeat(".", width-fill), pct
}
