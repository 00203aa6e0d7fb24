module github.com/switchboard-dns/switchboard

go 1.26

require (
	github.com/goccy/go-yaml v1.19.2
	github.com/miekg/dns v1.1.72
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	golang.org/x/mod v0.31.0 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/tools v0.40.0 // indirect
)
