// A Go HTTPS client for the benchmark (issue 14): crypto/tls linked into the
// executable, as in kubectl, terraform or any Go service, so the daemon traces
// it through its Go back end. One keep-alive HTTP/1.1 connection (net/http's
// Transport, its own reader and writer goroutines), GET / paced at RATE
// requests/s, so the latency measured is what the probes add to one request,
// not the queueing of a saturated closed loop (as bench/tlsload.c paced).
//
//	goload PORT SECONDS RATE
//
// Prints tlsload's summary line, which bench.py parses:
//
//	requests N seconds S rps R p50_us P p99_us Q errors E mean_us M
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: goload PORT SECONDS RATE")
		os.Exit(2)
	}
	port := os.Args[1]
	seconds, err1 := strconv.ParseFloat(os.Args[2], 64)
	rate, err2 := strconv.ParseFloat(os.Args[3], 64)
	if err1 != nil || err2 != nil || rate <= 0 {
		fmt.Fprintln(os.Stderr, "goload: SECONDS and RATE must be numbers, RATE > 0")
		os.Exit(2)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		// HTTP/1.1 only (no ALPN h2), one connection, kept alive.
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "https://127.0.0.1:" + port + "/"
	var lat []float64
	var errors int
	var sum float64
	start := time.Now()
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	period := time.Duration(float64(time.Second) / rate)
	next := start
	for time.Now().Before(end) {
		next = next.Add(period)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else {
			next = time.Now() // late: no catch-up burst
		}
		t0 := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			if errors == 0 {
				fmt.Fprintln(os.Stderr, "goload: first error:", err)
			}
			errors++
			continue
		}
		us := float64(time.Since(t0).Nanoseconds()) / 1e3
		lat = append(lat, us)
		sum += us
	}
	elapsed := time.Since(start).Seconds()
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*p)]
	}
	mean := 0.0
	if len(lat) > 0 {
		mean = sum / float64(len(lat))
	}
	fmt.Printf("requests %d seconds %.3f rps %.1f p50_us %.1f p99_us %.1f errors %d mean_us %.2f\n",
		len(lat), elapsed, float64(len(lat))/elapsed, pct(0.5), pct(0.99), errors, mean)
}
