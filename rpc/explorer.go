package rpc

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"strings"
)

// The explorer is a small read-only web page served on the RPC listener at
// /explorer/: recent blocks, chain tips, mempool, peers and miner status,
// updated live over the WebSocket at /explorer/ws. See the package doc
// ("Explorer") for who may open it.

//go:embed explorer
var explorerFiles embed.FS

// explorerMethods are the methods an explorer connection may call: reads of
// chain, mempool, network and miner state. Anything that changes the node
// (mining, transactions, bans, partitions, stop) or reveals the wallet is
// refused on such a connection whatever its credentials.
var explorerMethods = map[string]bool{
	"getblockchaininfo": true, "getbestblockhash": true, "getblockcount": true,
	"getblockhash": true, "getblockheader": true, "getblock": true,
	"getchaintips": true, "getchaintxstats": true, "getdifficulty": true,
	"getstateinfo": true, "getmininginfo": true, "getnetworkhashps": true,
	"getrawmempool": true, "getmempoolinfo": true, "getmempoolentry": true,
	"getrawtransaction": true, "getpeerinfo": true, "getnetworkinfo": true,
	"getconnectioncount": true, "uptime": true,
}

// explorerHandler serves the embedded page under /explorer/.
func (s *Server) explorerHandler() http.Handler {
	sub, err := fs.Sub(explorerFiles, "explorer")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := http.StripPrefix("/explorer/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the explorer serves only GET", http.StatusMethodNotAllowed)
			return
		}
		if !s.explorerAccess(w, r) {
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// serveExplorerWS is the explorer's WebSocket: the same protocol as /ws
// (JSON-RPC requests, subscribe/unsubscribe), restricted to explorerMethods.
func (s *Server) serveExplorerWS(w http.ResponseWriter, r *http.Request) {
	if !s.explorerAccess(w, r) {
		return
	}
	s.serveWSConn(w, r, true)
}

// explorerAccess decides who may use the explorer. A request from a
// loopback address that also names a loopback host (localhost, 127.0.0.0/8,
// ::1) needs no credentials: it can only read what the explorer shows, and
// checking the Host header keeps a web page on another origin from reaching
// the node by DNS rebinding (WebSocket upgrades are also refused for a
// foreign Origin). Every other request must carry the RPC credentials
// (HTTP Basic, so a browser asks for them with its own prompt).
func (s *Server) explorerAccess(w http.ResponseWriter, r *http.Request) bool {
	if loopbackRequest(r) {
		return true
	}
	return s.authorize(w, r)
}

// loopbackRequest reports whether r came from a loopback address and names
// a loopback host.
func loopbackRequest(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
