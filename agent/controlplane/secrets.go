package controlplane

import (
	"context"
	"errors"
	"net/http"

	"github.com/streamforge/streamforge/pkg/wire"
)

// ErrSecretsNeedMTLS: the control plane hands out secret values on its
// mTLS listener only, so the client does not even ask elsewhere.
var ErrSecretsNeedMTLS = errors.New("secrets are delivered only over the mTLS listener (control_plane.mtls)")

// FetchSecrets gets the values of the ${secret:name} references in this
// gateway's deployed config.
func (c *Client) FetchSecrets(ctx context.Context) (wire.SecretsResponse, error) {
	var out wire.SecretsResponse
	if !c.onMTLS() {
		return out, ErrSecretsNeedMTLS
	}
	_, err := c.do(ctx, http.MethodGet, "/api/v1/gateways/"+c.GatewayID+"/secrets", nil, &out, c.auth())
	return out, err
}
