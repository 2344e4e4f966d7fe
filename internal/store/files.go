package store

// FilesSettings configure the file-system commands (fs_*): where their
// files root is, whether every user gets a home folder under it, a
// per-user quota, and whether confinement is switched off altogether.
// They live in their own single-row table (files_settings).
type FilesSettings struct {
	// Root is the files root. Empty means the host's default (a "files"
	// folder in the data directory).
	Root string
	// Homes gives every user a folder <Root>/<user name>, created on first
	// use, and confines the user to it instead of the whole root.
	Homes bool
	// Quota is the most bytes a user's folder may hold (checked on upload,
	// copy and move); 0 means no limit. It applies only with Homes.
	Quota int64
	// Unconfined switches confinement off: paths resolve against the host's
	// whole file system, as in the original host. The host logs a warning
	// at start when it is set.
	Unconfined bool
}

// DefaultFilesSettings are the settings of a fresh database: confined to
// the default root, no homes, no quota.
func DefaultFilesSettings() FilesSettings { return FilesSettings{} }
