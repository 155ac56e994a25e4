// HTTPS load client for the end-to-end tests. Go programs are traced like
// any client; tests that need load the daemon does not trace start it with
// --exclude-comm=go_client.
//
//	go_client [-n N] [-c CONNS] [-sleep MS] [-path-suffix] URL
//
// Sends N GET requests to URL over HTTP/1.1 (HTTP/2 disabled: TLSNextProto
// is an empty map), certificate not verified, keep-alive: each of the CONNS
// workers keeps one connection and sends its share of the requests on it.
// Bodies are read fully so that connections are reused. With -path-suffix,
// request i goes to URL + "/<i>". Prints one line:
//
//	ok=N fail=N new_conns=N reused=N statuses=CODE:COUNT,...
//
// and exits 1 if any request failed or had a non-2xx status.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int("n", 1, "requests in all")
	conns := flag.Int("c", 1, "parallel keep-alive connections")
	sleepMs := flag.Int("sleep", 0, "pause between two requests of a worker (ms)")
	suffix := flag.Bool("path-suffix", false, "append /<i> to the URL of request i")
	timeout := flag.Duration("timeout", 20*time.Second, "per-request timeout")
	flag.Parse()
	if flag.NArg() != 1 || *n < 0 || *conns < 1 {
		fmt.Fprintln(os.Stderr, "usage: go_client [-n N] [-c CONNS] [-sleep MS] [-path-suffix] URL")
		os.Exit(2)
	}
	url := flag.Arg(0)

	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		ForceAttemptHTTP2:   false,
		MaxIdleConns:        *conns,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		IdleConnTimeout:     60 * time.Second,
	}
	client := &http.Client{Transport: tr, Timeout: *timeout}

	var ok, fail, newConns, reused int64
	var mu sync.Mutex
	statuses := map[int]int{}
	var firstErr atomic.Value

	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				atomic.AddInt64(&reused, 1)
			} else {
				atomic.AddInt64(&newConns, 1)
			}
		},
	}
	ctx := httptrace.WithClientTrace(context.Background(), trace)

	var next int64 = -1
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(*n) {
					return
				}
				u := url
				if *suffix {
					u = fmt.Sprintf("%s/%d", strings.TrimRight(url, "/"), i)
				}
				req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
				if err == nil {
					var resp *http.Response
					resp, err = client.Do(req)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						mu.Lock()
						statuses[resp.StatusCode]++
						mu.Unlock()
						if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
							err = fmt.Errorf("%s: status %d", u, resp.StatusCode)
						}
					}
				}
				if err != nil {
					atomic.AddInt64(&fail, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					atomic.AddInt64(&ok, 1)
				}
				if *sleepMs > 0 {
					time.Sleep(time.Duration(*sleepMs) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()

	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d:%d", c, statuses[c]))
	}
	fmt.Printf("ok=%d fail=%d new_conns=%d reused=%d statuses=%s\n", ok, fail, newConns, reused,
		strings.Join(parts, ","))
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
	if fail > 0 {
		os.Exit(1)
	}
}
