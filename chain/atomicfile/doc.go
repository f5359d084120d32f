// Package atomicfile replaces small files (keys, the wallet, the RPC
// cookie) so that a crash or power loss leaves either the old content or
// the new one, never a mix or a truncated file, and so that a reader never
// sees a partial file.
//
// WriteFile writes a temporary file in the target's directory with the
// requested permissions, syncs it, renames it over the target and syncs
// the directory, so the rename itself is durable when WriteFile returns.
//
// Errors: before the rename, a failure leaves the target untouched and the
// temporary file removed. A failure to sync the directory after the rename
// is returned too; the new content is then in place but may not survive a
// crash. Filesystems that cannot sync a directory (EINVAL, ENOTSUP) are
// accepted silently.
//
// The package lives under chain because every package of the module may
// import chain/...; it imports only the standard library.
package atomicfile
