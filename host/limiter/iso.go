package limiter

import (
	"strconv"
	"time"
)

// isoDuration writes d as an ISO-8601 duration the way django-axes does:
// PT30M, PT1H30M, P1DT2H, PT45S.
func isoDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "PT0S"
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	sec := d / time.Second
	b := append(make([]byte, 0, 24), 'P')
	if days > 0 {
		b = append(strconv.AppendInt(b, int64(days), 10), 'D')
	}
	if h > 0 || m > 0 || sec > 0 {
		b = append(b, 'T')
		for _, part := range []struct {
			n    time.Duration
			unit byte
		}{{h, 'H'}, {m, 'M'}, {sec, 'S'}} {
			if part.n > 0 {
				b = append(strconv.AppendInt(b, int64(part.n), 10), part.unit)
			}
		}
	}
	return string(b)
}
