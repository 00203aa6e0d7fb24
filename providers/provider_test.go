package providers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestFenceRoundTrip(t *testing.T) {
	for _, gen := range []uint64{1, 7, 1<<63 + 5} {
		s := FenceRRset("Example.COM", gen)
		if s.Name != "_switchboard.example.com." || s.Type != dns.TypeTXT {
			t.Fatalf("fence key: got %s, want _switchboard.example.com. TXT", s.Key())
		}
		got, err := ParseFence(s)
		if err != nil || got != gen {
			t.Errorf("ParseFence(FenceRRset(%d)): got %d, %v; want %d, nil", gen, got, err, gen)
		}
	}
}

func TestParseFenceRejectsForeignText(t *testing.T) {
	for name, data := range map[string][]string{
		"other text": {`"hello"`},
		"two texts":  {`"switchboard-generation=1"`, `"switchboard-generation=2"`},
		"bad number": {`"switchboard-generation=x"`},
		"no records": nil,
		"negative":   {`"switchboard-generation=-1"`},
	} {
		t.Run(name, func(t *testing.T) {
			s := zone.RRset{Name: FenceName("example.com."), Type: dns.TypeTXT, TTL: 60, Data: data}
			_, err := ParseFence(s)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		err  error
		kind string
	}{
		{Conflict(cause), "conflict"},
		{Throttled(cause, 2*time.Second), "throttled"},
		{Unavailable(cause), "unavailable"},
		{Invalid(cause), "invalid"},
		{fmt.Errorf("route53: change batch: %w", Conflict(cause)), "conflict"},
		{cause, "other"},
	}
	for _, tc := range tests {
		if got := KindOf(tc.err); got != tc.kind {
			t.Errorf("KindOf(%v): got %s, want %s", tc.err, got, tc.kind)
		}
		if tc.kind != "other" && !errors.Is(tc.err, cause) {
			t.Errorf("%v does not wrap its cause", tc.err)
		}
	}
	if d, ok := RetryAfter(fmt.Errorf("x: %w", Throttled(cause, 2*time.Second))); !ok || d != 2*time.Second {
		t.Errorf("RetryAfter: got %v, %v; want 2s, true", d, ok)
	}
	if _, ok := RetryAfter(Unavailable(cause)); ok {
		t.Errorf("RetryAfter of an unavailable error: got ok, want none")
	}
}

type nopProvider struct{}

func (nopProvider) Capabilities() Capabilities { return Capabilities{Atomic: true} }
func (nopProvider) Read(context.Context, string, []zone.Key) (*Content, error) {
	return &Content{}, nil
}
func (nopProvider) Apply(context.Context, *ChangeSet) error { return nil }

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	r.Register("nop", func(string, *config.Provider, Env) (Provider, error) { return nopProvider{}, nil })
	if _, err := r.New("x", &config.Provider{Type: "nop"}, Env{}); err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := r.New("y", &config.Provider{Type: "route66"}, Env{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New of an unknown type: got %v, want ErrInvalid", err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("registering a type twice did not panic")
		}
	}()
	r.Register("nop", func(string, *config.Provider, Env) (Provider, error) { return nopProvider{}, nil })
}
