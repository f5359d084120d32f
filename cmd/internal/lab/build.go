package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the named commands of this module (e.g. "quarryd",
// "quarryctl") into dir with the go tool on $PATH. It builds without the
// -race flag a test binary may carry in GOFLAGS: the nodes need not be
// race-built and run several times faster without it.
func Build(ctx context.Context, dir string, cmds ...string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go tool is needed to build %v: %w", cmds, err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range cmds {
		args = append(args, "github.com/quarrychain/quarry/cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %w\n%s", cmds, err, out)
	}
	return nil
}
