package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const maxIntrospectionBody = 64 << 10

// Introspection is the host's answer about a token (RFC 7662). When
// Active is false, the token is expired, revoked, forged or not an access
// token, and the other fields are empty.
type Introspection struct {
	Active    bool
	Subject   string // sub: the user id
	Username  string
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Issuer    string    // iss
	Audience  []string  // aud
	TokenID   string    // jti
	TokenType string    // token_type: "access_token"
	SessionID string    // sid
}

// Introspect asks the host whether token is active, with Options.AppKey.
// An error means the host could not be asked or did not answer; it is
// never an answer about the token.
func (c *Client) Introspect(ctx context.Context, token string) (Introspection, error) {
	if c.appKey == "" {
		return Introspection{}, errors.New("client: introspection needs Options.AppKey")
	}
	body, err := json.Marshal(struct {
		Token string `json:"token"`
	}{token})
	if err != nil {
		return Introspection{}, err
	}
	url := c.hostURL + "/v1/token/introspect"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Introspection{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.appKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return Introspection{}, fmt.Errorf("client: introspection: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody+1))
	if err != nil {
		return Introspection{}, fmt.Errorf("client: introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return Introspection{}, fmt.Errorf("client: introspection: POST %s: %s (%s: %s)", url, resp.Status, e.Error, e.Description)
		}
		return Introspection{}, fmt.Errorf("client: introspection: POST %s: %s", url, resp.Status)
	}
	if len(data) > maxIntrospectionBody {
		return Introspection{}, fmt.Errorf("client: introspection: the answer is over %d bytes", maxIntrospectionBody)
	}
	var wire struct {
		Active    *bool            `json:"active"`
		Subject   string           `json:"sub"`
		Username  string           `json:"username"`
		ExpiresAt *jwt.NumericDate `json:"exp"`
		IssuedAt  *jwt.NumericDate `json:"iat"`
		NotBefore *jwt.NumericDate `json:"nbf"`
		TokenID   string           `json:"jti"`
		Issuer    string           `json:"iss"`
		Audience  jwt.ClaimStrings `json:"aud"`
		TokenType string           `json:"token_type"`
		SessionID string           `json:"sid"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return Introspection{}, fmt.Errorf("client: introspection: reading the answer: %w", err)
	}
	if wire.Active == nil {
		return Introspection{}, errors.New("client: introspection: the answer has no active member")
	}
	if !*wire.Active {
		return Introspection{}, nil
	}
	in := Introspection{
		Active:    true,
		Subject:   wire.Subject,
		Username:  wire.Username,
		Issuer:    wire.Issuer,
		Audience:  []string(wire.Audience),
		TokenID:   wire.TokenID,
		TokenType: wire.TokenType,
		SessionID: wire.SessionID,
	}
	if wire.ExpiresAt != nil {
		in.ExpiresAt = wire.ExpiresAt.Time
	}
	if wire.IssuedAt != nil {
		in.IssuedAt = wire.IssuedAt.Time
	}
	if wire.NotBefore != nil {
		in.NotBefore = wire.NotBefore.Time
	}
	return in, nil
}
