package main

import (
	"strings"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// specList is a repeatable NODE=VALUE flag.
type specList []string

func (s *specList) String() string { return strings.Join(*s, ",") }

func (s *specList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// parseRoles turns up's --adversary and --clock-offset values into the
// nodes' roles (nil when none was given, so that an existing lab keeps its
// roles).
func parseRoles(advs, clocks specList, n int) (map[int]lab.Role, error) {
	if len(advs) == 0 && len(clocks) == 0 {
		return nil, nil
	}
	roles := map[int]lab.Role{}
	if err := lab.ParseAdversaries(advs, n, roles); err != nil {
		return nil, usagef("%v", err)
	}
	if err := lab.ParseClockOffsets(clocks, n, roles); err != nil {
		return nil, usagef("%v", err)
	}
	return roles, nil
}
