// A small Go program with both TLS roles, for the unit tests of the Go
// executable analysis (test_go_elf.c): they look for crypto/tls functions
// of both the client and the server side in its builds (with symbols,
// -ldflags='-s -w', PIE). It also works:
//
//	go_tls_peer get URL                 GET URL (certificate not verified), print the status
//	go_tls_peer serve ADDR CERT KEY     serve HTTPS on ADDR, answering "ok"
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "get" {
		c := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		r, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		fmt.Println(r.Status)
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "serve" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		})
		fmt.Fprintln(os.Stderr, http.ListenAndServeTLS(os.Args[2], os.Args[3], os.Args[4], nil))
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "usage: go_tls_peer get URL | serve ADDR CERT KEY")
	os.Exit(2)
}
