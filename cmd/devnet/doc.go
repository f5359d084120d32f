// Command devnet is the command-line front end of Quarry's devnet and
// partition lab (package cmd/internal/lab): it parses the commands and
// flags, calls the lab and prints the results. scripts/devnet builds the
// binaries and runs it; README.md ("Devnet and partition lab") is the
// user guide.
//
//	scripts/devnet up -n 4 --hashrate 35,35,15,15
//	scripts/devnet partition 0,1 2,3
//	scripts/devnet doublespend 0 2
//	scripts/devnet heal --report
//	scripts/devnet down
//
//	scripts/devnet up -n 8 --topology ring --link-delay 100ms --link-bandwidth 1mbit
//	scripts/devnet link 1 2 --delay 300ms
//	scripts/devnet partition 0,1,2,3 4,5,6,7 --at links
//	scripts/devnet run scripts/scenarios/link-partition.toml
//	scripts/devnet experiment stale-rate --delays 0,100ms,250ms,500ms --block-time 2s
//
// Every command opens the lab in --dir (default ./.devnet), does its work
// and exits; the nodes run on in their own sessions until down, and so
// does a shaped lab's proxy daemon (`devnet proxy`, started by up). run
// and experiment create their own labs in temporary directories. The
// lab's package documentation describes the pipeline and its decisions.
//
// # Errors
//
// Commands print "devnet <command>: <error>" and exit 1; a wrong invocation
// exits 2. A node that exits during up is reported with the end of its log.
// run exits 1 when a scenario's assertion fails.
package main
