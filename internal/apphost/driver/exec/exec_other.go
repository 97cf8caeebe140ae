//go:build !linux

package exec

import (
	"errors"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// Driver is the exec driver; it runs on Linux only.
type Driver struct{ driver.Driver }

// New refuses: the exec driver runs on Linux only.
func New(Options) (*Driver, error) {
	return nil, errors.New("the exec driver runs on Linux only: use --driver virtual here")
}
