package raft

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// LoadTLS builds the mutual-TLS configuration of the node channel from PEM
// files: the cluster CA, and this node's certificate and key. Both sides of
// every connection present a certificate that must chain to the cluster CA;
// a peer without one is refused during the handshake. Clients also check
// that the server's certificate names the address they dialled (an IP SAN
// or DNS SAN), so certificates must carry the addresses nodes advertise.
//
// The key pair is re-read when its files change (checked at most every
// few seconds, on handshakes), so certificates can be rotated without a
// restart; the CA is read once.
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("raft: tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("raft: tls ca %s: no PEM certificate found", caFile)
	}
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Server side: require a client certificate from the cluster CA.
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
		// Client side: trust only the cluster CA.
		RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		},
	}, nil
}

// keyPair caches a certificate and key, re-reading them when the files'
// modification times change.
type keyPair struct {
	certFile, keyFile string

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	checkedAt time.Time
}

const keyPairRecheck = 5 * time.Second

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && time.Since(k.checkedAt) < keyPairRecheck {
		return k.cert, nil
	}
	k.checkedAt = time.Now()
	ci, err1 := os.Stat(k.certFile)
	ki, err2 := os.Stat(k.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		if k.cert != nil {
			return k.cert, nil // keep serving the loaded pair
		}
		return nil, fmt.Errorf("raft: tls key pair: %w", err)
	}
	if k.cert != nil && ci.ModTime().Equal(k.certMod) && ki.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // a half-written rotation: keep the old pair
		}
		return nil, fmt.Errorf("raft: tls key pair: %w", err)
	}
	k.cert, k.certMod, k.keyMod = &c, ci.ModTime(), ki.ModTime()
	return k.cert, nil
}
