package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/switchboard-dns/switchboard/api"
)

// apiClient talks to a node's HTTP API.
type apiClient struct {
	base string
	http *http.Client
}

// defaultAPI is where commands look for a node when not told.
const defaultAPI = "127.0.0.1:8053"

func newAPIClient(addr string) *apiClient {
	if addr == "" {
		addr = os.Getenv("SWITCHBOARD_API")
	}
	if addr == "" {
		addr = defaultAPI
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &apiClient{base: strings.TrimRight(addr, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Body   api.Error
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d)", e.Body.Error, e.Status)
	for _, d := range e.Body.Details {
		msg += "\n  " + d
	}
	return msg
}

func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, &ae.Body) != nil || ae.Body.Error == "" {
			ae.Body.Error = strings.TrimSpace(string(data))
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("api %s: decode: %w", c.base, err)
		}
	}
	return nil
}

// printJSON writes v as indented JSON, for --json output.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
