// HTTPS server for the Go crypto/tls end-to-end tests: a Go program that
// only serves TLS (HTTP/1.1 and HTTP/2 by ALPN) and must pay nothing.
//
//	go_server CERT KEY
//
// Listens on 127.0.0.1 on a free port, prints "port N", and answers every
// request with 200 "ok\n".
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_server CERT KEY")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	err = http.ServeTLS(ln, h, os.Args[1], os.Args[2])
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
