package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// River, the Go job queue on PostgreSQL, runs in the comparison on a
// private postgres that the benchmark starts at the start of the run: a
// cluster made by initdb in a temporary directory, on a free loopback port
// with its socket in that directory, with River's migrations applied, and
// stopped and removed at the end. Its durability settings are off (fsync,
// synchronous_commit, full_page_writes), as the benchmark's redis-server
// has no persistence; the table's notes say so.

// riverPGSettings are the postgres settings beyond the port, address and
// socket directory.
var riverPGSettings = []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}

// riverPoolSize is the pgx pool's size: go-redis's default for the Redis
// systems on this machine (10 per CPU), so that River's 20 enqueuing
// goroutines are not held back by a smaller pool.
const riverPoolSize = 20

// riverPeer is the private postgres and a pool on it.
type riverPeer struct {
	dir    string // the cluster's data and socket
	bin    string // the directory of initdb, pg_ctl and postgres
	cred   *syscall.Credential
	url    string
	pool   *pgxpool.Pool
	pgVer  string
	closed bool
}

// postgresBinDir finds initdb, pg_ctl and postgres on PATH, else in
// Debian's /usr/lib/postgresql/<version>/bin.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("postgres binaries (initdb, pg_ctl) not found on PATH nor in /usr/lib/postgresql/*/bin")
}

// prepareRiver starts the private postgres and migrates River's schema.
func prepareRiver(ctx context.Context, e *env) (func(), error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	p := &riverPeer{bin: bin}
	// postgres refuses to run as root: run it as the postgres user.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root and there is no postgres user to run postgres as")
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if p.dir, err = os.MkdirTemp("", "fairway-bench-postgres-"); err != nil {
		return nil, err
	}
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			p.stop()
			return nil, err
		}
	}
	if err := p.start(ctx); err != nil {
		p.stop()
		return nil, err
	}
	e.river = p
	e.printf("river: postgres %s on %s, data in %s (%v)\n", p.pgVer, p.url, p.dir, riverPGSettings)
	return p.stop, nil
}

// pg runs one of the postgres programs as the user postgres runs as.
func (p *riverPeer) pg(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+p.dir)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, lastLine(out))
	}
	return nil
}

func (p *riverPeer) start(ctx context.Context) error {
	data := filepath.Join(p.dir, "data")
	if err := p.pg(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s", port, p.dir)
	for _, s := range riverPGSettings {
		opts += " -c " + s
	}
	if err := p.pg(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(p.dir, "postgres.log"), "-o", opts); err != nil {
		return err
	}
	p.url = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&pool_max_conns=%d",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), riverPoolSize)
	if p.pool, err = pgxpool.New(ctx, p.url); err != nil {
		return err
	}
	if err := p.pool.QueryRow(ctx, "SHOW server_version").Scan(&p.pgVer); err != nil {
		return err
	}
	m, err := rivermigrate.New(riverpgxv5.New(p.pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// stop closes the pool, stops postgres and removes its directory.
func (p *riverPeer) stop() {
	if p.closed {
		return
	}
	p.closed = true
	if p.pool != nil {
		p.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if data := filepath.Join(p.dir, "data", "postmaster.pid"); fileExists(data) {
		_ = p.pg(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-D", filepath.Join(p.dir, "data"))
	}
	_ = os.RemoveAll(p.dir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
