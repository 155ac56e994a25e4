// HTTPS client for the Go crypto/tls end-to-end tests: the client the daemon
// must trace (crypto/tls linked into the executable).
//
//	go_calls [-proto h1|h2] [-g GOROUTINES] [-repeat N] [-wait-stdin] URL...
//
// Each of GOROUTINES goroutines requests every URL REPEAT times, one after
// the other, over one shared keep-alive transport (HTTP/2: one connection,
// streams multiplexed; HTTP/1.1: a pool of connections). Certificates are
// not verified. With -wait-stdin, the client opens its connection with
// the first URL, then waits for a line on stdin before the rest (a client
// started before the daemon). Prints one line per request:
//
//	<proto> <status> <method> <url>
//
// then "done ok=N fail=N", and exits 1 if any request failed.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	proto := flag.String("proto", "h2", "h1 (HTTP/1.1 only) or h2 (HTTP/2 via ALPN)")
	gs := flag.Int("g", 1, "goroutines, each making every call")
	repeat := flag.Int("repeat", 1, "times each goroutine requests each URL")
	method := flag.String("X", "GET", "request method")
	waitStdin := flag.Bool("wait-stdin", false, "first URL, then wait for a line on stdin")
	flag.Parse()
	urls := flag.Args()
	if len(urls) == 0 || (*proto != "h1" && *proto != "h2") {
		fmt.Fprintln(os.Stderr, "usage: go_calls [-proto h1|h2] [-g N] [-repeat N] [-X METHOD] [-wait-stdin] URL...")
		os.Exit(2)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2:   *proto == "h2",
		MaxIdleConnsPerHost: 1000,
		IdleConnTimeout:     time.Minute,
	}
	if *proto == "h1" {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var ok, fail int64
	var out sync.Mutex
	call := func(u string) {
		var body io.Reader
		if *method == "POST" || *method == "PUT" {
			body = strings.NewReader("{\"go\":true}")
		}
		req, err := http.NewRequest(*method, u, body)
		if err == nil {
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				out.Lock()
				fmt.Printf("%s %d %s %s\n", resp.Proto, resp.StatusCode, *method, u)
				out.Unlock()
				atomic.AddInt64(&ok, 1)
				return
			}
		}
		out.Lock()
		fmt.Printf("error %s %s: %v\n", *method, u, err)
		out.Unlock()
		atomic.AddInt64(&fail, 1)
	}
	if *waitStdin {
		call(urls[0])
		urls = urls[1:]
		fmt.Println("waiting")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	var wg sync.WaitGroup
	for g := 0; g < *gs; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < *repeat; r++ {
				for _, u := range urls {
					call(u)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("done ok=%d fail=%d\n", ok, fail)
	if fail > 0 {
		os.Exit(1)
	}
}
