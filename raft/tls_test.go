package raft_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/raft"
)

// testCA is a certificate authority for a test cluster.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	writePEM(t, filepath.Join(ca.dir, "ca.pem"), "CERTIFICATE", der)
	return ca
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a node certificate for 127.0.0.1 and returns the cert and
// key paths.
func (ca *testCA) issue(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func (ca *testCA) tls(t *testing.T, name string) *raft.Options {
	t.Helper()
	cert, key := ca.issue(t, name)
	tc, err := raft.LoadTLS(filepath.Join(ca.dir, "ca.pem"), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Options{TLS: tc}
}

// TestMutualTLS: a node with a certificate from the cluster CA joins and
// its forwarded writes commit; a node with a certificate from another CA,
// or with none, is refused by the handshake and never becomes a member.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	rogue := newTestCA(t, "rogue CA")

	n1 := mustOpen(t, raft.Options{ID: "n1", DataDir: t.TempDir(), Listen: "127.0.0.1:0", Voter: true, TLS: ca.tls(t, "n1").TLS})
	waitFor(t, 5*time.Second, "n1 leads", n1.IsLeader)

	good := mustOpen(t, raft.Options{ID: "n2", DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admission: raft.AdmitJoin, JoinAddrs: []string{n1.Addr()}, Voter: true, TLS: ca.tls(t, "n2").TLS})
	select {
	case <-good.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("a node with a certificate from the cluster CA did not join within 10s")
	}
	// A write on the follower is forwarded to the leader over mutual TLS.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := good.Propose(ctx, &raft.Command{Type: raft.CmdSync, By: "n2", Sync: &raft.SyncStatus{Provider: "p", Zone: "z."}}); err != nil {
		t.Fatalf("forwarded write over mutual TLS: %v", err)
	}

	for _, tc := range []struct {
		name string
		opts *raft.Options
	}{
		{"certificate from another CA", rogue.tls(t, "n3")},
		{"no certificate (plain TCP)", &raft.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := mustOpen(t, raft.Options{ID: "n3", DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admission: raft.AdmitJoin, JoinAddrs: []string{n1.Addr()}, Voter: true, TLS: tc.opts.TLS})
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			err := bad.Join(ctx, n1.Addr())
			if err == nil {
				t.Fatal("a node without a certificate from the cluster CA joined")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("join: got %v, want it to wait until the deadline (never admitted)", err)
			}
			members, err := n1.Members()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range members {
				if m.ID == "n3" {
					t.Fatalf("n3 is a member: %+v", members)
				}
			}
			// And it cannot write through the leader either.
			pctx, pcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer pcancel()
			if _, err := bad.Propose(pctx, &raft.Command{Type: raft.CmdSync, By: "n3", Sync: &raft.SyncStatus{Provider: "evil", Zone: "z."}}); err == nil {
				t.Fatal("a write from a node outside the CA was committed")
			}
		})
	}
}

func mustOpen(t *testing.T, o raft.Options) *raft.Node {
	t.Helper()
	o.Timeouts = fastTimeouts
	o.Logger = quietLogger()
	o.FSM = raft.NewFSM(controller.NewDeriver())
	n, err := raft.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return n
}
