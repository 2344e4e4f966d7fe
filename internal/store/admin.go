package store

// AdminSettings are the host-administration settings that are not columns
// of the original's host_settings row (table admin_settings, one row).
type AdminSettings struct {
	// CertAutoGenerate makes the host generate (and store) a self-signed
	// certificate when a client asks for a common name that is one of the
	// host's own global interface addresses and no certificate is stored
	// for it (host.md §9). Default true, as in the original.
	CertAutoGenerate bool
	// LogRetentionDays is how many days rows of the activity, auth and
	// debug logs are kept; 0 keeps them forever (the default).
	LogRetentionDays uint32
	// BanEndsSessions makes a new ban end the sessions already connected
	// from the banned addresses (with a notice). Default true.
	BanEndsSessions bool
}

// DefaultAdminSettings returns the administration settings of a fresh
// database.
func DefaultAdminSettings() AdminSettings {
	return AdminSettings{CertAutoGenerate: true, BanEndsSessions: true}
}
