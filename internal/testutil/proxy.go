package testutil

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 between clients and a Redis server that
// can lose replies: it forwards a request, waits for Redis to answer (so the
// command ran), and then, instead of forwarding the answer, drops it and
// closes the connection, after an optional stall. It never loses a NOSCRIPT
// reply, which says that the script did not run. A client sees a network
// error or a read timeout for a command that Redis executed, which is the
// fault a retrying client turns into a command run twice.
//
// Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	drop   int               // replies still to drop, whatever the rate
	rate   float64           // chance that a reply is dropped
	stall  time.Duration     // how long a dropped reply is held first
	match  func([]byte) bool // which requests may lose their reply; nil: all
	rng    *rand.Rand        // for rate
	conns  map[net.Conn]bool // open client and server connections
	closed bool

	dropped atomic.Int64
	wg      sync.WaitGroup
}

// StartProxy listens on a free port of 127.0.0.1 and forwards every
// connection to target. It drops nothing until told to.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testutil: proxy listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[net.Conn]bool), rng: rand.New(rand.NewPCG(1, 2))}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// StartProxyT is StartProxy for tests; the proxy is closed when t finishes.
func StartProxyT(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := StartProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Addr is the proxy's address, for the client's Options.Addr.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// DropNext makes the next n replies (to requests Match accepts) be lost.
func (p *Proxy) DropNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop += n
}

// SetDropRate makes each reply (to requests Match accepts) be lost with
// chance rate, drawn from a generator seeded with seed.
func (p *Proxy) SetDropRate(rate float64, seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = rate
	p.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// SetStall makes the proxy hold a reply it drops for d before it closes the
// connection, so that a client with a shorter read timeout times out first.
func (p *Proxy) SetStall(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = d
}

// SetMatch limits the losses to replies whose request (the bytes the client
// sent last before the reply) match accepts; nil accepts every request.
func (p *Proxy) SetMatch(match func(request []byte) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match = match
}

// Dropped is how many replies the proxy has lost so far.
func (p *Proxy) Dropped() int64 { return p.dropped.Load() }

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(1)
		go p.serve(client, server)
	}
}

// track records an open pair, or closes it when the proxy is closed.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// serve copies requests to the server and replies back, losing a reply
// when the rules say so.
func (p *Proxy) serve(client, server net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client, server)
	var last atomic.Pointer[[]byte] // the latest request chunk
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				req := append([]byte(nil), buf[:n]...)
				last.Store(&req)
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = server.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			var req []byte
			if r := last.Load(); r != nil {
				req = *r
			}
			if stall, lose := p.lose(req, buf[:n]); lose {
				time.Sleep(stall)
				return
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// lose decides whether the reply to req is lost, and for how long it is
// held first. A NOSCRIPT error is never lost: the script did not run, and
// losing that reply would test nothing.
func (p *Proxy) lose(req, reply []byte) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.match != nil && !p.match(req) || bytes.HasPrefix(reply, []byte("-NOSCRIPT")) {
		return 0, false
	}
	switch {
	case p.drop > 0:
		p.drop--
	case p.rate > 0 && p.rng.Float64() < p.rate:
	default:
		return 0, false
	}
	p.dropped.Add(1)
	return p.stall, true
}

// MatchCommands is a SetMatch rule: requests that name one of the commands
// (any case), such as "EVALSHA" for script calls.
func MatchCommands(names ...string) func(request []byte) bool {
	return func(req []byte) bool {
		up := bytes.ToUpper(req)
		for _, n := range names {
			if bytes.Contains(up, []byte("\r\n"+n+"\r\n")) {
				return true
			}
		}
		return false
	}
}
