// Command twprobe: the suite's connection probe for pods that really run.
//
//	twprobe serve --token tartware/guests --listen tcp:8080 --listen udp:53
//	    TCP: every accepted connection gets "<token>\n", then the server closes it (the server
//	    speaks first, so the client sends nothing). UDP: every datagram is answered with the token.
//	twprobe connect < plan.json > results.jsonl
//	    plan: {"timeout_ms": 1500, "parallel": 32, "probes": [{"id": 0, "ip": "10.244.0.7",
//	    "port": 8080, "protocol": "TCP", "tokens": ["tartware/guests"]}, ...]}
//	    one result per line: {"id": 0, "outcome": "connected", "detail": "tartware/guests"}
//	    outcomes: connected (an expected token answered), wrong-peer (something else answered),
//	    refused (RST / ICMP unreachable: what a policy REJECT looks like), timeout, error.
//	twprobe relay --listen 8080 --to api-gateway.tartware.svc:80
//	    a TCP relay: every accepted connection is joined to a new one to --to (resolved per
//	    connection, so a Service name follows its endpoints). The SLO tier's stand-in for an
//	    ingress controller: it runs with the controller's labels, so the platform's own
//	    NetworkPolicies decide whether clients from outside reach the gateway.
//	twprobe pause
//	    sleeps until SIGTERM/SIGINT (the pod sandbox's pause process).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type listens []string

func (l *listens) String() string     { return strings.Join(*l, ",") }
func (l *listens) Set(v string) error { *l = append(*l, v); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	token := fs.String("token", "", "what every server answers")
	var on listens
	fs.Var(&on, "listen", "tcp:PORT or udp:PORT (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" || len(on) == 0 {
		return errors.New("serve needs --token and at least one --listen")
	}
	answer := []byte(*token + "\n")
	for _, spec := range on {
		proto, port, ok := strings.Cut(spec, ":")
		if !ok {
			return fmt.Errorf("bad --listen %q: want tcp:PORT or udp:PORT", spec)
		}
		addr := net.JoinHostPort("", port)
		switch proto {
		case "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						continue
					}
					go func() {
						_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
						_, _ = conn.Write(answer)
						_ = conn.Close()
					}()
				}
			}()
		case "udp":
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return err
			}
			go func() {
				buf := make([]byte, 2048)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						continue
					}
					_, _ = pc.WriteTo(answer, from)
				}
			}()
		default:
			return fmt.Errorf("bad --listen %q: protocol must be tcp or udp", spec)
		}
	}
	fmt.Fprintf(os.Stderr, "twprobe: serving %q on %s\n", *token, on.String())
	waitSignal()
	return nil
}

type probe struct {
	ID       int      `json:"id"`
	IP       string   `json:"ip"`
	Port     int      `json:"port"`
	Protocol string   `json:"protocol"`
	Tokens   []string `json:"tokens"`
}

type plan struct {
	TimeoutMS int     `json:"timeout_ms"`
	Parallel  int     `json:"parallel"`
	Probes    []probe `json:"probes"`
}

type result struct {
	ID      int    `json:"id"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM),
		errors.Is(err, syscall.ECONNRESET):
		return "refused"
	default:
		return "error"
	}
}

func judge(p probe, got string) result {
	got = strings.TrimSpace(got)
	if slices.Contains(p.Tokens, got) {
		return result{p.ID, "connected", got}
	}
	if got == "" {
		got = "connected, but the peer sent nothing"
	}
	return result{p.ID, "wrong-peer", got}
}

func one(p probe, timeout time.Duration) result {
	addr := net.JoinHostPort(p.IP, strconv.Itoa(p.Port))
	deadline := time.Now().Add(timeout)
	switch strings.ToUpper(p.Protocol) {
	case "TCP":
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return result{p.ID, classify(err), err.Error()}
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(deadline)
		line, err := bufio.NewReader(io.LimitReader(conn, 512)).ReadString('\n')
		if err != nil && line == "" && !errors.Is(err, io.EOF) {
			return result{p.ID, classify(err), "connected, then: " + err.Error()}
		}
		return judge(p, line)
	case "UDP":
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return result{p.ID, "error", err.Error()}
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		buf := make([]byte, 512)
		// A lost datagram is not a denial: ask up to three times within the timeout.
		for try := 0; ; try++ {
			if _, err := conn.Write([]byte("probe\n")); err != nil {
				return result{p.ID, classify(err), err.Error()}
			}
			_ = conn.SetReadDeadline(time.Now().Add(timeout / 3))
			n, err := conn.Read(buf)
			if err == nil {
				return judge(p, string(buf[:n]))
			}
			if kind := classify(err); kind != "timeout" || try == 2 || time.Now().After(deadline) {
				return result{p.ID, kind, err.Error()}
			}
		}
	default:
		return result{p.ID, "error", "unsupported protocol " + p.Protocol}
	}
}

func connect(stdin io.Reader, stdout io.Writer) error {
	var pl plan
	if err := json.NewDecoder(stdin).Decode(&pl); err != nil {
		return fmt.Errorf("reading the plan: %w", err)
	}
	timeout := time.Duration(max(pl.TimeoutMS, 100)) * time.Millisecond
	parallel := max(pl.Parallel, 1)
	out := json.NewEncoder(stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, parallel)
	for _, p := range pl.Probes {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			r := one(p, timeout)
			<-slots
			mu.Lock()
			_ = out.Encode(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nil
}

func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	listen := fs.String("listen", "8080", "port to accept connections on")
	to := fs.String("to", "", "host:port every connection is relayed to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("relay needs --to host:port")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", *listen))
	if err != nil {
		return err
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				continue
			}
			go func() {
				defer in.Close()
				out, err := net.DialTimeout("tcp", *to, 5*time.Second)
				if err != nil {
					return // the client sees the connection closed: k6 counts an error
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				pipe := func(dst, src net.Conn) {
					_, _ = io.Copy(dst, src)
					if tc, ok := dst.(*net.TCPConn); ok {
						_ = tc.CloseWrite()
					}
					done <- struct{}{}
				}
				go pipe(out, in)
				go pipe(in, out)
				<-done
				<-done
			}()
		}
	}()
	waitSignal()
	return nil
}

func waitSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func main() {
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	// Installed as /pause too: called by that name it pauses.
	if strings.HasSuffix(os.Args[0], "pause") && cmd == "" {
		cmd = "pause"
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(os.Args[2:])
	case "connect":
		err = connect(os.Stdin, os.Stdout)
	case "relay":
		err = relay(os.Args[2:])
	case "pause":
		waitSignal()
	case "version":
		fmt.Println("twprobe 1")
	default:
		err = errors.New("usage: twprobe serve|connect|relay|pause|version")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "twprobe:", err)
		os.Exit(2)
	}
}
