package duckgrid

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// TokenCredentials sends a duckgrid API key ("dg_…", from `duckgrid keys
// new`) as `authorization: Bearer <token>` on every call, streams included.
// It implements credentials.PerRPCCredentials and does not require transport
// security, so it works over TLS and over plaintext (a dev server on
// loopback) alike. Use it through WithToken, or per call with
// grpc.PerRPCCredentials(duckgrid.TokenCredentials(token)).
type TokenCredentials string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t TokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if err := checkToken(string(t)); err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: false,
// so that a token may also be sent over a plaintext connection.
func (TokenCredentials) RequireTransportSecurity() bool { return false }

func checkToken(t string) error {
	if t == "" {
		return errors.New("duckgrid: empty bearer token")
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("duckgrid: bearer token contains white space or control characters")
	}
	return nil
}

// WithToken is a dial option that authenticates every call with the API key
// token (see TokenCredentials). It works with or without TLS, and also when
// passed to grpc.NewClient directly. An empty token fails each call with
// UNAUTHENTICATED on the client side.
func WithToken(token string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(TokenCredentials(token))
}

// TLSConfig says how the client verifies a duckgrid server served with
// --tls-cert/--tls-key and, for mutual TLS (--client-ca), which certificate
// it presents. The zero value is TLS verified against the system roots.
type TLSConfig struct {
	// CAFile and CAPEM are PEM CA certificates to trust instead of the system
	// roots (`ca.pem` of `duckgrid certs new`); when both are set, both are
	// trusted.
	CAFile string
	CAPEM  []byte
	// CertFile and KeyFile, or CertPEM and KeyPEM, are the client certificate
	// and its private key for mutual TLS (`client-NAME.pem`,
	// `client-NAME.key`); give one pair or neither.
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	// ServerName overrides the name the server's certificate is verified
	// against (and sent as SNI); default: the host of the dialed address.
	ServerName string
}

// Config builds the crypto/tls client configuration (TLS 1.2 or later),
// reading any files named.
func (c TLSConfig) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" || len(c.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if c.CAFile != "" {
			b, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("duckgrid: CA certificate: %w", err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("duckgrid: CA certificate %s: no PEM certificate in it", c.CAFile)
			}
		}
		if len(c.CAPEM) > 0 && !pool.AppendCertsFromPEM(c.CAPEM) {
			return nil, errors.New("duckgrid: CA certificate: no PEM certificate in the CA PEM")
		}
		cfg.RootCAs = pool
	}
	files := c.CertFile != "" || c.KeyFile != ""
	pems := len(c.CertPEM) > 0 || len(c.KeyPEM) > 0
	switch {
	case files && pems:
		return nil, errors.New("duckgrid: client certificate: give files or PEM, not both")
	case files:
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("duckgrid: client certificate: needs both a certificate file and a key file")
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("duckgrid: client certificate %s / %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case pems:
		if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 {
			return nil, errors.New("duckgrid: client certificate: needs both a certificate PEM and a key PEM")
		}
		cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("duckgrid: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Credentials builds gRPC transport credentials from the configuration (for
// grpc.WithTransportCredentials, when not dialing through Dial).
func (c TLSConfig) Credentials() (credentials.TransportCredentials, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// tlsOption is a dial option that only Dial understands: Dial merges every
// one it is given into one TLSConfig and connects over TLS instead of
// plaintext. Passed to grpc.NewClient directly it does nothing.
type tlsOption struct {
	grpc.EmptyDialOption
	apply func(*TLSConfig)
}

// WithTLS makes Dial connect over TLS configured by cfg, merged with any
// other TLS option: the fields set here replace the ones set before (the
// client certificate as a whole: files or PEM).
// WithTLS(duckgrid.TLSConfig{}) is TLS verified against the system roots.
func WithTLS(cfg TLSConfig) grpc.DialOption {
	return tlsOption{apply: func(c *TLSConfig) {
		if cfg.CAFile != "" {
			c.CAFile = cfg.CAFile
		}
		if len(cfg.CAPEM) > 0 {
			c.CAPEM = cfg.CAPEM
		}
		if cfg.CertFile != "" || cfg.KeyFile != "" || len(cfg.CertPEM) > 0 || len(cfg.KeyPEM) > 0 {
			c.CertFile, c.KeyFile, c.CertPEM, c.KeyPEM = cfg.CertFile, cfg.KeyFile, cfg.CertPEM, cfg.KeyPEM
		}
		if cfg.ServerName != "" {
			c.ServerName = cfg.ServerName
		}
	}}
}

// WithCAFile makes Dial connect over TLS and trust the PEM CA certificate(s)
// in the file at path (instead of the system roots).
func WithCAFile(path string) grpc.DialOption { return WithTLS(TLSConfig{CAFile: path}) }

// WithCAPEM makes Dial connect over TLS and trust the PEM CA certificate(s)
// in pem (instead of the system roots).
func WithCAPEM(pem []byte) grpc.DialOption { return WithTLS(TLSConfig{CAPEM: pem}) }

// WithClientCertFiles makes Dial connect over TLS presenting the client
// certificate in certFile with its private key in keyFile (mutual TLS).
func WithClientCertFiles(certFile, keyFile string) grpc.DialOption {
	return WithTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile})
}

// WithClientCertPEM makes Dial connect over TLS presenting the PEM client
// certificate certPEM with its private key keyPEM (mutual TLS).
func WithClientCertPEM(certPEM, keyPEM []byte) grpc.DialOption {
	return WithTLS(TLSConfig{CertPEM: certPEM, KeyPEM: keyPEM})
}

// WithServerName makes Dial connect over TLS and verify the server's
// certificate against name instead of the dialed host.
func WithServerName(name string) grpc.DialOption { return WithTLS(TLSConfig{ServerName: name}) }

// transport returns Dial's transport credentials option: TLS when opts hold
// a TLS option, else plaintext; and opts without the TLS options.
func transport(opts []grpc.DialOption) (grpc.DialOption, []grpc.DialOption, error) {
	var (
		cfg    TLSConfig
		useTLS bool
		rest   []grpc.DialOption
	)
	for _, o := range opts {
		if t, ok := o.(tlsOption); ok {
			t.apply(&cfg)
			useTLS = true
			continue
		}
		rest = append(rest, o)
	}
	if !useTLS {
		return insecureCredentials(), rest, nil
	}
	creds, err := cfg.Credentials()
	if err != nil {
		return nil, nil, err
	}
	return grpc.WithTransportCredentials(creds), rest, nil
}
